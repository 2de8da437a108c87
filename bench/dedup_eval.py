"""Story clustering on real labelled material: near-duplicate thresholds and lookup cost.

Usage: python bench/dedup_eval.py [--corpus CORPUS] [--sizes 10000,100000,1000000] [--quick]
(CORPUS: the shared corpus folder; default $PRESSWATCH_CORPUS, else ../shared/corpus beside the
repository. Nothing of it is copied.)

It prints, for the two signature kinds of `crawler.dedup` (`text`: word 3-shingles of a full
text; `short`: words and word pairs of headline and lead), with the LSH bands the product uses
at each threshold (a pair is "merged" when it shares a bucket AND its estimated similarity
reaches the threshold, as in `Ingest._story_for`):

1. SemEval-2022 Task 8 trial pairs with text: precision, recall and F1 of "same story"
   (Overall <= 1.5 same, >= 3.5 different) at thresholds 0.20..0.90, same-language and
   cross-language pairs apart.
2. KCNA (kcna_stiles_2024): twins (one text under several URLs) and false merges (pairs of
   different stories) at each threshold, the recall of generated edits of the same texts (a
   trimmed repost, a re-credited one, ...), the threshold chosen from 1 and 2, and a run of
   the real pipeline (`Ingest` on a `Store` in a temporary folder) at the current defaults and
   at the chosen thresholds.
3. REFERENCE_PAGES.md: `canonical_url` on the URL variants of one page.
4. Lookup cost: a real `Store` (temporary SQLite file) filled with N generated articles
   (random signatures, the product's tables and bucket function), then per-article time of the
   lookup (content hash, LSH candidates, similarity confirm) for fresh articles and near
   copies, beside a brute-force numpy comparison on the small sizes.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import sqlite3
import sys
import tempfile
import time
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import combinations
from pathlib import Path

import datasketch
import numpy as np
from presswatch.config.schema import Stories
from presswatch.crawler.parse.canonical import canonical_url
from presswatch.crawler.stories.dedup import (
    Scheme,
    Signature,
    buckets,
    from_bytes,
    short_shingles,
    similarity,
    text_shingles,
    threshold_of,
)
from presswatch.crawler.stories.ingest import SHORT_COPY_SPAN, Candidate, Ingest, content_hash
from presswatch.crawler.rules.match import RuleMatcher
from presswatch.crawler.store.database import Store
from presswatch.crawler.store.nearindex import pack_keys
from presswatch.crawler.store.records import now_iso

REPO = Path(__file__).resolve().parent.parent
KINDS = ("text", "short")
THRESHOLDS = [round(0.2 + 0.05 * i, 2) for i in range(15)]  # 0.20 .. 0.90
TARGET_PRECISION = 0.95
# How far above the closest pair of different stories a threshold must be: the estimate of a
# similarity near 0.5 from 128 permutations has a standard deviation of about 0.044.
MARGIN = 0.05
SEMEVAL = "near_duplicates/semeval2022_task8"
KCNA = "north_korea/kcna_stiles_2024/kcna_sample_400.json"
REFERENCE_PAGES = "north_korea/REFERENCE_PAGES.md"
_SCHEME = Scheme()  # the default permutations, seed and shingle size: what signatures are made with
_DATELINE = re.compile(r"^\s*Pyongyang,\s+\w+\s+\d+\s+\(KCNA\)\s*-+\s*")


# -- signatures and the pipeline's merge rule ------------------------------------------------


def scheme_at(kind: str, threshold: float) -> Scheme:
    """The product's scheme with `threshold` for `kind`: the threshold also sets the LSH bands."""
    return Scheme(threshold=threshold) if kind == "text" else Scheme(short_threshold=threshold)


def signature(kind: str, title: str, text: str) -> np.ndarray | None:
    """The MinHash values of an article for `kind` (the same under every threshold), or None."""
    shingles = text_shingles(text, _SCHEME.shingle) if kind == "text" else short_shingles(title, text)
    return _SCHEME.signature(shingles) if shingles else None


def merged(kind: str, threshold: float, a: np.ndarray, b: np.ndarray) -> bool:
    """Whether the pipeline folds b into a's story: a shared bucket, then similarity >= threshold."""
    scheme = scheme_at(kind, threshold)
    shared = set(buckets(scheme, kind, a)) & set(buckets(scheme, kind, b))
    return bool(shared) and similarity(a, b) >= threshold


def candidate_pairs(kind: str, threshold: float, sigs: dict[int, np.ndarray]) -> set[tuple[int, int]]:
    """Pairs of keys of `sigs` that share an LSH bucket at `threshold` (what a lookup returns)."""
    scheme = scheme_at(kind, threshold)
    members: dict[int, list[int]] = defaultdict(list)
    for key, values in sigs.items():
        for bucket in buckets(scheme, kind, values):
            members[bucket].append(key)
    return {pair for keys in members.values() if len(keys) > 1 for pair in combinations(sorted(keys), 2)}


def normal(text: str) -> str:
    """Text as `ingest.content_hash` compares it: NFKC, case-folded, spacing collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, predicted: bool, actual: bool) -> None:
        self.tp += predicted and actual
        self.fp += predicted and not actual
        self.fn += actual and not predicted

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p and r else None


def _fmt(value: float | None, width: int = 5) -> str:
    return f"{value:.3f}".rjust(width) if value is not None else "-".center(width)


# -- 1. SemEval-2022 Task 8 pairs -------------------------------------------------------------


@dataclass
class Pair:
    pair_id: str
    languages: tuple[str, str]
    overall: float
    titles: tuple[str, str]
    texts: tuple[str, str]

    @property
    def label(self) -> bool | None:
        """True: same story, False: different, None: in between (ignored)."""
        return True if self.overall <= 1.5 else False if self.overall >= 3.5 else None


def load_pairs(folder: Path) -> list[Pair]:
    """The trial pairs with text; languages from the trial CSV, titles from the organisers'
    article JSONs when their text is the one scraped (the pairs file has no titles)."""
    with open(folder / "semeval-2022_task8_trial-data.csv", newline="", encoding="utf-8") as handle:
        languages = {r["pair_id"]: (r["lang1"], r["lang2"]) for r in csv.DictReader(handle)}
    pairs = []
    with open(folder / "trial_pairs_with_text.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            ids = row["pair_id"].split("_")
            texts = (row["text1"], row["text2"])
            titles = tuple(_title(folder / "trial_articles_embeddia" / f"{i}.json", t) for i, t in zip(ids, texts))
            langs = languages.get(row["pair_id"], (row["lang"], row["lang"]))
            pairs.append(Pair(row["pair_id"], langs, float(row["Overall"]), titles, texts))
    return pairs


def _title(path: Path, text: str) -> str:
    if not path.exists():
        return ""
    article = json.loads(path.read_text(encoding="utf-8"))
    same_text = normal(article.get("text") or "")[:200] == normal(text)[:200]
    return (article.get("title") or "") if same_text else ""


def semeval_sweep(pairs: list[Pair], kind: str) -> dict[float, Tally]:
    tallies = {t: Tally() for t in THRESHOLDS}
    for pair in pairs:
        if pair.label is None:
            continue
        a, b = (signature(kind, title, text) for title, text in zip(pair.titles, pair.texts))
        for t, tally in tallies.items():
            tally.add(a is not None and b is not None and merged(kind, t, a, b), pair.label)
    return tallies


def best_threshold(tallies: dict[float, Tally]) -> float | None:
    """The threshold with the best recall among those reaching the target precision."""
    good = [t for t, x in tallies.items() if x.precision is not None and x.precision >= TARGET_PRECISION]
    return max(good, key=lambda t: (tallies[t].recall, t)) if good else None


def report_semeval(folder: Path) -> dict[str, dict[float, Tally]]:
    pairs = load_pairs(folder)
    no_text = [p for p in pairs if not all(t.strip() for t in p.texts)]
    print(f"1. SemEval-2022 Task 8 trial pairs with text ({folder})")
    print(f"   {len(pairs)} pairs: {sum(p.label is True for p in pairs)} same (Overall <= 1.5), "
          f"{sum(p.label is False for p in pairs)} different (>= 3.5), "
          f"{sum(p.label is None for p in pairs)} ignored; without a text: {len(no_text)} "
          f"({sum(p.label is not None for p in no_text)} of them labelled); "
          f"{sum(bool(t) for p in pairs for t in p.titles)} of {2 * len(pairs)} articles have a title")
    groups = {"same-language": [p for p in pairs if p.languages[0] == p.languages[1]],
              "cross-language": [p for p in pairs if p.languages[0] != p.languages[1]]}
    langs = sorted({"-".join(p.languages) for p in pairs})
    print(f"   languages: {', '.join(langs)}")
    result = {}  # same-language: what the threshold is chosen on
    for group, members in groups.items():
        if not any(p.label is not None for p in members):
            print(f"\n   {group}: no labelled pairs with text in this file")
            continue
        for kind in KINDS:
            tallies = semeval_sweep(members, kind)
            if group == "same-language":
                result[kind] = tallies
            _print_sweep(f"{group}, kind {kind}", members, kind, tallies)
    return result


def _print_sweep(title: str, pairs: list[Pair], kind: str, tallies: dict[float, Tally]) -> None:
    sims: dict[bool | None, list[tuple[float, str]]] = {True: [], False: [], None: []}
    for pair in pairs:
        a, b = (signature(kind, ti, te) for ti, te in zip(pair.titles, pair.texts))
        if a is not None and b is not None:
            sims[pair.label].append((similarity(a, b), pair.pair_id))
    same, diff, middle = (sorted(sims[label]) for label in (True, False, None))
    print(f"\n   {title}: {len(same)} same and {len(diff)} different pairs with signatures")
    print(f"   similarity of same pairs: median {_fmt(same[len(same) // 2][0] if same else None)}, max "
          f"{_fmt(same[-1][0] if same else None)}; different: max {_fmt(diff[-1][0] if diff else None)}; "
          f"ignored: max {_fmt(middle[-1][0] if middle else None)}" + (f" ({middle[-1][1]})" if middle else ""))
    print("      t     TP  FP  FN  precision  recall     F1")
    best = best_threshold(tallies)
    for ts, x in _runs(tallies):
        span = f"{ts[0]:.2f}" + (f"-{ts[-1]:.2f}" if len(ts) > 1 else "     ")
        mark = "  <- best recall with precision >= 0.95" if best in ts else ""
        print(f"   {span}  {x.tp:3d} {x.fp:3d} {x.fn:3d}      {_fmt(x.precision)}   {_fmt(x.recall)}  "
              f"{_fmt(x.f1)}{mark}")
    if best is None:
        print("   no threshold reaches precision 0.95" + (
            ": no pair is merged at any threshold (precision undefined, recall 0)"
            if all(x.tp + x.fp == 0 for x in tallies.values()) else ""))


def _runs(tallies: dict[float, Tally]) -> list[tuple[list[float], Tally]]:
    """Consecutive thresholds with the same counts, as one row."""
    runs: list[tuple[list[float], Tally]] = []
    for t, x in tallies.items():
        if runs and (runs[-1][1].tp, runs[-1][1].fp, runs[-1][1].fn) == (x.tp, x.fp, x.fn):
            runs[-1][0].append(t)
        else:
            runs.append(([t], x))
    return runs


# -- 2. KCNA twins ------------------------------------------------------------------------------


@dataclass
class Item:
    index: int
    link: str
    title: str
    text: str
    published: datetime
    related: set[int] = field(default_factory=set)  # the same story by the sample's own labels


def load_kcna(path: Path) -> list[Item]:
    records = json.loads(path.read_text(encoding="utf-8"))
    rows = {r["source_row"]: i for i, r in enumerate(records)}
    items = []
    for i, r in enumerate(records):
        same = {rows[x] for x in r["same_headline_date_rows"] + r["same_link_rows"] if x in rows}
        items.append(Item(i, r["link"], r["headline"], r["story_text"],
                          datetime.fromtimestamp(int(r["date"]) / 1000, UTC), same))
    return items


def twin_groups(items: list[Item]) -> list[list[Item]]:
    """Items with the same normalised (non-empty) text under more than one URL."""
    by_text: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        if item.text.strip():
            by_text[normal(item.text)].append(item)
    return [group for group in by_text.values() if len({i.link for i in group}) > 1]


def same_story(a: Item, b: Item) -> bool:
    """Ground truth: one text, one URL, or the same headline on the same day (the sample's label)."""
    one_text = bool(a.text.strip()) and normal(a.text) == normal(b.text)
    return one_text or a.link == b.link or b.index in a.related


# Generated edits of a real text: what a reprint does to it. Each returns (title, text).
def _trimmed(item: Item, others: list[Item]) -> tuple[str, str]:
    """A partial repost: the first 60% of the words."""
    words = item.text.split()
    return item.title, " ".join(words[: max(1, int(len(words) * 0.6))])


def _credited(item: Item, others: list[Item]) -> tuple[str, str]:
    """Another agency's dateline and credit line around the same body."""
    body = _DATELINE.sub("", item.text)
    return item.title, (f"SEOUL, South Korea (AP) -- North Korean state media said on Monday: {body} "
                        "Copyright 2024 The Associated Press. All rights reserved. This material may not "
                        "be published, broadcast, rewritten or redistributed.")


def _cut(item: Item, others: list[Item]) -> tuple[str, str]:
    """An edited repost: every third sentence dropped."""
    sentences = re.split(r"(?<=[.!?])\s+", item.text.strip())
    return item.title, " ".join(s for i, s in enumerate(sentences) if i % 3 != 2)


def _summary(item: Item, others: list[Item]) -> tuple[str, str]:
    """A feed entry: the headline and the first sentence."""
    return item.title, re.split(r"(?<=[.!?])\s+", item.text.strip())[0]


def _new_headline(item: Item, others: list[Item]) -> tuple[str, str]:
    """The same text under an unrelated headline (the worst case of a rewritten headline)."""
    return others[(item.index * 7919) % len(others)].title, item.text


EDITS = {"text": {"trimmed": _trimmed, "credited": _credited, "cut": _cut},
         "short": {"summary": _summary, "new title": _new_headline, "credited": _credited}}


@dataclass
class KcnaRow:
    same: int = 0  # pairs of one story (different URLs) merged
    false: int = 0  # pairs of different stories merged
    edits: dict[str, float] = field(default_factory=dict)

    @property
    def precision(self) -> float | None:
        return self.same / (self.same + self.false) if self.same + self.false else None


@dataclass
class KcnaSweep:
    rows: dict[float, KcnaRow]
    same_pairs: int  # pairs of one story under different URLs, both with a signature
    closest: float  # the highest similarity of two different stories compared (bucket or not)
    closest_titles: tuple[str, str]  # date and headline
    closest_any: float  # the same without the span
    edited: dict[str, list[tuple[np.ndarray, np.ndarray | None]]]  # per edit: (original, edited)


def kcna_sweep(items: list[Item], kind: str, span: timedelta | None = None) -> KcnaSweep:
    """Per threshold: pairs merged (same story, different stories), recall of each generated edit.

    With `span`, only pairs published at most that far apart are compared (the product's rule
    for headline-and-lead copies); the closest pair of different stories at any distance is
    reported beside it.
    """
    sigs = {i.index: s for i in items if (s := signature(kind, i.title, i.text)) is not None}
    by_index = {i.index: i for i in items}
    every = [(a, b) for a, b in combinations(sigs, 2) if by_index[a].link != by_index[b].link]
    truth = {(a, b): same_story(by_index[a], by_index[b]) for a, b in every}
    pairs = [(a, b) for a, b in every
             if span is None or abs(by_index[a].published - by_index[b].published) <= span]
    keys = list(sigs)
    values = np.stack([sigs[k] for k in keys])
    sims = (values[:, None, :] == values[None, :, :]).mean(axis=2)  # all pairs at once: a few hundred items
    position = {k: n for n, k in enumerate(keys)}
    sim = lambda pair: float(sims[position[pair[0]], position[pair[1]]])
    closest = max((p for p in pairs if not truth[p]), key=sim)
    closest_any = max(sim(p) for p in every if not truth[p])
    originals = {normal(i.text): i for i in items if i.index in sigs}.values()
    edited = {name: [(sigs[i.index], signature(kind, *edit(i, items))) for i in originals]
              for name, edit in EDITS[kind].items()}
    rows = {}
    for t in THRESHOLDS:
        row = KcnaRow()
        for pair in candidate_pairs(kind, t, sigs) & set(pairs):
            if sim(pair) >= t:
                row.same += truth[pair]
                row.false += not truth[pair]
        for name, originals_edits in edited.items():
            row.edits[name] = sum(e is not None and merged(kind, t, o, e)
                                  for o, e in originals_edits) / len(originals_edits)
        rows[t] = row
    titles = tuple(f"{by_index[k].published:%Y-%m-%d} {by_index[k].title}" for k in closest)
    return KcnaSweep(rows, sum(truth[p] for p in pairs), sim(closest), titles, closest_any, edited)


def candidate_odds(kind: str, threshold: float, similar: float) -> float:
    """The probability that two signatures of Jaccard `similar` share a bucket under the bands."""
    bands, rows = scheme_at(kind, threshold).bands(kind)
    return 1 - (1 - similar**rows) ** bands


def chosen_threshold(semeval: dict[float, Tally] | None, sweep: KcnaSweep) -> float:
    """The lowest threshold at least MARGIN above the closest pair of different KCNA stories,
    where the SemEval precision (if any pair is merged) reaches the target."""
    for t in THRESHOLDS:
        precision = semeval[t].precision if semeval else None
        if t >= sweep.closest + MARGIN and (precision is None or precision >= TARGET_PRECISION):
            return t
    return THRESHOLDS[-1]


def run_pipeline(items: list[Item], text_t: float, short_t: float) -> dict[int, int]:
    """Ingest the items in date order with the real pipeline; item index -> story id."""
    with tempfile.TemporaryDirectory() as folder:
        store = Store(str(Path(folder) / "kcna.db"))
        store.sync_sources([("kcna", "site", "http://www.kcna.kp/en", "KCNA")])
        ingest = Ingest(store, RuleMatcher([]), {}, stories=Stories(near_duplicate=text_t, short_text=short_t))
        stories = {}
        for item in sorted(items, key=lambda i: (i.published, i.index)):
            result = ingest.ingest(Candidate("kcna", item.link, item.title, item.text, "page",
                                             published=item.published))
            stories[item.index] = result.story_id
        store.close()
    return stories


def report_pipeline(items: list[Item], groups: list[list[Item]], text_t: float, short_t: float) -> None:
    stories = run_pipeline(items, text_t, short_t)
    joined = [g for g in groups if len({stories[i.index] for i in g}) == 1]
    exact = sum(content_hash(g[0].text) is not None for g in joined)
    wrong = [(a, b) for a, b in combinations(items, 2)
             if stories[a.index] == stories[b.index] and not same_story(a, b)]
    print(f"   pipeline at text {text_t:.2f}, short {short_t:.2f}: {len(set(stories.values()))} stories; "
          f"twin groups in one story {len(joined)}/{len(groups)} (exact hash {exact}, near-duplicate "
          f"{len(joined) - exact}); pairs of different stories merged: {len(wrong)}")
    shown = {(a.published.date(), a.title, b.published.date(), b.title) for a, b in wrong}
    for a_day, a_title, b_day, b_title in sorted(shown)[:4]:
        print(f"      {a_day} {a_title[:44]!r} + {b_day} {b_title[:44]!r}")


def report_kcna(path: Path, semeval: dict[str, dict[float, Tally]],
                override: dict[str, float | None]) -> dict[str, float]:
    items = load_kcna(path)
    groups = twin_groups(items)
    print(f"\n2. KCNA twins ({path}): {len(items)} items, {len({i.link for i in items})} URLs, "
          f"{sum(not i.text.strip() for i in items)} without text")
    print(f"   twin groups (one normalised text under several URLs): {len(groups)} "
          f"({sum(map(len, groups))} items, sizes {sorted({len(g) for g in groups})})")
    print("   tables: crawler.dedup's functions on all pairs of items (buckets, then similarity); pipeline: "
          "Ingest on a Store in a temporary folder")
    print("   ground truth: one story = one text, one URL, or the sample's same headline on the same day")
    chosen = {}
    for kind in KINDS:
        sweep = kcna_sweep(items, kind, None if kind == "text" else SHORT_COPY_SPAN)
        chosen[kind] = override[kind] or chosen_threshold(semeval.get(kind), sweep)
        names = list(EDITS[kind])
        where = ("both texts of 40 words or more" if kind == "text" else
                 "as if one of the two came from another outlet's feed, headline and lead only; as the "
                 f"pipeline does, only pairs published {SHORT_COPY_SPAN.days} days apart or less")
        print(f"\n   kind {kind} ({where}): {sweep.same_pairs} pairs of one story under different URLs")
        print(f"   closest different stories {sweep.closest:.3f}"
              + (f" ({sweep.closest_any:.3f} at any distance)" if sweep.closest_any != sweep.closest else "")
              + f": {sweep.closest_titles[0][:70]!r} / {sweep.closest_titles[1][:70]!r}")
        print("      t   same merged  false merges  precision  "
              + "  ".join(f"{name:>9}" for name in names) + "   (recall of generated edits)")
        for t, row in sweep.rows.items():
            mark = "  <- chosen" if t == chosen[kind] else ""
            print(f"   {t:.2f}  {row.same:12d}  {row.false:12d}      {_fmt(row.precision)}  "
                  + "  ".join(f"{_fmt(row.edits[name]):>9}" for name in names) + mark)
        t = chosen[kind]
        alone = {name: sum(e is not None and similarity(o, e) >= t for o, e in edits) / len(edits)
                 for name, edits in sweep.edited.items()}
        bands, rows_per_band = scheme_at(kind, t).bands(kind)
        print(f"   at {t:.2f} ({bands} bands of {rows_per_band} rows) a pair of similarity {t:.2f} shares a bucket "
              f"with probability {candidate_odds(kind, t, t):.2f}, {t + 0.1:.2f}: "
              f"{candidate_odds(kind, t, min(1.0, t + 0.1)):.2f}; recall of the edits by similarity alone "
              f"(no LSH): " + ", ".join(f"{name} {value:.3f}" for name, value in alone.items()))
    print(f"\n   chosen: the lowest threshold {MARGIN} or more above the closest different stories "
          f"(and SemEval precision >= {TARGET_PRECISION} where any pair is merged)"
          + ("; overridden on the command line" if any(override.values()) else ""))
    defaults = Stories()
    report_pipeline(items, groups, defaults.near_duplicate, defaults.short_text)
    report_pipeline(items, groups, chosen["text"], chosen["short"])
    return chosen


# -- 3. URL variants of REFERENCE_PAGES.md -----------------------------------------------------


def url_groups(path: Path) -> list[tuple[str, list[str]]]:
    """Pages of the reference list, each with its URLs: a row noted "same ..., second URL" joins
    the row above; an AMP URL or a later page of a paginated article gets the plain URL its
    note names (derived, marked so)."""
    groups: list[tuple[str, list[str]]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or not cells[0].startswith("http"):
            continue
        url, note = cells
        if re.match(r"same .*URL", note) and groups:
            groups[-1][1].append(url)
            groups[-1] = (groups[-1][0] + "; listed variant: " + note.split(",")[-1].split("—")[0].strip(),
                          groups[-1][1])
        elif "AMP variant" in note:
            groups.append(("AMP URL; derived: without /amp", [url, re.sub(r"/amp/?$", "", url)]))
        elif m := re.search(r"page \d+ of a paginated", note):
            groups.append((f"{m[0]}; derived: first page", [url, re.sub(r"[?&]page=\d+", "", url)]))
        else:
            groups.append((note.split(",")[0][:40], [url]))
    return groups


def report_urls(path: Path) -> None:
    groups = url_groups(path)
    keys = [(note, urls, {canonical_url(u) for u in urls}) for note, urls in groups]
    variants = [k for k in keys if len(k[1]) > 1]
    owners: dict[str, set[int]] = defaultdict(set)
    for i, (_, _, found) in enumerate(keys):
        for key in found:
            owners[key].add(i)
    collisions = [k for k, pages in owners.items() if len(pages) > 1]
    print(f"\n3. URL variants ({path}): {sum(len(u) for _, u, _ in keys)} URLs of {len(keys)} pages; "
          f"{len(variants)} pages with more than one URL")
    for note, urls, found in variants:
        print(f"   {len(urls)} URLs -> {len(found)} key{'s' if len(found) > 1 else ' '}  "
              f"{'collapsed    ' if len(found) == 1 else 'not collapsed'}  {_host(urls[0])}: {note}")
    print(f"   collapsed to one key: {sum(len(f) == 1 for _, _, f in variants)} of {len(variants)}; "
          f"distinct pages sharing a key: {len(collisions)}")


def _host(url: str) -> str:
    return re.sub(r"^https?://(www\.)?", "", url).split("/")[0]


# -- 4. lookup cost --------------------------------------------------------------------------


CHUNK = 50_000
SHORT_ONLY_EVERY = 5  # one stored article in five came from a feed: a headline-and-lead signature only
ROUNDS = 3
BRUTE_QUERIES = 500


@dataclass
class Query:
    signatures: dict[str, Signature]
    target_story: int | None  # a near copy: the story it should join
    content_hash: str = field(default_factory=lambda: os.urandom(32).hex())  # a new text: no exact copy


@dataclass
class Built:
    seconds: float
    megabytes: float
    queries: list[Query]
    text: np.ndarray | None  # all stored text signatures, for brute force (small sizes only)
    short_only: np.ndarray | None  # the signatures of the articles with no text signature


def _random_values(rng: np.random.Generator, rows: int, permutations: int) -> np.ndarray:
    return rng.integers(0, 2**32 - 1, (rows, permutations), dtype=np.uint32)


def _near_copy(rng: np.random.Generator, values: np.ndarray, threshold: float) -> np.ndarray:
    """A signature whose similarity to `values` is about halfway between `threshold` and 1."""
    copy = values.copy()
    changed = rng.random(len(copy)) < (1 - threshold) / 2
    copy[changed] = rng.integers(0, 2**32 - 1, changed.sum(), dtype=np.uint32)
    return copy


def _signed(scheme: Scheme, kind: str, values: np.ndarray) -> Signature:
    return Signature(kind, values, buckets(scheme, kind, values))


def build_store(path: str, size: int, scheme: Scheme, lookups: int, keep: bool, seed: int = 7) -> Built:
    """Fill a new Store with `size` generated articles through bulk SQL on the product's tables;
    pick `lookups` query articles, half of them near copies of stored ones."""
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    store = Store(path)
    conn = store.db.conn
    conn.execute("PRAGMA cache_size=-1000000")  # this connection only: bulk load
    store.sync_sources([("bench", "site", "https://bench.example", "bench")])
    indexes = _drop_indexes(conn, ("articles", "signatures", "lsh_buckets"))
    now = datetime.now(UTC)
    hours = [now_iso(now - timedelta(hours=h)) for h in range(29 * 24)]  # within the 30-day window
    copies = set(rng.choice(np.arange(1, size + 1), lookups // 2, replace=False).tolist())
    queries, text_rows, short_rows, bucket_chunks = [], [], [], []
    for start in range(1, size + 1, CHUNK):
        ids = np.arange(start, min(start + CHUNK, size + 1))
        text = _random_values(rng, len(ids), scheme.permutations)
        short = _random_values(rng, len(ids), scheme.permutations)
        seen = rng.integers(0, len(hours), len(ids))
        has_text = ids % SHORT_ONLY_EVERY != 0
        bucket_chunks.append(_write_chunk(conn, scheme, ids, text, short, has_text, seen, hours))
        for j in np.flatnonzero(np.isin(ids, list(copies))):
            sigs = {"short": _signed(scheme, "short", _near_copy(rng, short[j], scheme.short_threshold))}
            if has_text[j]:
                sigs["text"] = _signed(scheme, "text", _near_copy(rng, text[j], scheme.threshold))
            queries.append(Query(sigs, int(ids[j])))
        if keep:
            text_rows.append(text[has_text])
            short_rows.append(short[~has_text])
    _write_buckets(conn, np.concatenate([c[0] for c in bucket_chunks]),
                   np.concatenate([c[1] for c in bucket_chunks]), np.concatenate([c[2] for c in bucket_chunks]), hours)
    for sql in indexes:
        conn.execute(sql)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    seconds = time.perf_counter() - started
    for _ in range(lookups - len(queries)):
        queries.append(Query({kind: _signed(scheme, kind, _random_values(rng, 1, scheme.permutations)[0])
                              for kind in KINDS}, None))
    rng.shuffle(queries)
    megabytes = sum(os.path.getsize(p) for p in (path, f"{path}-wal") if os.path.exists(p)) / 1e6
    return Built(seconds, megabytes, queries, np.concatenate(text_rows) if keep else None,
                 np.concatenate(short_rows) if keep else None)


def _drop_indexes(conn: sqlite3.Connection, tables: tuple[str, ...]) -> list[str]:
    """Drop the secondary indexes of `tables` (rebuilt after the load); return their SQL."""
    marks = ",".join("?" * len(tables))
    found = conn.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                         f"AND tbl_name IN ({marks})", tables).fetchall()
    for name, _ in found:
        conn.execute(f"DROP INDEX {name}")
    return [sql for _, sql in found]


def _write_chunk(conn: sqlite3.Connection, scheme: Scheme, ids: np.ndarray, text: np.ndarray, short: np.ndarray,
                 has_text: np.ndarray, seen: np.ndarray, hours: list[str]) -> tuple[np.ndarray, ...]:
    """Stories, articles and signatures of one chunk; returns its bucket rows (key, id, hour)."""
    keys, owners, when = [], [], []
    story_rows, article_rows, signature_rows, key_rows = [], [], [], []
    for article_id, t_values, s_values, text_too, hour in zip(ids.tolist(), text, short, has_text, seen.tolist()):
        at = hours[hour]
        url = f"https://bench.example/a/{article_id:08d}"
        story_rows.append((article_id, article_id, f"story {article_id}", url, at, at))
        article_rows.append((article_id, "bench", article_id, url, url, url, f"story {article_id}", "",
                             os.urandom(32).hex(), "page" if text_too else "feed", at, "bench.example"))
        for kind, values in (("text", t_values), ("short", s_values)):
            if kind == "text" and not text_too:
                continue
            sig = _signed(scheme, kind, values)
            signature_rows.append((article_id, kind, scheme.label, scheme.permutations, scheme.seed,
                                   scheme.shingle, sig.to_bytes(), at))
            keys.extend(sig.buckets)
            owners.extend([article_id] * len(sig.buckets))
            when.extend([hour] * len(sig.buckets))
            article_keys = (key_rows.pop()[1] if key_rows and key_rows[-1][0] == article_id else ()) + sig.buckets
            key_rows.append((article_id, article_keys))
    conn.execute("BEGIN")
    conn.executemany("""INSERT INTO stories (id, first_article_id, title, url, first_seen_at, updated_at,
                        article_count, outlet_count) VALUES (?,?,?,?,?,?,1,1)""", story_rows)
    conn.executemany("""INSERT INTO articles (id, source_id, story_id, url, url_key, canonical_url, title, text,
                        content_hash, extracted_from, first_seen_at, outlet) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)""",
                     article_rows)
    conn.executemany("""INSERT INTO signatures (article_id, kind, scheme, permutations, seed, shingle, minhash,
                        seen_at) VALUES (?,?,?,?,?,?,?,?)""", signature_rows)
    conn.executemany("INSERT INTO lsh_articles (article_id, buckets, pending) VALUES (?,?,0)",
                     [(article_id, pack_keys(article_keys)) for article_id, article_keys in key_rows])
    conn.execute("COMMIT")
    return np.array(keys, dtype=np.int64), np.array(owners, dtype=np.int64), np.array(when, dtype=np.int32)


def _write_buckets(conn: sqlite3.Connection, keys: np.ndarray, owners: np.ndarray, when: np.ndarray,
                   hours: list[str], batch: int = 1_000_000) -> None:
    """The bucket rows in key order (appends to the WITHOUT ROWID tree), in big transactions."""
    order = np.lexsort((owners, keys))
    keys, owners, when = keys[order], owners[order], when[order]
    for start in range(0, len(keys), batch):
        end = start + batch
        conn.execute("BEGIN")
        conn.executemany("INSERT OR REPLACE INTO lsh_buckets (bucket, article_id) VALUES (?,?)",
                         zip(keys[start:end].tolist(), owners[start:end].tolist()))
        conn.execute("COMMIT")


def lookup(store: Store, scheme: Scheme, query: Query, since: datetime) -> tuple[int | None, int]:
    """What `Ingest._story_for` does for a new article (less its outlet and date test of headline-and-
    lead candidates): the exact hash, then each kind's candidates confirmed by similarity.
    Returns (story found or None, candidates read)."""
    story = store.story_with_content(query.content_hash)
    if story is not None:
        return story, 0
    read = 0
    for kind in KINDS:
        sig = query.signatures.get(kind)
        if sig is None:
            continue
        threshold, best = threshold_of(scheme, kind), None
        candidates = store.near_candidates(kind, scheme.label, sig.buckets, since,
                                           only_short=kind == "short" and "text" in query.signatures)
        read += len(candidates)
        for near in candidates:
            score = similarity(sig.values, from_bytes(near.minhash))
            if score >= threshold and (best is None or score > best[0]):
                best = (score, near.story_id)
        if best is not None:
            return best[1], read
    return None, read


def brute_force(built: Built, scheme: Scheme, query: Query) -> int | None:
    """The same decision by comparing with every stored signature (numpy), no index."""
    for kind, stored in (("text", built.text), ("short", built.short_only)):
        sig = query.signatures.get(kind)
        if sig is None or not len(stored):
            continue
        scores = np.count_nonzero(stored == sig.values, axis=1)
        best = int(scores.argmax())
        if scores[best] / scheme.permutations >= threshold_of(scheme, kind):
            return best
    return None


def timed(function, queries: list[Query]) -> float:
    """Microseconds per query of `function`, the best of ROUNDS rounds (the machine is shared)."""
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for query in queries:
            function(query)
        best = min(best, time.perf_counter() - started)
    return best / len(queries) * 1e6


def table_scans(store: Store, scheme: Scheme, queries: list[Query], since: datetime) -> list[str]:
    """The query-plan steps that scan a whole table, for the statements a lookup runs."""
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)  # the SQL as run, parameters filled in
    for query in queries:
        lookup(store, scheme, query, since)
    store.db.conn.set_trace_callback(None)
    steps = {row[3] for sql in set(statements) if sql.lstrip().upper().startswith("SELECT")
             for row in store.db.execute(f"EXPLAIN QUERY PLAN {sql}")}
    return sorted(step for step in steps if step.startswith("SCAN"))


@dataclass
class Cost:
    per_lookup: float  # µs
    brute: float | None  # µs, brute force
    candidates: float  # per lookup
    copies: int
    found: int  # near copies that joined their original's story
    fresh_matched: int  # fresh articles that joined a story (none should)
    scans: list[str]


def measure(path: str, built: Built, scheme: Scheme, since: datetime) -> Cost:
    """Run every query once (counting outcomes, warming the cache), then time them."""
    store = Store(path)
    queries = built.queries
    results = [lookup(store, scheme, query, since) for query in queries]
    per_lookup = timed(partial(lookup, store, scheme, since=since), queries)
    scans = table_scans(store, scheme, queries[:20], since)
    store.close()
    brute = None
    if built.text is not None:
        brute = timed(partial(brute_force, built, scheme), queries[:BRUTE_QUERIES])
    copies = [(q, r) for q, r in zip(queries, results) if q.target_story is not None]
    return Cost(per_lookup, brute, sum(r[1] for r in results) / len(results), len(copies),
                sum(r[0] == q.target_story for q, r in copies),
                sum(r[0] is not None for q, r in zip(queries, results) if q.target_story is None), scans)


def report_lookup(sizes: list[int], scheme: Scheme, lookups: int, brute_max: int, folder: Path) -> None:
    print(f"\n4. Lookup cost: a Store filled with N generated articles (random signatures; 1 in "
          f"{SHORT_ONLY_EVERY} with a short signature only), {lookups} lookups per size, half of them "
          f"near copies (similarity halfway between the threshold and 1); best of {ROUNDS} rounds; "
          f"brute force on {BRUTE_QUERIES} of the lookups")
    for kind in KINDS:
        bands, rows = scheme.bands(kind)
        print(f"   {kind}: threshold {threshold_of(scheme, kind):.2f}, {bands} bands of {rows} rows")
    print("          N  build s   DB MB  lookup µs/article  candidates/lookup  copies found  fresh matched"
          "  brute µs/article")
    since = datetime.now(UTC) - Stories().window
    scanned = False
    for size in sizes:
        path = str(folder / f"lookup-{size}.db")
        built = build_store(path, size, scheme, lookups, keep=size <= brute_max)
        cost = measure(path, built, scheme, since)
        scanned = scanned or bool(cost.scans)
        brute = f"{cost.brute:.0f}" if cost.brute is not None else "-"
        print(f"   {size:>9,} {built.seconds:8.1f} {built.megabytes:7.0f} {cost.per_lookup:18.0f} "
              f"{cost.candidates:18.2f} {cost.found:6d}/{cost.copies:<6d} {cost.fresh_matched:14d} {brute:>17}"
              + (f"   table scans: {'; '.join(cost.scans)}" if cost.scans else ""), flush=True)
        for suffix in ("", "-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)
    print("   query plans of the lookup's statements: " + (
        "table scans, listed above" if scanned else "index searches only, no table scan, at every size"))


# -- main ----------------------------------------------------------------------------------


def machine_line() -> str:
    return (f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}, datasketch {datasketch.__version__}, numpy {np.__version__}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=os.environ.get("PRESSWATCH_CORPUS")
                        or str(REPO.parent / "shared" / "corpus"), help="the shared corpus folder")
    parser.add_argument("--sizes", default="10000,100000,1000000", help="stored articles for the lookup cost")
    parser.add_argument("--quick", action="store_true", help="small sizes (2000,10000) and 500 lookups")
    parser.add_argument("--lookups", type=int, default=2000, help="lookups timed per size")
    parser.add_argument("--brute-max", type=int, default=100_000, help="largest size compared by brute force")
    parser.add_argument("--text-threshold", type=float, help="instead of the chosen one (sections 2 and 4)")
    parser.add_argument("--short-threshold", type=float, help="instead of the chosen one (sections 2 and 4)")
    parser.add_argument("--tmp", default=None, help="folder for the lookup databases (default: a temp dir)")
    args = parser.parse_args(argv)
    root = Path(args.corpus)
    if not (root / KCNA).exists():
        print(f"no corpus under {root}", file=sys.stderr)
        return 2
    sizes = [2000, 10_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    lookups = 500 if args.quick else args.lookups
    print(f"near-duplicate evaluation on {root} ({datetime.now():%Y-%m-%d %H:%M})")
    print(machine_line() + "\n")
    semeval = report_semeval(root / SEMEVAL)
    chosen = report_kcna(root / KCNA, semeval, {"text": args.text_threshold, "short": args.short_threshold})
    report_urls(root / REFERENCE_PAGES)
    scheme = Scheme(threshold=chosen["text"], short_threshold=chosen["short"])
    with tempfile.TemporaryDirectory(dir=args.tmp) as folder:
        report_lookup(sizes, scheme, lookups, args.brute_max, Path(folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())

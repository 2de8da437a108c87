"""Extraction quality on real pages with ground truth: our extract_page beside trafilatura alone.

Usage: python bench/extract_eval.py [CORPUS]   (CORPUS: the shared corpus folder, or its
``articles/`` folder; default $PRESSWATCH_CORPUS, else ../shared/corpus beside the repository)

For each dataset of ``articles/`` and overall it prints, for both extractors:
text word F1 (mean over pages, bag of lowercased words against the reference body), title
exact-match rate (pages whose ground truth has a title), date accuracy within a day (pages whose
ground truth has a date; no date counts as wrong) and pages per second. Pages are read from the
corpus folder; nothing is copied.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
import time
import unicodedata
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import lxml.html
from trafilatura import bare_extraction

from presswatch.crawler.errors import FetchError
from presswatch.crawler.parse.extract import extract_page

REPO = Path(__file__).resolve().parent.parent
# Readability's test pages were saved from this address.
MOZILLA_URL = "http://fakehost/test/page.html"
_WORD = re.compile(r"\w+")


@dataclass
class Page:
    dataset: str
    name: str
    url: str
    html: bytes
    text: str
    title: str | None = None
    published: date | None = None


@dataclass
class Output:
    text: str = ""
    title: str | None = None
    published: date | None = None


@dataclass
class Score:
    f1: list[float] = field(default_factory=list)
    titles: list[bool] = field(default_factory=list)
    dates: list[bool] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, other: Score) -> None:
        self.f1 += other.f1
        self.titles += other.titles
        self.dates += other.dates
        self.seconds += other.seconds


# -- the corpus -----------------------------------------------------------------------------


def load_pages(articles: Path) -> list[Page]:
    pages: list[Page] = []
    for dataset in ("scrapinghub_aeb", "andy_article_extraction_dataset"):
        truth = json.loads((articles / dataset / "ground-truth.json").read_text(encoding="utf-8"))
        for name, record in sorted(truth.items()):
            html = gzip.decompress((articles / dataset / "html" / f"{name}.html.gz").read_bytes())
            pages.append(Page(dataset, name, record.get("url") or "", html, record.get("articleBody") or "",
                              record.get("title") or None, _day(record.get("date"))))
    mozilla = articles / "mozilla_readability"
    for source in sorted(mozilla.glob("*.source.html.gz")):
        name = source.name.removesuffix(".source.html.gz")
        expected = gzip.decompress((mozilla / f"{name}.expected.html.gz").read_bytes())
        meta = json.loads((mozilla / f"{name}.expected-metadata.json").read_text(encoding="utf-8"))
        pages.append(Page("mozilla_readability", name, MOZILLA_URL, gzip.decompress(source.read_bytes()),
                          lxml.html.fromstring(expected).text_content(), meta.get("title") or None,
                          _day(meta.get("publishedTime"))))
    return pages


def _day(value: str | None) -> date | None:
    match = re.match(r"\d{4}-\d{2}-\d{2}", value or "")
    return date.fromisoformat(match[0]) if match else None


# -- the two extractors ----------------------------------------------------------------------


def ours(page: Page) -> Output:
    try:
        found = extract_page(page.html, page.url)
    except FetchError:
        return Output()
    return Output(found.text, found.title, found.published.date() if found.published else None)


def trafilatura_alone(page: Page) -> Output:
    document = bare_extraction(page.html, url=page.url or None, with_metadata=True)
    if document is None:
        return Output()
    return Output(document.text or "", document.title, _day(document.date))


# -- scoring ---------------------------------------------------------------------------------


def word_f1(found: str, expected: str) -> float:
    got, want = _words(found), _words(expected)
    if not got or not want:
        return float(got == want)
    common = sum((got & want).values())
    if not common:
        return 0.0
    precision, recall = common / sum(got.values()), common / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def _words(text: str) -> Counter[str]:
    return Counter(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))


def _same_title(found: str | None, expected: str) -> bool:
    norm = lambda value: " ".join(unicodedata.normalize("NFC", value or "").split())  # noqa: E731
    return norm(found) == norm(expected)


def score(pages: list[Page], extractor) -> dict[str, Score]:
    scores: dict[str, Score] = {}
    for page in pages:
        started = time.perf_counter()
        out = extractor(page)
        elapsed = time.perf_counter() - started
        result = scores.setdefault(page.dataset, Score())
        result.seconds += elapsed
        result.f1.append(word_f1(out.text, page.text))
        if page.title:
            result.titles.append(_same_title(out.title, page.title))
        if page.published:
            result.dates.append(out.published is not None and abs((out.published - page.published).days) <= 1)
    return scores


# -- report ----------------------------------------------------------------------------------


def _mean(values: list[float] | list[bool]) -> str:
    return f"{sum(values) / len(values):.3f}" if values else "  -  "


def _row(label: str, result: Score) -> str:
    pages = len(result.f1)
    rate = pages / result.seconds if result.seconds else 0.0
    return (f"  {label:<18} {_mean(result.f1):>7} {_mean(result.titles):>7} ({len(result.titles):>3})"
            f" {_mean(result.dates):>7} ({len(result.dates):>3}) {rate:>8.1f}")


def report(pages: list[Page], results: dict[str, dict[str, Score]]) -> None:
    datasets = sorted({page.dataset for page in pages}) + ["overall"]
    for name, per_dataset in results.items():
        total = Score()
        for result in list(per_dataset.values()):
            total.add(result)
        per_dataset["overall"] = total
    header = f"  {'extractor':<18} {'text F1':>7} {'title =':>7} {'(n)':>5} {'date±1d':>7} {'(n)':>5} {'pages/s':>8}"
    for dataset in datasets:
        count = len(next(iter(results.values()))[dataset].f1)
        print(f"{dataset} ({count} pages)")
        print(header)
        for name, per_dataset in results.items():
            print(_row(name, per_dataset[dataset]))
        print()


def articles_folder(corpus: str) -> Path | None:
    """The corpus's articles folder (given the corpus or the folder itself), or None, said why."""
    root = Path(corpus)
    articles = root / "articles" if (root / "articles").is_dir() else root
    if not (articles / "scrapinghub_aeb").is_dir():
        print(f"no articles corpus under {root}", file=sys.stderr)
        return None
    return articles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", default=os.environ.get("PRESSWATCH_CORPUS")
                        or str(REPO.parent / "shared" / "corpus"))
    args = parser.parse_args(argv)
    articles = articles_folder(args.corpus)
    if articles is None:
        return 2
    warnings.filterwarnings("ignore")
    pages = load_pages(articles)
    results = {
        "presswatch": score(pages, ours),
        "trafilatura alone": score(pages, trafilatura_alone),
    }
    print(f"extraction on {len(pages)} pages of {articles} ({datetime.now():%Y-%m-%d %H:%M})\n")
    report(pages, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

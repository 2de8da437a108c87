"""False alarms of the listing check: real article pages that `listing_reason` would refuse.

Usage: python bench/listing_eval.py [CORPUS]   (CORPUS: the shared corpus folder, or its
``articles/`` folder; default $PRESSWATCH_CORPUS, else ../shared/corpus beside the repository)

Every page of the corpus's article datasets is an article: each is read by extract_page as
the pipeline reads it, then checked by crawler.layout.listing_reason. It prints, per dataset
and overall, the pages read, those with no extractable text, those called listings (false
alarms, named), and the milliseconds the check adds a page. Pages are read from the corpus
folder; nothing is copied.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections import defaultdict

from extract_eval import REPO, articles_folder, load_pages

from presswatch.crawler.errors import FetchError
from presswatch.crawler.parse.extract import extract_page
from presswatch.crawler.parse.layout import listing_reason


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", default=os.environ.get("PRESSWATCH_CORPUS")
                        or str(REPO.parent / "shared" / "corpus"))
    articles = articles_folder(parser.parse_args(argv).corpus)
    if articles is None:
        return 2
    warnings.filterwarnings("ignore")
    rows: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # read, no text, listing
    alarms, spent = [], 0.0
    for page in load_pages(articles):
        row = rows[page.dataset]
        row[0] += 1
        try:
            found = extract_page(page.html, page.url)
        except FetchError:
            row[1] += 1
            continue
        started = time.perf_counter()
        reason = listing_reason(page.html, found.text)
        spent += time.perf_counter() - started
        if reason:
            row[2] += 1
            alarms.append(f"{page.dataset}/{page.name}: {reason}")
    total = [sum(r[i] for r in rows.values()) for i in range(3)]
    for name, (read, empty, listing) in [*sorted(rows.items()), ("all", total)]:
        print(f"{name:<32} pages {read:>4}  no text {empty:>3}  called listings {listing:>3}")
    print(f"listing check: {1000 * spent / max(1, total[0] - total[1]):.2f} ms a page")
    for alarm in alarms:
        print(f"  false alarm: {alarm}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

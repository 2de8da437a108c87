"""What grouping stories into events costs the writer: `events.scope: matched` against `all`.

Usage: python bench/events_cost.py [CORPUS]
(CORPUS: default $PRESSWATCH_CORPUS, else ../shared/corpus beside the repository)

The KCNA sample's items (real texts, north_korea/kcna_stiles_2024/kcna_sample_400.json)
go through the real `Ingest` into a fresh SQLite file, three times: events off, events
for the stories a rule matches (the default), events for every story. Printed: CPU
seconds of the whole ingest, stories embedded, events of more than one story, and the
CPU a story more than with events off. The model's loading (once per process) is done
before timing.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from presswatch.config import Config, Rule, Source
from presswatch.config.schema import Events
from presswatch.crawler.store.database import Store
from presswatch.crawler.stories import events as grouping
from presswatch.crawler.stories.ingest import Candidate, Ingest

REPO = Path(__file__).resolve().parent.parent
KCNA = Path("north_korea/kcna_stiles_2024/kcna_sample_400.json")
RULES = (  # the mission's two rules, shortened: state media on rights and on the US
    Rule(id="rights", query='"human rights" OR "human scum" OR HRW OR "Human Rights Watch"'),
    Rule(id="us", query='"U.S." OR "United States" OR Washington'),
)


def candidates(corpus: Path) -> list[Candidate]:
    items = json.loads((corpus / KCNA).read_text(encoding="utf-8"))
    out = []
    for item in items:
        if item["story_text"].strip():
            published = datetime.fromtimestamp(int(item["date"]) / 1000, UTC)
            out.append(Candidate(source_id="kcna", url=item["link"], title=item["headline"],
                                 text=item["story_text"], extracted_from="page", published=published,
                                 language="en"))
    return out


def run(found: list[Candidate], events: Events) -> tuple[float, int, int, int]:
    with tempfile.TemporaryDirectory() as folder:
        store = Store(str(Path(folder) / "bench.db"))
        config = Config(sources=(Source(id="kcna", kind="feed", url="https://kcnawatch.org/feed/"),), rules=RULES)
        store.sync_sources([("kcna", "feed", "https://kcnawatch.org/feed/", "KCNA")])
        ingest = Ingest.from_config(store, config.rules, config.sources, events=events)
        start = time.process_time()
        for candidate in found:
            ingest.ingest(candidate)
        spent = time.process_time() - start
        embedded = store.db.execute("SELECT count(*) FROM story_vectors").fetchone()[0]
        stories = store.db.execute("SELECT count(*) FROM stories").fetchone()[0]
        grouped = store.db.execute("SELECT count(*) FROM events WHERE story_count > 1").fetchone()[0]
        store.close()
    return spent, embedded, stories, grouped


def main() -> int:
    corpus = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PRESSWATCH_CORPUS")
                  or REPO.parent / "shared" / "corpus")
    found = candidates(corpus)
    grouping.embed(["warm-up"])  # the model loads once per process; not part of a story's cost
    print(f"events cost: {len(found)} KCNA items through Ingest ({time.strftime('%Y-%m-%d %H:%M')})")
    print(f"  {'events':<16}{'CPU s':>8}{'stories':>9}{'embedded':>10}{'grouped events':>16}{'ms/story more':>15}")
    base = None
    for label, settings in (("off", Events(enabled=False)), ("scope: matched", Events()),
                            ("scope: all", Events(scope="all"))):
        spent, embedded, stories, grouped = run(found, settings)
        base = spent if base is None else base
        more = (spent - base) / stories * 1000
        print(f"  {label:<16}{spent:>8.2f}{stories:>9}{embedded:>10}{grouped:>16}{more:>15.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The store: with its migrations, the only code that runs SQL.

Everything presswatch keeps lives in one SQLite file (WAL, a busy timeout, one writer):
sources and their fetch state, articles (with FTS5 over title and text), stories, rule
matches and the alert outbox. Callers get plain dataclasses and call named operations;
none of them writes SQL. Deciding *what* to store (dedup, matching) is left to
`presswatch.crawler.stories`; sending alerts is left to the scheduler's delivery.

The schema is in `migrations`, the dataclasses passed in and out in `records`; the archive
queries (`archive`) and the outbox (`outbox`) are mixins of `Store` (`database`).
"""

from presswatch.crawler.store.database import DatabaseFacts, Store, inspect_database
from presswatch.crawler.store.records import (
    HealthChange,
    KnownArticle,
    NearCandidate,
    NewArticle,
    NewMatch,
    OutboxRow,
    SourceRun,
    SourceState,
    StorySummary,
    now_iso,
)

__all__ = [
    "HealthChange", "KnownArticle", "NearCandidate", "NewArticle", "NewMatch", "OutboxRow", "SourceRun",
    "SourceState", "Store", "StorySummary", "now_iso", "DatabaseFacts", "inspect_database",
]

"""The store: with its migrations, the only code that runs SQL.

Everything presswatch keeps lives in one SQLite file (WAL, a busy timeout, one writer):
sources and their fetch state, articles (with FTS5 over title and text), stories, rule
matches and the alert outbox. Callers get plain dataclasses and call named operations;
none of them writes SQL. Deciding *what* to store (dedup, matching) is left to
`presswatch.crawler.stories`; sending alerts is left to the scheduler's delivery.

The schema is in `migrations`, the dataclasses passed in and out in `records`; the archive
queries (`archive`) and the outbox (`outbox`) are mixins of `Store` (`database`).
Import from those modules: this package's own import stays cheap (the search language
and the records need no sqlite-utils).
"""

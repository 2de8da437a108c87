"""The store: with its migrations, the only code that runs SQL.

Everything presswatch keeps lives in one SQLite file (WAL, a busy timeout, one writer):
sources and their fetch state, articles (with FTS5 over title and text), stories, rule
matches and the alert outbox. Callers get plain dataclasses and call named operations;
none of them writes SQL. Deciding *what* to store (dedup, matching) is left to
`ingest`; sending alerts is left to the scheduler's delivery.

The schema is in `migrations`, the dataclasses passed in and out in `records`.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlite_utils
from presswatch.config.errors import StoreError
from presswatch.crawler.migrations import migrations
from presswatch.crawler.records import (
    ChannelSend,
    HealthChange,
    KnownArticle,
    NewArticle,
    NearCandidate,
    NewMatch,
    OutboxRow,
    SourceRun,
    SourceState,
    StorySummary,
    UrlResult,
    now_iso,
)

__all__ = [
    "HealthChange", "KnownArticle", "NearCandidate", "NewArticle", "NewMatch", "OutboxRow", "SourceRun",
    "SourceState", "Store", "StorySummary", "now_iso",
]

BUSY_TIMEOUT_MS = 10_000


@dataclass
class Store:
    """A connection to the presswatch database, migrated on open."""

    path: str
    db: sqlite_utils.Database = field(init=False)
    _lock: object = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            self.db = sqlite_utils.Database(conn)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.execute("PRAGMA synchronous=NORMAL")
            if list(migrations.pending(self.db)):
                self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the database {self.path}: {exc}") from exc

    def _migrate(self) -> None:
        """Upgrade the schema, holding the writer lock: never under a running (older) daemon."""
        held = self._lock is not None
        self.lock_writer()
        try:
            migrations.apply(self.db)
        finally:
            if not held and self._lock is not None:
                self._lock.close()
                self._lock = None

    def close(self) -> None:
        self.db.close()
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None

    def lock_writer(self) -> None:
        """Claim the database for this process, or fail if another presswatch holds it.

        Two daemons on one database would each take the other's claimed alerts for
        interrupted ones and send them again; one writer is also what SQLite does best.
        """
        if self.path == ":memory:" or self._lock is not None:
            return
        handle = open(f"{self.path}.lock", "a+")  # noqa: SIM115 (held open while running)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise StoreError(
                f"another presswatch process is using {self.path}; stop it first "
                "(alerts would be sent twice, and its schema cannot be upgraded under it)") from None
        self._lock = handle

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction; everything inside commits together or not at all."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    def _one(self, sql: str, params: tuple | dict = ()) -> dict | None:
        return next(iter(self.db.query(sql, params)), None)

    # Sources -----------------------------------------------------------------

    def sync_sources(self, sources: list[tuple[str, str, str, str]]) -> None:
        """Make sure every configured source (id, kind, url, name) has a row; keep state."""
        with self.transaction():
            for source_id, kind, url, name in sources:
                self.db.execute(
                    """INSERT INTO sources (id, kind, url, name) VALUES (?, ?, ?, ?)
                       ON CONFLICT(id) DO UPDATE SET kind=excluded.kind, url=excluded.url,
                       name=excluded.name""",
                    (source_id, kind, url, name),
                )

    def source_state(self, source_id: str) -> SourceState:
        row = self._one("SELECT * FROM sources WHERE id = ?", (source_id,))
        return SourceState(**row) if row else SourceState(id=source_id)

    def source_states(self) -> list[SourceState]:
        return [SourceState(**row) for row in self.db.query("SELECT * FROM sources ORDER BY id")]

    def record_source_run(self, run: SourceRun, health: HealthChange | None = None,
                          at: datetime | None = None) -> None:
        """Save a run's outcome, and the source's health with the alert of its change.

        Success resets the failure count; an error is kept; a 304 keeps the validators.
        """
        now = now_iso(at)
        with self.transaction():
            if run.ok:
                self.db.execute(
                    """UPDATE sources SET last_run_at=?, last_success_at=?, failures=0,
                       runs=runs+1, items_seen=items_seen+?, articles_new=articles_new+?,
                       etag=CASE WHEN ? THEN etag ELSE ? END,
                       last_modified=CASE WHEN ? THEN last_modified ELSE ? END
                       WHERE id=?""",
                    (now, now, run.items_seen, run.articles_new,
                     run.not_modified, run.etag, run.not_modified, run.last_modified,
                     run.source_id),
                )
            else:
                self.db.execute(
                    """UPDATE sources SET last_run_at=?, failures=failures+1, runs=runs+1,
                       items_seen=items_seen+?, articles_new=articles_new+? WHERE id=?""",
                    (now, run.items_seen, run.articles_new, run.source_id),
                )
            if run.error:
                self.db.execute(
                    "UPDATE sources SET last_error=?, last_error_at=? WHERE id=?",
                    (run.error, now, run.source_id),
                )
            if health is not None:
                self._record_health(run.source_id, health, now)

    def _record_health(self, source_id: str, health: HealthChange, now: str) -> None:
        self.db.execute(
            """UPDATE sources SET state=?, last_new_at=?, usual_gap=?,
               state_since=CASE WHEN state=? THEN COALESCE(state_since, ?) ELSE ? END WHERE id=?""",
            (health.state, health.last_new_at, health.usual_gap, health.state, now, now, source_id),
        )
        if health.event is None:
            return
        self._record_event(source_id, health.from_state or "new", health.state, health.event,
                           health.channels, now)

    def record_fallback(self, source_id: str, reason: str | None, detail: str,
                        channels: tuple[str, ...] = (), at: datetime | None = None) -> None:
        """A feed source switched to its fallback (`reason` set) or back on its feed (None).

        The switch is an event of the source, queued to `channels` like a change of health.
        """
        now = now_iso(at)
        on, off = "on fallback", "on its feed"
        from_state, to_state = (off, on) if reason is not None else (on, off)
        with self.transaction():
            self.db.execute(
                "UPDATE sources SET fallback_since=?, fallback_reason=? WHERE id=?",
                (now if reason is not None else None, reason, source_id),
            )
            self._record_event(source_id, from_state, to_state, detail, channels, now)

    def _record_event(self, source_id: str, from_state: str, to_state: str, detail: str,
                      channels: tuple[str, ...], now: str) -> None:
        cursor = self.db.execute(
            """INSERT INTO source_events (source_id, from_state, to_state, detail, at)
               VALUES (?,?,?,?,?)""",
            (source_id, from_state, to_state, detail, now),
        )
        for channel_id in channels:
            self.db.execute(
                """INSERT INTO outbox (kind, event_id, rule_id, channel_id, next_attempt_at,
                   created_at, updated_at) VALUES ('health',?,?,?,?,?,?)""",
                (cursor.lastrowid, f"source:{source_id}", channel_id, now, now, now),
            )

    def source_events(self, source_id: str | None = None) -> list[dict]:
        where, params = ("WHERE source_id = ?", (source_id,)) if source_id else ("", ())
        return list(self.db.query(f"SELECT * FROM source_events {where} ORDER BY id", params))

    # Articles and stories ----------------------------------------------------

    def known_article(self, source_id: str, guid: str | None, urls: tuple[str, ...]) -> KnownArticle | None:
        """The article stored under one of these URLs, or under this source's GUID."""
        marks = ",".join("?" * len(urls))
        columns = "id, story_id, extracted_from, page_error, version_hash"
        row = self._one(
            f"SELECT {columns} FROM articles WHERE canonical_url IN ({marks}) OR url_key IN ({marks}) LIMIT 1",
            (*urls, *urls),
        )
        if row is None and guid:
            row = self._one(
                f"SELECT {columns} FROM articles WHERE source_id = ? AND guid = ?", (source_id, guid)
            )
        return KnownArticle(**row) if row else None

    def fill_article(self, article_id: int, article: NewArticle, at: datetime | None = None) -> None:
        """Replace a feed's stand-in text by the page's, once the page could be fetched."""
        self.db.execute(
            """UPDATE articles SET title=?, text=?, published_at=COALESCE(?, published_at),
               date_source=CASE WHEN ? IS NULL THEN date_source ELSE ? END,
               language=COALESCE(?, language), authors=?, content_hash=?, extracted_from=?,
               page_error=NULL, version_hash=?, updated_at=? WHERE id=?""",
            (article.title, article.text, article.published_at, article.published_at,
             article.date_source, article.language,
             json.dumps(list(article.authors), ensure_ascii=False), article.content_hash,
             article.extracted_from, article.version_hash, now_iso(at), article_id),
        )
        self.note_entry(article_id, article.source_id, article.entry_fingerprint)

    def revise_article(self, article_id: int, article: NewArticle, at: datetime | None = None) -> None:
        """The article changed: keep the version it had as a revision, store the new one."""
        now = now_iso(at)
        self.db.execute(
            """INSERT INTO revisions (article_id, title, text, version_hash, seen_at, replaced_at)
               SELECT id, title, text, COALESCE(version_hash, ''), COALESCE(updated_at, first_seen_at), ?
               FROM articles WHERE id = ?""",
            (now, article_id),
        )
        self.fill_article(article_id, article, at)
        self.db.execute("UPDATE articles SET revision_count = revision_count + 1 WHERE id = ?", (article_id,))

    def note_entry(self, article_id: int, source_id: str, fingerprint: str | None) -> None:
        """Remember a source's feed entry for an article as last seen with its page."""
        if fingerprint is not None:
            self.db.execute(
                """INSERT INTO entry_fingerprints (article_id, source_id, fingerprint) VALUES (?,?,?)
                   ON CONFLICT (article_id, source_id) DO UPDATE SET fingerprint = excluded.fingerprint""",
                (article_id, source_id, fingerprint),
            )

    def entry_fingerprint(self, article_id: int, source_id: str) -> str | None:
        row = self._one("SELECT fingerprint FROM entry_fingerprints WHERE article_id = ? AND source_id = ?",
                        (article_id, source_id))
        return row["fingerprint"] if row else None

    def move_article(self, article_id: int, to_story: int, at: datetime | None = None) -> None:
        """Move an article into another story (its fuller text showed it to be a copy).

        The story it leaves keeps its row, emptied and marked `merged_into`, so alerts
        already sent for it still point somewhere.
        """
        now = now_iso(at)
        row = self._one("SELECT story_id, outlet, first_seen_at FROM articles WHERE id = ?", (article_id,))
        old = row["story_id"]
        self.db.execute("UPDATE articles SET story_id = ? WHERE id = ?", (to_story, article_id))
        self.db.execute("DELETE FROM story_outlets WHERE story_id = ? AND article_id = ?", (old, article_id))
        outlets = self.db.execute("INSERT OR IGNORE INTO story_outlets VALUES (?, ?, ?, ?)",
                                  (to_story, row["outlet"], article_id, row["first_seen_at"])).rowcount
        self.db.execute(
            """UPDATE stories SET article_count = article_count - 1, updated_at = ?,
               outlet_count = (SELECT count(*) FROM story_outlets WHERE story_id = stories.id),
               merged_into = CASE WHEN article_count = 1 THEN ? END WHERE id = ?""",
            (now, to_story, old))
        self.db.execute(
            """UPDATE stories SET article_count = article_count + 1, outlet_count = outlet_count + ?,
               updated_at = ? WHERE id = ?""", (outlets, now, to_story))

    def story_size(self, story_id: int) -> int:
        row = self._one("SELECT article_count FROM stories WHERE id = ?", (story_id,))
        return row["article_count"] if row else 0

    def revisions(self, article_id: int) -> list[dict]:
        return list(self.db.query(
            "SELECT id, title, version_hash, seen_at, replaced_at FROM revisions WHERE article_id = ? ORDER BY id",
            (article_id,)))

    # Near-duplicate index ----------------------------------------------------

    def add_signatures(self, article_id: int, signatures: list, scheme, at: datetime | None = None) -> None:
        """Index an article's MinHash signatures (dedup.Signature) under `scheme` (dedup.Scheme),
        in place of any it had (a revision's text replaces the old one in the index too)."""
        now = now_iso(at)
        self.db.execute("DELETE FROM lsh_buckets WHERE article_id = ?", (article_id,))
        self.db.execute("DELETE FROM signatures WHERE article_id = ?", (article_id,))
        for sig in signatures:
            self.db.execute(
                """INSERT OR REPLACE INTO signatures (article_id, kind, scheme, permutations, seed,
                   shingle, minhash, seen_at) VALUES (?,?,?,?,?,?,?,?)""",
                (article_id, sig.kind, scheme.label, scheme.permutations, scheme.seed, scheme.shingle,
                 sig.to_bytes(), now),
            )
            self.db.conn.executemany(
                "INSERT OR REPLACE INTO lsh_buckets (bucket, article_id, seen_at) VALUES (?,?,?)",
                [(bucket, article_id, now) for bucket in sig.buckets],
            )

    def near_candidates(self, kind: str, scheme_label: str, buckets: tuple[int, ...],
                        since: datetime, only_short: bool = False) -> list[NearCandidate]:
        """Indexed articles sharing a bucket with `buckets`, seen since `since`, of the same scheme.

        With `only_short`, only articles that have no full-text signature.
        """
        if not buckets:
            return []
        marks = ",".join("?" * len(buckets))
        short_only = ("AND NOT EXISTS (SELECT 1 FROM signatures t WHERE t.article_id = s.article_id "
                      "AND t.kind = 'text')") if only_short else ""
        rows = self.db.query(
            f"""SELECT s.article_id, a.story_id, s.minhash, a.outlet,
                       COALESCE(a.published_at, a.first_seen_at) AS dated FROM signatures s
                JOIN articles a ON a.id = s.article_id
                WHERE s.kind = ? AND s.scheme = ? AND s.seen_at >= ? {short_only}
                AND s.article_id IN (SELECT article_id FROM lsh_buckets WHERE bucket IN ({marks}))""",
            (kind, scheme_label, now_iso(since), *buckets),
        )
        return [NearCandidate(**row) for row in rows]

    def prune_index(self, before: datetime) -> int:
        """Forget signatures and buckets older than `before` (the near-duplicate window)."""
        cutoff = now_iso(before)
        with self.transaction():
            self.db.execute("DELETE FROM lsh_buckets WHERE seen_at < ?", (cutoff,))
            cursor = self.db.execute("DELETE FROM signatures WHERE seen_at < ?", (cutoff,))
        return cursor.rowcount

    def story_with_content(self, content_hash: str, exclude_story: int | None = None) -> int | None:
        row = self._one(
            "SELECT story_id FROM articles WHERE content_hash = ? AND story_id IS NOT ? ORDER BY id LIMIT 1",
            (content_hash, exclude_story),
        )
        return row["story_id"] if row else None

    def add_article(self, article: NewArticle, story_id: int | None, at: datetime | None = None) -> tuple[int, int]:
        """Store an article, in a new story when `story_id` is None; returns (article, story).

        The story's counts follow: articles, outlets (one per site) and languages.
        Call inside `transaction()` together with the matches it leads to.
        """
        now = now_iso(at)
        if story_id is None:
            cursor = self.db.execute(
                """INSERT INTO stories (title, url, first_seen_at, updated_at, article_count, outlet_count)
                   VALUES (?, ?, ?, ?, 0, 0)""",
                (article.title, article.url, now, now),
            )
            story_id = cursor.lastrowid
        cursor = self.db.execute(
            """INSERT INTO articles (source_id, story_id, url, url_key, canonical_url, guid, title,
               text, published_at, date_source, language, authors, content_hash, extracted_from,
               page_error, first_seen_at, outlet, version_hash)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            (article.source_id, story_id, article.url, article.url_key, article.canonical_url, article.guid,
             article.title, article.text, article.published_at, article.date_source,
             article.language, json.dumps(list(article.authors), ensure_ascii=False),
             article.content_hash, article.extracted_from, article.page_error, now,
             article.outlet, article.version_hash),
        )
        article_id = cursor.lastrowid
        self.note_entry(article_id, article.source_id, article.entry_fingerprint)
        outlets = self.db.execute(
            "INSERT OR IGNORE INTO story_outlets VALUES (?, ?, ?, ?)",
            (story_id, article.outlet, article_id, now),
        ).rowcount
        self.db.execute(
            """UPDATE stories SET article_count = article_count + 1, outlet_count = outlet_count + ?,
               updated_at = ?, first_article_id = COALESCE(first_article_id, ?),
               languages = CASE WHEN ? IS NULL OR EXISTS (SELECT 1 FROM json_each(languages) WHERE value = ?)
                           THEN languages ELSE json_insert(languages, '$[#]', ?) END
               WHERE id = ?""",
            (outlets, now, article_id, article.language, article.language, article.language, story_id),
        )
        return article_id, story_id

    def outlet_count(self, story_id: int) -> int:
        row = self._one("SELECT outlet_count FROM stories WHERE id = ?", (story_id,))
        return row["outlet_count"] if row else 0

    def queue_spread(self, story_id: int, outlets: int, at: datetime | None = None) -> int:
        """The story reached `outlets` outlets: one update to each channel it alerted.

        A story that has alerted no channel yet sends no update. Returns the rows queued.
        """
        now = now_iso(at)
        cursor = self.db.execute(
            """INSERT INTO outbox (kind, story_id, rule_id, channel_id, milestone, next_attempt_at,
               created_at, updated_at)
               SELECT 'spread', story_id, min(rule_id), channel_id, ?, ?, ?, ? FROM outbox
               WHERE story_id = ? AND kind = 'alert' GROUP BY channel_id
               ON CONFLICT DO NOTHING""",
            (outlets, now, now, now, story_id),
        )
        return cursor.rowcount

    def add_matches(self, story_id: int, article_id: int, matches: list[NewMatch],
                    at: datetime | None = None) -> int:
        """Record rule matches and queue one outbox row per (story, rule, channel).

        The unique keys make a second call for the same story a no-op, so an alert can
        never be queued twice. Returns the number of outbox rows queued.
        """
        now = now_iso(at)
        queued = 0
        for match in matches:
            cursor = self.db.execute(
                """INSERT INTO matches (story_id, rule_id, article_id, terms, snippet, matched_at)
                   VALUES (?,?,?,?,?,?) ON CONFLICT(story_id, rule_id) DO NOTHING""",
                (story_id, match.rule_id, article_id,
                 json.dumps(list(match.terms), ensure_ascii=False), match.snippet, now),
            )
            if cursor.rowcount == 0:
                continue
            match_id = cursor.lastrowid
            for channel_id in match.channels:
                cursor = self.db.execute(
                    """INSERT INTO outbox (kind, story_id, rule_id, channel_id, match_id,
                       next_attempt_at, created_at, updated_at) VALUES ('alert',?,?,?,?,?,?,?)
                       ON CONFLICT DO NOTHING""",
                    (story_id, match.rule_id, channel_id, match_id, now, now, now),
                )
                queued += cursor.rowcount
        return queued

    def stories(self, since: datetime | None = None, limit: int = 50, min_outlets: int = 1) -> list[StorySummary]:
        """Recent stories, newest first, with their counts and the rules they matched."""
        rows = self.db.query(
            """SELECT s.id, s.title, s.url, s.first_seen_at, s.updated_at, s.article_count,
                      s.outlet_count, s.languages,
                      (SELECT json_group_array(rule_id) FROM (SELECT rule_id FROM matches m
                       WHERE m.story_id = s.id ORDER BY m.id)) AS rules
               FROM stories s WHERE s.first_seen_at >= ? AND s.outlet_count >= ? AND s.merged_into IS NULL
               ORDER BY s.first_seen_at DESC, s.id DESC LIMIT ?""",
            (now_iso(since) if since else "", min_outlets, limit),
        )
        return [StorySummary(**{**row, "languages": tuple(json.loads(row["languages"])),
                                "rules": tuple(json.loads(row["rules"]))}) for row in rows]

    def story(self, story_id: int) -> dict | None:
        """A story with its articles (each with its revisions), outlets, matches and alerts."""
        story = self._one("SELECT * FROM stories WHERE id = ?", (story_id,))
        if story is None:
            return None
        story["articles"] = list(self.db.query(
            """SELECT a.id, a.source_id, a.outlet, a.url, a.title, a.language, a.extracted_from,
                      a.published_at, a.first_seen_at, a.updated_at, a.revision_count
               FROM articles a WHERE a.story_id = ? ORDER BY a.id""", (story_id,)))
        for article in story["articles"]:
            article["revisions"] = self.revisions(article["id"])
        story["matches"] = list(self.db.query(
            "SELECT rule_id, article_id, terms, matched_at FROM matches WHERE story_id = ? ORDER BY id",
            (story_id,)))
        story["alerts"] = list(self.db.query(
            """SELECT id, kind, rule_id, channel_id, milestone, state, tries, created_at, sent_at, last_error
               FROM outbox WHERE story_id = ? ORDER BY id""", (story_id,)))
        return story

    def articles_since(self, since: datetime | None = None) -> Iterator[dict]:
        """Stored articles first seen at or after `since`, oldest first, to try rules on.

        Each has its id, story_id, source_id, outlet, language, url, title, text,
        published_at and first_seen_at; `outlets` is how many outlets its story had once
        it arrived (as the rules saw it then), `story_outlets` how many it has now.
        """
        yield from self.db.query(
            """SELECT a.id, a.story_id, a.source_id, a.outlet, a.language, a.url, a.title, a.text,
                      a.published_at, a.first_seen_at, s.outlet_count AS story_outlets,
                      (SELECT count(*) FROM story_outlets o
                       WHERE o.story_id = a.story_id AND o.article_id <= a.id) AS outlets
               FROM articles a JOIN stories s ON s.id = a.story_id
               WHERE a.first_seen_at >= ? ORDER BY a.first_seen_at, a.id""",
            (now_iso(since) if since else "",),
        )

    def counts(self) -> dict[str, int]:
        """Row counts of the main tables, for summaries and tests."""
        return {
            table: self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("sources", "articles", "stories", "matches", "outbox")
        }

    # Archive -----------------------------------------------------------------

    # bm25 weights of title and text: a word in the headline says more than one in the body.
    SEARCH_WEIGHTS = (5.0, 1.0)
    SNIPPET_WORDS = 24
    # Columns holding JSON arrays, returned decoded by `export`.
    _JSON_COLUMNS = frozenset({"languages", "rules", "sources", "authors", "done_urls", "terms"})
    _EXPORTS = {
        "stories": ("s", "s.first_seen_at", """
            SELECT s.*,
                   (SELECT json_group_array(rule_id) FROM (SELECT DISTINCT rule_id FROM matches m
                    WHERE m.story_id = s.id ORDER BY rule_id)) AS rules,
                   (SELECT json_group_array(source_id) FROM (SELECT DISTINCT source_id FROM articles a
                    WHERE a.story_id = s.id ORDER BY source_id)) AS sources
            FROM stories s WHERE 1"""),
        "articles": ("a", "a.first_seen_at", "SELECT a.* FROM articles a WHERE 1"),
        "alerts": ("o", "o.created_at", """
            SELECT o.*, s.title AS story_title, s.url AS story_url, m.terms AS terms, m.snippet AS snippet,
                   e.source_id AS event_source, e.detail AS event_detail
            FROM outbox o LEFT JOIN stories s ON s.id = o.story_id LEFT JOIN matches m ON m.id = o.match_id
            LEFT JOIN source_events e ON e.id = o.event_id WHERE 1"""),
    }

    def search(self, match: str, since: datetime | None = None, until: datetime | None = None,
               sources: tuple[str, ...] = (), limit: int = 20) -> list[dict]:
        """Stories whose articles match `match`, an FTS5 query over title and text, best first.

        One hit per story: its best-ranked article (bm25, the title weighted above the
        text) with a snippet marked «like this»; `hits` is how many of the story's articles
        matched, `total` how many stories matched in all. `since`, `until` and `sources`
        keep to articles dated in that span (published, else first seen: the date a hit
        shows), from those sources. A query SQLite cannot read raises StoreError.
        """
        where, params = self._span("COALESCE(a.published_at, a.first_seen_at)", since, until,
                                   "a.source_id", sources)
        title, text = self.SEARCH_WEIGHTS
        try:
            best = list(self.db.query(
                f"""WITH hits AS MATERIALIZED (
                        SELECT a.id, a.story_id, bm25(articles_fts, {title}, {text}) AS score
                        FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid
                        WHERE articles_fts MATCH ? {where})
                    SELECT id, score, hits, count(*) OVER () AS total FROM (
                        SELECT id, score, count(*) OVER (PARTITION BY story_id) AS hits,
                               row_number() OVER (PARTITION BY story_id ORDER BY score, id) AS nth
                        FROM hits)
                    WHERE nth = 1 ORDER BY score, id LIMIT ?""", (match, *params, limit)))
            found = {row["article_id"]: row for row in self._search_rows(match, [r["id"] for r in best])}
        except sqlite3.OperationalError as exc:
            raise StoreError(f"SQLite cannot search for {match}: {exc}") from exc
        return [{**found[r["id"]], "score": r["score"], "hits": r["hits"], "total": r["total"]} for r in best]

    def _search_rows(self, match: str, ids: list[int]) -> Iterator[dict]:
        """The articles found, with what a hit shows: the snippet is taken only for these."""
        if not ids:
            return iter(())
        marks = ",".join("?" * len(ids))
        return self.db.query(
            f"""SELECT a.id AS article_id, a.story_id, a.source_id, a.outlet, a.url, a.title,
                       COALESCE(a.published_at, a.first_seen_at) AS date, a.published_at, a.first_seen_at,
                       a.language, a.text_dropped_at, s.outlet_count, s.article_count,
                       snippet(articles_fts, -1, '«', '»', '…', {self.SNIPPET_WORDS}) AS snippet
                FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid JOIN stories s ON s.id = a.story_id
                WHERE articles_fts MATCH ? AND articles_fts.rowid IN ({marks})""", (match, *ids))

    @staticmethod
    def _span(column: str, since: datetime | None, until: datetime | None,
              source_column: str | None = None, sources: tuple[str, ...] = ()) -> tuple[str, list]:
        """SQL conditions (each starting with AND) keeping to [since, until) and to `sources`."""
        where, params = "", []
        if since is not None:
            where, params = f"{where} AND {column} >= ?", [*params, now_iso(since)]
        if until is not None:
            where, params = f"{where} AND {column} < ?", [*params, now_iso(until)]
        if sources and source_column:
            where = f"{where} AND {source_column} IN ({','.join('?' * len(sources))})"
            params = [*params, *sources]
        return where, params

    def export_columns(self, what: str) -> list[str]:
        """The columns `export` gives for `what`, in order, even when there is no row."""
        return [column[0] for column in self.db.execute(f"{self._EXPORTS[what][2]} AND 0").description]

    def export(self, what: str, since: datetime | None = None, until: datetime | None = None,
               sources: tuple[str, ...] = (), rules: tuple[str, ...] = ()) -> Iterator[dict]:
        """Every row of `what` (stories, articles or alerts) in id order, as stored.

        Stories come with the rules they matched and the sources that carried them;
        alerts (the outbox: story alerts, spread updates, health notices) with their
        story's title and URL, and the match's terms and snippet. JSON columns come
        decoded. `since`/`until` keep to rows first seen (alerts: queued) in that span;
        `sources` to stories and articles from those sources (alerts: of those stories,
        or health notices of those sources); `rules` to stories matched by one of them
        (alerts: of those rules).
        """
        alias, column, select = self._EXPORTS[what]
        where, params = self._span(column, since, until)
        where, params = self._export_sources(what, where, params, sources)
        where, params = self._export_rules(what, where, params, rules)
        for row in self.db.query(f"{select} {where} ORDER BY {alias}.id", params):
            yield {key: json.loads(value) if key in self._JSON_COLUMNS and value is not None else value
                   for key, value in row.items()}

    _STORY_OF = {"stories": "s.id", "articles": "a.story_id", "alerts": "o.story_id"}

    def _export_sources(self, what: str, where: str, params: list, sources: tuple[str, ...]) -> tuple[str, list]:
        if not sources:
            return where, params
        marks = ",".join("?" * len(sources))
        if what == "articles":
            return f"{where} AND a.source_id IN ({marks})", [*params, *sources]
        carried = (f"EXISTS (SELECT 1 FROM articles x WHERE x.story_id = {self._STORY_OF[what]} "
                   f"AND x.source_id IN ({marks}))")
        if what == "alerts":
            return f"{where} AND ({carried} OR e.source_id IN ({marks}))", [*params, *sources, *sources]
        return f"{where} AND {carried}", [*params, *sources]

    def _export_rules(self, what: str, where: str, params: list, rules: tuple[str, ...]) -> tuple[str, list]:
        if not rules:
            return where, params
        marks = ",".join("?" * len(rules))
        if what == "alerts":
            return f"{where} AND o.rule_id IN ({marks})", [*params, *rules]
        matched = (f"EXISTS (SELECT 1 FROM matches x WHERE x.story_id = {self._STORY_OF[what]} "
                   f"AND x.rule_id IN ({marks}))")
        return f"{where} AND {matched}", [*params, *rules]

    def stats_by_source(self, since: datetime | None = None) -> list[dict]:
        """Per source since `since`: articles stored, stories carried, stories it was first to
        carry (`new_stories`), rule matches on its articles, and alerts queued for them."""
        cutoff = now_iso(since) if since else ""
        return list(self.db.query(
            """SELECT src.id AS source, src.name,
                      (SELECT count(*) FROM articles a WHERE a.source_id = src.id AND a.first_seen_at >= :since)
                          AS articles,
                      (SELECT count(DISTINCT a.story_id) FROM articles a
                       WHERE a.source_id = src.id AND a.first_seen_at >= :since) AS stories,
                      (SELECT count(*) FROM stories s JOIN articles a ON a.id = s.first_article_id
                       WHERE a.source_id = src.id AND s.first_seen_at >= :since AND s.merged_into IS NULL)
                          AS new_stories,
                      (SELECT count(*) FROM matches m JOIN articles a ON a.id = m.article_id
                       WHERE a.source_id = src.id AND m.matched_at >= :since) AS matches,
                      (SELECT count(*) FROM outbox o JOIN matches m ON m.id = o.match_id
                       JOIN articles a ON a.id = m.article_id
                       WHERE a.source_id = src.id AND o.kind = 'alert' AND o.created_at >= :since) AS alerts
               FROM sources src ORDER BY src.id""", {"since": cutoff}))

    def stats_by_day(self, since: datetime | None = None) -> list[dict]:
        """Per day (UTC) since `since`: articles stored, new stories, rule matches, alerts
        queued and alerts sent; days with none of them are left out."""
        cutoff = now_iso(since) if since else ""
        return list(self.db.query(
            """SELECT day, sum(what = 'article') AS articles, sum(what = 'story') AS stories,
                      sum(what = 'match') AS matches, sum(what = 'alert') AS alerts, sum(what = 'sent') AS sent
               FROM (SELECT substr(first_seen_at, 1, 10) AS day, 'article' AS what FROM articles
                     WHERE first_seen_at >= :since
                     UNION ALL SELECT substr(first_seen_at, 1, 10), 'story' FROM stories
                     WHERE first_seen_at >= :since AND merged_into IS NULL
                     UNION ALL SELECT substr(matched_at, 1, 10), 'match' FROM matches WHERE matched_at >= :since
                     UNION ALL SELECT substr(created_at, 1, 10), 'alert' FROM outbox
                     WHERE kind = 'alert' AND created_at >= :since
                     UNION ALL SELECT substr(sent_at, 1, 10), 'sent' FROM outbox
                     WHERE kind = 'alert' AND sent_at >= :since)
               GROUP BY day ORDER BY day""", {"since": cutoff}))

    def texts_to_drop(self, before: datetime) -> int:
        """How many articles first seen before `before` still have their text."""
        return self.db.execute("SELECT count(*) FROM articles WHERE first_seen_at < ? AND text_dropped_at IS NULL",
                               (now_iso(before),)).fetchone()[0]

    def drop_texts(self, before: datetime, limit: int = 500, at: datetime | None = None) -> tuple[int, int]:
        """Blank the text of up to `limit` articles first seen before `before`, and their revisions'.

        Titles, URLs, hashes, stories, outlets, matches (with their snippets) and alerts
        stay, and so does the near-duplicate index (signatures, not text): copies of an
        old story still join it. The full-text index follows through its triggers, so
        titles stay searchable. One transaction a call, so a running daemon's writes wait
        only for one batch: call it until it returns (0, 0). Returns (articles, revisions).
        """
        with self.transaction():
            ids = [row["id"] for row in self.db.query(
                """SELECT id FROM articles WHERE first_seen_at < ? AND text_dropped_at IS NULL
                   ORDER BY first_seen_at, id LIMIT ?""", (now_iso(before), limit))]
            if not ids:
                return 0, 0
            marks = ",".join("?" * len(ids))
            self.db.execute(f"UPDATE articles SET text = '', text_dropped_at = ? WHERE id IN ({marks})",
                            (now_iso(at), *ids))
            revisions = self.db.execute(
                f"UPDATE revisions SET text = '' WHERE article_id IN ({marks}) AND text != ''", ids).rowcount
        return len(ids), revisions

    def backup(self, target: str | Path) -> None:
        """Copy the database to `target`: one consistent snapshot, taken while others write.

        SQLite's online backup API copies every page in one step, inside one read
        transaction (in WAL mode writers carry on meanwhile). The copy is written beside
        `target`, turned out of WAL mode (one self-contained file), checked with PRAGMA
        integrity_check, and only then renamed to `target`: a failed backup never
        leaves a file there. Raises StoreError when the copy is not sound.
        """
        target = Path(target)
        partial = target.with_name(target.name + ".partial")
        try:
            partial.unlink(missing_ok=True)
            copy = sqlite3.connect(partial, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot write a backup at {target}: {exc}") from exc
        try:
            self.db.conn.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")
            problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
        except sqlite3.Error as exc:
            problems = [f"the copy failed: {exc}"]
        finally:
            copy.close()
        if problems != ["ok"]:
            partial.unlink(missing_ok=True)
            raise StoreError(f"no backup of {self.path} was written to {target}: {'; '.join(problems[:5])}")
        partial.replace(target)

    def vacuum(self) -> None:
        """Merge the full-text index and rewrite the file without its free pages.

        VACUUM rewrites every page and holds up every other writer meanwhile: it needs
        the writer lock (`lock_writer`), so it never runs under a daemon.
        """
        if self._lock is None and self.path != ":memory:":
            raise StoreError("vacuum needs the writer lock: call lock_writer() first")
        try:
            self.db.execute("INSERT INTO articles_fts (articles_fts) VALUES ('optimize')")
            self.db.execute("VACUUM")
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"cannot vacuum {self.path}: {exc}") from exc

    # Outbox ------------------------------------------------------------------

    SENDS_KEPT = timedelta(days=7)  # longer than any rate limit's window is worth

    _OUTBOX_SELECT = """
        SELECT o.*, COALESCE(s.title, e.detail) AS title, COALESCE(s.url, esrc.url) AS url,
               s.article_count AS article_count, s.outlet_count AS outlet_count,
               COALESCE(s.first_seen_at, e.at) AS first_seen_at, a.published_at AS published_at,
               COALESCE(src.name, esrc.name) AS outlet, m.terms AS terms, m.snippet AS snippet,
               e.source_id AS event_source, e.from_state AS event_from, e.to_state AS event_to,
               CASE WHEN o.story_id IS NOT NULL THEN (SELECT json_group_array(outlet) FROM (
                   SELECT outlet FROM story_outlets WHERE story_id = o.story_id
                   ORDER BY first_seen_at, article_id LIMIT 12)) END AS outlets,
               (SELECT json_group_array(json_array(u.url_key, u.url, u.state, u.error, u.tries,
                                                   u.updated_at))
                FROM outbox_urls u WHERE u.outbox_id = o.id) AS url_results
        FROM outbox o
        LEFT JOIN stories s ON s.id = o.story_id
        LEFT JOIN matches m ON m.id = o.match_id
        LEFT JOIN articles a ON a.id = COALESCE(m.article_id, s.first_article_id)
        LEFT JOIN sources src ON src.id = a.source_id
        LEFT JOIN source_events e ON e.id = o.event_id
        LEFT JOIN sources esrc ON esrc.id = e.source_id
    """

    @staticmethod
    def _outbox_row(row: dict) -> OutboxRow:
        row = dict(row)
        row.pop("match_id", None)
        row.pop("event_id", None)
        row["article_count"] = row["article_count"] or 0
        row["outlet_count"] = row["outlet_count"] or 0
        row.pop("updated_at", None)
        row["terms"] = tuple(json.loads(row["terms"] or "[]"))
        row["done_urls"] = tuple(json.loads(row["done_urls"] or "[]"))
        outlets = tuple(json.loads(row["outlets"] or "[]"))
        row["outlets"] = outlets[:row["milestone"]] if row["kind"] == "spread" else outlets  # as when reached
        row["url_results"] = tuple(UrlResult(*result) for result in json.loads(row["url_results"] or "[]"))
        row["snippet"] = row["snippet"] or ""
        row["outlet"] = row["outlet"] or ""
        return OutboxRow(**row)

    def _outbox_by_ids(self, ids: list[int]) -> list[OutboxRow]:
        marks = ",".join("?" * len(ids))
        rows = self.db.query(f"{self._OUTBOX_SELECT} WHERE o.id IN ({marks}) ORDER BY o.id", ids)
        return [self._outbox_row(r) for r in rows]

    def _claim(self, ids: list[int], now: str) -> None:
        marks = ",".join("?" * len(ids))
        self.db.execute(
            f"UPDATE outbox SET state='sending', tries=tries+1, updated_at=? WHERE id IN ({marks})",
            (now, *ids),
        )

    def claim_due(self, limit: int = 1, at: datetime | None = None) -> list[OutboxRow]:
        """Mark due pending rows as being sent and return them, oldest first.

        The claim is committed before anything is sent, so a crash mid-send leaves a
        trace (`sending`) instead of a silent resend.
        """
        now = now_iso(at)
        with self.transaction():
            # A spread update waits while the story's alert to that channel is on its way
            # (pending or being sent): "now 5 outlets" must not arrive before the alert it
            # follows up. Once the alert is settled (sent, uncertain or dead), it goes.
            ids = [r["id"] for r in self.db.query(
                """SELECT id FROM outbox o WHERE state='pending' AND next_attempt_at <= ?
                   AND NOT (kind = 'spread' AND EXISTS (SELECT 1 FROM outbox a WHERE a.kind = 'alert'
                            AND a.story_id = o.story_id AND a.channel_id = o.channel_id
                            AND a.state IN ('pending', 'sending')))
                   ORDER BY next_attempt_at, id LIMIT ?""", (now, limit))]
            if not ids:
                return []
            self._claim(ids, now)
        return self._outbox_by_ids(ids)

    def claim_digest(self, channel_id: str, limit: int, at: datetime | None = None) -> list[OutboxRow]:
        """Claim the held rows of a channel that are due: the other stories of one digest."""
        now = now_iso(at)
        with self.transaction():
            ids = [r["id"] for r in self.db.query(
                """SELECT id FROM outbox WHERE state='pending' AND channel_id = ? AND pace IS NOT NULL
                   AND next_attempt_at <= ? ORDER BY id LIMIT ?""", (channel_id, now, limit))]
            if not ids:
                return []
            self._claim(ids, now)
        return self._outbox_by_ids(ids)

    def hold(self, row_id: int, until: datetime, pace: str, at: datetime | None = None) -> None:
        """A claimed row waits for a digest at `until` (`pace` says why); the claim was no try."""
        with self.transaction():
            self.db.execute(
                """UPDATE outbox SET state='pending', pace=?, next_attempt_at=?, tries=MAX(0, tries-1),
                   updated_at=? WHERE id=? AND state='sending'""",
                (pace, now_iso(until), now_iso(at), row_id),
            )

    def mark_url(self, row_ids: list[int], key: str, url: str, state: str, error: str | None = None,
                 at: datetime | None = None) -> None:
        """Record the outcome of sending rows to one URL; `sending` is written before the send.

        A row found with a URL still `sending` after a restart was interrupted mid-send:
        whether that URL got it is unknown.
        """
        now = now_iso(at)
        with self.transaction():
            self.db.conn.executemany(
                """INSERT INTO outbox_urls (outbox_id, url_key, url, state, error, tries, updated_at)
                   VALUES (?,?,?,?,?,?,?) ON CONFLICT (outbox_id, url_key) DO UPDATE SET url=excluded.url,
                   state=excluded.state, error=excluded.error, tries=tries+excluded.tries,
                   updated_at=excluded.updated_at""",
                [(row_id, key, url, state, error, int(state == "sending"), now) for row_id in row_ids],
            )

    def mark_sent(self, row_id: int, at: datetime | None = None) -> None:
        now = now_iso(at)
        with self.transaction():
            self.db.execute(
                "UPDATE outbox SET state='sent', sent_at=?, updated_at=?, last_error=NULL WHERE id=?",
                (now, now, row_id),
            )

    def mark_failed(self, row_id: int, error: str, retry_at: datetime | None,
                    done_urls: tuple[int, ...] | None = None, at: datetime | None = None) -> None:
        """A failed send: back to pending until `retry_at`, or dead when it is None.

        Which URLs have it is in `outbox_urls`; `done_urls` (positions) is kept for rows
        sent in part by earlier versions, and only written when given.
        """
        now = now_iso(at)
        with self.transaction():
            if done_urls is not None:
                self.db.execute("UPDATE outbox SET done_urls=? WHERE id=?",
                                (json.dumps(sorted(done_urls)), row_id))
            if retry_at is None:
                self.db.execute(
                    "UPDATE outbox SET state='dead', last_error=?, updated_at=? WHERE id=?",
                    (error, now, row_id),
                )
            else:
                self.db.execute(
                    """UPDATE outbox SET state='pending', last_error=?, next_attempt_at=?,
                       updated_at=? WHERE id=?""",
                    (error, now_iso(retry_at), now, row_id),
                )

    def mark_uncertain(self, row_id: int, error: str, at: datetime | None = None) -> None:
        """Only URLs whose outcome is unknown are left: kept, never sent again by itself."""
        with self.transaction():
            self.db.execute("UPDATE outbox SET state='uncertain', last_error=?, updated_at=? WHERE id=?",
                            (error, now_iso(at), row_id))

    def release_interrupted(self, at: datetime | None = None, uncertain: bool = False) -> int:
        """Rows left `sending` by a process that died mid-send go back to pending.

        The URL each was being sent to when it died may have it: with `uncertain` that URL
        is marked uncertain (not sent again by itself), else failed (sent again). URLs
        not reached yet are sent as usual.
        """
        now = now_iso(at)
        with self.transaction():
            self.db.execute(
                """UPDATE outbox_urls SET state=?, updated_at=?,
                   error='presswatch stopped while sending; it may have arrived' WHERE state='sending'""",
                ("uncertain" if uncertain else "failed", now),
            )
            cursor = self.db.execute(
                """UPDATE outbox SET state='pending', updated_at=?, next_attempt_at=?,
                   last_error='interrupted while sending; sent again where it had not been sent'
                   WHERE state='sending'""",
                (now, now),
            )
        return cursor.rowcount

    def retry(self, row_id: int, at: datetime | None = None) -> OutboxRow:
        """Queue a dead, uncertain or pending row to be sent now, to every URL that has not
        confirmed it. Retrying an uncertain row sends again where it was uncertain (someone
        checked it did not arrive); retrying a dead or pending one leaves its uncertain URLs
        alone, since nobody said they lack it."""
        now = now_iso(at)
        with self.transaction():
            found = self._one("SELECT state FROM outbox WHERE id = ?", (row_id,))
            if found is None:
                raise StoreError(f"no alert {row_id}")
            if found["state"] in ("sent", "sending"):
                raise StoreError(f"alert {row_id} is {found['state']}; only pending, uncertain "
                                 "and dead alerts can be retried")
            keep = ("sent", "uncertain") if found["state"] != "uncertain" else ("sent",)
            self.db.execute(
                f"DELETE FROM outbox_urls WHERE outbox_id = ? AND state NOT IN ({','.join('?' * len(keep))})",
                (row_id, *keep))
            self.db.execute(
                """UPDATE outbox SET state='pending', tries=0, next_attempt_at=?, updated_at=?
                   WHERE id=?""", (now, now, row_id))
        return self._outbox_by_ids([row_id])[0]

    def record_send(self, channel_id: str, rows: int, at: datetime | None = None) -> None:
        """One message reached `channel_id`; sends older than a week are forgotten."""
        now = at or datetime.now(UTC)
        with self.transaction():
            self.db.execute("INSERT INTO channel_sends (channel_id, rows, sent_at) VALUES (?,?,?)",
                            (channel_id, rows, now_iso(now)))
            self.db.execute("DELETE FROM channel_sends WHERE sent_at < ?", (now_iso(now - self.SENDS_KEPT),))

    def channel_sends(self, channel_id: str, since: datetime) -> list[ChannelSend]:
        """The messages that reached `channel_id` since `since`, oldest first."""
        rows = self.db.query(
            """SELECT channel_id, rows, sent_at FROM channel_sends WHERE channel_id = ? AND sent_at >= ?
               ORDER BY sent_at, id""", (channel_id, now_iso(since)))
        return [ChannelSend(**row) for row in rows]

    def outbox(self, state: str | None = None, limit: int = 100) -> list[OutboxRow]:
        where, params = ("WHERE o.state = ?", (state,)) if state else ("", ())
        rows = self.db.query(f"{self._OUTBOX_SELECT} {where} ORDER BY o.id LIMIT {int(limit)}", params)
        return [self._outbox_row(r) for r in rows]

    def outbox_rows(self, ids: list[int]) -> list[OutboxRow]:
        """These rows as they are now, in id order."""
        return self._outbox_by_ids(list(ids)) if ids else []

    def recent_outbox(self, states: tuple[str, ...] = (), limit: int = 50) -> list[OutboxRow]:
        """The newest rows, in any of `states` (all when empty), newest first."""
        marks = ",".join("?" * len(states))
        where = f"WHERE o.state IN ({marks})" if states else ""
        rows = self.db.query(f"{self._OUTBOX_SELECT} {where} ORDER BY o.id DESC LIMIT {int(limit)}", states)
        return [self._outbox_row(r) for r in rows]

    def outbox_counts(self) -> dict[str, int]:
        """How many rows are in each state, and under "held" how many pending rows wait for a digest."""
        counts = {row["state"]: row["n"] for row in
                  self.db.query("SELECT state, count(*) AS n FROM outbox GROUP BY state")}
        counts["held"] = self.db.execute(
            "SELECT count(*) FROM outbox WHERE state = 'pending' AND pace IS NOT NULL").fetchone()[0]
        return counts

    # Monitoring: read-only and cheap, as they run at every scrape of /metrics and /healthz --------

    def matches_by_rule(self) -> dict[str, int]:
        """How many stories each rule matched, as stored."""
        return {row["rule_id"]: row["n"] for row in
                self.db.query("SELECT rule_id, count(*) AS n FROM matches GROUP BY rule_id")}

    def write_problem(self, wait: float = 0.25) -> str | None:
        """Why the database could not be written now, or None when it can.

        Takes the write lock and gives it back (BEGIN IMMEDIATE, ROLLBACK: nothing is written),
        waiting at most `wait` seconds for another writer, and checks that the file and its
        folder (where SQLite creates its WAL files) are writable, which a restart needs.
        """
        if self.path != ":memory:":
            for path, what in ((self.path, "the database file"), (Path(self.path).parent, "its folder")):
                if not os.access(path, os.W_OK):
                    return f"{what} {path} is not writable"
        conn = self.db.conn
        if conn.in_transaction:  # this connection is writing right now
            return None
        try:
            conn.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
            finally:
                conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return f"cannot take the write lock of {self.path}: {exc}"
        return None

"""The `Store` class: opening the file, sources, articles, stories and matches.

The outbox, the archive queries, the near-duplicate index, events, surges and coverage
reads are its mixins (`outbox`, `archive`, `nearindex`, `events`, `surges`, `coverage`); the
dataclasses it takes and gives are `records`'.
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import sqlite_utils

from presswatch.crawler.errors import StoreError
from presswatch.crawler.store.migrations import migrations
from presswatch.crawler.store.records import (
    BUSY_TIMEOUT_MS,
    HealthChange,
    KnownArticle,
    NewArticle,
    NewMatch,
    SourceRun,
    SourceState,
    StorySummary,
    now_iso,
)
from presswatch.crawler.store.archive import ArchiveQueries
from presswatch.crawler.store.coverage import CoverageQueries
from presswatch.crawler.store.events import EventQueries
from presswatch.crawler.store.nearindex import NearIndexQueries
from presswatch.crawler.store.outbox import OutboxQueries
from presswatch.crawler.store.reactions import ReactionQueries
from presswatch.crawler.store.surges import SurgeQueries


# What a write costs on disk (bench/README.md, "Disk writes of the cold cycle"):
CONNECTION_PRAGMAS = (
    # Each entry of a batch is a savepoint, and SQLite keeps the first copy of every page a
    # savepoint changes in a temporary file so that it can be undone: on disk, that file
    # wrote three times the WAL. In memory it holds one entry's pages at a time. (Other
    # temporary files follow: VACUUM and migrations, which may copy or sort the whole
    # file, run with temp_store=FILE.)
    "temp_store=MEMORY",
    # The WAL is copied into the database every 16,000 pages (64 MB: the most the WAL file
    # grows to) rather than every 1,000: a page that many batches change (an index's, a
    # table's last) is copied once for all of them, and a cold cycle of a few hundred feeds
    # is copied once, at its end (`checkpoint`, after a cycle of every source). The file
    # is cut back to 16 MB after a checkpoint.
    "wal_autocheckpoint=16000",
    f"journal_size_limit={16 * 1024 * 1024}",
)


@dataclass(frozen=True)
class DatabaseFacts:
    """What a database file holds, as `inspect_database` read it."""

    applied: list[str]   # migrations applied, in order
    pending: list[str]   # migrations this presswatch would apply at the next start
    known: set[str]      # every migration this presswatch has
    integrity: str | None  # PRAGMA quick_check's first lines, when asked for


def inspect_database(path: str | Path, integrity: bool = False, timeout: float = 10) -> DatabaseFacts:
    """Read a database's schema state (and quick_check) without writing: opened mode=ro.

    For `doctor` and `serve`, which must not create, migrate or lock the file as a Store
    does. Raises sqlite3.Error when the file is not a database.
    """
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=timeout)
    try:
        db = sqlite_utils.Database(conn)
        applied = [m.name for m in migrations.applied(db)]
        pending = [m.name for m in migrations.pending(db)]
        # Every migration this presswatch has: those pending on an empty database.
        known = {m.name for m in migrations.pending(sqlite_utils.Database(memory=True))}
        check = ("; ".join(row[0] for row in conn.execute("PRAGMA quick_check").fetchall()[:3])
                 if integrity else None)
    finally:
        conn.close()
    return DatabaseFacts(applied, pending, known, check)


@dataclass
class Store(ArchiveQueries, NearIndexQueries, OutboxQueries, EventQueries, ReactionQueries, SurgeQueries,
            CoverageQueries):
    """A connection to the presswatch database, migrated on open."""

    path: str
    db: sqlite_utils.Database = field(init=False)
    _lock: object = field(default=None, init=False, repr=False)
    _depth: int = field(default=0, init=False, repr=False)  # transactions open (savepoints inside)
    _waiting_version: int | None = field(default=None, init=False, repr=False)  # see nearindex
    _waiting_rows: int = field(default=0, init=False, repr=False)  # articles waiting (at most)

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
                self._migrate()  # before temp_store=MEMORY: building an index sorts in temporary files
            for pragma in CONNECTION_PRAGMAS:
                self.db.execute(f"PRAGMA {pragma}")
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
        """One write transaction; everything inside commits together or not at all.

        Inside another one it is a savepoint: a failure undoes only its own writes, and
        they commit with the outer transaction (a batch of entries, one commit).
        """
        depth = self._depth
        if depth:
            name = f"nested_{depth}"
            self.db.execute(f"SAVEPOINT {name}")
        else:
            self.db.execute("BEGIN IMMEDIATE")
        self._depth = depth + 1
        try:
            yield
        except BaseException:
            self._forget_waiting()
            # SQLite may have rolled the whole transaction back itself (disk full, I/O
            # error): then there is nothing left to undo, and the error is the caller's.
            if self.db.conn.in_transaction:
                if depth:
                    self.db.execute(f"ROLLBACK TO {name}")
                    self.db.execute(f"RELEASE {name}")
                else:
                    self.db.execute("ROLLBACK")
            raise
        else:
            if depth:
                if not self.db.conn.in_transaction:
                    raise StoreError("the database rolled the transaction back (see the error before)")
                self.db.execute(f"RELEASE {name}")
            else:
                try:
                    self._flush_index_when_full()
                    self.db.execute("COMMIT")
                except BaseException:
                    self._forget_waiting()
                    if self.db.conn.in_transaction:
                        self.db.execute("ROLLBACK")
                    raise
        finally:
            self._depth = depth

    def checkpoint(self) -> None:
        """Copy the WAL into the database now, as far as no reader holds it back (PASSIVE):
        after a cycle of every source, rather than when the WAL next fills up."""
        try:
            self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot checkpoint {self.path}: {exc}") from exc

    def _one(self, sql: str, params: tuple | dict = ()) -> dict | None:
        """The first row of a read, as a dict, or None.

        Straight on the connection: sqlite-utils' `query` runs each statement inside a
        savepoint of its own (to undo a write it was not meant for), three statements for
        every read, and the writer reads about seven times an article.
        """
        cursor = self.db.conn.execute(sql, params)
        try:
            row = cursor.fetchone()
            return None if row is None else dict(zip([column[0] for column in cursor.description], row))
        finally:
            cursor.close()

    def _rows(self, sql: str, params: tuple | dict = ()) -> list[dict]:
        """Every row of a read, as dicts (straight on the connection, as `_one`)."""
        cursor = self.db.conn.execute(sql, params)
        columns = [column[0] for column in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]

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
                       last_modified=CASE WHEN ? THEN last_modified ELSE ? END,
                       body_digest=CASE WHEN ? THEN body_digest ELSE ? END
                       WHERE id=?""",
                    (now, now, run.items_seen, run.articles_new,
                     run.not_modified, run.etag, run.not_modified, run.last_modified,
                     run.not_modified, run.body_digest, run.source_id),
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
            """UPDATE sources SET state=?, last_new_at=?, usual_gap=?, layout_runs=?, layout_reason=?,
               state_since=CASE WHEN state=? THEN COALESCE(state_since, ?) ELSE ? END WHERE id=?""",
            (health.state, health.last_new_at, health.usual_gap, health.layout_runs, health.layout_reason,
             health.state, now, now, source_id),
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
                """INSERT INTO outbox (kind, source_event_id, rule_id, channel_id, next_attempt_at,
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
        columns = ("id, story_id, extracted_from, page_error, version_hash, source_id, guid, "
                   "COALESCE(owner_source_id, source_id) AS owner")
        row = self._one(
            f"SELECT {columns} FROM articles WHERE canonical_url IN ({marks}) OR url_key IN ({marks}) LIMIT 1",
            (*urls, *urls),
        )
        if row is None and guid:
            row = self._one(
                f"SELECT {columns} FROM articles WHERE source_id = ? AND guid = ?", (source_id, guid)
            )
        return KnownArticle(**row) if row else None

    def source_known(self, source_id: str, limit: int = 20_000) -> list[dict]:
        """The articles a source stored or listed (the newest `limit`), with what decides
        whether their pages are wanted again (and how to ask for them): their keys,
        GUID, where their text came from, a final page error, this source's entry
        fingerprint, the page's validators. What a remote worker is told is known
        (crawler.fetch.remote)."""
        return list(self.db.query(
            """SELECT a.url_key, a.canonical_url, a.guid, a.extracted_from, a.page_error,
                      f.fingerprint, v.etag AS page_etag, v.last_modified AS page_last_modified
               FROM articles a LEFT JOIN entry_fingerprints f ON f.article_id = a.id AND f.source_id = :s
               LEFT JOIN page_validators v ON v.article_id = a.id
               WHERE a.id IN (SELECT id FROM articles WHERE source_id = :s
                              UNION SELECT article_id FROM entry_fingerprints WHERE source_id = :s)
               ORDER BY a.id DESC LIMIT :limit""",
            {"s": source_id, "limit": limit}))

    def fill_article(self, article_id: int, article: NewArticle, at: datetime | None = None) -> None:
        """Replace a feed's stand-in text by the page's, once the page could be fetched.

        The article's text is then `article.source_id`'s: that source owns it from now on.
        """
        self.db.execute(
            """UPDATE articles SET title=?, text=?, published_at=COALESCE(?, published_at),
               date_source=CASE WHEN ? IS NULL THEN date_source ELSE ? END,
               language=COALESCE(?, language), authors=?, content_hash=?, extracted_from=?,
               page_error=NULL, version_hash=?, updated_at=?, title_stand_in=?,
               owner_source_id=NULLIF(?, source_id) WHERE id=?""",
            (article.title, article.text, article.published_at, article.published_at,
             article.date_source, article.language,
             json.dumps(list(article.authors), ensure_ascii=False), article.content_hash,
             article.extracted_from, article.version_hash, now_iso(at), article.title_stand_in,
             article.source_id, article_id),
        )
        self.note_entry(article_id, article.source_id, article.entry_fingerprint)
        self.note_page_validators(article_id, article)

    def note_page_validators(self, article_id: int, article: NewArticle, new: bool = False) -> None:
        """Keep the ETag and Last-Modified the article's page was last served with (`new`:
        the article was just added, so it has none to replace)."""
        if article.extracted_from != "page":
            return
        if article.page_etag or article.page_last_modified:
            self.db.execute(
                """INSERT INTO page_validators (article_id, etag, last_modified) VALUES (?,?,?)
                   ON CONFLICT (article_id) DO UPDATE SET etag = excluded.etag,
                   last_modified = excluded.last_modified""",
                (article_id, article.page_etag, article.page_last_modified))
        elif not new:
            self.db.execute("DELETE FROM page_validators WHERE article_id = ?", (article_id,))

    def page_validators(self, article_id: int) -> tuple[str | None, str | None] | None:
        """(ETag, Last-Modified) of the article's page as last served, if it sent any."""
        row = self._one("SELECT etag, last_modified FROM page_validators WHERE article_id = ?", (article_id,))
        return (row["etag"], row["last_modified"]) if row else None

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
        for event_id in dict.fromkeys((self.story_event(old), self.story_event(to_story))):
            self.refresh_event(event_id, now)

    def story_size(self, story_id: int) -> int:
        row = self._one("SELECT article_count FROM stories WHERE id = ?", (story_id,))
        return row["article_count"] if row else 0

    def revisions(self, article_id: int) -> list[dict]:
        return list(self.db.query(
            "SELECT id, title, version_hash, seen_at, replaced_at FROM revisions WHERE article_id = ? ORDER BY id",
            (article_id,)))

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
            new_story = True
        else:
            new_story = False
        cursor = self.db.execute(
            """INSERT INTO articles (source_id, story_id, url, url_key, canonical_url, guid, title,
               text, published_at, date_source, language, authors, content_hash, extracted_from,
               page_error, first_seen_at, outlet, version_hash, title_stand_in)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            (article.source_id, story_id, article.url, article.url_key, article.canonical_url, article.guid,
             article.title, article.text, article.published_at, article.date_source,
             article.language, json.dumps(list(article.authors), ensure_ascii=False),
             article.content_hash, article.extracted_from, article.page_error, now,
             article.outlet, article.version_hash, article.title_stand_in),
        )
        article_id = cursor.lastrowid
        self.note_entry(article_id, article.source_id, article.entry_fingerprint)
        self.note_page_validators(article_id, article, new=True)
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
        if new_story:
            self.new_event(story_id, now)
        else:
            self.refresh_event(self.story_event(story_id), now)
        return article_id, story_id

    def outlet_count(self, story_id: int) -> int:
        row = self._one("SELECT outlet_count FROM stories WHERE id = ?", (story_id,))
        return row["outlet_count"] if row else 0

    def story_has_outlet(self, story_id: int, outlet: str) -> bool:
        return self._one("SELECT 1 FROM story_outlets WHERE story_id = ? AND outlet = ?", (story_id, outlet)) is not None

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
        never be queued twice. Returns the number of outbox rows queued. (Rules alerting
        once per event go through `add_event_matches`.)
        """
        return self.add_event_matches(story_id, article_id, matches, {}, {}, at)[0]

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

        Each has its id, story_id, source_id, outlet, language, url, title (empty when the
        stored one only stands in for a missing title), text, published_at and first_seen_at;
        `outlets` is how many outlets its story had once it arrived (as the rules saw it
        then), `story_outlets` how many it has now.
        """
        yield from self.db.query(
            """SELECT a.id, a.story_id, a.source_id, a.outlet, a.language, a.url,
                      CASE WHEN a.title_stand_in THEN '' ELSE a.title END AS title, a.text,
                      a.published_at, a.first_seen_at, s.outlet_count AS story_outlets,
                      (SELECT count(*) FROM story_outlets o
                       WHERE o.story_id = a.story_id AND o.article_id <= a.id) AS outlets
               FROM articles a JOIN stories s ON s.id = a.story_id
               WHERE a.first_seen_at >= ? ORDER BY a.first_seen_at, a.id""",
            (now_iso(since) if since else "",),
        )

    def counts(self) -> dict[str, int]:
        """Row counts of the main tables, for summaries and tests."""
        counts = {
            table: self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("sources", "articles", "stories", "events", "matches", "outbox")
        }
        # An event another absorbed keeps its row (merged_into): not an event any more.
        counts["events"] = self.db.execute("SELECT count(*) FROM events WHERE merged_into IS NULL").fetchone()[0]
        for kind, n in self.db.execute("SELECT kind, count(*) FROM outbox GROUP BY kind"):
            counts[f"outbox {kind}"] = n
        return counts

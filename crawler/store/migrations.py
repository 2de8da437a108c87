"""The database schema, as numbered migrations applied in order when a store opens.

A migration never changes once released: later changes come as new migrations, so a
database created by any version upgrades in place (sqlite-utils records which ran).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import struct
import unicodedata
from urllib.parse import urlsplit

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("presswatch")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE sources (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            url TEXT NOT NULL,
            name TEXT NOT NULL,
            etag TEXT,
            last_modified TEXT,
            last_run_at TEXT,
            last_success_at TEXT,
            last_error TEXT,
            last_error_at TEXT,
            failures INTEGER NOT NULL DEFAULT 0,
            runs INTEGER NOT NULL DEFAULT 0,
            items_seen INTEGER NOT NULL DEFAULT 0,
            articles_new INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL DEFAULT 'new'
                CHECK (state IN ('new', 'ok', 'quiet', 'failing', 'recovered')),
            state_since TEXT,
            last_new_at TEXT,
            usual_gap REAL,
            fallback_since TEXT,
            fallback_reason TEXT
        )"""
    )
    db.execute(
        """
        CREATE TABLE source_events (
            id INTEGER PRIMARY KEY,
            source_id TEXT NOT NULL REFERENCES sources(id),
            from_state TEXT NOT NULL,
            to_state TEXT NOT NULL,
            detail TEXT NOT NULL,
            at TEXT NOT NULL
        )"""
    )
    db.execute(
        """
        CREATE TABLE stories (
            id INTEGER PRIMARY KEY,
            first_article_id INTEGER,
            title TEXT NOT NULL,
            url TEXT NOT NULL,
            first_seen_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            article_count INTEGER NOT NULL DEFAULT 1
        )"""
    )
    db.execute(
        """
        CREATE TABLE articles (
            id INTEGER PRIMARY KEY,
            source_id TEXT NOT NULL REFERENCES sources(id),
            story_id INTEGER NOT NULL REFERENCES stories(id),
            url TEXT NOT NULL,
            url_key TEXT NOT NULL,
            canonical_url TEXT NOT NULL UNIQUE,
            guid TEXT,
            title TEXT NOT NULL,
            text TEXT NOT NULL,
            published_at TEXT,
            date_source TEXT,
            language TEXT,
            authors TEXT NOT NULL DEFAULT '[]',
            content_hash TEXT,
            extracted_from TEXT NOT NULL,
            page_error TEXT,
            first_seen_at TEXT NOT NULL,
            updated_at TEXT
        )"""
    )
    db.execute("CREATE INDEX articles_source_guid ON articles(source_id, guid)")
    db.execute("CREATE INDEX articles_url_key ON articles(url_key)")
    db.execute("CREATE INDEX articles_content_hash ON articles(content_hash)")
    db.execute("CREATE INDEX articles_story ON articles(story_id)")
    db.execute(
        """
        CREATE TABLE matches (
            id INTEGER PRIMARY KEY,
            story_id INTEGER NOT NULL REFERENCES stories(id),
            rule_id TEXT NOT NULL,
            article_id INTEGER NOT NULL REFERENCES articles(id),
            terms TEXT NOT NULL,
            snippet TEXT NOT NULL,
            matched_at TEXT NOT NULL,
            UNIQUE (story_id, rule_id)
        )"""
    )
    db.execute(
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL DEFAULT 'alert' CHECK (kind IN ('alert', 'health')),
            story_id INTEGER REFERENCES stories(id),
            event_id INTEGER REFERENCES source_events(id),
            rule_id TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            match_id INTEGER REFERENCES matches(id),
            state TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'sending', 'sent', 'dead')),
            tries INTEGER NOT NULL DEFAULT 0,
            done_urls TEXT NOT NULL DEFAULT '[]',
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            sent_at TEXT,
            UNIQUE (kind, story_id, rule_id, channel_id)
        )"""
    )
    db.execute("CREATE INDEX outbox_due ON outbox(state, next_attempt_at)")
    db.execute("CREATE UNIQUE INDEX outbox_event ON outbox(event_id, channel_id) WHERE event_id IS NOT NULL")
    db["articles"].enable_fts(["title", "text"], create_triggers=True, tokenize="unicode61")



@migrations()
def m002_stories(db: sqlite_utils.Database) -> None:
    """Stories across outlets: revisions, near-duplicate signatures, outlets, spread updates."""
    for column in ("outlet TEXT", "version_hash TEXT", "revision_count INTEGER NOT NULL DEFAULT 0"):
        db.execute(f"ALTER TABLE articles ADD COLUMN {column}")
    for column in ("outlet_count INTEGER NOT NULL DEFAULT 1", "languages TEXT NOT NULL DEFAULT '[]'",
                   "merged_into INTEGER REFERENCES stories(id)"):
        db.execute(f"ALTER TABLE stories ADD COLUMN {column}")
    # Each feed that lists an article has its own entry for it: a change of that entry
    # (title, summary) is what makes its page worth fetching again.
    db.execute(
        """
        CREATE TABLE entry_fingerprints (
            article_id INTEGER NOT NULL REFERENCES articles(id),
            source_id TEXT NOT NULL REFERENCES sources(id),
            fingerprint TEXT NOT NULL,
            PRIMARY KEY (article_id, source_id)
        ) WITHOUT ROWID"""
    )
    db.execute(
        """
        CREATE TABLE story_outlets (
            story_id INTEGER NOT NULL REFERENCES stories(id),
            outlet TEXT NOT NULL,
            article_id INTEGER NOT NULL REFERENCES articles(id),
            first_seen_at TEXT NOT NULL,
            PRIMARY KEY (story_id, outlet)
        )"""
    )
    db.execute(
        """
        CREATE TABLE revisions (
            id INTEGER PRIMARY KEY,
            article_id INTEGER NOT NULL REFERENCES articles(id),
            title TEXT NOT NULL,
            text TEXT NOT NULL,
            version_hash TEXT NOT NULL,
            seen_at TEXT NOT NULL,
            replaced_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX revisions_article ON revisions(article_id)")
    # Near-duplicate index: one signature per (article, kind), its scheme stored beside it,
    # and one row per LSH band bucket; rows older than the window are pruned.
    db.execute(
        """
        CREATE TABLE signatures (
            article_id INTEGER NOT NULL REFERENCES articles(id),
            kind TEXT NOT NULL CHECK (kind IN ('text', 'short')),
            scheme TEXT NOT NULL,
            permutations INTEGER NOT NULL,
            seed INTEGER NOT NULL,
            shingle INTEGER NOT NULL,
            minhash BLOB NOT NULL,
            seen_at TEXT NOT NULL,
            PRIMARY KEY (article_id, kind)
        )"""
    )
    db.execute("CREATE INDEX signatures_seen ON signatures(seen_at)")
    db.execute(
        """
        CREATE TABLE lsh_buckets (
            bucket INTEGER NOT NULL,
            article_id INTEGER NOT NULL,
            PRIMARY KEY (bucket, article_id)
        ) WITHOUT ROWID"""
    )
    db.execute("CREATE INDEX lsh_buckets_article ON lsh_buckets(article_id)")
    _rebuild_outbox(db)
    _backfill_outlets(db)


def _rebuild_outbox(db: sqlite_utils.Database) -> None:
    """Spread updates are outbox rows too (one per story, channel and outlet count reached),
    and a send whose outcome is unknown gets a state of its own."""
    db.execute(
        """
        CREATE TABLE outbox_new (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL DEFAULT 'alert' CHECK (kind IN ('alert', 'health', 'spread')),
            story_id INTEGER REFERENCES stories(id),
            event_id INTEGER REFERENCES source_events(id),
            rule_id TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            match_id INTEGER REFERENCES matches(id),
            milestone INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'sending', 'sent', 'dead', 'uncertain')),
            tries INTEGER NOT NULL DEFAULT 0,
            done_urls TEXT NOT NULL DEFAULT '[]',
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            sent_at TEXT,
            UNIQUE (kind, story_id, rule_id, channel_id, milestone)
        )"""
    )
    columns = ("id, kind, story_id, event_id, rule_id, channel_id, match_id, state, tries, done_urls, "
               "next_attempt_at, last_error, created_at, updated_at, sent_at")
    db.execute(f"INSERT INTO outbox_new ({columns}) SELECT {columns} FROM outbox")
    db.execute("DROP TABLE outbox")
    db.execute("ALTER TABLE outbox_new RENAME TO outbox")
    db.execute("CREATE INDEX outbox_due ON outbox(state, next_attempt_at)")
    db.execute("CREATE UNIQUE INDEX outbox_event ON outbox(event_id, channel_id) WHERE event_id IS NOT NULL")
    db.execute("CREATE UNIQUE INDEX outbox_spread ON outbox(story_id, channel_id, milestone) WHERE kind = 'spread'")


def _backfill_outlets(db: sqlite_utils.Database, batch: int = 1000) -> None:
    """Articles stored before outlets were counted get theirs, and their stories a count.

    The rules are written out here, frozen, rather than imported: a migration must give the
    same result whatever later versions of the live code do.
    """
    last = 0
    while True:
        rows = list(db.query(
            """SELECT a.id, a.story_id, a.url, a.title, a.text, a.first_seen_at, s.url AS source_url
               FROM articles a JOIN sources s ON s.id = a.source_id WHERE a.id > ? ORDER BY a.id LIMIT ?""",
            (last, batch)))
        if not rows:
            break
        for row in rows:
            url = row["url"] if row["url"].startswith(("http://", "https://")) else row["source_url"]
            outlet = _frozen_outlet(url)
            db.execute("UPDATE articles SET outlet = ?, version_hash = ? WHERE id = ?",
                       (outlet, _frozen_version_hash(row["title"], row["text"]), row["id"]))
            db.execute("INSERT OR IGNORE INTO story_outlets VALUES (?, ?, ?, ?)",
                       (row["story_id"], outlet, row["id"], row["first_seen_at"]))
        last = rows[-1]["id"]
    db.execute("""UPDATE stories SET
                  outlet_count = MAX(1, (SELECT count(*) FROM story_outlets o WHERE o.story_id = stories.id)),
                  languages = (SELECT json_group_array(language) FROM (SELECT DISTINCT language FROM articles a
                               WHERE a.story_id = stories.id AND language IS NOT NULL))""")


def _frozen_outlet(url: str) -> str:
    """The site of a URL as m002 counted outlets: host without www./m./mobile./amp., with a
    port other than the scheme's default."""
    parts = urlsplit(url)
    host = (parts.hostname or url).rstrip(".")
    host = re.sub(r"^(?:www\d*|m\d*|mobile|amp)\.(?=.+\.)", "", host)
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None or (parts.scheme, port) in (("http", 80), ("https", 443)):
        return host
    return f"{host}:{port}"


def _frozen_version_hash(title: str, text: str) -> str:
    """crawler.stories.dedup.version_hash as m002 computed it."""
    def words(value: str) -> str:
        return " ".join(re.findall(r"\w+", unicodedata.normalize("NFKC", value).casefold()))
    return hashlib.sha256(f"{words(title)}\n{words(text)}".encode()).hexdigest()


@migrations()
def m003_delivery(db: sqlite_utils.Database) -> None:
    """Delivery: each URL's last outcome per outbox row, held alerts, and the sends a rate counts.

    `done_urls` (positions of the channel's URLs) stays for rows sent in part before this
    migration; new outcomes go to `outbox_urls`, keyed by the URL as shown (secrets masked).
    """
    db.execute("ALTER TABLE outbox ADD COLUMN pace TEXT CHECK (pace IN ('digest', 'quiet', 'rate'))")
    db.execute(
        """
        CREATE TABLE outbox_urls (
            outbox_id INTEGER NOT NULL REFERENCES outbox(id),
            url_key TEXT NOT NULL,
            url TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('sending', 'sent', 'failed', 'uncertain')),
            error TEXT,
            tries INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (outbox_id, url_key)
        ) WITHOUT ROWID"""
    )
    db.execute(
        """
        CREATE TABLE channel_sends (
            id INTEGER PRIMARY KEY,
            channel_id TEXT NOT NULL,
            rows INTEGER NOT NULL,
            sent_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX channel_sends_at ON channel_sends(channel_id, sent_at)")


@migrations()
def m004_retention(db: sqlite_utils.Database) -> None:
    """Retention: when an article's text was dropped, and an index on when articles were
    first seen (what retention, the archive's search and export, and stats filter on)."""
    db.execute("ALTER TABLE articles ADD COLUMN text_dropped_at TEXT")
    db.execute("CREATE INDEX articles_first_seen ON articles(first_seen_at)")


@migrations()
def m005_channel_queues(db: sqlite_utils.Database) -> None:
    """Each channel is delivered as a queue: finding a channel's oldest waiting row is a lookup."""
    db.execute("CREATE INDEX outbox_channel_queue ON outbox(channel_id, state, id)")


@migrations()
def m006_body_digest(db: sqlite_utils.Database) -> None:
    """A feed served without validators (no ETag, no Last-Modified) is recognised unchanged by
    a digest of its body, and skipped like a 304."""
    db.execute("ALTER TABLE sources ADD COLUMN body_digest TEXT")


@migrations()
def m007_source_entries(db: sqlite_utils.Database) -> None:
    """The entries a source listed, found by source: what a remote worker is told is known."""
    db.execute("CREATE INDEX entry_fingerprints_source ON entry_fingerprints(source_id, article_id)")


@migrations()
def m008_page_validators(db: sqlite_utils.Database) -> None:
    """An article page's ETag and Last-Modified: when its feed entry changes, the page is
    asked for again conditionally, and a 304 costs no download."""
    db.execute(
        """
        CREATE TABLE page_validators (
            article_id INTEGER PRIMARY KEY REFERENCES articles(id),
            etag TEXT,
            last_modified TEXT
        )"""
    )


_SOURCE_COLUMNS = (
    "id, kind, url, name, etag, last_modified, last_run_at, last_success_at, last_error, "
    "last_error_at, failures, runs, items_seen, articles_new, state, state_since, last_new_at, "
    "usual_gap, fallback_since, fallback_reason, body_digest"
)


@migrations(transactional=False)
def m009_layout_state(db: sqlite_utils.Database) -> None:
    """A source whose site moved has a state of its own, `layout`, with the runs in a row
    that looked so and what the last one showed.

    The state's CHECK is widened by rebuilding the table, which other tables reference:
    foreign keys are off for it (they can only be switched outside a transaction), and
    checked before the commit.
    """
    _rebuilding(db, "the sources rebuild", _rebuild_sources)


def _rebuilding(db: sqlite_utils.Database, what: str, *steps) -> None:
    """Run `steps` (each given `db`) in one transaction with foreign keys off, as a table
    that others reference is rebuilt, and check the keys before the commit."""
    db.execute("PRAGMA foreign_keys=OFF")  # only outside a transaction
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            for step in steps:
                step(db)
            problems = db.execute("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise sqlite3.IntegrityError(f"foreign keys broken by {what}: {problems[:3]}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    finally:
        db.execute("PRAGMA foreign_keys=ON")


def _rebuild_sources(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE sources_new (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            url TEXT NOT NULL,
            name TEXT NOT NULL,
            etag TEXT,
            last_modified TEXT,
            last_run_at TEXT,
            last_success_at TEXT,
            last_error TEXT,
            last_error_at TEXT,
            failures INTEGER NOT NULL DEFAULT 0,
            runs INTEGER NOT NULL DEFAULT 0,
            items_seen INTEGER NOT NULL DEFAULT 0,
            articles_new INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL DEFAULT 'new'
                CHECK (state IN ('new', 'ok', 'quiet', 'failing', 'layout', 'recovered')),
            state_since TEXT,
            last_new_at TEXT,
            usual_gap REAL,
            fallback_since TEXT,
            fallback_reason TEXT,
            body_digest TEXT,
            layout_runs INTEGER NOT NULL DEFAULT 0,
            layout_reason TEXT
        )"""
    )
    db.execute(f"INSERT INTO sources_new ({_SOURCE_COLUMNS}) SELECT {_SOURCE_COLUMNS} FROM sources")
    db.execute("DROP TABLE sources")
    db.execute("ALTER TABLE sources_new RENAME TO sources")


@migrations()
def m010_owners_and_stand_ins(db: sqlite_utils.Database) -> None:
    """Whose text an article holds, and titles that only stand in for a missing one.

    `owner_source_id`: the source whose page filled the article's feed text, when that is
    not the source that stored it first (NULL: the owner is `source_id`); only the owner's
    changes are revisions, so two feeds with different summaries of one link no longer
    rewrite it in turn. `title_stand_in`: the entry had no title, and `title` is its link or
    "(no title)": shown and searched, never matched or compared. Entries stored before with
    neither title nor text carried their URL key as title; they get the stand-in now.
    """
    db.execute("ALTER TABLE articles ADD COLUMN owner_source_id TEXT REFERENCES sources(id)")
    db.execute("ALTER TABLE articles ADD COLUMN title_stand_in INTEGER NOT NULL DEFAULT 0")
    db.execute(
        """UPDATE stories SET title = CASE WHEN title LIKE 'urn:%' THEN '(no title)' ELSE url END
           WHERE title IN (SELECT canonical_url FROM articles a WHERE a.id = stories.first_article_id
                           AND a.title = a.canonical_url AND a.text = '')""")
    # Their version is that of no title and no text, as ingest now computes it: the next
    # run finds them unchanged, not revised.
    db.execute(
        """UPDATE articles SET title_stand_in = 1, version_hash = ?,
               title = CASE WHEN canonical_url LIKE 'urn:%' THEN '(no title)' ELSE url END
           WHERE title = canonical_url AND text = ''""", (_frozen_version_hash("", ""),))


@migrations(transactional=False)
def m011_events(db: sqlite_utils.Database) -> None:
    """Events above stories: the stories of one real-world happening across outlets and
    languages, each story in exactly one; the embedding of the stories grouped by it; and
    alerts once per (event, rule, channel) with numbered event updates after them.

    One name per meaning: "event" is now this; a source's change of health stays a
    `source_events` row, and the outbox's column pointing at one is renamed
    `source_event_id`. Every story stored before gets an event of its own (same id), and
    every outbox row its story's event, so what was alerted or queued before is neither
    lost nor sent again. The outbox is rebuilt (its kind and keys change) with foreign keys
    off, as m009 rebuilt the sources.
    """
    _rebuilding(db, "the events migration", _create_events, _rebuild_outbox_for_events)


def _create_events(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            url TEXT NOT NULL,
            first_story_id INTEGER REFERENCES stories(id),
            first_seen_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            story_count INTEGER NOT NULL DEFAULT 1,
            outlet_count INTEGER NOT NULL DEFAULT 1,
            languages TEXT NOT NULL DEFAULT '[]',
            vector_sum BLOB,
            vector_count INTEGER NOT NULL DEFAULT 0,
            merged_into INTEGER REFERENCES events(id)
        )"""
    )
    db.execute("ALTER TABLE stories ADD COLUMN event_id INTEGER REFERENCES events(id)")
    db.execute(
        """INSERT INTO events (id, title, url, first_story_id, first_seen_at, last_seen_at, story_count,
                               outlet_count, languages)
           SELECT id, title, url, id, first_seen_at, updated_at, 1, outlet_count, languages FROM stories""")
    db.execute("UPDATE stories SET event_id = id")
    db.execute("CREATE INDEX stories_event ON stories(event_id)")
    db.execute("CREATE INDEX events_first_seen ON events(first_seen_at)")
    db.execute(
        """
        CREATE TABLE story_vectors (
            story_id INTEGER PRIMARY KEY REFERENCES stories(id),
            vector BLOB NOT NULL,
            model TEXT NOT NULL,
            neighbourhood REAL NOT NULL,
            neighbours INTEGER NOT NULL,
            at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX story_vectors_at ON story_vectors(at)")


def _rebuild_outbox_for_events(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE outbox_new (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL DEFAULT 'alert' CHECK (kind IN ('alert', 'health', 'spread', 'update')),
            story_id INTEGER REFERENCES stories(id),
            event_id INTEGER REFERENCES events(id),
            source_event_id INTEGER REFERENCES source_events(id),
            rule_id TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            match_id INTEGER REFERENCES matches(id),
            milestone INTEGER NOT NULL DEFAULT 0,
            alert_per TEXT NOT NULL DEFAULT 'story' CHECK (alert_per IN ('story', 'event')),
            state TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'sending', 'sent', 'dead', 'uncertain')),
            tries INTEGER NOT NULL DEFAULT 0,
            done_urls TEXT NOT NULL DEFAULT '[]',
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            sent_at TEXT,
            pace TEXT CHECK (pace IN ('digest', 'quiet', 'rate')),
            UNIQUE (kind, story_id, rule_id, channel_id, milestone)
        )"""
    )
    kept = ("id, kind, story_id, rule_id, channel_id, match_id, milestone, state, tries, done_urls, "
            "next_attempt_at, last_error, created_at, updated_at, sent_at, pace")
    # Each story is alone in its event: an alert sent before is its event's alert.
    db.execute(
        f"""INSERT INTO outbox_new ({kept}, source_event_id, event_id, alert_per)
            SELECT {kept}, event_id, story_id, CASE WHEN kind = 'alert' THEN 'event' ELSE 'story' END
            FROM outbox""")
    db.execute("DROP TABLE outbox")
    db.execute("ALTER TABLE outbox_new RENAME TO outbox")
    db.execute("CREATE INDEX outbox_due ON outbox(state, next_attempt_at)")
    db.execute("CREATE INDEX outbox_channel_queue ON outbox(channel_id, state, id)")
    db.execute("CREATE UNIQUE INDEX outbox_source_event ON outbox(source_event_id, channel_id) "
               "WHERE source_event_id IS NOT NULL")
    db.execute("CREATE UNIQUE INDEX outbox_spread ON outbox(story_id, channel_id, milestone) WHERE kind = 'spread'")
    db.execute("CREATE UNIQUE INDEX outbox_event_alert ON outbox(event_id, rule_id, channel_id) "
               "WHERE kind = 'alert' AND alert_per = 'event'")
    db.execute("CREATE UNIQUE INDEX outbox_event_update ON outbox(event_id, rule_id, channel_id, milestone) "
               "WHERE kind = 'update'")
    db.execute("CREATE INDEX outbox_event ON outbox(event_id)")


@migrations()
def m012_lean_near_index(db: sqlite_utils.Database, chunk: int = 10_000) -> None:
    """The near-duplicate index written near its data: each article's bucket keys in one row
    of `lsh_articles` (a BLOB of signed 64-bit little-endian keys), and `lsh_buckets` without
    its second index (by article), which only served to find an article's keys again.

    New keys wait in `lsh_articles` (`pending`) and go into `lsh_buckets` together
    (crawler/store/nearindex.py). The keys already stored are in `lsh_buckets`: they are
    copied, grouped by article, and not pending.
    """
    db.execute(
        """
        CREATE TABLE lsh_articles (
            article_id INTEGER PRIMARY KEY REFERENCES articles(id),
            buckets BLOB NOT NULL,
            pending INTEGER NOT NULL DEFAULT 1
        )"""
    )
    db.execute("CREATE INDEX lsh_articles_pending ON lsh_articles(pending) WHERE pending = 1")
    rows = db.execute("""SELECT b.article_id, b.bucket FROM lsh_buckets b JOIN articles a ON a.id = b.article_id
                         ORDER BY b.article_id, b.bucket""")
    keys: list[int] = []
    article = None
    grouped: list[tuple[int, bytes]] = []
    while found := rows.fetchmany(chunk):
        for article_id, bucket in found:
            if article_id != article and keys:
                grouped.append((article, struct.pack(f"<{len(keys)}q", *keys)))
                keys = []
            article = article_id
            keys.append(bucket)
        db.conn.executemany("INSERT INTO lsh_articles (article_id, buckets, pending) VALUES (?, ?, 0)", grouped)
        grouped = []
    if keys:
        db.execute("INSERT INTO lsh_articles (article_id, buckets, pending) VALUES (?, ?, 0)",
                   (article, struct.pack(f"<{len(keys)}q", *keys)))
    db.execute("DROP INDEX lsh_buckets_article")


@migrations(transactional=False)
def m013_reactions_and_surges(db: sqlite_utils.Database) -> None:
    """Reactions and surges.

    `reactions`: a story linked as the answer to an earlier event (one answered event per
    story), with the rule whose `reacts_to` linked it (NULL: linked on the evidence alone),
    the evidence (the names it shares with the event, JSON) and its score. `surges`: each
    surge of a rule's coverage, open (`calmed_at` NULL, at most one per rule) until its
    window calms, with the figures it was told with and the event holding most of it.

    The outbox gets two kinds: `reaction` (the update an answered event's thread gets,
    `story_id` the reacting story, `event_id` the answered event) and `surge` (`surge_id`).
    Its CHECK on kinds changes, so it is rebuilt with foreign keys off, as in m011.
    """
    _rebuilding(db, "the reactions and surges migration", _create_reactions_and_surges,
                _rebuild_outbox_for_surges)


def _create_reactions_and_surges(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE reactions (
            story_id INTEGER PRIMARY KEY REFERENCES stories(id),
            event_id INTEGER NOT NULL REFERENCES events(id),
            rule_id TEXT,
            evidence TEXT NOT NULL DEFAULT '[]',
            score REAL NOT NULL DEFAULT 0,
            linked_by TEXT NOT NULL DEFAULT 'presswatch' CHECK (linked_by IN ('presswatch', 'analyst')),
            linked_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX reactions_event ON reactions(event_id)")
    db.execute(
        """
        CREATE TABLE surges (
            id INTEGER PRIMARY KEY,
            rule_id TEXT NOT NULL,
            started_at TEXT NOT NULL,
            calmed_at TEXT,
            window_seconds INTEGER NOT NULL,
            stories INTEGER NOT NULL,
            outlets INTEGER NOT NULL,
            total INTEGER NOT NULL,
            usual REAL NOT NULL,
            expected REAL NOT NULL,
            p_value REAL NOT NULL,
            event_id INTEGER REFERENCES events(id)
        )"""
    )
    db.execute("CREATE UNIQUE INDEX surges_open ON surges(rule_id) WHERE calmed_at IS NULL")
    db.execute("CREATE INDEX surges_rule ON surges(rule_id, started_at)")
    db.execute("CREATE INDEX matches_rule_at ON matches(rule_id, matched_at)")
    db.execute("CREATE INDEX stories_first_seen ON stories(first_seen_at)")


def _rebuild_outbox_for_surges(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE outbox_new (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL DEFAULT 'alert'
                CHECK (kind IN ('alert', 'health', 'spread', 'update', 'reaction', 'surge')),
            story_id INTEGER REFERENCES stories(id),
            event_id INTEGER REFERENCES events(id),
            source_event_id INTEGER REFERENCES source_events(id),
            surge_id INTEGER REFERENCES surges(id),
            rule_id TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            match_id INTEGER REFERENCES matches(id),
            milestone INTEGER NOT NULL DEFAULT 0,
            alert_per TEXT NOT NULL DEFAULT 'story' CHECK (alert_per IN ('story', 'event')),
            state TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'sending', 'sent', 'dead', 'uncertain')),
            tries INTEGER NOT NULL DEFAULT 0,
            done_urls TEXT NOT NULL DEFAULT '[]',
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            sent_at TEXT,
            pace TEXT CHECK (pace IN ('digest', 'quiet', 'rate')),
            UNIQUE (kind, story_id, rule_id, channel_id, milestone)
        )"""
    )
    columns = ("id, kind, story_id, event_id, source_event_id, rule_id, channel_id, match_id, milestone, "
               "alert_per, state, tries, done_urls, next_attempt_at, last_error, created_at, updated_at, "
               "sent_at, pace")
    db.execute(f"INSERT INTO outbox_new ({columns}) SELECT {columns} FROM outbox")
    db.execute("DROP TABLE outbox")
    db.execute("ALTER TABLE outbox_new RENAME TO outbox")
    db.execute("CREATE INDEX outbox_due ON outbox(state, next_attempt_at)")
    db.execute("CREATE INDEX outbox_channel_queue ON outbox(channel_id, state, id)")
    db.execute("CREATE UNIQUE INDEX outbox_source_event ON outbox(source_event_id, channel_id) "
               "WHERE source_event_id IS NOT NULL")
    db.execute("CREATE UNIQUE INDEX outbox_spread ON outbox(story_id, channel_id, milestone) WHERE kind = 'spread'")
    db.execute("CREATE UNIQUE INDEX outbox_event_alert ON outbox(event_id, rule_id, channel_id) "
               "WHERE kind = 'alert' AND alert_per = 'event'")
    db.execute("CREATE UNIQUE INDEX outbox_event_update ON outbox(event_id, rule_id, channel_id, milestone) "
               "WHERE kind = 'update'")
    db.execute("CREATE UNIQUE INDEX outbox_surge ON outbox(surge_id, channel_id) WHERE surge_id IS NOT NULL")
    db.execute("CREATE INDEX outbox_event ON outbox(event_id)")


@migrations()
def m014_merged_events_index(db: sqlite_utils.Database) -> None:
    """An index of the events merged into another (few: partial), so that an event's family
    (itself and the events merged into it) is two lookups instead of a scan of every event:
    the coverage charts read it for each query, ingest for each event alert it checks."""
    db.execute("CREATE INDEX events_merged ON events(merged_into) WHERE merged_into IS NOT NULL")


@migrations()
def m015_surge_rules(db: sqlite_utils.Database) -> None:
    """`surge_rules`: since when each rule has matched as it does now (`matching`, a
    fingerprint of its query and filters), so that a rule added or changed is not judged
    for surges against a baseline from before it: it learns its usual share first."""
    db.execute(
        """
        CREATE TABLE surge_rules (
            rule_id TEXT PRIMARY KEY,
            matching TEXT NOT NULL,
            since TEXT NOT NULL
        )"""
    )


@migrations()
def m016_reaction_refusals(db: sqlite_utils.Database) -> None:
    """`reaction_refusals`: the stories an analyst unlinked (`presswatch events unlink`), which
    presswatch does not link again when a copy or a revision of them arrives."""
    db.execute(
        """
        CREATE TABLE reaction_refusals (
            story_id INTEGER PRIMARY KEY REFERENCES stories(id),
            refused_at TEXT NOT NULL
        )"""
    )

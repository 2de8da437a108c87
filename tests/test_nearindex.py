"""The near-duplicate index as the store keeps it: keys that wait in lsh_articles, then go
into lsh_buckets together; rollbacks, other connections, pruning, and the upgrade (m011).

Real Ingest on a real SQLite file, as in test_stories; the reprints are that module's.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
import sqlite_utils

from presswatch.crawler.store.database import Store
from presswatch.crawler.store.migrations import migrations
from presswatch.crawler.stories import dedup
from presswatch.crawler.stories.ingest import Candidate, Outcome
from test_stories import KCNA_REPLY, SOURCES, candidate, make_ingest, make_store, reprint


def bucket_rows(store: Store) -> int:
    return store.db.execute("SELECT count(*) FROM lsh_buckets").fetchone()[0]


def waiting(store: Store) -> list[int]:
    return [row[0] for row in store.db.execute("SELECT article_id FROM lsh_articles WHERE pending = 1 ORDER BY 1")]


@pytest.fixture
def store(tmp_path):
    store = make_store(str(tmp_path / "index.db"))
    store.FLUSH_ARTICLES = 3
    yield store
    store.close()


def test_keys_wait_beside_their_article_then_go_into_the_bucket_tree_together(store):
    ingest = make_ingest(store)
    first = ingest.ingest(candidate(1))
    # A new article writes no row of lsh_buckets (each key on its own page of that tree) ...
    assert bucket_rows(store) == 0 and waiting(store) == [1]
    # ... and its copies find it all the same.
    assert ingest.ingest(candidate(2)).outcome is Outcome.COPY
    assert bucket_rows(store) == 0 and waiting(store) == [1, 2]

    third = ingest.ingest(candidate(3))  # the third waiting: moved at its commit
    assert third.outcome is Outcome.COPY
    keys = sum(len(s.buckets) for s in dedup.signatures(ingest.scheme, *reprint(1)))
    assert keys == 32 + 25 and waiting(store) == [] and bucket_rows(store) == 3 * keys
    # Found from lsh_buckets now, in this process and after a restart.
    assert ingest.ingest(candidate(4)).story_id == first.story_id
    path = store.path
    store.close()
    again = make_store(path)
    try:
        assert make_ingest(again).ingest(candidate(5)).story_id == first.story_id
    finally:
        again.close()


def test_waiting_keys_survive_a_restart(tmp_path):
    path = str(tmp_path / "index.db")
    store = make_store(path)
    first = make_ingest(store).ingest(candidate(1))
    store.close()
    store = make_store(path)
    try:
        assert waiting(store) == [first.story_id] and bucket_rows(store) == 0
        assert make_ingest(store).ingest(candidate(2)).story_id == first.story_id
    finally:
        store.close()


def test_a_rolled_back_revision_leaves_the_index_as_stored(store):
    ingest = make_ingest(store)
    url = "https://outlet1.example/news/100"
    first = ingest.ingest(candidate(1, url=url))
    with pytest.raises(RuntimeError), store.transaction():
        assert ingest.ingest(candidate(1, url=url, text=KCNA_REPLY)).outcome is Outcome.REVISED
        raise RuntimeError("the batch failed after the revision")
    # The revision is undone: the old text still finds the article, the reply's text does not.
    assert ingest.ingest(candidate(2)).story_id == first.story_id
    reply = ingest.ingest(Candidate(source_id="outlet3", url="https://outlet3.example/r",
                                    title="KCNA slams HRW report", text=KCNA_REPLY, extracted_from="page"))
    assert reply.outcome is Outcome.NEW


def test_keys_another_connection_committed_are_found(store):
    other = Store(store.path)
    try:
        ingest = make_ingest(store)
        reply = Candidate(source_id="outlet3", url="https://outlet3.example/r", title="KCNA slams HRW report",
                          text=KCNA_REPLY, extracted_from="page")
        assert ingest.ingest(reply).outcome is Outcome.NEW  # the waiting keys read into this store's memory
        first = make_ingest(other).ingest(candidate(1))
    finally:
        other.close()
    assert ingest.ingest(candidate(2)).story_id == first.story_id


def test_pruning_forgets_keys_in_the_tree_and_waiting(store):
    ingest = make_ingest(store)
    for n in (1, 2, 3):  # moved into lsh_buckets
        ingest.ingest(candidate(n, url=f"https://outlet{n}.example/old"))
    ingest.ingest(candidate(4, url="https://outlet4.example/old"))  # waiting
    assert bucket_rows(store) > 0 and waiting(store) == [4]

    ingest.prune(datetime.now(UTC) + timedelta(days=31))
    assert bucket_rows(store) == 0 and store.db["lsh_articles"].count == 0
    assert ingest.ingest(candidate(5)).outcome is Outcome.NEW


# --- upgrade ---------------------------------------------------------------------------------


def index_as_m010_did(db: sqlite_utils.Database, article_id: int, title: str, text: str) -> None:
    """Signatures and one lsh_buckets row per key, as the store wrote them before m011."""
    scheme = dedup.Scheme()
    for sig in dedup.signatures(scheme, title, text):
        db.execute("""INSERT INTO signatures (article_id, kind, scheme, permutations, seed, shingle, minhash,
                      seen_at) VALUES (?,?,?,?,?,?,?,?)""",
                   (article_id, sig.kind, scheme.label, scheme.permutations, scheme.seed, scheme.shingle,
                    sig.to_bytes(), datetime.now(UTC).isoformat(timespec="seconds")))
        db.conn.executemany("INSERT OR REPLACE INTO lsh_buckets (bucket, article_id) VALUES (?,?)",
                            [(bucket, article_id) for bucket in sig.buckets])


def test_an_m010_database_keeps_its_index_and_search_across_the_upgrade(tmp_path):
    path = str(tmp_path / "m010.db")
    db = sqlite_utils.Database(sqlite3.connect(path))
    migrations.apply(db, stop_before="m011_events")
    for source in SOURCES:
        db.execute("INSERT INTO sources (id, kind, url, name) VALUES (?, 'feed', ?, ?)",
                   (source.id, source.url, source.name))
    stored = {1: reprint(1), 2: ("KCNA slams HRW report", KCNA_REPLY)}
    for n, (title, text) in stored.items():
        url = f"https://outlet{n}.example/news/{n}00"
        db.execute("""INSERT INTO stories (id, first_article_id, title, url, first_seen_at, updated_at)
                      VALUES (?, ?, ?, ?, '2026-12-01T00:00:00+00:00', 'x')""", (n, n, title, url))
        db.execute("""INSERT INTO articles (id, source_id, story_id, url, url_key, canonical_url, title, text,
                      extracted_from, first_seen_at, outlet, version_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'page',
                      '2026-12-01T00:00:00+00:00', ?, ?)""",
                   (n, f"outlet{n}", n, url, url, url, title, text, f"outlet{n}.example",
                    dedup.version_hash(title, text)))
        index_as_m010_did(db, n, title, text)
    keys_before = db.execute("SELECT count(*) FROM lsh_buckets").fetchone()[0]
    db.conn.commit()
    db.close()

    store = make_store(path)
    try:
        indexes = {row[0] for row in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "lsh_buckets_article" not in indexes
        # Every key stored before is still in the tree, and grouped by article, not waiting.
        assert bucket_rows(store) == keys_before and waiting(store) == []
        grouped = sum(len(blob) // 8 for (blob,) in store.db.execute("SELECT buckets FROM lsh_articles"))
        assert grouped == keys_before
        # Copies of the old articles are found; search finds the old articles.
        ingest = make_ingest(store)
        assert ingest.ingest(candidate(3)).story_id == 1
        assert [hit["story_id"] for hit in store.search("impunity")] == [1]
        assert [hit["story_id"] for hit in store.search('"smear campaign"')] == [2]
        # A revision of an old article takes its old keys out of the tree.
        url = "https://outlet1.example/news/100"
        assert ingest.ingest(candidate(1, url=url, text=KCNA_REPLY)).outcome is Outcome.REVISED
        assert store.db.execute("SELECT count(*) FROM lsh_buckets WHERE article_id = 1").fetchone()[0] == 0
        assert 1 in waiting(store)  # under its new text's keys
        # Pruning reaches the old keys too.
        ingest.prune(datetime.now(UTC) + timedelta(days=31))
        assert bucket_rows(store) == 0 and store.db["lsh_articles"].count == 0
    finally:
        store.close()


def test_waiting_keys_are_found_after_a_vacuum(store):
    ingest = make_ingest(store)
    first = ingest.ingest(candidate(1))
    store.lock_writer()
    store.vacuum()  # runs with its temporary files on disk, which drops this connection's temporary tables
    assert store.db.execute("PRAGMA temp_store").fetchone()[0] == 2  # memory again
    assert ingest.ingest(candidate(2)).story_id == first.story_id
    assert waiting(store) == [1, 2]


def test_pruned_waiting_keys_are_not_moved_into_the_tree(store):
    ingest = make_ingest(store)
    store.FLUSH_ARTICLES = 10
    for n in (1, 2, 3, 4):
        ingest.ingest(candidate(n, url=f"https://outlet{n}.example/{n}"))
    store.db.execute("UPDATE signatures SET seen_at = '2026-01-01T00:00:00+00:00' WHERE article_id IN (1, 2)")
    store.FLUSH_ARTICLES = 2  # the two left waiting move at the prune's commit
    ingest.prune(datetime.now(UTC))
    assert waiting(store) == []
    moved = {row[0] for row in store.db.execute("SELECT DISTINCT article_id FROM lsh_buckets")}
    assert moved == {3, 4}  # none of the pruned ones, which no row would find again

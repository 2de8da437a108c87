"""Database care: retention keeps stories and alerts, backups restore to the same database,
VACUUM never runs under a daemon.

Real SQLite files throughout; the online backup is taken while another connection writes.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from click.testing import CliRunner

from presswatch.config import ConfigError, load_config
from presswatch.crawler.store.database import Store
from presswatch.crawler.store.records import NewArticle
from presswatch.crawler.store.search import fts_query
from presswatch.scheduler.cli import main
from test_archive import KCNA, WIRE, add, build_archive, day

LATER = [f"A later article number {n} on the same subject, with words of its own: zebra{n}." for n in range(3)]


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "presswatch.db"
    store = Store(str(path))
    try:
        build_archive(store)
    finally:
        store.close()
    return path


@pytest.fixture
def config(tmp_path, db_path):
    def write(**settings):
        path = tmp_path / "presswatch.yaml"
        path.write_text(yaml.safe_dump({"database": db_path.name, **settings}), encoding="utf-8")
        return str(path)
    return write


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def rows(path, table: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()


def tables(path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]


def fts_is_sound(path) -> None:
    """FTS5's own check that the index holds exactly what the articles table holds."""
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO articles_fts (articles_fts, rank) VALUES ('integrity-check', 1)")


def without(table: list[dict], *columns: str) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in columns} for row in table]


# --- retention ------------------------------------------------------------------------------


def revise(store: Store, article_id: int, text: str, at: datetime) -> None:
    row = next(store.db.query("SELECT * FROM articles WHERE id = ?", (article_id,)))
    article = NewArticle(
        source_id=row["source_id"], url=row["url"], url_key=row["url_key"], canonical_url=row["canonical_url"],
        guid=None, title=row["title"], text=text, published_at=None, date_source=None, language="en",
        authors=(), content_hash=None, extracted_from="page", outlet=row["outlet"], version_hash="v2")
    with store.transaction():
        store.revise_article(article_id, article, at=at)


def test_retention_drops_old_texts_and_keeps_stories_matches_and_alerts(db_path):
    store = Store(str(db_path))
    try:
        revise(store, 1, WIRE + " Updated with a reaction: xylophone.", day(2))
        now = datetime.now(UTC)
        for n, text in enumerate(LATER):  # stored this week: kept
            add(store, "hrw", f"Later {n}", text, now - timedelta(days=n), slug=f"later{n}")
        kept = {name: list(store.db.query(f"SELECT * FROM {name} ORDER BY 1"))
                for name in ("stories", "matches", "outbox", "story_outlets", "sources")}
        articles = list(store.db.query("SELECT * FROM articles ORDER BY id"))
        assert store.texts_to_drop(now - timedelta(days=30)) == 5

        dropped = store.drop_texts(now - timedelta(days=30), limit=2, at=now)
        assert dropped == (2, 1)  # the oldest two, and the revision of the first
        while store.drop_texts(now - timedelta(days=30), at=now) != (0, 0):
            pass

        after = list(store.db.query("SELECT * FROM articles ORDER BY id"))
        assert [a["text"] for a in after[:5]] == [""] * 5
        assert [a["text"] for a in after[5:]] == LATER
        assert all(a["text_dropped_at"] == now.isoformat(timespec="seconds") for a in after[:5])
        assert all(a["text_dropped_at"] is None for a in after[5:])
        # Everything else of an article stays: title, URL, story, hashes, dates, outlet.
        assert without(after, "text", "text_dropped_at") == without(articles, "text", "text_dropped_at")
        assert [r["text"] for r in store.db.query("SELECT text FROM revisions")] == [""]
        assert [r["title"] for r in store.db.query("SELECT title FROM revisions")] == [articles[0]["title"]]
        for name, before in kept.items():
            assert list(store.db.query(f"SELECT * FROM {name} ORDER BY 1")) == before, name
        # The index follows: old texts are no longer found, their titles and new texts are.
        assert store.search(fts_query("scum")) == []
        assert store.search(fts_query("xylophone")) == []
        assert len(store.search(fts_query("KCNA smear"))) == 1
        assert len(store.search(fts_query("zebra1"))) == 1
        assert store.texts_to_drop(now - timedelta(days=30)) == 0
    finally:
        store.close()
    fts_is_sound(db_path)


def test_a_search_hit_says_its_text_was_dropped(db_path, config):
    store = Store(str(db_path))
    try:
        store.drop_texts(datetime.now(UTC))
    finally:
        store.close()
    result = cli("search", "KCNA", "--config", config())
    assert result.exit_code == 0, result.output
    assert "[text dropped by retention]" in result.output and "«KCNA»" in result.output


def test_db_prune_by_hand(db_path, config):
    missing = cli("db", "prune", "--config", config())
    assert missing.exit_code == 2 and "retention.article_text is not set" in missing.output

    dry = cli("db", "prune", "--config", config(retention={"article_text": "30d"}), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.output.startswith("would drop the texts of 5 article(s) first seen before ")
    assert rows(db_path, "articles")[0][8] == WIRE  # nothing changed

    done = cli("db", "prune", "--config", config(), "--older-than", "30d")
    assert done.exit_code == 0, done.output
    assert done.output.startswith("dropped the texts of 5 article(s) and 0 earlier version(s)")
    assert all(row[8] == "" for row in rows(db_path, "articles"))
    assert cli("db", "prune", "--config", config(), "--older-than", "1h").exit_code == 2  # below 1d


def test_retention_setting_is_checked(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"retention": {"article_text": "12h"}}), encoding="utf-8")
    with pytest.raises(ConfigError, match="retention.article_text"):
        load_config(path, {})
    path.write_text(yaml.safe_dump({"retention": {"article_text": "365d"}}), encoding="utf-8")
    assert load_config(path, {}).retention.article_text == timedelta(days=365)
    assert load_config(None, {}).retention.article_text is None  # the default keeps every text


def test_the_daemon_applies_retention(tmp_path, db_path):
    from presswatch.scheduler.daemon import Daemon

    path = tmp_path / "daemon.yaml"
    path.write_text(yaml.safe_dump({"database": db_path.name, "retention": {"article_text": "30d"}}),
                    encoding="utf-8")
    daemon = Daemon(load_config(path, {}), redact=lambda text: text)
    try:
        asyncio.run(daemon.apply_retention())
    finally:
        daemon.store.close()
    assert all(row[8] == "" for row in rows(db_path, "articles"))


# --- backup ---------------------------------------------------------------------------------


def test_backup_is_an_identical_database_and_restores(tmp_path, db_path, config):
    target = tmp_path / "backups" / "presswatch-backup.db"
    result = cli("db", "backup", str(target), "--config", config())
    assert result.exit_code == 0, result.output
    assert "integrity check: ok" in result.output
    assert not (tmp_path / "backups" / "presswatch-backup.db-wal").exists()
    with sqlite3.connect(target) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file

    names = tables(db_path)
    assert "articles_fts_data" in names and "_sqlite_migrations" in names
    assert tables(target) == names
    for name in names:  # every table, the full-text index's own included
        assert rows(target, name) == rows(db_path, name), name

    # Restoring is copying the file back (presswatch stopped, the old -wal and -shm removed).
    restored = tmp_path / "restored" / "presswatch.db"
    restored.parent.mkdir()
    shutil.copy(target, restored)
    store = Store(str(restored))
    try:
        assert [hit["source_id"] for hit in store.search(fts_query('"human scum"'))] == ["kcna"]
    finally:
        store.close()
    for name in names:
        assert rows(restored, name) == rows(db_path, name), name
    fts_is_sound(restored)


def test_backup_refuses_to_overwrite_or_to_target_the_database(tmp_path, db_path, config):
    target = tmp_path / "b.db"
    target.write_text("keep me")
    refused = cli("db", "backup", str(target), "--config", config())
    assert refused.exit_code == 1 and "use --force" in refused.output
    assert target.read_text() == "keep me"
    assert cli("db", "backup", str(target), "--force", "--config", config()).exit_code == 0
    assert rows(target, "stories") == rows(db_path, "stories")
    itself = cli("db", "backup", str(db_path), "--force", "--config", config())
    assert itself.exit_code == 1 and "is the database itself" in itself.output


def test_online_backup_while_another_process_writes_is_a_consistent_snapshot(tmp_path, db_path):
    stop = threading.Event()
    written = []

    def write() -> None:
        writer = Store(str(db_path))  # a connection of its own, as the daemon's
        try:
            n = 0
            while not stop.is_set():
                n += 1
                # Each article and its story in one transaction, as ingest stores them.
                written.append(add(writer, "kcna", f"Statement {n}", KCNA + f" number{n}", day(6), slug=f"s{n}"))
        finally:
            writer.close()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        while len(written) < 20:
            threading.Event().wait(0.01)
        store = Store(str(db_path))
        try:
            targets = [tmp_path / f"online{n}.db" for n in range(3)]
            for target in targets:
                store.backup(target)
        finally:
            store.close()
    finally:
        stop.set()
        thread.join()

    assert len(written) > 20
    for target in targets:
        with sqlite3.connect(target) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            # Every story holds exactly the articles it counts: no half-written transaction.
            counted = conn.execute("SELECT id, article_count FROM stories ORDER BY id").fetchall()
            actual = conn.execute("""SELECT s.id, count(a.id) FROM stories s LEFT JOIN articles a
                                     ON a.story_id = s.id GROUP BY s.id ORDER BY s.id""").fetchall()
            assert counted == actual
        fts_is_sound(target)


# --- vacuum ---------------------------------------------------------------------------------


def test_vacuum_refuses_under_a_running_daemon_then_shrinks_the_file(db_path, config):
    store = Store(str(db_path))
    try:
        for n in range(40):  # some bulk to give back
            add(store, "hrw", f"Bulk {n}", " ".join([WIRE] * 20), day(7), slug=f"bulk{n}")
    finally:
        store.close()
    assert cli("db", "prune", "--older-than", "30d", "--config", config()).exit_code == 0

    daemon = Store(str(db_path))
    daemon.lock_writer()  # what `presswatch run` holds while it runs
    try:
        refused = cli("db", "vacuum", "--config", config())
    finally:
        daemon.close()
    assert refused.exit_code == 1
    assert "presswatch is running on" in refused.output and "stop it first" in refused.output

    size = db_path.stat().st_size
    done = cli("db", "vacuum", "--config", config())
    assert done.exit_code == 0, done.output
    assert done.output.startswith(f"vacuumed {db_path}: ")
    assert db_path.stat().st_size < size / 2
    assert rows(db_path, "stories")  # still all there
    fts_is_sound(db_path)

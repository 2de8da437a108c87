"""Source health: states from runs, one alert per change, backoff of failing sources."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from conftest import rss_feed
from layout_site import headline, serve_articles, serve_listings_as_articles, serve_moved, site_source
from presswatch.config import Health
from presswatch.crawler.stories.health import backoff, judge
from presswatch.crawler.stories.ingest import Ingest
from presswatch.crawler.store.database import Store
from presswatch.crawler.store.records import SourceRun, SourceState, now_iso

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SETTINGS = Health(failing_after=2, quiet_factor=4, min_quiet=timedelta(hours=1))
OK_NEW = SourceRun("kcna", ok=True, articles_new=3)
OK_NOTHING = SourceRun("kcna", ok=True)
FAILED = SourceRun("kcna", ok=False, error="timed out")


@pytest.fixture
def ingest(tmp_path):
    store = Store(str(tmp_path / "health.db"))
    store.sync_sources([("kcna", "site", "http://kcna.example/en", "KCNA")])
    yield Ingest.from_config(store, [], health=SETTINGS)
    store.close()


def play(ingest, runs):
    """Record (hours after T0, run) pairs; return the states after each."""
    return [ingest.record_run(run, at=T0 + timedelta(hours=hours)).state for hours, run in runs]


def test_failing_after_n_failures_then_recovered_then_ok(ingest):
    states = play(ingest, [(0, OK_NEW), (1, FAILED), (2, FAILED), (3, FAILED), (4, OK_NEW), (5, OK_NEW)])
    assert states == ["ok", "ok", "failing", "failing", "recovered", "ok"]
    events = ingest.store.source_events("kcna")
    assert [(e["from_state"], e["to_state"]) for e in events] == [("ok", "failing"), ("failing", "recovered")]
    assert "2 runs in a row failed; last error: timed out" in events[0]["detail"]
    outbox = ingest.store.outbox()
    assert [(row.kind, row.channel_id, row.event_to) for row in outbox] == [
        ("health", "console", "failing"), ("health", "console", "recovered")]


def test_quiet_by_the_learned_gap_and_back(ingest):
    # New items every hour for a while: the usual gap is learned as one hour.
    runs = [(hour, OK_NEW) for hour in range(6)]
    # Then runs that find nothing: quiet after 4x the gap (4 h), and back once something comes.
    runs += [(8, OK_NOTHING), (9, OK_NOTHING), (10, OK_NOTHING), (11, OK_NEW), (12, OK_NEW)]
    states = play(ingest, runs)
    assert states[-5:] == ["ok", "ok", "quiet", "recovered", "ok"]
    state = ingest.store.source_state("kcna")
    assert state.usual_gap == pytest.approx(3600, rel=0.5)
    detail = ingest.store.source_events("kcna")[0]["detail"]
    assert detail.startswith("KCNA is quiet: nothing new for 5h") and "usually something new every" in detail


def test_min_quiet_holds_for_busy_sources(ingest):
    states = play(ingest, [(0, OK_NEW), (0.01, OK_NEW), (0.02, OK_NEW), (0.5, OK_NOTHING), (1.5, OK_NOTHING)])
    assert states == ["ok", "ok", "ok", "ok", "quiet"]  # not quiet before min_quiet (1 h)


def test_a_never_run_source_fails_into_failing_not_before():
    before = SourceState(id="x", state="new")
    assert judge(before, FAILED, T0, SETTINGS).state == "new"
    assert judge(SourceState(id="x", state="new", failures=1), FAILED, T0, SETTINGS).state == "failing"


def test_backoff_doubles_and_is_capped_never_dropped():
    every = timedelta(minutes=30)
    assert backoff(every, 2, SETTINGS) == every
    assert backoff(every, 3, SETTINGS) == every * 2
    assert backoff(every, 500, SETTINGS) == SETTINGS.max_backoff


def test_a_dying_source_alerts_once_per_change_end_to_end(web, sink, write_config, run_presswatch, tmp_path):
    item = {"title": "A story", "link": web.url("/s/1"), "description": "text"}
    web.add("/feed.xml", rss_feed([item]), content_type="application/rss+xml")
    config = write_config({
        "sources": [{"id": "outlet", "kind": "feed", "url": web.url("/feed.xml")}],
        "health": {"failing_after": 2, "channels": ["ops"]},
        "channels": [{"id": "ops", "url": sink.apprise_url}],
    })
    assert run_presswatch("run", "--once", "--config", str(config)).returncode == 0
    web.add("/feed.xml", "down", status=500, content_type="text/plain")
    for _ in range(3):
        assert run_presswatch("run", "--once", "--config", str(config)).returncode == 0
    web.add("/feed.xml", rss_feed([item]), content_type="application/rss+xml")
    assert run_presswatch("run", "--once", "--config", str(config)).returncode == 0

    titles = [m["title"] for m in sink.messages]
    assert titles == ["[presswatch] source outlet is failing", "[presswatch] source outlet is recovered"]
    assert "HTTP 500" in sink.messages[0]["message"]
    listing = run_presswatch("sources", "--config", str(config))
    assert listing.returncode == 0
    assert listing.stdout.split()[:2] == ["outlet", "recovered"]
    with sqlite3.connect(tmp_path / "presswatch.db") as conn:
        assert conn.execute("SELECT count(*) FROM source_events").fetchone()[0] == 2


# --- a site that moved: layout ---------------------------------------------------------------

LAYOUT = Health(failing_after=2, quiet_factor=4, min_quiet=timedelta(hours=1), layout_after=2)
LISTED = SourceRun("kcna", ok=True, articles_new=2, links=12, pages_read=2)
NO_LINKS = SourceRun("kcna", ok=True, links=0, error="no links on the listing page match '/en/article/'")
NO_TEXT = SourceRun("kcna", ok=True, links=12, pages_without_text=3)
LISTINGS = SourceRun("kcna", ok=True, links=12, pages_like_listings=3, pages_without_text=1)
NOT_MODIFIED = SourceRun("kcna", ok=True, not_modified=True)


@pytest.fixture
def layout_ingest(tmp_path):
    store = Store(str(tmp_path / "layout.db"))
    store.sync_sources([("kcna", "site", "http://kcna.example/en", "KCNA")])
    yield Ingest.from_config(store, [], health=LAYOUT)
    store.close()


def test_a_listing_without_links_is_layout_after_n_runs_with_one_alert_then_recovered(layout_ingest):
    runs = [(0, LISTED), (0.5, NO_LINKS), (1, NO_LINKS), (1.5, NO_LINKS), (2, NOT_MODIFIED), (2.5, LISTED),
            (3, LISTED)]
    states = play(layout_ingest, runs)
    assert states == ["ok", "ok", "layout", "layout", "layout", "recovered", "ok"]
    events = layout_ingest.store.source_events("kcna")
    assert [(e["from_state"], e["to_state"]) for e in events] == [("ok", "layout"), ("layout", "recovered")]
    assert events[0]["detail"] == ("KCNA layout changed?: its listing answers but no link on it matches "
                                   "follow (2 runs in a row); presswatch sources test kcna shows what it reads now")
    assert "links and article text are found again" in events[1]["detail"]
    assert [row.event_to for row in layout_ingest.store.outbox()] == ["layout", "recovered"]


def test_one_odd_run_does_not_cry_wolf(layout_ingest):
    states = play(layout_ingest, [(0, LISTED), (0.5, NO_TEXT), (1, LISTED), (1.5, LISTINGS), (2, LISTED)])
    assert states == ["ok"] * 5
    assert layout_ingest.store.source_events("kcna") == []
    assert layout_ingest.store.source_state("kcna").layout_runs == 0


def test_pages_without_text_or_like_listings_are_layout_and_say_which(layout_ingest):
    play(layout_ingest, [(0, LISTED), (0.5, NO_TEXT), (1, NO_TEXT)])
    state = layout_ingest.store.source_state("kcna")
    assert (state.state, state.layout_runs) == ("layout", 2)
    assert state.layout_reason == "the reader found no article text on its 3 article page(s)"
    change = judge(state, LISTINGS, T0, LAYOUT)
    assert change.state == "layout" and change.event is None  # still layout: no second alert
    assert change.layout_reason.startswith("its 4 article page(s) look like listings")


def test_runs_that_tell_nothing_keep_the_count_and_a_failure_stays_a_failure(layout_ingest):
    # A failed run and a 304 say nothing of the layout: the count goes on across them.
    states = play(layout_ingest, [(0, LISTED), (0.1, NO_LINKS), (0.2, FAILED), (0.3, NOT_MODIFIED), (0.4, NO_LINKS)])
    assert states == ["ok", "ok", "ok", "ok", "layout"]
    # Failing wins over layout, and a source in layout that fails is failing after failing_after.
    states = play(layout_ingest, [(0.5, FAILED), (0.6, FAILED)])
    assert states == ["layout", "failing"]


def test_a_feed_judged_on_entries_only_is_never_layout():
    feed_only = SourceRun("kcna", ok=True, articles_new=0)  # no listing, no page fetched
    before = SourceState(id="kcna", state="ok", layout_runs=5, layout_reason="old")
    assert judge(before, feed_only, T0, LAYOUT).state == "ok"
    pages_gone = SourceRun("kcna", ok=True, pages_without_text=4)  # fetch_articles: every page empty
    assert judge(SourceState(id="kcna", state="ok", layout_runs=1), pages_gone, T0, LAYOUT).state == "layout"


def test_a_database_of_the_previous_schema_takes_the_layout_state(tmp_path):
    from presswatch.crawler.store.migrations import migrations

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    db = __import__("sqlite_utils").Database(conn)
    migrations.apply(db, stop_before="m009_layout_state")
    conn.execute("INSERT INTO sources (id, kind, url, name, state, runs) VALUES ('kcna','site','u','KCNA','ok',7)")
    conn.execute("INSERT INTO source_events (source_id, from_state, to_state, detail, at) "
                 "VALUES ('kcna','new','ok','x','t')")
    conn.close()
    store = Store(str(path))
    try:
        assert store.source_state("kcna").runs == 7
        store.record_source_run(NO_LINKS, judge(SourceState(id="kcna", state="ok", layout_runs=1), NO_LINKS, T0,
                                                LAYOUT))
        assert store.source_state("kcna").state == "layout"
        assert store.db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        # The events still point at their source (the table that replaced it).
        with pytest.raises(sqlite3.IntegrityError):
            store.db.execute("INSERT INTO source_events (source_id, from_state, to_state, detail, at) "
                             "VALUES ('nobody','a','b','c','d')")
    finally:
        store.close()


def test_a_site_whose_layout_changes_is_layout_with_one_alert_end_to_end(web, sink, write_config, run_presswatch,
                                                                        tmp_path):
    serve_articles(web, range(3))
    config = write_config({
        "sources": [site_source(web)],
        "health": {"channels": ["ops"]},  # layout_after: 2, the default
        "channels": [{"id": "ops", "url": sink.apprise_url}],
    })
    listing = lambda: run_presswatch("sources", "--config", str(config)).stdout.split()[:2]  # noqa: E731
    assert run_presswatch("run", "--once", "--config", str(config)).returncode == 0
    assert listing() == ["kcna", "ok"]

    serve_moved(web, range(3, 6))  # the redesign: articles under /en/news/, which follow misses
    for _ in range(3):
        assert run_presswatch("run", "--once", "--config", str(config)).returncode == 0
    assert [m["title"] for m in sink.messages] == ["[presswatch] source kcna: layout changed?"]
    assert "its listing answers but no link on it matches follow (2 runs in a row)" in sink.messages[0]["message"]
    shown = run_presswatch("sources", "--config", str(config)).stdout
    assert shown.split()[:2] == ["kcna", "layout"]
    assert "layout changed?: its listing answers but no link on it matches follow" in shown

    serve_articles(web, range(6, 8))  # follow fixed on the site's side: links and text again
    assert run_presswatch("run", "--once", "--config", str(config)).returncode == 0
    assert [m["title"] for m in sink.messages][1:] == ["[presswatch] source kcna is recovered"]


def test_articles_that_are_listings_are_refused_and_make_the_source_layout(web, sink, write_config,
                                                                         run_presswatch, tmp_path):
    serve_articles(web, range(3))
    config = write_config({
        "sources": [site_source(web)],
        "health": {"channels": ["ops"], "layout_after": 1},
        "channels": [{"id": "ops", "url": sink.apprise_url}],
    })
    assert run_presswatch("run", "--once", "--config", str(config)).returncode == 0
    serve_listings_as_articles(web, range(10, 14))  # follow now keeps links to topic listings
    assert run_presswatch("run", "--once", "--config", str(config)).returncode == 0

    with sqlite3.connect(tmp_path / "presswatch.db") as conn:
        titles = [row[0] for row in conn.execute("SELECT title FROM articles ORDER BY id")]
        state, reason, error = conn.execute(
            "SELECT state, layout_reason, last_error FROM sources WHERE id = 'kcna'").fetchone()
    assert sorted(titles) == sorted(headline(n) for n in range(3))  # none of the listings stored as an article
    assert state == "layout"
    assert reason == "its 4 article page(s) look like listings (many links, little text) and were not stored"
    assert error.startswith("looks like a listing, not an article: the texts of 24 links make")
    assert [m["title"] for m in sink.messages] == ["[presswatch] source kcna: layout changed?"]


def test_healthz_fails_for_a_source_in_layout_though_it_answers():
    from presswatch.config import Source as ConfigSource
    from presswatch.scheduler.monitor import check_source

    source = ConfigSource(id="kcna", kind="site", url="http://kcna.example/en", follow="/en/article/", every="30m")
    fresh = now_iso(T0)
    ok = check_source(source, SourceState(id="kcna", state="ok", last_success_at=fresh), T0, T0, 3, LAYOUT)
    moved = SourceState(id="kcna", state="layout", last_success_at=fresh,
                        layout_reason="its listing answers but no link on it matches follow")
    check = check_source(source, moved, T0, T0, 3, LAYOUT)
    assert ok.ok and not check.ok
    assert check.detail.endswith("state layout (layout changed?: its listing answers but no link on it matches follow)")

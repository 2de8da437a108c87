"""Source health: states from runs, one alert per change, backoff of failing sources."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from conftest import rss_feed
from presswatch.config import Health
from presswatch.crawler.health import backoff, judge
from presswatch.crawler.ingest import Ingest
from presswatch.crawler.store import SourceRun, SourceState, Store

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

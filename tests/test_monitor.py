"""Health and metrics: /healthz and /metrics scraped over HTTP from a running daemon; log lines.

The daemon runs as its own process on a loopback feed, its endpoint on a port the system
picks (monitor.listen: 127.0.0.1:0, read back from its log line). The checks' arithmetic
is tested in process on fixed times.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from conftest import rss_feed
from presswatch.config import Health, Source
from presswatch.config.redact import Redactor
from presswatch.config.schema import Monitor
from presswatch.crawler.store.database import Store
from presswatch.crawler.store.records import SourceState
from presswatch.scheduler.logs import JsonFormatter, TextFormatter, message_fields
from presswatch.scheduler.monitor import check_scheduler, check_source, health_report

RULE = '"Human Rights Watch" AND ("North Korea" OR DPRK)'
RELEASE = {"title": "Rights group details abuse of women in North Korea", "link": "/story/1",
           "description": "Human Rights Watch said officials in North Korea abuse women."}
UNRELATED = {"title": "Floods hit coastal farms", "link": "/story/2",
             "description": "Heavy rain flooded farms along the coast; no one was hurt."}
ENDPOINT = re.compile(r"monitor listening on (http://127\.0\.0\.1:\d+)")


# --- a daemon in its own process ----------------------------------------------------------------


class Daemon:
    """`presswatch run` in a subprocess, its log in a file (no pipe to fill up)."""

    def __init__(self, config, tmp_path):
        self.log_path = tmp_path / "daemon.log"
        self.log_file = open(self.log_path, "w")  # noqa: SIM115 (closed in stop)
        env = {k: v for k, v in os.environ.items() if k != "PRESSWATCH_CONFIG"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "presswatch.scheduler", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL, stderr=self.log_file, env=env)

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8")

    def endpoint(self) -> str:
        found = wait_for(lambda: ENDPOINT.search(self.log) or self.process.poll() is not None)
        assert self.process.poll() is None and found, f"the endpoint did not start:\n{self.log}"
        return found.group(1)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self.log_file.close()


@pytest.fixture
def start_daemon(tmp_path):
    started = []

    def start(config) -> Daemon:
        started.append(Daemon(config, tmp_path))
        return started[-1]

    yield start
    for daemon in started:
        daemon.stop()


def wait_for(predicate, timeout: float = 60, every: float = 0.2):
    """Poll until `predicate()` is true, up to a deadline; its last value."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()) and time.monotonic() < deadline:
        time.sleep(every)
    return value


def get(url: str, accept: str | None = None) -> tuple[int, str, str]:
    """(status, content type, body) of a GET, errors included."""
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def health(base: str) -> tuple[int, dict]:
    status, content_type, body = get(base + "/healthz")
    assert content_type == "application/json", body
    return status, json.loads(body)


def metrics(base: str) -> dict[tuple, float]:
    """Every sample of /metrics by (name, sorted labels), read with Prometheus' own parser."""
    status, _, body = get(base + "/metrics")
    assert status == 200, body
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(body) for sample in family.samples}


def value(samples: dict, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


# --- over HTTP ------------------------------------------------------------------------------------


def test_a_running_daemon_serves_metrics_and_health(tmp_path, web, sink, write_config, start_daemon):
    items = [{**item, "link": web.url(item["link"])} for item in (RELEASE, UNRELATED)]
    web.add("/feed.xml", rss_feed(items), content_type="application/rss+xml")
    config = write_config({
        "delivery": {"every": "1s"},
        "log": {"format": "json"},
        "monitor": {"listen": "127.0.0.1:0"},
        "sources": [{"id": "outlet", "kind": "feed", "url": web.url("/feed.xml"), "every": "1h"}],
        "rules": [{"id": "hrw", "query": RULE, "channels": ["desk"]}],
        "channels": [{"id": "desk", "url": sink.apprise_url}],
    })
    daemon = start_daemon(config)
    base = daemon.endpoint()

    def sent_and_recorded(m):  # the alert may go out before the crawl has closed and counted
        return value(m, "presswatch_alerts", state="sent") == 1 and \
            value(m, "presswatch_crawls_total", source="outlet", result="ok") == 1

    samples = wait_for(lambda: (m := metrics(base)) and sent_and_recorded(m) and m)
    assert samples, f"the alert was not sent:\n{daemon.log}"
    assert value(samples, "presswatch_fetches_total", source="outlet") >= 1
    assert value(samples, "presswatch_responses_total", source="outlet", status="200") >= 1
    assert value(samples, "presswatch_items_total", source="outlet") == 2
    assert value(samples, "presswatch_new_stories_total", source="outlet") == 2
    assert value(samples, "presswatch_articles_total", source="outlet", outcome="new") == 2
    assert value(samples, "presswatch_articles_total", source="outlet", outcome="seen") == 0
    assert value(samples, "presswatch_alerts_queued_total", source="outlet") == 1
    assert value(samples, "presswatch_crawls_total", source="outlet", result="ok") == 1
    assert value(samples, "presswatch_crawls_total", source="outlet", result="failed") == 0
    assert value(samples, "presswatch_crawl_duration_seconds_count", source="outlet") == 1
    assert value(samples, "presswatch_matches", rule="hrw") == 1
    assert value(samples, "presswatch_surges_open", rule="hrw") == 0  # no history: nothing judged
    assert value(samples, "presswatch_alerts", state="pending") == 0
    assert value(samples, "presswatch_alert_sends_total", channel="desk", outcome="sent") == 1
    assert value(samples, "presswatch_alert_delivery_seconds_count", channel="desk", paced="false") == 1
    assert value(samples, "presswatch_source_state", source="outlet", state="ok") == 1
    assert value(samples, "presswatch_source_state", source="outlet", state="new") == 0
    assert value(samples, "presswatch_source_last_success_timestamp_seconds", source="outlet") > 0
    assert value(samples, "presswatch_source_stale", source="outlet") == 0
    for check in ("scheduler", "database", "sources"):
        assert value(samples, "presswatch_health_check", check=check) == 1, check
    assert value(samples, "process_resident_memory_bytes") > 0
    assert not [key for key in samples if key[0].endswith("_created")]
    assert len(sink.messages) == 1

    status, body = health(base)
    assert status == 200 and body["status"] == "ok" and body["failing"] == [], body
    assert set(body["checks"]) == {"scheduler", "database", "source:outlet"}
    assert all(check["ok"] for check in body["checks"].values()), body
    assert "last success" in body["checks"]["source:outlet"]["detail"]
    assert get(base + "/nothing-here")[0] == 404
    status, content_type, text = get(base + "/metrics", accept="application/openmetrics-text; version=1.0.0")
    assert status == 200 and content_type.startswith("application/openmetrics-text") and text.endswith("# EOF\n")

    assert daemon.stop() == 0, daemon.log
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(base + "/healthz", timeout=5)
    lines = [json.loads(line) for line in daemon.log.splitlines()]  # one JSON object a line
    (summary,) = [line for line in lines if line.get("source") == "outlet" and "duration" in line]
    assert (summary["new"], summary["seen"], summary["errors"]) == (2, 0, 0), summary
    assert isinstance(summary["duration"], float) and summary["logger"] == "presswatch.crawl"
    assert lines[-1]["message"] == "stopped"


def test_healthz_fails_for_a_stale_source_and_a_database_it_cannot_write(tmp_path, web, write_config,
                                                                         start_daemon):
    web.add("/feed.xml", rss_feed([{**RELEASE, "link": web.url(RELEASE["link"])}]),
            content_type="application/rss+xml")
    config = write_config({
        "delivery": {"every": "1h"},  # no writes of its own while the test holds the lock
        "monitor": {"listen": "127.0.0.1:0", "stale_factor": 1},
        "sources": [{"id": "fine", "kind": "feed", "url": web.url("/feed.xml"), "every": "1h"},
                    {"id": "gone", "kind": "feed", "url": web.url("/gone.xml"), "every": "10s"}],
    })
    daemon = start_daemon(config)
    base = daemon.endpoint()

    # "gone" answers 404 every run: stale once 1 x 10s passed since the start without a success.
    status, body = wait_for(lambda: (reply := health(base))[0] == 503 and reply)
    assert status == 503 and body["status"] == "failing" and body["failing"] == ["source:gone"], body
    assert "HTTP 404" in body["checks"]["source:gone"]["detail"]
    assert body["checks"]["source:fine"]["ok"] and body["checks"]["database"]["ok"]
    samples = wait_for(lambda: (m := metrics(base)) and value(
        m, "presswatch_crawls_total", source="gone", result="failed") >= 1 and m)
    assert value(samples, "presswatch_source_stale", source="gone") == 1
    assert value(samples, "presswatch_source_stale", source="fine") == 0
    assert value(samples, "presswatch_health_check", check="sources") == 0
    assert value(samples, "presswatch_responses_total", source="gone", status="404") >= 1

    # Another process holds the write lock: the daemon could not store anything now.
    holder = sqlite3.connect(tmp_path / "presswatch.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        status, body = wait_for(lambda: "database" in (reply := health(base))[1]["failing"] and reply)
        assert status == 503 and "locked" in body["checks"]["database"]["detail"], body
        assert value(metrics(base), "presswatch_health_check", check="database") == 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    status, body = wait_for(lambda: "database" not in (reply := health(base))[1]["failing"] and reply)
    assert body["checks"]["database"] == {"ok": True, "detail": "writable"}
    assert daemon.stop() == 0, daemon.log


def test_a_port_in_use_stops_the_start_naming_monitor_listen(tmp_path, web, write_config, run_presswatch):
    web.add("/feed.xml", rss_feed([{**RELEASE, "link": web.url(RELEASE["link"])}]),
            content_type="application/rss+xml")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        config = write_config({
            "monitor": {"listen": address},
            "sources": [{"id": "outlet", "kind": "feed", "url": web.url("/feed.xml")}],
        })
        result = run_presswatch("run", "--config", str(config), timeout=60)
        assert result.returncode == 1, result.stderr
        assert f"cannot listen on {address} (monitor.listen)" in result.stderr
        # One pass never opens the endpoint, and the failed start left the database free.
        once = run_presswatch("run", "--once", "--config", str(config), timeout=60)
        assert once.returncode == 0, once.stderr
        assert "monitor listening" not in once.stderr


def test_a_listen_address_that_is_not_host_and_port_is_a_config_problem(write_config, run_presswatch):
    config = write_config({"monitor": {"listen": "9464", "stale_factor": 0.5}})
    result = run_presswatch("check-config", "--config", str(config))
    assert result.returncode == 2
    assert 'monitor.listen: "9464" is not host:port' in result.stderr
    assert "monitor.stale_factor: 0.5 is too small" in result.stderr


# --- the checks, on fixed times -------------------------------------------------------------------

START = datetime(2026, 1, 1, tzinfo=UTC)
HEALTH = Health(failing_after=3, max_backoff=timedelta(hours=6))
SOURCE = Source(id="kcna", kind="feed", url="http://kcna.example/rss", every=timedelta(minutes=10))


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def fresh(state: SourceState, minutes: float, factor: float = 3) -> bool:
    return check_source(SOURCE, state, START, at(minutes), factor, HEALTH).ok


def test_a_source_never_run_is_stale_only_factor_times_its_interval_after_the_start():
    never = SourceState("kcna")
    assert fresh(never, 30) and not fresh(never, 31)
    assert fresh(never, 10, factor=1) and not fresh(never, 11, factor=1)
    # A success before this start counts from the start: the daemon was not running.
    before = SourceState("kcna", last_success_at=(START - timedelta(days=3)).isoformat(), state="ok")
    assert fresh(before, 30) and not fresh(before, 31)


def test_a_source_is_stale_factor_times_its_interval_after_its_last_success():
    state = SourceState("kcna", last_success_at=at(60).isoformat(), state="ok")
    assert fresh(state, 90) and not fresh(state, 91)
    check = check_source(SOURCE, state, START, at(95), 3, HEALTH)
    assert check.name == "source:kcna" and "last success 35m ago; stale after 30m" in check.detail


def test_a_failing_source_gets_its_backoff_delay_as_interval():
    # 5 failures, failing after 3: it waits 10m x 2^2 = 40m between runs, so 3 x 40m.
    state = SourceState("kcna", last_success_at=at(0).isoformat(), state="failing", failures=5,
                        last_error="HTTP 503")
    assert fresh(state, 120) and not fresh(state, 121)
    assert "last error: HTTP 503" in check_source(SOURCE, state, START, at(121), 3, HEALTH).detail
    capped = SourceState("kcna", last_success_at=at(0).isoformat(), state="failing", failures=30)
    assert fresh(capped, 18 * 60) and not fresh(capped, 18 * 60 + 1)  # 3 x health.max_backoff


class RunningScheduler:
    """Stands in for APScheduler's running scheduler: its state and jobs."""

    state = 1  # apscheduler.schedulers.base.STATE_RUNNING

    def __init__(self, *next_runs: datetime):
        self.jobs = [type("Job", (), {"id": f"job{i}", "next_run_time": t})() for i, t in enumerate(next_runs)]

    def get_jobs(self):
        return self.jobs


def test_the_scheduler_check_fails_when_stopped_overdue_or_a_send_hangs():
    timeout = timedelta(seconds=30)
    assert not check_scheduler(None, at(0), None, timeout).ok
    assert check_scheduler(RunningScheduler(at(1), at(-0.5)), at(0), None, timeout).ok
    late = check_scheduler(RunningScheduler(at(1), at(-2)), at(0), None, timeout)
    assert not late.ok and "job1" in late.detail
    assert check_scheduler(RunningScheduler(), at(2), at(0), timeout).ok
    hung = check_scheduler(RunningScheduler(), at(3), at(0), timeout)
    assert not hung.ok and "in flight for 3m" in hung.detail


def test_health_report_is_200_only_when_every_check_passes():
    ok = check_source(SOURCE, SourceState("kcna"), START, at(1), 3, HEALTH)
    stale = check_source(SOURCE, SourceState("kcna"), START, at(99), 3, HEALTH)
    assert health_report([ok]) == (200, {"status": "ok", "failing": [], "checks": {
        "source:kcna": {"ok": True, "detail": ok.detail}}})
    status, body = health_report([ok, stale])
    assert status == 503 and body["failing"] == ["source:kcna"]


def test_the_database_check_takes_the_write_lock_for_an_instant(tmp_path):
    store = Store(str(tmp_path / "p.db"))
    try:
        assert store.write_problem() is None
        other = sqlite3.connect(tmp_path / "p.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        problem = store.write_problem(wait=0.05)
        other.execute("ROLLBACK")
        other.close()
        assert problem is not None and "database is locked" in problem
        assert store.write_problem() is None and not store.db.conn.in_transaction
        assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000  # given back
    finally:
        store.close()


def test_listen_is_host_and_port():
    assert Monitor().address == ("127.0.0.1", 9464)
    assert Monitor(listen="[::1]:0").address == ("::1", 0)
    assert Monitor(listen=" ").address is None
    for wrong in ("localhost", "127.0.0.1:99999", "::1:9464", ":9464"):
        with pytest.raises(ValidationError):
            Monitor(listen=wrong)


# --- log lines ------------------------------------------------------------------------------------


def logged(fmt: str, secrets=(), *messages) -> list[str]:
    """The lines the daemon's formatter writes for these messages (a logger of their own)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter((JsonFormatter if fmt == "json" else TextFormatter)(Redactor(secrets)))
    logger = logging.getLogger(f"presswatch.test-{fmt}")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for message in messages:
            logger.warning(*message)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue().splitlines()


def test_json_lines_carry_the_key_value_pairs_as_fields():
    (line,) = logged("json", (), ("source=%s run ok new=%d seen=%d errors=%d duration=%.1fs",
                                  "kcna", 2, 5, 0, 1.25))
    entry = json.loads(line)
    assert {k: entry[k] for k in ("source", "new", "seen", "errors", "duration")} == {
        "source": "kcna", "new": 2, "seen": 5, "errors": 0, "duration": 1.2}
    assert entry["level"] == "warning" and entry["message"].startswith("source=kcna run ok")
    # Only the head before ": " holds fields; the object's own keys are never overwritten.
    assert message_fields("alert=3 failed level=x: HTTP error=500 (url?a=b)") == {"alert": 3}


def test_secrets_are_redacted_in_both_forms_and_a_line_stays_one_line():
    secret = 'to"ken\\1'
    (line,) = logged("json", [secret], ("channel=desk failed: %s", f"json://u:{secret}@host"))
    assert json.loads(line)["message"] == "channel=desk failed: json://u:***@host"
    lines = logged("text", [secret], ("title: %s", f"a\nFAKE ERROR {secret}"))
    assert len(lines) == 1 and lines[0].endswith("title: a\\nFAKE ERROR ***")

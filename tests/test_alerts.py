"""Delivery's states with real sends: uncertain timeouts, dead letters and their retry,
interrupted sends, each URL's outcome, tags, and the `presswatch alerts` commands.

Sends go through Apprise to loopback sinks: the shared `Sink`, and here a slow one that
answers after the delivery's timeout, as a service that got the message but answered
too late would.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import Sink
from test_deliver import (
    HRW_TITLE,
    RULE_ID,
    RULE_QUERY,
    SOURCE,
    deliver,
    make_config,
    outbox_row,
    queue_alert,
    retry_at_once,
    sink_channel,
)

from presswatch.config import Channel, Config, Rule
from presswatch.config import Delivery as DeliverySettings
from presswatch.crawler.store.records import HealthChange
from presswatch.crawler.store.database import Store
from presswatch.scheduler.delivery.deliver import Delivery


class SlowSink:
    """A json:// sink that takes `delay` seconds to answer each post; it keeps the message."""

    def __init__(self, delay: float):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                payload = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(owner.delay)
                owner.messages.append(json.loads(payload or b"{}"))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.delay = delay
        self.messages: list[dict] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def apprise_url(self) -> str:
        return f"json://127.0.0.1:{self.port}/"

    def wait_for(self, count: int, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def slow_sink():
    server = SlowSink(delay=1.5)
    yield server
    server.close()


@pytest.fixture
def store(tmp_path):
    store = Store(str(tmp_path / "t.db"))
    yield store
    store.close()


def quick_timeout(config: Config, **update) -> DeliverySettings:
    """The config's delivery section with a 0.3s timeout (the schema's minimum is 1s) and no backoff."""
    return retry_at_once(config).model_copy(update={"timeout": timedelta(seconds=0.3), **update})


# --- timeouts: uncertain, never sent twice by itself -----------------------------------------


def test_a_send_that_times_out_is_uncertain_and_not_sent_again(store, slow_sink):
    config = make_config(Channel(id="analysts", url=slow_sink.apprise_url))
    row_id = queue_alert(store, config)
    delivery = Delivery.from_config(store, config)
    delivery.settings = quick_timeout(config)

    assert deliver(delivery) == 0
    slow_sink.wait_for(1)  # the service did get it, after the timeout

    row = outbox_row(store, row_id)
    assert row.state == "uncertain"
    assert "timed out" in row.last_error and f"presswatch alerts retry {row_id}" in row.last_error
    [result] = row.url_results
    assert (result.key, result.state, result.tries) == (f"json://127.0.0.1:{slow_sink.port}/", "uncertain", 1)
    assert deliver(delivery) == 0
    time.sleep(0.2)
    assert len(slow_sink.messages) == 1  # no duplicate
    assert outbox_row(store, row_id).state == "uncertain"


def test_with_on_timeout_retry_a_timed_out_send_is_retried(store, slow_sink):
    config = make_config(Channel(id="analysts", url=slow_sink.apprise_url), on_timeout="retry", max_tries=5)
    row_id = queue_alert(store, config)
    delivery = Delivery.from_config(store, config)
    delivery.settings = quick_timeout(config, backoff=timedelta(hours=1), max_backoff=timedelta(hours=1))

    assert asyncio.run(delivery.deliver_due()) == 0

    row = outbox_row(store, row_id)
    assert (row.state, row.tries) == ("pending", 1)
    assert "timed out" in row.last_error
    assert [r.state for r in row.url_results] == ["failed"]
    slow_sink.wait_for(1)


def test_an_uncertain_url_is_skipped_while_the_others_are_retried(store, sink, slow_sink):
    down = Sink()
    down.fail_next = 1
    try:
        channel = Channel(id="analysts", urls=(slow_sink.apprise_url, down.apprise_url, sink.apprise_url))
        config = make_config(channel)
        row_id = queue_alert(store, config)
        delivery = Delivery.from_config(store, config)
        delivery.settings = quick_timeout(config)

        deliver(delivery)
        slow_sink.wait_for(1)
    finally:
        down.close()

    row = outbox_row(store, row_id)
    assert row.state == "uncertain"
    states = {r.key: r.state for r in row.url_results}
    assert states == {slow_sink.apprise_url: "uncertain", down.apprise_url: "sent", sink.apprise_url: "sent"}
    assert (len(slow_sink.messages), len(down.messages), len(sink.messages), down.refused) == (1, 1, 1, 1)


# --- dead letters and retry -----------------------------------------------------------------


def test_a_dead_alert_is_listed_and_a_retry_sends_it_once(store, sink, write_config, run_presswatch, tmp_path):
    path = write_config({
        "database": str(tmp_path / "t.db"),
        "sources": [{"id": "nknews", "kind": "feed", "url": SOURCE.url, "name": "NK News"}],
        "channels": [{"id": "analysts", "url": sink.apprise_url}],
        "rules": [{"id": RULE_ID, "query": RULE_QUERY, "channels": ["analysts"]}],
        "delivery": {"max_tries": 2},
    })
    config = make_config(sink_channel(sink), max_tries=2)
    row_id = queue_alert(store, config)
    sink.fail_next = 1000
    delivery = Delivery.from_config(store, config)
    delivery.settings = retry_at_once(config)
    deliver(delivery)
    row = outbox_row(store, row_id)
    assert (row.state, row.tries) == ("dead", 2) and "500" in row.last_error

    listed = run_presswatch("alerts", "--config", str(path))
    assert listed.returncode == 0, listed.stderr
    assert "1 dead" in listed.stdout
    assert f"#{row_id:<6} dead" in listed.stdout
    assert HRW_TITLE in listed.stdout and "error=500" in listed.stdout
    assert f"json://127.0.0.1:{sink.port}/  failed" in listed.stdout

    sink.fail_next = 0
    retried = run_presswatch("alerts", "retry", str(row_id), "--config", str(path))
    assert retried.returncode == 0, retried.stderr
    assert f"alert {row_id} queued again" in retried.stdout
    assert outbox_row(store, row_id).state == "pending"
    assert deliver(delivery) == 1
    assert deliver(delivery) == 0
    assert len(sink.messages) == 1 and sink.refused == 2
    row = outbox_row(store, row_id)
    assert (row.state, row.tries) == ("sent", 1)

    again = run_presswatch("alerts", "retry", str(row_id), "999", "--config", str(path))
    assert again.returncode == 1
    assert f"alert {row_id} is sent" in again.stderr and "no alert 999" in again.stderr


def test_a_retry_of_an_uncertain_alert_sends_it_only_where_it_was_uncertain(store, sink, slow_sink):
    channel = Channel(id="analysts", urls=(sink.apprise_url, slow_sink.apprise_url))
    config = make_config(channel)
    row_id = queue_alert(store, config)
    delivery = Delivery.from_config(store, config)
    delivery.settings = quick_timeout(config)
    deliver(delivery)
    slow_sink.wait_for(1)
    assert outbox_row(store, row_id).state == "uncertain"

    store.retry(row_id)  # someone checked: say it never showed
    slow_sink.delay = 0
    assert deliver(delivery) == 1

    assert (len(sink.messages), len(slow_sink.messages)) == (1, 2)
    assert outbox_row(store, row_id).state == "sent"


# --- interrupted sends ----------------------------------------------------------------------


def test_an_interrupted_send_is_uncertain_where_it_was_in_flight(store, sink):
    other = Sink()
    try:
        channel = Channel(id="analysts", urls=(sink.apprise_url, other.apprise_url))
        config = make_config(channel)
        row_id = queue_alert(store, config)
        # The process claimed the row, sent to the first URL, then died sending to the second.
        [row] = store.claim_due()
        store.mark_url([row_id], sink.apprise_url, sink.apprise_url, "sent")
        store.mark_url([row_id], other.apprise_url, other.apprise_url, "sending")

        assert store.release_interrupted(uncertain=True) == 1
        delivery = Delivery.from_config(store, config)
        assert deliver(delivery) == 0
    finally:
        other.close()

    row = outbox_row(store, row_id)
    assert row.state == "uncertain"
    assert {r.key: r.state for r in row.url_results} == {sink.apprise_url: "sent", other.apprise_url: "uncertain"}
    assert "stopped while sending" in row.last_error
    assert sink.messages == [] and other.messages == []  # nothing sent again


def test_an_interrupted_send_reaches_the_urls_it_had_not_tried(store, sink):
    other = Sink()
    try:
        channel = Channel(id="analysts", urls=(sink.apprise_url, other.apprise_url))
        config = make_config(channel)
        row_id = queue_alert(store, config)
        store.claim_due()
        store.mark_url([row_id], sink.apprise_url, sink.apprise_url, "sent")  # died before the second

        assert store.release_interrupted(uncertain=True) == 1
        assert deliver(Delivery.from_config(store, config)) == 1
        assert (len(sink.messages), len(other.messages)) == (0, 1)
    finally:
        other.close()
    assert outbox_row(store, row_id).state == "sent"


def test_with_on_timeout_retry_an_interrupted_send_is_sent_again(store, sink):
    config = make_config(sink_channel(sink), on_timeout="retry")
    row_id = queue_alert(store, config)
    store.claim_due()
    store.mark_url([row_id], sink.apprise_url, sink.apprise_url, "sending")

    store.release_interrupted(uncertain=False)

    assert deliver(Delivery.from_config(store, config)) == 1
    assert len(sink.messages) == 1


# --- tags -----------------------------------------------------------------------------------


def test_a_rule_with_tags_alerts_only_the_urls_carrying_them(store, sink):
    other = Sink()
    try:
        channel = Channel(id="analysts", urls=({"url": sink.apprise_url, "tags": ["team-a"]},
                                                {"url": other.apprise_url, "tags": ["team-b"]}))
        rule = Rule(id=RULE_ID, query=RULE_QUERY, channels=("analysts",), tags=("team-a",))
        config = Config(sources=(SOURCE,), rules=(rule,), channels=(channel,))
        row_id = queue_alert(store, config)
        # A source's health notice is for every URL of the channel, whatever the tags.
        store.record_source_run(*health_change("analysts"))

        assert deliver(Delivery.from_config(store, config)) == 2
    finally:
        other.close()

    assert next(m["title"] for m in sink.messages).startswith(f"[presswatch] {RULE_ID}:")
    assert len(sink.messages) == 2 and len(other.messages) == 1
    assert "source nknews is failing" in other.messages[0]["title"]
    assert [r.key for r in outbox_row(store, row_id).url_results] == [sink.apprise_url]


def health_change(channel: str):
    from presswatch.crawler.store.records import SourceRun

    run = SourceRun(source_id="nknews", ok=False, error="HTTP 500")
    change = HealthChange(state="failing", last_new_at=None, usual_gap=None,
                          event="nknews failed 3 runs in a row", from_state="ok", channels=(channel,))
    return run, change


# --- presswatch alerts: each URL's result, secrets hidden ----------------------------------


def test_alerts_lists_each_urls_outcome_without_secrets(store, sink, write_config, run_presswatch, tmp_path):
    secret = "s3cr3t-pass"
    down = Sink()
    down.fail_next = 1000
    try:
        urls = [sink.apprise_url, f"json://alerts:{secret}@127.0.0.1:{down.port}/"]
        path = write_config({
            "database": str(tmp_path / "t.db"),
            "sources": [{"id": "nknews", "kind": "feed", "url": SOURCE.url, "name": "NK News"}],
            "channels": [{"id": "analysts", "urls": [urls[0], "${SECOND}"]}],
            "rules": [{"id": RULE_ID, "query": RULE_QUERY, "channels": ["analysts"]}],
        })
        config = make_config(Channel(id="analysts", urls=tuple(urls)))
        row_id = queue_alert(store, config)
        asyncio.run(Delivery.from_config(store, config).deliver_due())
        listed = run_presswatch("alerts", "--state", "pending", "--config", str(path),
                                env={"SECOND": urls[1]})
    finally:
        down.close()

    assert listed.returncode == 0, listed.stderr
    assert secret not in listed.stdout
    assert f"#{row_id:<6} pending" in listed.stdout
    assert f"json://127.0.0.1:{sink.port}/  sent" in listed.stdout
    failed = next(line for line in listed.stdout.splitlines() if f":{down.port}/" in line and "failed" in line)
    assert "error=500" in failed and "alerts:" in failed


def test_alerts_test_sends_to_each_url_and_prints_its_result(sink, write_config, run_presswatch, tmp_path):
    down = Sink()
    down.fail_next = 1
    try:
        path = write_config({
            "sources": [{"id": "nknews", "kind": "feed", "url": SOURCE.url}],
            "channels": [{"id": "desk", "format": "html", "urls": [
                sink.apprise_url + "?format=html", {"url": down.apprise_url, "tags": ["team-b"]}]}],
        })
        result = run_presswatch("alerts", "test", "desk", "--config", str(path))
        missing = run_presswatch("alerts", "test", "nowhere", "--config", str(path))
    finally:
        down.close()

    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"sent      json://127.0.0.1:{sink.port}/")
    assert lines[1].startswith(f"failed    json://127.0.0.1:{down.port}/  tags: team-b")
    assert "error=500" in lines[1]
    assert "1 of 2 URLs did not confirm" in result.stderr
    [message] = sink.messages
    assert message["title"].startswith("[presswatch] test: presswatch test: <b>tags</b>")
    assert "&lt;b&gt;tags&lt;/b&gt;" in message["message"] and "<b>tags</b>" not in message["message"]
    assert missing.returncode == 1 and "no channel 'nowhere'" in missing.stderr


def test_alerts_test_on_the_console_prints_the_message(write_config, run_presswatch):
    path = write_config({"sources": [{"id": "nknews", "kind": "feed", "url": SOURCE.url}]})

    result = run_presswatch("alerts", "test", "console", "--config", str(path))

    assert result.returncode == 0, result.stderr
    assert "[presswatch] test: presswatch test" in result.stdout and "console: printed" in result.stdout


def test_alerts_on_a_fresh_config_says_there_is_no_database(write_config, run_presswatch):
    path = write_config({"sources": [{"id": "nknews", "kind": "feed", "url": SOURCE.url}]})

    result = run_presswatch("alerts", "--config", str(path))

    assert result.returncode == 1 and "no database yet" in result.stderr


def test_old_rows_sent_in_part_keep_their_positions(store, sink):
    """Rows sent in part before outcomes were kept by URL only remember positions (done_urls)."""
    other = Sink()
    try:
        channel = Channel(id="analysts", urls=(sink.apprise_url, other.apprise_url))
        config = make_config(channel)
        row_id = queue_alert(store, config)
        store.claim_due()
        store.mark_failed(row_id, "earlier failure", datetime.now(UTC) - timedelta(seconds=1), done_urls=(0,))

        assert deliver(Delivery.from_config(store, config)) == 1
        assert (len(sink.messages), len(other.messages)) == (0, 1)
    finally:
        other.close()

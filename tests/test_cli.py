"""The command as a user meets it: config errors, init, the demo, the daemon and its signals."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import yaml

from conftest import rss_feed

RULE = '"Human Rights Watch" AND ("North Korea" OR DPRK)'
ITEM = {"title": "Rights group details abuse of women in North Korea", "link": "/story/1",
        "description": "Human Rights Watch said officials in North Korea abuse women."}


def test_config_with_mistakes_exits_2_listing_each_and_writes_nothing(tmp_path, run_presswatch):
    config = tmp_path / "broken.yaml"
    config.write_text(yaml.safe_dump({
        "database": "never.db",
        "sources": [
            {"id": "hrw", "kind": "feed", "url": "https://www.hrw.org/rss/news", "every": "5 minuts"},
            {"id": "kcna", "kind": "site", "url": "http://www.kcna.kp/en", "evrey": "30m"},
        ],
        "rules": [{"id": "r", "query": '"Human Rights Watch" AND (', "channels": ["analyst"]}],
        "channels": [{"id": "analysts", "url": "notaservice://x"}],
    }))
    for command in ("check-config", "run"):
        result = run_presswatch(command, "--config", str(config))
        assert result.returncode == 2, result.stderr
        lines = result.stderr.splitlines()
        assert any(line.strip().startswith('sources[0] (hrw).every: "5 minuts" is not a duration') for line in lines)
        assert any('sources[1] (kcna).evrey: unknown key; did you mean "every"?' in line for line in lines)
        assert any(line.strip().startswith("sources[1] (kcna).follow") for line in lines)
        assert any(line.strip().startswith("rules[0] (r).query:") and "column 27" in line for line in lines)
        assert any(line.strip().startswith("rules[0] (r).channels[0]") for line in lines)
        assert any(line.strip().startswith("channels[0] (analysts).url: Apprise cannot parse") for line in lines)
    assert not (tmp_path / "never.db").exists()


def test_secrets_from_the_environment_never_show(tmp_path, web, run_presswatch):
    web.add("/feed.xml", rss_feed([{**ITEM, "link": web.url(ITEM["link"])}]), content_type="application/rss+xml")
    secret = "s3cr3t-t0ken-value"
    config = tmp_path / "presswatch.yaml"
    config.write_text(yaml.safe_dump({
        "crawl": {"delay": "0s", "retries": 0, "robots": False},
        "delivery": {"backoff": "1s", "timeout": "2s"},
        "sources": [{"id": "outlet", "kind": "feed", "url": web.url("/feed.xml")}],
        "rules": [{"id": "r", "query": RULE, "channels": ["desk"]}],
        "channels": [{"id": "desk", "url": "${DESK_URL}"}],
    }).replace(web.url("/feed.xml"), web.url("/feed.xml") + "?key=${FEED_KEY}"))
    # A notification service that is down, so the URL would show in errors if anywhere.
    env = {"DESK_URL": f"json://user:{secret}@127.0.0.1:9/hook", "FEED_KEY": "feed-k3y-secret"}
    result = run_presswatch("run", "--once", "--config", str(config), env=env)
    assert result.returncode == 0, result.stderr
    assert "alert=1 failed" in result.stderr
    assert secret not in result.stderr + result.stdout
    assert "feed-k3y-secret" not in result.stderr + result.stdout
    with sqlite3.connect(tmp_path / "presswatch.db") as conn:
        (last_error,) = conn.execute("SELECT last_error FROM outbox").fetchone()
        dump = "\n".join(conn.iterdump())
    assert last_error and "127.0.0.1" in last_error
    assert secret not in dump and "feed-k3y-secret" not in dump
    missing = run_presswatch("check-config", "--config", str(config))
    assert missing.returncode == 2
    assert "channels[0] (desk).url: environment variable DESK_URL is not set" in missing.stderr


def test_init_writes_the_default_config_which_checks(tmp_path, run_presswatch):
    target = tmp_path / "etc" / "presswatch.yaml"
    assert run_presswatch("init", str(target)).returncode == 0
    assert "sources:" in target.read_text()
    check = run_presswatch("check-config", "--config", str(target))
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith("ok: ")
    again = run_presswatch("init", str(target))
    assert again.returncode != 0 and "--force" in again.stderr


def test_config_from_environment_variable(tmp_path, run_presswatch):
    target = tmp_path / "presswatch.yaml"
    run_presswatch("init", str(target))
    target.write_text(target.read_text() + "\nbogus_key: 1\n")
    result = run_presswatch("check-config", env={"PRESSWATCH_CONFIG": str(target)})
    assert result.returncode == 2 and "bogus_key: unknown key" in result.stderr


def test_demo_shows_one_alert_per_event_and_its_updates(run_presswatch, tmp_path):
    result = run_presswatch("demo", "--keep", str(tmp_path), timeout=180)
    assert result.returncode == 0, result.stderr
    titles = [line.lstrip()[len("ALERT "):] for line in result.stdout.splitlines()
              if line.lstrip().startswith("ALERT ")]
    release = ("North Korea: Officials Sexually Abuse Women With Impunity",
               "Sexual abuse of women by officials is rampant in North Korea, rights group says")
    # The HRW release, the wire story and the Korean daily's report: one event, one alert
    # (for whichever of the first two came first), then an update for each new outlet.
    [alert] = [t for t in titles if t.startswith("[presswatch] hrw-report: ")]
    assert alert.split(": ", 1)[1] in release
    # The two updates, then KCNA's rebuttal told in the report's thread.
    assert [t for t in titles if t.startswith("Re: ")] == [f"Re: {alert}"] * 3
    assert "Answered by KCNA: Press Statement of Spokesperson of Korean Association for Human Rights Studies" in result.stdout
    assert "In response to: " in result.stdout
    assert "휴먼라이츠워치, 북한 여성 대상 성폭력 실태 보고서 발표" in result.stdout
    assert "«휴먼라이츠워치»" not in result.stdout  # the Korean report came as an update, not an alert
    # KCNA's rebuttal (one story under two menus) and the Rodong Sinmun commentary: their own events.
    assert sorted(t for t in titles if "state-media-response" in t) == [
        "[presswatch] state-media-response: Press Statement of Spokesperson of Korean Association for Human Rights Studies",
        "[presswatch] state-media-response: Rodong Sinmun Denounces Anti-DPRK Smear Campaign",
    ]
    assert "«Korean Association for Human Rights Studies»" in result.stdout
    assert ("== done: 11 articles in 10 stories and 8 events; 3 alerts, 2 event updates and 1 reaction "
            "in the threads they answer") in result.stdout
    with sqlite3.connect(tmp_path / "demo.db") as db:
        events = dict(db.execute("SELECT title, event_id FROM stories WHERE merged_into IS NULL"))
    assert events[release[0]] == events[release[1]] == events["휴먼라이츠워치, 북한 여성 대상 성폭력 실태 보고서 발표"]
    statement = events["Press Statement of Spokesperson of Korean Association for Human Rights Studies"]
    assert statement != events[release[0]]


def test_daemon_runs_on_schedule_and_stops_cleanly_on_sigterm(tmp_path, web, sink):
    web.add("/feed.xml", rss_feed([{**ITEM, "link": web.url(ITEM["link"])}]), content_type="application/rss+xml")
    config = tmp_path / "presswatch.yaml"
    config.write_text(yaml.safe_dump({
        "crawl": {"delay": "0s", "retries": 0, "robots": False},
        "delivery": {"every": "1s"},
        "monitor": {"listen": ""},  # tests/test_monitor.py covers the endpoint; no fixed port here
        "sources": [{"id": "outlet", "kind": "feed", "url": web.url("/feed.xml"), "every": "10s"}],
        "rules": [{"id": "r", "query": RULE, "channels": ["desk"]}],
        "channels": [{"id": "desk", "url": sink.apprise_url}],
    }))
    daemon = subprocess.Popen([sys.executable, "-m", "presswatch.scheduler", "run", "--config", str(config)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={k: v for k, v in os.environ.items() if k != "PRESSWATCH_CONFIG"})
    try:
        deadline = time.monotonic() + 60
        while not sink.messages and time.monotonic() < deadline and daemon.poll() is None:
            time.sleep(0.2)
        assert len(sink.messages) == 1, "the scheduled run and delivery did not happen"
        second = subprocess.run([sys.executable, "-m", "presswatch.scheduler", "run", "--once",
                                 "--config", str(config)], capture_output=True, text=True, timeout=60)
        assert second.returncode == 1 and "another presswatch process is using" in second.stderr
        daemon.send_signal(signal.SIGTERM)
        daemon.send_signal(signal.SIGTERM)  # an impatient second signal changes nothing
        _, stderr = daemon.communicate(timeout=30)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert daemon.returncode == 0, stderr
    assert "daemon started: 1 sources" in stderr and stderr.rstrip().endswith("stopped")
    with sqlite3.connect(tmp_path / "presswatch.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT state FROM outbox").fetchall() == [("sent",)]
        assert conn.execute("SELECT runs FROM sources").fetchone()[0] >= 1


def test_a_restart_does_not_refetch_sources_that_are_not_due(tmp_path, web):
    web.add("/feed.xml", rss_feed([{**ITEM, "link": web.url(ITEM["link"])}]), content_type="application/rss+xml")
    config = tmp_path / "presswatch.yaml"
    config.write_text(yaml.safe_dump({
        "crawl": {"delay": "0s", "retries": 0, "robots": False},
        "monitor": {"listen": ""},
        "sources": [{"id": "due-later", "kind": "feed", "url": web.url("/feed.xml"), "every": "1h"},
                    {"id": "also-due-later", "kind": "feed", "url": web.url("/feed.xml?other"), "every": "1h"}],
        "rules": [{"id": "r", "query": RULE}],
    }))
    env = {k: v for k, v in os.environ.items() if k != "PRESSWATCH_CONFIG"}
    once = subprocess.run([sys.executable, "-m", "presswatch.scheduler", "run", "--once", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, env=env)
    assert once.returncode == 0, once.stderr
    settings = yaml.safe_load(config.read_text())
    settings["sources"].append({"id": "new-source", "kind": "feed", "url": web.url("/feed.xml?new"), "every": "1h"})
    config.write_text(yaml.safe_dump(settings))
    before = len(web.requests)
    daemon = subprocess.Popen([sys.executable, "-m", "presswatch.scheduler", "run", "--config", str(config)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any("new" in p for p, _ in web.requests[before:]):
            time.sleep(0.2)
        # A second's grace for a wrong fetch of the sources that ran already to show up:
        # this can only hide a failure, never cause one.
        time.sleep(1)
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=120)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    fetched = [path for path, _ in web.requests[before:]]
    assert fetched == ["/feed.xml?new"], (fetched, stderr)  # only the source that never ran

"""`presswatch doctor`: one line per check against real loopback servers, and its exit codes.

Sources are served by the loopback web server (one good, one 404, one slow, one on a
closed port, one robots.txt forbids); channels are the loopback JSON sink, the loopback
SMTP server and a closed port. The database is a real file made by the store.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading

import apprise
import pytest
import yaml
from conftest import free_port, rss_feed

from presswatch.crawler.store.database import Store
from presswatch.scheduler.cli.doctor import Check, apprise_server, run_bounded

FEED = rss_feed([{"title": "A story", "link": "http://example.org/1"}])


def lines_of(result) -> dict[str, str]:
    """Each line of the doctor's output by what it checks ("source hrw", "database"...)."""
    found = {}
    for line in result.stdout.splitlines():
        status, text = line[:5].strip(), line[6:]
        found[text.split(":")[0]] = f"{status} {text}"
    return found


def mail_url(smtp) -> str:
    return f"mailto://127.0.0.1:{smtp.port}?from=presswatch@example.org&to=analysts@example.org"


def test_each_source_and_channel_gets_one_line_and_a_failure_exits_1(web, sink, smtp, write_config,
                                                                      run_presswatch, tmp_path):
    web.add("/feed.xml", FEED, content_type="application/rss+xml")
    web.add("/slow.xml", FEED, content_type="application/rss+xml", delay=3)
    web.add("/private/feed.xml", FEED, content_type="application/rss+xml")
    web.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    closed = free_port()
    config = write_config({
        "crawl": {"timeout": "1s", "robots": True},
        "sources": [
            {"id": "good", "kind": "feed", "url": web.url("/feed.xml")},
            {"id": "gone", "kind": "feed", "url": web.url("/gone.xml")},
            {"id": "slow", "kind": "feed", "url": web.url("/slow.xml")},
            {"id": "down", "kind": "feed", "url": f"http://127.0.0.1:{closed}/feed.xml"},
            {"id": "forbidden", "kind": "feed", "url": web.url("/private/feed.xml")},
            {"id": "paused", "kind": "feed", "url": web.url("/feed.xml"), "enabled": False},
        ],
        "rules": [{"id": "r", "query": "korea", "channels": ["desk", "mail", "broken"]}],
        "channels": [
            {"id": "desk", "url": sink.apprise_url},
            {"id": "mail", "url": mail_url(smtp)},
            {"id": "broken", "urls": [sink.apprise_url, f"json://127.0.0.1:{closed}/"]},
        ],
    })
    result = run_presswatch("doctor", "--config", str(config))
    assert result.returncode == 1, result.stderr
    lines = lines_of(result)
    assert lines["config"] == f"ok config: {config}: 6 sources (5 enabled), 1 rule, 3 channels"
    assert lines["database folder"] == f"ok database folder: {tmp_path} is writable"
    assert lines["database"] == f"ok database: {tmp_path / 'presswatch.db'} does not exist yet; presswatch run creates it"
    assert re.fullmatch(r"ok source good: HTTP 200 in \d+\.\ds \(robots\.txt allows\)", lines["source good"])
    assert re.fullmatch(r"FAIL source gone: HTTP 404 in \d+\.\ds", lines["source gone"])
    assert lines["source slow"] == "FAIL source slow: timed out after 1s"
    assert lines["source down"] == "FAIL source down: cannot connect: connection refused"
    assert lines["source forbidden"].startswith("FAIL source forbidden: HTTP 200 in ")
    assert lines["source forbidden"].endswith("(robots.txt disallows it: the crawler will not fetch it)")
    assert lines["source paused"] == "skip source paused: disabled"
    assert lines["channel desk"] == f"ok channel desk: 1 URL parses; 127.0.0.1:{sink.port} accept connections"
    assert lines["channel mail"] == f"ok channel mail: 1 URL parses; 127.0.0.1:{smtp.port} accept connections"
    assert lines["channel broken"].startswith("FAIL channel broken: 2 URLs parse; json://127.0.0.1:")
    assert lines["channel broken"].endswith(f"(127.0.0.1:{closed}): cannot connect: connection refused")
    assert len(result.stdout.splitlines()) == 13  # config, database folder, database, model cache, 9 more
    # Nothing is sent by default, and nothing is created.
    assert sink.messages == [] and smtp.messages == []
    assert not (tmp_path / "presswatch.db").exists()
    # The user agent is the config's, on the page and on robots.txt.
    agents = {path: headers.get("User-Agent") for path, headers in web.requests}
    assert agents["/feed.xml"].startswith("presswatch") and agents["/robots.txt"] == agents["/feed.xml"]


def test_all_good_exits_0_and_send_test_sends_one_message_per_url(web, sink, smtp, write_config,
                                                                 run_presswatch, tmp_path):
    web.add("/feed.xml", FEED, content_type="application/rss+xml")
    config = write_config({
        "sources": [{"id": "good", "kind": "feed", "url": web.url("/feed.xml")}],
        "channels": [{"id": "desk", "urls": [sink.apprise_url, mail_url(smtp)]}],
    })
    Store(str(tmp_path / "presswatch.db")).close()  # a real database, migrated by the store
    result = run_presswatch("doctor", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = lines_of(result)
    assert re.fullmatch(rf"ok database: {re.escape(str(tmp_path / 'presswatch.db'))} "
                        r"\(schema m\d{3}_\w+, integrity ok, \d+\.\d (KB|MB)\)", lines["database"])
    assert lines["source good"].startswith("ok source good: HTTP 200 in ")
    assert "(robots" not in lines["source good"]  # this config does not obey robots.txt
    assert sink.messages == [] and smtp.messages == []

    sent = run_presswatch("doctor", "--config", str(config), "--send-test")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert lines_of(sent)["channel desk"] == "ok channel desk: 2 URLs parse; test message sent to 2 URLs"
    assert len(sink.messages) == 1 and len(smtp.messages) == 1


def test_send_test_to_a_channel_that_is_down_fails(sink, write_config, run_presswatch):
    closed = free_port()
    config = write_config({
        "delivery": {"timeout": "2s"},
        "channels": [{"id": "desk", "urls": [sink.apprise_url, f"json://127.0.0.1:{closed}/"]}],
    })
    result = run_presswatch("doctor", "--config", str(config), "--send-test")
    assert result.returncode == 1
    line = lines_of(result)["channel desk"]
    assert line.startswith(f"FAIL channel desk: 2 URLs parse; test message not confirmed by json://127.0.0.1:{closed}/")
    assert len(sink.messages) == 1


def test_no_network_contacts_nothing(web, sink, write_config, run_presswatch):
    config = write_config({
        "sources": [{"id": "good", "kind": "feed", "url": web.url("/feed.xml")}],
        "channels": [{"id": "desk", "url": sink.apprise_url}],
    })
    result = run_presswatch("doctor", "--config", str(config), "--no-network")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = lines_of(result)
    assert lines["source good"] == "skip source good: not fetched (--no-network)"
    assert lines["channel desk"] == "ok channel desk: 1 URL parses; not contacted (--no-network)"
    assert web.requests == [] and sink.messages == []


def test_a_config_with_mistakes_exits_2_listing_each(tmp_path, run_presswatch):
    config = tmp_path / "broken.yaml"
    config.write_text(yaml.safe_dump({
        "sources": [{"id": "hrw", "kind": "feed", "url": "https://www.hrw.org/rss/news", "every": "5 minuts"}],
        "channels": [{"id": "analysts", "url": "notaservice://x"}],
    }))
    result = run_presswatch("doctor", "--config", str(config))
    assert result.returncode == 2
    assert result.stdout == ""
    assert 'sources[0] (hrw).every: "5 minuts" is not a duration' in result.stderr
    assert "channels[0] (analysts).url: Apprise cannot parse" in result.stderr


def test_a_database_folder_that_cannot_be_written_fails(tmp_path, write_config, run_presswatch):
    (tmp_path / "data").write_text("a file where the data folder should be")
    config = write_config({"database": "data/presswatch.db"})
    result = run_presswatch("doctor", "--config", str(config), "--no-network")
    assert result.returncode == 1
    assert lines_of(result)["database folder cannot be created"] == (
        f"FAIL database folder cannot be created: {tmp_path / 'data'} is a file, not a folder")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder")
def test_a_read_only_database_folder_fails(tmp_path, write_config, run_presswatch):
    data = tmp_path / "data"
    data.mkdir()
    config = write_config({"database": "data/presswatch.db"})
    data.chmod(0o555)
    try:
        result = run_presswatch("doctor", "--config", str(config), "--no-network")
    finally:
        data.chmod(0o755)
    assert result.returncode == 1
    assert lines_of(result)["database folder not writable"].startswith(
        f"FAIL database folder not writable: {data} (")


def test_the_embedding_model_cache_is_checked_where_the_config_puts_it(tmp_path, write_config, run_presswatch):
    from presswatch.crawler.stories.model_cache import cache_folder, load_model

    config = write_config({"events": {"model_cache": "models"}})
    result = run_presswatch("doctor", "--config", str(config), "--no-network")
    assert result.returncode == 0, result.stdout
    assert lines_of(result)["embedding model cache"] == (
        f"ok embedding model cache: {tmp_path / 'models'} does not exist yet; the first process that "
        f"groups a story writes it ({tmp_path} is writable)")
    load_model(tmp_path / "models")
    written = lines_of(run_presswatch("doctor", "--config", str(config), "--no-network"))
    assert re.fullmatch(rf"ok embedding model cache: {re.escape(str(cache_folder(tmp_path / 'models')))} "
                        r"\(\d+\.\d MB\)", written["embedding model cache"]), written

    (tmp_path / "blocked").write_text("a file where the cache folder should be")
    blocked = run_presswatch("doctor", "--config", str(write_config({"events": {"model_cache": "blocked/x"}})),
                             "--no-network")
    assert blocked.returncode == 1
    assert lines_of(blocked)["embedding model cache cannot be created"].startswith(
        f"FAIL embedding model cache cannot be created: {tmp_path / 'blocked'} is a file, not a folder; ")

    off = run_presswatch("doctor", "--config", str(write_config({"events": {"model_cache": False}})), "--no-network")
    assert lines_of(off)["embedding model cache"].startswith("skip embedding model cache: off")


def test_a_file_that_is_not_a_presswatch_database_fails(tmp_path, write_config, run_presswatch):
    with sqlite3.connect(tmp_path / "presswatch.db") as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    config = write_config({})
    result = run_presswatch("doctor", "--config", str(config), "--no-network")
    assert result.returncode == 1
    assert "(schema not a presswatch database, integrity ok," in lines_of(result)["database"]
    (tmp_path / "presswatch.db").write_bytes(b"this is not SQLite at all" * 100)
    garbage = run_presswatch("doctor", "--config", str(config), "--no-network")
    assert garbage.returncode == 1
    assert lines_of(garbage)["database"].startswith(f"FAIL database: {tmp_path / 'presswatch.db'} cannot be read: ")


# The parts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "server"), [
    ("json://127.0.0.1:8080/hook", ("127.0.0.1", 8080)),
    ("jsons://hooks.example.org/path", ("hooks.example.org", 443)),
    ("mailto://user:pw@gmail.com", ("smtp.gmail.com", 587)),
    ("matrixs://user:pw@matrix.example.org/#room", ("matrix.example.org", 443)),
    ("tgram://123456789:abcdefg_hijklmnop/12315544/", ("api.telegram.org", 443)),
    ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", None),  # tokens only
])
def test_the_server_of_an_apprise_url(url, server):
    notifier = apprise.Apprise()
    assert notifier.add(url)
    assert apprise_server(notifier[0]) == server


def test_a_check_that_does_not_finish_in_time_is_reported_late_and_does_not_hold_the_rest():
    release = threading.Event()

    def stuck() -> Check:
        release.wait()
        return Check(True, "never seen")

    try:
        checks = list(run_bounded([("source a", lambda: Check(True, "source a: fine")), ("source b", stuck),
                                   ("source c", lambda: 1 / 0)], workers=3, limit=0.2))
    finally:
        release.set()
    assert [c.line() for c in checks] == [
        "ok    source a: fine",
        "FAIL  source b: no answer within 0.2s",
        "FAIL  source c: the check itself failed: ZeroDivisionError: division by zero",
    ]


def test_secrets_from_the_environment_never_show(web, write_config, run_presswatch):
    web.add("/feed.xml", FEED, content_type="application/rss+xml")
    web.add("/old.xml", "", status=301, headers={"Location": web.url("/feed.xml?key=feed-k3y-secret")})
    closed = free_port()
    config = write_config({
        "sources": [{"id": "moved", "kind": "feed", "url": web.url("/old.xml?key=${FEED_KEY}")},
                    {"id": "down", "kind": "feed", "url": f"http://127.0.0.1:{closed}/feed.xml?key=${{FEED_KEY}}"}],
        "channels": [{"id": "desk", "url": "${DESK_URL}"}],
    })
    env = {"FEED_KEY": "feed-k3y-secret", "DESK_URL": f"json://user:s3cr3t-t0ken@127.0.0.1:{closed}/hook"}
    result = run_presswatch("doctor", "--config", str(config), env=env)
    assert result.returncode == 1
    assert lines_of(result)["source moved"].endswith(f"redirected to {web.url('/feed.xml?key=***')}")
    assert "feed-k3y-secret" not in result.stdout + result.stderr
    assert "s3cr3t-t0ken" not in result.stdout + result.stderr
    assert lines_of(result)["channel desk"].startswith("FAIL channel desk: 1 URL parses; json://user:")

"""Bad input: each broken source gets a clear record, and every other source carries on."""

from __future__ import annotations

import sqlite3

from conftest import free_port, rss_feed

RULE = '"Human Rights Watch" AND ("North Korea" OR DPRK)'
GOOD_ITEM = {"title": "Rights group details abuse of women in North Korea", "link": "/good/story",
             "description": "Human Rights Watch said officials in North Korea abuse women."}


def sources_by_id(db_path):
    with sqlite3.connect(db_path) as conn:
        conn.row_factory = sqlite3.Row
        return {r["id"]: dict(r) for r in conn.execute("SELECT * FROM sources")}


def test_each_broken_source_is_recorded_and_the_rest_goes_on(web, sink, write_config, run_presswatch, tmp_path):
    web.add("/good.xml", rss_feed([{**GOOD_ITEM, "link": web.url(GOOD_ITEM["link"])}]),
            content_type="application/rss+xml")
    web.add("/server-error.xml", "oops", status=500, content_type="text/plain")
    web.add("/slow.xml", rss_feed([]), delay=5, content_type="application/rss+xml")
    malformed = rss_feed([{**GOOD_ITEM, "title": "Kept despite the break", "link": web.url("/m/1"),
                           "description": "unrelated text"}]).replace("</channel></rss>", "<item><title>cut off")
    web.add("/malformed.xml", malformed, content_type="application/rss+xml")
    web.add("/html.xml", "<!DOCTYPE html><html><body><h1>Our new website</h1></body></html>")
    latin1 = rss_feed([{"title": "Caf\u00e9 owners protest", "link": web.url("/l/1"),
                        "description": "unrelated"}]).encode("utf-8").replace("\u00e9".encode(), b"\xe9")
    web.add("/latin1.xml", latin1, content_type="application/rss+xml; charset=utf-8")
    web.add("/empty.xml", rss_feed([]), content_type="application/rss+xml")
    web.add("/js/story", "<html><body><div id=app></div><script>render()</script></body></html>")
    web.add("/jsfeed.xml", rss_feed([{"title": "Rendered by script", "link": web.url("/js/story"),
                                       "description": "A teaser kept from the feed."}]),
            content_type="application/rss+xml")
    web.add("/js/other", "<html><body><div id=root></div><script>start()</script></body></html>")
    web.add("/listing", '<html><body><a href="/js/other">story</a></body></html>')
    closed = f"http://127.0.0.1:{free_port()}/feed.xml"
    feeds = {
        "good": web.url("/good.xml"), "unreachable": closed, "missing": web.url("/missing.xml"),
        "server-error": web.url("/server-error.xml"), "slow": web.url("/slow.xml"),
        "malformed": web.url("/malformed.xml"), "html": web.url("/html.xml"),
        "latin1": web.url("/latin1.xml"), "empty": web.url("/empty.xml"),
    }
    sources = [{"id": sid, "kind": "feed", "url": url} for sid, url in feeds.items()]
    sources.append({"id": "js-feed", "kind": "feed", "url": web.url("/jsfeed.xml"), "fetch_articles": True})
    sources.append({"id": "js-site", "kind": "site", "url": web.url("/listing"), "follow": "/js/"})
    config = write_config({
        "crawl": {"timeout": "2s"},
        "sources": sources,
        "rules": [{"id": "hrw", "query": RULE, "channels": ["desk"]}],
        "channels": [{"id": "desk", "url": sink.apprise_url}],
    })

    result = run_presswatch("run", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert len(sink.messages) == 1 and GOOD_ITEM["title"] in sink.messages[0]["title"]

    state = sources_by_id(tmp_path / "presswatch.db")
    assert state["good"]["last_error"] is None and state["good"]["failures"] == 0
    expected_errors = {
        "unreachable": "connection refused",
        "missing": "HTTP 404",
        "server-error": "HTTP 500",
        "slow": "timed out",
        "html": "not a feed: the server sent an HTML page",
        "empty": "feed has no entries",
        "malformed": "malformed feed, kept 2 entries",
        "js-feed": "no extractable text",
        "js-site": "no extractable text",
    }
    for source_id, fragment in expected_errors.items():
        assert fragment in (state[source_id]["last_error"] or ""), (source_id, state[source_id])
    for failing in ("unreachable", "missing", "server-error", "slow", "html"):
        assert state[failing]["failures"] == 1 and state[failing]["last_success_at"] is None
    for working in ("malformed", "empty", "latin1", "js-feed", "js-site"):
        assert state[working]["failures"] == 0 and state[working]["last_success_at"], working

    with sqlite3.connect(tmp_path / "presswatch.db") as conn:
        titles = {r[0]: r[1] for r in conn.execute("SELECT title, extracted_from FROM articles")}
    assert titles["Kept despite the break"] == "feed"
    assert titles["Rendered by script"] == "feed"  # the page had no text: the entry's own is kept
    assert "Caf\u00e9 owners protest" in titles  # latin-1 bytes in a feed labelled utf-8
    # One log line per failing source says what happened.
    for failing in ("unreachable", "missing", "server-error", "slow", "html"):
        assert f"source={failing} fetch failed" in result.stderr


def test_notification_service_down_keeps_alerts_pending(web, write_config, run_presswatch, tmp_path, sink):
    web.add("/good.xml", rss_feed([{**GOOD_ITEM, "link": web.url(GOOD_ITEM["link"])}]),
            content_type="application/rss+xml")
    down = f"json://127.0.0.1:{free_port()}/"
    config = write_config({
        "sources": [{"id": "good", "kind": "feed", "url": web.url("/good.xml")}],
        "rules": [{"id": "hrw", "query": RULE, "channels": ["desk"]}],
        "channels": [{"id": "desk", "url": down}],
        "delivery": {"backoff": "1s", "timeout": "2s"},
    })
    assert run_presswatch("run", "--once", "--config", str(config)).returncode == 0
    with sqlite3.connect(tmp_path / "presswatch.db") as conn:
        (state, tries, error), = conn.execute("SELECT state, tries, last_error FROM outbox").fetchall()
    assert state == "pending" and tries == 1 and error

    # The service is back (at another address, as after a move): the alert goes out once.
    config.write_text(config.read_text().replace(down, sink.apprise_url))
    assert run_presswatch("run", "--once", "--config", str(config)).returncode == 0
    assert run_presswatch("run", "--once", "--config", str(config)).returncode == 0
    assert len(sink.messages) == 1

"""End to end: the `presswatch` command against loopback feeds, a real database and sinks."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime

from conftest import article_page, rss_feed

RULE = '"Human Rights Watch" AND ("North Korea" OR DPRK OR 북한)'

RELEASE = {
    "title": "North Korea: Sexual Abuse of Women by Officials Goes Unpunished",
    "link": "/news/2018/11/01/north-korea-sexual-abuse",
    "description": "Human Rights Watch said on Thursday that officials in North Korea abuse "
                   "women with impunity, in a report based on interviews with people who fled.",
}
UNRELATED = {
    "title": "Floods Hit Coastal Farms",
    "link": "/news/2018/11/01/floods",
    "description": "Heavy rain flooded farms along the coast; no casualties were reported.",
}
FOLLOW_UP = {
    "title": "Rights Group Urges Seoul to Raise Abuse Findings",
    "link": "/news/2018/11/02/seoul-urged",
    "description": "Human Rights Watch urged South Korea to raise the findings on DPRK "
                   "officials' abuse of women at the United Nations.",
}


def feed_with(web, items):
    items = [{**i, "link": web.url(i["link"])} for i in items]
    return web.add("/feed.xml", rss_feed(items), content_type="application/rss+xml")


def db_rows(path, sql):
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql)]


def wait_until_retries_are_due(path):
    """Wait until every pending outbox row is due, as `run --once` honours a retry's time.

    A failed send is kept with `next_attempt_at` = its failure + backoff (1s in these
    tests) + up to 10% jitter, stored to the second and compared with the wall clock;
    a next run that reaches delivery sooner leaves the row for the run after. So the
    wait is at most 1.1s, and only what is left of it.
    """
    (row,) = db_rows(path, "SELECT MAX(next_attempt_at) AS due FROM outbox WHERE state='pending'")
    due = datetime.fromisoformat(row["due"])
    assert (due - datetime.now(UTC)).total_seconds() <= 1.1, row  # the config's 1s backoff holds
    while (left := (due - datetime.now(UTC)).total_seconds()) > 0:
        time.sleep(left)


def test_two_cycles_alert_each_story_once(web, sink, write_config, run_presswatch, tmp_path):
    url = feed_with(web, [RELEASE, UNRELATED])
    config = write_config({
        "sources": [{"id": "outlet", "kind": "feed", "url": url, "every": "15m"}],
        "rules": [{"id": "hrw-report", "query": RULE, "channels": ["analysts"]}],
        "channels": [{"id": "analysts", "url": sink.apprise_url}],
        "delivery": {"backoff": "1s"},
    })
    sink.fail_next = 1  # the notification service is down during the first cycle

    first = run_presswatch("run", "--once", "--config", str(config))
    assert first.returncode == 0, first.stderr
    assert sink.messages == [] and sink.refused == 1
    outbox = db_rows(tmp_path / "presswatch.db", "SELECT state, tries, last_error FROM outbox")
    assert len(outbox) == 1 and outbox[0]["state"] == "pending" and outbox[0]["tries"] == 1
    assert f"json://127.0.0.1:{sink.port}/" in outbox[0]["last_error"] and "error=500" in outbox[0]["last_error"]
    wait_until_retries_are_due(tmp_path / "presswatch.db")

    # Between the cycles: a new story, and the known one again under a tracking URL.
    variant = {**RELEASE, "link": RELEASE["link"] + "?utm_source=rss&utm_medium=feed#storylink=rss",
               "guid": "another-guid-for-the-same-article"}
    feed_with(web, [FOLLOW_UP, variant, RELEASE, UNRELATED])
    second = run_presswatch("run", "--once", "--config", str(config))
    assert second.returncode == 0, second.stderr
    outbox = db_rows(tmp_path / "presswatch.db", "SELECT id, state, tries FROM outbox ORDER BY id")
    # The failed alert was tried again and sent; the follow-up's alert went on its first try.
    assert [(r["state"], r["tries"]) for r in outbox] == [("sent", 2), ("sent", 1)], (outbox, second.stderr)

    titles = sorted(m["title"] for m in sink.messages)
    assert len(titles) == 2, titles
    assert RELEASE["title"] in titles[1] or RELEASE["title"] in titles[0]
    assert any(FOLLOW_UP["title"] in t for t in titles)
    body = next(m["message"] for m in sink.messages if FOLLOW_UP["title"] in m["title"])
    assert "«Human Rights Watch»" in body and "«DPRK»" in body
    assert web.url(FOLLOW_UP["link"]) in body
    stories = db_rows(tmp_path / "presswatch.db", "SELECT * FROM stories")
    assert len(stories) == 3  # release, unrelated, follow-up: the variant is no new story

    third = run_presswatch("run", "--once", "--config", str(config))
    assert third.returncode == 0, third.stderr
    assert len(sink.messages) == 2  # nothing old is sent again


def test_mailto_channel_delivers_to_smtp(web, smtp, write_config, run_presswatch):
    url = feed_with(web, [RELEASE])
    mailto = (f"mailto://127.0.0.1:{smtp.port}?mode=insecure"
              "&from=presswatch@example.org&to=analyst@example.org")
    config = write_config({
        "sources": [{"id": "outlet", "kind": "feed", "url": url}],
        "rules": [{"id": "hrw-report", "query": RULE, "channels": ["mail"]}],
        "channels": [{"id": "mail", "url": mailto}],
    })
    result = run_presswatch("run", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert RELEASE["title"] in message["Subject"]
    assert message["To"] == "analyst@example.org"


def test_console_channel_when_rule_names_none(web, write_config, run_presswatch):
    url = feed_with(web, [RELEASE, UNRELATED])
    config = write_config({
        "sources": [{"id": "outlet", "kind": "feed", "url": url}],
        "rules": [{"id": "hrw-report", "query": RULE}],
    })
    result = run_presswatch("run", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("[presswatch] hrw-report:") == 1
    assert RELEASE["title"] in result.stdout and UNRELATED["title"] not in result.stdout


def test_fetch_articles_extracts_page_and_uses_its_canonical(web, sink, write_config, run_presswatch, tmp_path):
    page = article_page(
        "North Korea: Sexual Abuse of Women by Officials Goes Unpunished",
        ["Human Rights Watch published a report on Thursday on sexual violence against women "
         "in North Korea, drawing on interviews with more than a hundred people who left the country."] * 3
        + ["Officials, police and guards were named by the women interviewed as abusers who were never "
           "punished, the organisation said in its release."],
        canonical=web.url("/news/2018/11/01/north-korea-sexual-abuse"),
    )
    web.add("/news/2018/11/01/north-korea-sexual-abuse", page)
    url = feed_with(web, [{**RELEASE, "link": RELEASE["link"] + "?utm_campaign=feed",
                           "description": "short teaser"}])
    config = write_config({
        "sources": [{"id": "hrw", "kind": "feed", "url": url, "fetch_articles": True}],
        "rules": [{"id": "hrw-report", "query": RULE, "channels": ["analysts"]}],
        "channels": [{"id": "analysts", "url": sink.apprise_url}],
    })
    result = run_presswatch("run", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr
    articles = db_rows(tmp_path / "presswatch.db", "SELECT * FROM articles")
    assert len(articles) == 1
    assert articles[0]["extracted_from"] == "page"
    assert articles[0]["canonical_url"] == web.url("/news/2018/11/01/north-korea-sexual-abuse")
    assert "interviews with more than a hundred people" in articles[0]["text"]
    assert len(sink.messages) == 1

    # The next run does not fetch the known article page again.
    page_requests = sum(1 for path, _ in web.requests if path.startswith("/news/"))
    assert run_presswatch("run", "--once", "--config", str(config)).returncode == 0
    assert sum(1 for path, _ in web.requests if path.startswith("/news/")) == page_requests
    assert len(sink.messages) == 1


def test_conditional_get_uses_etag(web, write_config, run_presswatch, tmp_path):
    feed = rss_feed([{**RELEASE, "link": web.url(RELEASE["link"])}])
    web.add("/feed.xml", feed, content_type="application/rss+xml", etag='"v1"')
    config = write_config({
        "sources": [{"id": "outlet", "kind": "feed", "url": web.url("/feed.xml")}],
        "rules": [{"id": "hrw-report", "query": RULE}],
    })
    assert run_presswatch("run", "--once", "--config", str(config)).returncode == 0
    second = run_presswatch("run", "--once", "--config", str(config))
    assert second.returncode == 0
    feed_requests = [h for path, h in web.requests if path == "/feed.xml"]
    assert feed_requests[-1].get("If-None-Match") == '"v1"'
    source = db_rows(tmp_path / "presswatch.db", "SELECT * FROM sources")[0]
    assert source["etag"] == '"v1"' and source["failures"] == 0 and source["runs"] == 2
    assert "[presswatch]" not in second.stdout


def test_a_page_that_failed_for_now_is_fetched_again_and_its_full_text_matched(
        web, sink, write_config, run_presswatch, tmp_path):
    path = "/news/2018/11/01/teaser-only"
    web.add(path, "busy", status=503, content_type="text/plain")
    teaser = {"title": "Women describe abuse by officials", "link": path,
              "description": "A new report on abuse by officials."}  # no rule terms here
    url = feed_with(web, [teaser])
    config = write_config({
        "sources": [{"id": "hrw", "kind": "feed", "url": url, "fetch_articles": True}],
        "rules": [{"id": "hrw-report", "query": RULE, "channels": ["analysts"]}],
        "channels": [{"id": "analysts", "url": sink.apprise_url}],
    })
    assert run_presswatch("run", "--once", "--config", str(config)).returncode == 0
    (article,) = db_rows(tmp_path / "presswatch.db", "SELECT extracted_from, page_error FROM articles")
    assert article == {"extracted_from": "feed", "page_error": None}  # kept, to be fetched again
    assert sink.messages == []

    full = ["Human Rights Watch documented sexual violence against women by officials in North Korea, "
            "drawing on interviews with more than one hundred people who left the country."] * 4
    web.add(path, article_page(teaser["title"], full))
    second = run_presswatch("run", "--once", "--config", str(config))
    assert second.returncode == 0, second.stderr
    assert "filled=1" in second.stderr
    (article,) = db_rows(tmp_path / "presswatch.db", "SELECT extracted_from, text FROM articles")
    assert article["extracted_from"] == "page" and "one hundred people" in article["text"]
    assert len(sink.messages) == 1 and teaser["title"] in sink.messages[0]["title"]

    requests = len(web.requests)
    assert run_presswatch("run", "--once", "--config", str(config)).returncode == 0
    assert [p for p, _ in web.requests[requests:]] == ["/feed.xml"]
    assert len(sink.messages) == 1


def test_a_page_gone_for_good_is_not_fetched_again(web, write_config, run_presswatch, tmp_path):
    url = feed_with(web, [{**RELEASE, "link": "/gone"}])
    config = write_config({"sources": [{"id": "hrw", "kind": "feed", "url": url, "fetch_articles": True}],
                           "rules": [{"id": "hrw-report", "query": RULE}]})
    first = run_presswatch("run", "--once", "--config", str(config))
    assert first.returncode == 0 and "[presswatch] hrw-report" in first.stdout  # the feed's text matched
    (article,) = db_rows(tmp_path / "presswatch.db", "SELECT page_error FROM articles")
    assert article["page_error"] == "HTTP 404"
    requests = len(web.requests)
    assert run_presswatch("run", "--once", "--config", str(config)).returncode == 0
    assert [p for p, _ in web.requests[requests:]] == ["/feed.xml"]


def test_no_more_sources_crawl_at_once_than_configured(write_config, run_presswatch):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    state = {"now": 0, "most": 0, "lock": threading.Lock()}

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            with state["lock"]:
                state["now"] += 1
                state["most"] = max(state["most"], state["now"])
            threading.Event().wait(0.3)  # long enough for the crawls to overlap if allowed
            body = rss_feed([{"title": f"Entry {self.path}", "link": f"http://example.org{self.path}/1"}]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            with state["lock"]:
                state["now"] -= 1

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        config = write_config({
            "crawl": {"max_parallel_sources": 2},
            "sources": [{"id": f"s{n}", "kind": "feed", "url": f"http://127.0.0.1:{port}/feed{n}"} for n in range(6)],
        })
        result = run_presswatch("run", "--once", "--config", str(config))
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr
    assert state["most"] == 2  # six sources, two at a time


def test_an_unchanged_feed_without_validators_is_not_parsed_again(web, write_config, run_presswatch, tmp_path):
    url = feed_with(web, [RELEASE, UNRELATED])  # no ETag, no Last-Modified
    config = write_config({"sources": [{"id": "outlet", "kind": "feed", "url": url}]})
    assert run_presswatch("run", "--once", "--config", str(config)).returncode == 0
    seen = db_rows(tmp_path / "presswatch.db", "SELECT items_seen, runs, body_digest FROM sources")[0]

    again = run_presswatch("run", "--once", "--config", str(config))
    assert again.returncode == 0 and "not-modified" in again.stderr
    same = db_rows(tmp_path / "presswatch.db", "SELECT items_seen, runs, body_digest FROM sources")[0]
    assert (same["items_seen"], same["runs"]) == (seen["items_seen"], seen["runs"] + 1)  # nothing read again

    feed_with(web, [FOLLOW_UP, RELEASE, UNRELATED])
    assert run_presswatch("run", "--once", "--config", str(config)).returncode == 0
    changed = db_rows(tmp_path / "presswatch.db", "SELECT body_digest FROM sources")[0]
    assert changed["body_digest"] != seen["body_digest"]
    assert len(db_rows(tmp_path / "presswatch.db", "SELECT id FROM articles")) == 3


def test_a_page_asked_for_again_is_asked_conditionally_and_304_means_unchanged(
        web, write_config, run_presswatch, tmp_path):
    """A feed entry that changes makes its page be fetched again (a revision?); the page's
    ETag goes with that request, and a 304 leaves the article as it is, its entry noted."""
    page = web.add("/news/report", article_page(RELEASE["title"], [RELEASE["description"]] * 3), etag='"page-v1"')
    item = {**RELEASE, "link": page}
    web.add("/feed.xml", rss_feed([item]), content_type="application/rss+xml")
    config = write_config({"sources": [{"id": "outlet", "kind": "feed", "url": web.url("/feed.xml"),
                                        "fetch_articles": True}]})

    def page_requests():
        return [headers for path, headers in web.requests if path == "/news/report"]

    assert run_presswatch("run", "--once", "--config", str(config)).returncode == 0
    assert len(page_requests()) == 1 and "If-None-Match" not in page_requests()[0]
    # The outlet edits the entry's summary: the page is asked for again, conditionally.
    web.add("/feed.xml", rss_feed([{**item, "description": RELEASE["description"] + " Updated."}]),
            content_type="application/rss+xml")
    assert run_presswatch("run", "--once", "--config", str(config)).returncode == 0
    assert len(page_requests()) == 2 and page_requests()[1].get("If-None-Match") == '"page-v1"'
    (article,) = db_rows(tmp_path / "presswatch.db", "SELECT extracted_from, revision_count FROM articles")
    assert article == {"extracted_from": "page", "revision_count": 0}
    # The changed entry was noted with the 304: the next run does not ask again.
    assert run_presswatch("run", "--once", "--config", str(config)).returncode == 0
    assert len(page_requests()) == 2

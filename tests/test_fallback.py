"""A feed's fallback (a sitemap or a listing page) and per-source robots.txt and redirects."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from conftest import article_page, rss_feed
from presswatch.config import Health
from presswatch.crawler.stories.health import feed_back, feed_gone
from presswatch.crawler.store.records import SourceRun, SourceState

WORDS = "The report describes what women who left North Korea told researchers about officials."
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SETTINGS = Health(failing_after=3, quiet_factor=4, min_quiet=timedelta(hours=1))


def page(title: str) -> str:
    return article_page(title, [f"{title}. {WORDS} " * 3, WORDS * 2])


def urlset(urls: list[str]) -> str:
    entries = "".join(f"<url><loc>{url}</loc></url>" for url in urls)
    return f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'


def db_rows(tmp_path, sql: str) -> list[tuple]:
    with sqlite3.connect(tmp_path / "presswatch.db") as conn:
        return conn.execute(sql).fetchall()


def requests_to(web, path: str) -> int:
    return sum(1 for requested, _ in web.requests if requested == path)


def test_a_dead_feed_falls_back_to_its_sitemap_and_comes_back(web, sink, write_config, run_presswatch, tmp_path):
    first = {"title": "First story", "link": web.url("/s/1"), "description": "from the feed"}
    web.add("/feed.xml", rss_feed([first]), content_type="application/rss+xml")
    web.add("/sitemap.xml", urlset([web.url("/news/2")]), content_type="application/xml")
    web.add("/news/2", page("Second story"))
    config = write_config({
        "sources": [{"id": "outlet", "kind": "feed", "url": web.url("/feed.xml"),
                     "fallback": {"kind": "sitemap", "url": web.url("/sitemap.xml"), "follow": "/news/"}}],
        "health": {"channels": ["ops"]},
        "channels": [{"id": "ops", "url": sink.apprise_url}],
    })

    def run() -> None:
        result = run_presswatch("run", "--once", "--config", str(config))
        assert result.returncode == 0, result.stderr

    run()  # the feed works: its fallback is not touched
    assert requests_to(web, "/sitemap.xml") == 0

    del web.routes["/feed.xml"]  # 404: the sitemap is crawled in the same run
    run()
    assert requests_to(web, "/sitemap.xml") == 1
    stored = db_rows(tmp_path, "SELECT source_id, title FROM articles ORDER BY id")
    assert stored == [("outlet", "First story"), ("outlet", "Second story")]

    web.add("/feed.xml", "<html><body>We moved</body></html>")  # then HTML: still the fallback
    web.add("/sitemap.xml", urlset([web.url("/news/2"), web.url("/news/3")]), content_type="application/xml")
    web.add("/news/3", page("Third story"))
    run()
    assert requests_to(web, "/news/2") == 1  # known links are not fetched again
    assert db_rows(tmp_path, "SELECT title FROM articles ORDER BY id")[-1] == ("Third story",)

    events = db_rows(tmp_path, "SELECT to_state, detail FROM source_events ORDER BY id")
    assert len(events) == 1
    assert events[0][0] == "on fallback"
    assert "switched to fallback: HTTP 404" in events[0][1]
    state = db_rows(tmp_path, "SELECT state, failures, fallback_since IS NOT NULL FROM sources")[0]
    assert state == ("ok", 0, 1)  # covered by its fallback: not failing

    fourth = {"title": "Fourth story", "link": web.url("/s/4"), "description": "the feed is back"}
    web.add("/feed.xml", rss_feed([first, fourth]), content_type="application/rss+xml")
    sitemap_reads = requests_to(web, "/sitemap.xml")
    run()
    run()
    assert requests_to(web, "/sitemap.xml") == sitemap_reads  # back on its feed
    events = db_rows(tmp_path, "SELECT to_state, detail FROM source_events ORDER BY id")
    assert [e[0] for e in events] == ["on fallback", "on its feed"]
    assert "back on its feed" in events[1][1]
    assert db_rows(tmp_path, "SELECT fallback_since FROM sources") == [(None,)]
    assert db_rows(tmp_path, "SELECT title FROM articles ORDER BY id")[-1] == ("Fourth story",)
    assert [m["title"] for m in sink.messages] == [
        "[presswatch] source outlet is on fallback", "[presswatch] source outlet is on its feed"]


def test_a_feed_serving_html_falls_back_to_a_listing_page(web, write_config, run_presswatch, tmp_path):
    web.add("/feed", "<!doctype html><html><body>Our new website</body></html>")
    web.add("/news/", '<html><body><a href="/news/a-1">One</a> <a href="/about">About</a></body></html>')
    web.add("/news/a-1", page("Listed story"))
    config = write_config({"sources": [{
        "id": "outlet", "kind": "feed", "url": web.url("/feed"),
        "fallback": {"kind": "site", "url": web.url("/news/"), "follow": r"/news/a-\d+"}}]})
    result = run_presswatch("run", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert db_rows(tmp_path, "SELECT source_id, title FROM articles") == [("outlet", "Listed story")]
    events = db_rows(tmp_path, "SELECT detail FROM source_events")
    assert len(events) == 1 and "switched to fallback: not a feed" in events[0][0]
    assert "switched to fallback" in result.stdout + result.stderr  # logged, and to the console channel


def test_when_a_feed_counts_as_gone():
    before = SourceState(id="x", state="ok", failures=0, last_new_at=T0.isoformat(), usual_gap=600)
    assert feed_gone(before, SourceRun("x", ok=False, error="HTTP 410 (http://x/f)"), T0, SETTINGS)
    assert feed_gone(before, SourceRun("x", ok=False, error="not a feed: HTML"), T0, SETTINGS)
    # A passing failure is not enough, failing for failing_after runs is.
    timeout = SourceRun("x", ok=False, error="timed out")
    assert feed_gone(before, timeout, T0, SETTINGS) is None
    assert "3 runs in a row failed" in feed_gone(SourceState(id="x", failures=2), timeout, T0, SETTINGS)
    # Empty for longer than health calls quiet (4 x 10 min, at least 1 h), not before.
    empty = SourceRun("x", ok=True, error="feed has no entries")
    assert feed_gone(before, empty, T0 + timedelta(minutes=50), SETTINGS) is None
    assert "feed has no entries" in feed_gone(before, empty, T0 + timedelta(hours=2), SETTINGS)
    assert feed_gone(before, SourceRun("x", ok=True, articles_new=0), T0 + timedelta(days=9), SETTINGS) is None
    # Back when it answers with entries; a 304 or an empty feed keeps the fallback.
    assert feed_back(SourceRun("x", ok=True, items_seen=3))
    assert not feed_back(SourceRun("x", ok=True, not_modified=True))
    assert not feed_back(empty)
    assert not feed_back(timeout)


def test_robots_and_redirects_per_source(web, write_config, run_presswatch, tmp_path):
    web.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    story = {"title": "Private story", "link": web.url("/s/1"), "description": "text"}
    web.add("/private/feed.xml", rss_feed([story]), content_type="application/rss+xml")
    other_host = f"http://localhost:{web.port}/feed.xml"
    web.add("/feed.xml", rss_feed([{"title": "Moved story", "link": web.url("/s/2")}]),
            content_type="application/rss+xml")
    web.add("/moved", "", status=301, headers={"Location": other_host})
    config = write_config({
        # localhost is the other host here; being loopback, it is allowed like a network of one's own.
        "crawl": {"robots": True, "allow_private_networks": ["127.0.0.0/8", "::1"]},
        "sources": [
            {"id": "free", "kind": "feed", "url": web.url("/private/feed.xml"), "robots": False},
            {"id": "polite", "kind": "feed", "url": web.url("/private/feed.xml")},
            {"id": "follows", "kind": "feed", "url": web.url("/moved"), "redirect_other_hosts": True},
            {"id": "stays", "kind": "feed", "url": web.url("/moved")},
        ],
    })
    result = run_presswatch("run", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr
    errors = dict(db_rows(tmp_path, "SELECT id, last_error FROM sources"))
    assert errors["free"] is None and errors["follows"] is None
    assert errors["polite"].startswith("Forbidden by robots.txt")
    assert errors["stays"].startswith("redirected to another host: localhost")
    assert sorted(db_rows(tmp_path, "SELECT source_id, title FROM articles")) == [
        ("follows", "Moved story"), ("free", "Private story")]


def test_config_errors_of_a_fallback(write_config, run_presswatch):
    config = write_config({"sources": [
        {"id": "a", "kind": "feed", "url": "https://example.org/feed",
         "fallback": {"kind": "site", "url": "not a url"}},
        {"id": "b", "kind": "feed", "url": "https://example.org/feed",
         "fallback": {"kind": "feed", "url": "https://example.org/other"}},
        {"id": "c", "kind": "site", "url": "https://example.org/", "follow": "/news/",
         "fallback": {"kind": "sitemap", "url": "https://example.org/sitemap.xml"}},
        {"id": "d", "kind": "feed", "url": "https://example.org/feed", "robots": "maybe",
         "fallback": {"kind": "sitemap", "every": "1h"}},
    ]})
    result = run_presswatch("check-config", "--config", str(config))
    assert result.returncode == 2
    for line in (
        'sources[0] (a).fallback.url: "not a url" is not an http:// or https:// URL',
        "sources[0] (a).fallback.follow: a site source needs follow",
        "sources[1] (b).fallback.kind:",
        "sources[2] (c).fallback: only a feed source takes a fallback",
        "sources[3] (d).robots:",
        "sources[3] (d).fallback.every: unknown key",
        "sources[3] (d).fallback.url: required, but missing",
    ):
        assert line in result.stderr + result.stdout, line

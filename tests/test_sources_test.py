"""`presswatch sources test`: one source fetched live as the daemon would, stored nowhere.

Every test runs the real command against a KCNA-like site on the loopback server.
"""

from __future__ import annotations

from conftest import rss_feed
from layout_site import (
    LISTING,
    article,
    article_path,
    headline,
    listing,
    serve_articles,
    serve_listings_as_articles,
    serve_moved,
    site_source,
)


def article_requests(web) -> list[str]:
    return [path for path, _ in web.requests if path.startswith(("/en/article/", "/en/news/"))]


def test_it_prints_the_links_kept_and_dropped_and_the_first_articles(web, write_config, run_presswatch, tmp_path):
    serve_articles(web, range(4))
    config = write_config({"sources": [site_source(web)]})
    result = run_presswatch("sources", "test", "kcna", "--config", str(config), "--limit", "2")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"source kcna (site) {web.url(LISTING)}" in out
    assert "fetched: HTTP 200" in out
    assert f"listing {web.url(LISTING)}: 4 link(s) kept by follow, 4 dropped" in out
    for n in range(4):
        assert f"  kept     {web.url(article_path(n))}" in out
    assert (f"  dropped  {web.url('/en/category/articles/q/1ee9bdb7186944f765208f34ecfb5407.kcmsf')}"
            "  (does not match follow '/en/article/')") in out
    # The listing itself is among the menu's links: dropped as the page being read.
    assert f"  dropped  {web.url(LISTING)}  (a listing page read in this run)" in out
    assert "articles (the first 2):" in out
    assert f"     title: {headline(0)}" in out or f"     title: {headline(1)}" in out
    assert "     date: 2024-10-15T00:00+00:00 (from the page)" in out
    assert "     language: en" in out
    assert "     text (the page): " in out and " ..." in out
    assert "  3. " not in out
    assert out.rstrip().endswith("nothing was stored and nothing was sent")
    # --limit caps what is fetched, not only what is printed; and no database was made.
    assert len(article_requests(web)) == 2
    assert not (tmp_path / "presswatch.db").exists()


def test_it_says_why_pages_were_refused(web, write_config, run_presswatch, tmp_path):
    serve_listings_as_articles(web, range(2))
    web.add(LISTING, listing([(article_path(0), 0), (article_path(1), 1), (article_path(9), 9)]))
    config = write_config({"sources": [site_source(web)]})
    out = run_presswatch("sources", "test", "kcna", "--config", str(config)).stdout
    assert out.count("     refused: looks like a listing, not an article: the texts of 24 links make") == 2
    assert f"problems:\n  HTTP 404 ({web.url(article_path(9))})" in out


def test_url_tries_another_listing_and_shows_follow_missing_it(web, write_config, run_presswatch):
    serve_articles(web, range(2))
    web.add("/en/new-home", listing([(f"/en/news/{n}.html", n) for n in range(3)]))
    serve_moved(web, range(3))
    config = write_config({"sources": [site_source(web)]})
    result = run_presswatch("sources", "test", "kcna", "--config", str(config), "--url", web.url("/en/new-home"))
    assert result.returncode == 0
    out = result.stdout
    assert "fetched: HTTP 200; no links on the listing page match '/en/article/'" in out
    assert f"listing {web.url('/en/new-home')}: 0 link(s) kept by follow, 7 dropped" in out
    assert f"  dropped  {web.url('/en/news/0.html')}  (does not match follow '/en/article/')" in out
    assert "articles: none read" in out
    assert [path for path, _ in web.requests] == ["/en/new-home"]  # the source's own URL untouched


def test_it_obeys_robots_and_ignore_as_the_daemon_does(web, write_config, run_presswatch):
    serve_articles(web, range(3))
    web.add("/robots.txt", f"User-agent: *\nDisallow: {article_path(1)}\n", content_type="text/plain")
    config = write_config({"sources": [site_source(web, robots=True, ignore=article_path(2))]})
    out = run_presswatch("sources", "test", "kcna", "--config", str(config)).stdout
    assert f"  dropped  {web.url(article_path(2))}  (matches ignore '{article_path(2)}')" in out
    assert f"  Forbidden by robots.txt ({web.url(article_path(1))})" in out
    assert f"  1. {web.url(article_path(0))}" in out and "  2. " not in out


def test_a_feed_shows_its_entries_with_the_feed_date(web, write_config, run_presswatch):
    link = web.add(article_path(5), article(5))
    web.add("/feed.xml", rss_feed([{"title": "Feed headline", "link": link, "description": "Summary words"}]),
            content_type="application/rss+xml")
    config = write_config({"sources": [{"id": "wire", "kind": "feed", "url": web.url("/feed.xml")}]})
    out = run_presswatch("sources", "test", "wire", "--config", str(config)).stdout
    assert "     title: Feed headline" in out
    assert "     date: 2018-11-01T09:00+00:00 (from the feed)" in out
    assert "     text (the feed): Summary words" in out
    assert article_requests(web) == []  # fetch_articles is off: the page is not fetched


def test_network_errors_and_unknown_sources_are_sentences(web, write_config, run_presswatch):
    config = write_config({"sources": [site_source(web)]})
    down = run_presswatch("sources", "test", "kcna", "--config", str(config), "--url", "http://127.0.0.1:9/x")
    assert down.returncode == 1
    assert "could not fetch http://127.0.0.1:9/x: connection refused" in down.stdout
    assert "Traceback" not in down.stderr
    unknown = run_presswatch("sources", "test", "kcnaa", "--config", str(config))
    assert unknown.returncode == 1
    assert "no source 'kcnaa' in the config (sources: kcna)" in unknown.stderr
    bad = run_presswatch("sources", "test", "kcna", "--config", str(config), "--url", "ftp://x")
    assert bad.returncode == 2 and "'ftp://x' is not an http(s) URL" in bad.stderr

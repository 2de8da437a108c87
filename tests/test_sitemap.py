"""`sitemap` sources: indexes, news sitemaps, gzip, the `since` window and URL filters.

Parsing is checked on hand-built responses; a crawl runs the `presswatch` command against
a loopback site serving a sitemap index with a news sitemap and a gzip'd sitemap.
"""

from __future__ import annotations

import gzip
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
import scrapy
from scrapy.http import Request, Response, TextResponse, XmlResponse

from conftest import article_page
from presswatch.config.errors import ConfigError
from presswatch.config.loader import load_config
from presswatch.crawler.items import SourceFailed, SourceFetched
from presswatch.crawler.fetch.runner import SPIDERS
from presswatch.crawler.fetch.spiders.sitemap import MAX_CHILD_SITEMAPS, SitemapSpider, parse_date
from test_site import story_text

NOW = datetime(2018, 11, 3, 12, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Source:
    id: str = "outlet"
    kind: str = "sitemap"
    url: str = "http://news.example/sitemap.xml"
    follow: str | None = None
    ignore: str | None = None
    since: timedelta = timedelta(days=2)
    language: str | None = None


def w3c(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def urlset(entries: list[dict]) -> str:
    """A sitemap; an entry has loc and optionally lastmod, news_date, news_title."""
    parts = []
    for e in entries:
        lastmod = f"<lastmod>{e['lastmod']}</lastmod>" if e.get("lastmod") else ""
        news = ""
        if e.get("news_date") or e.get("news_title"):
            news = ("<news:news><news:publication><news:name>Test</news:name><news:language>en</news:language>"
                    "</news:publication>"
                    + (f"<news:publication_date>{e['news_date']}</news:publication_date>" if e.get("news_date") else "")
                    + (f"<news:title>{e['news_title']}</news:title>" if e.get("news_title") else "")
                    + "</news:news>")
        parts.append(f"<url><loc>{e['loc']}</loc>{lastmod}{news}</url>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">' + "".join(parts) + "</urlset>")


def sitemap_index(children: list[tuple[str, str | None]]) -> str:
    parts = "".join(f"<sitemap><loc>{loc}</loc>" + (f"<lastmod>{mod}</lastmod>" if mod else "") + "</sitemap>"
                    for loc, mod in children)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{parts}</sitemapindex>')


def xml(body: str | bytes, url: str = "http://news.example/sitemap.xml", cls=XmlResponse):
    body = body.encode() if isinstance(body, str) else body
    return cls(url=url, body=body, request=Request(url), headers={"ETag": '"s1"'})


def requests_of(out) -> list[scrapy.Request]:
    return [o for o in out if isinstance(o, scrapy.Request)]


# --- parsing ---------------------------------------------------------------------------------


def test_dates_in_sitemaps():
    assert parse_date("2018-11-01") == datetime(2018, 11, 1, tzinfo=timezone.utc)
    assert parse_date("2018-11-01T09:00:00Z") == datetime(2018, 11, 1, 9, tzinfo=timezone.utc)
    assert parse_date("2018-11-01T18:00+09:00") == datetime(2018, 11, 1, 9, tzinfo=timezone.utc)
    assert parse_date("2018-11") == datetime(2018, 11, 1, tzinfo=timezone.utc)
    assert parse_date("last tuesday") is None and parse_date("") is None


def test_news_sitemap_gives_title_and_date_newest_first_within_the_window():
    body = urlset([
        {"loc": "http://news.example/a/old", "news_date": w3c(NOW - timedelta(days=5)), "news_title": "Old"},
        {"loc": "http://news.example/a/new", "news_date": w3c(NOW - timedelta(hours=2)), "news_title": "New &amp; fresh"},
        {"loc": "http://news.example/a/mid", "lastmod": "2018-11-02", "news_title": "Mid"},
        {"loc": "http://news.example/a/undated"},
        {"loc": "http://news.example/a/stale", "lastmod": "2018-10-01"},
    ])
    spider = SitemapSpider(source=Source(), now=NOW, max_articles=10)
    out = list(spider.parse(xml(body)))
    assert isinstance(out[0], SourceFetched) and out[0].etag == '"s1"' and out[0].items == 5
    requests = requests_of(out)
    assert [r.url for r in requests] == ["http://news.example/a/new", "http://news.example/a/mid",
                                         "http://news.example/a/undated"]
    new = requests[0].cb_kwargs["entry"]
    assert (new.title, new.published) == ("New & fresh", NOW - timedelta(hours=2))
    mid = requests[1].cb_kwargs["entry"]
    assert (mid.title, mid.published) == ("Mid", None)  # lastmod is no publication date
    assert requests[2].cb_kwargs["entry"] is None


def test_follow_ignore_known_urls_and_the_cap():
    body = urlset([{"loc": f"http://news.example/{kind}/{n}"} for kind in ("news", "video") for n in range(4)])
    spider = SitemapSpider(source=Source(follow="/news/", ignore="/news/3"), now=NOW, max_articles=2,
                           is_known=lambda guid, url: url.endswith("/news/0"))
    urls = [r.url for r in requests_of(spider.parse(xml(body)))]
    assert urls == ["http://news.example/news/1", "http://news.example/news/2"]
    assert spider.items_seen == 1


def test_explain_says_why_each_url_was_left():
    old = w3c(NOW - timedelta(days=30))
    body = urlset([{"loc": "http://news.example/news/1"}, {"loc": "http://news.example/news/1"},
                   {"loc": "http://news.example/news/2", "lastmod": old}, {"loc": "http://news.example/video/3"},
                   {"loc": "http://news.example/news/4"}])
    spider = SitemapSpider(source=Source(follow="/news/", ignore="/news/4"), now=NOW, explain=True)
    list(spider.parse(xml(body)))
    [report] = spider.link_report
    assert report.kept == ("http://news.example/news/1",)
    assert report.dropped == (
        ("http://news.example/news/1", "listed twice"),
        ("http://news.example/news/2", f"dated {old[:10]}, before the since window"),
        ("http://news.example/video/3", "does not match follow '/news/'"),
        ("http://news.example/news/4", "matches ignore '/news/4'"),
    )


def test_index_fetches_recent_children_newest_first_and_capped():
    children = [(f"http://news.example/sitemap-{n}.xml", w3c(NOW - timedelta(hours=n))) for n in range(30)]
    children += [("http://news.example/sitemap-2017.xml", "2017-12-31"), ("/sitemap-undated.xml", None)]
    spider = SitemapSpider(source=Source(since=timedelta(days=7)), now=NOW)
    out = list(spider.parse(xml(sitemap_index(children))))
    assert isinstance(out[0], SourceFetched) and out[0].items == 32
    urls = [r.url for r in requests_of(out)]
    assert len(urls) == MAX_CHILD_SITEMAPS
    assert urls[:2] == ["http://news.example/sitemap-0.xml", "http://news.example/sitemap-1.xml"]
    assert "http://news.example/sitemap-2017.xml" not in urls

    # A child that is itself a sitemap yields requests, never the source's own fetch state.
    child = requests_of(out)[0]
    page = list(child.callback(xml(urlset([{"loc": "http://news.example/a/1"}]), url=child.url)))
    assert [r.url for r in requests_of(page)] == ["http://news.example/a/1"]
    assert not any(isinstance(o, SourceFetched) for o in page)


def test_gzipped_sitemap_and_robots_txt():
    body = gzip.compress(urlset([{"loc": "http://news.example/a/1"}]).encode())
    spider = SitemapSpider(source=Source(url="http://news.example/sitemap.xml.gz"), now=NOW)
    response = xml(body, url="http://news.example/sitemap.xml.gz", cls=Response)
    assert [r.url for r in requests_of(spider.parse(response))] == ["http://news.example/a/1"]

    robots = b"User-agent: *\nDisallow: /private\nSitemap: http://news.example/news.xml\nSitemap: /pages.xml\n"
    spider = SitemapSpider(source=Source(url="http://news.example/robots.txt"), now=NOW)
    out = list(spider.parse(xml(robots, url="http://news.example/robots.txt", cls=TextResponse)))
    assert out[0].items == 2
    assert [r.url for r in requests_of(out)] == ["http://news.example/news.xml", "http://news.example/pages.xml"]


def test_not_a_sitemap_is_fatal_for_the_source_only():
    spider = SitemapSpider(source=Source(), now=NOW)
    (failed,) = spider.parse(xml("<html><body>Moved</body></html>", cls=TextResponse))
    assert isinstance(failed, SourceFailed) and failed.fatal and "not a sitemap" in failed.reason
    (failed,) = spider.parse_child(xml(b"", url="http://news.example/child.xml", cls=Response))
    assert isinstance(failed, SourceFailed) and not failed.fatal


# --- config ----------------------------------------------------------------------------------


def test_sitemap_keys_and_mistakes(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("sources:\n  - {id: s, kind: sitemap, url: 'http://a.example/sitemap.xml'}\n"
                    "  - {id: t, kind: sitemap, url: 'http://a.example/robots.txt', since: 7d, follow: /news/}\n",
                    encoding="utf-8")
    s, t = load_config(path, {}).sources
    assert s.since == timedelta(days=2) and s.start_urls == ("http://a.example/sitemap.xml",)
    assert (t.since, t.follow) == (timedelta(days=7), "/news/")

    path.write_text("""sources:
  - {id: no-url, kind: sitemap}
  - {id: selector, kind: sitemap, url: 'http://a.example/s.xml', follow: 'css:a', next_css: a}
  - {id: window, kind: sitemap, url: 'http://a.example/s.xml', since: soon}
  - {id: several, kind: sitemap, urls: ['http://a.example/s.xml']}
""", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    found = "\n".join(caught.value.problems)
    assert "sources[0] (no-url).url: required, but missing: a sitemap needs url" in found
    assert "sources[1] (selector).follow: a sitemap's follow is a regex over its URLs, not a selector" in found
    assert "sources[1] (selector).next_css: only a site source takes next_css" in found
    assert 'sources[2] (window).since: "soon" is not a duration' in found
    assert "sources[3] (several).urls: only a site source takes urls" in found


# --- a crawl ---------------------------------------------------------------------------------


def db_rows(path, sql):
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql)]


def undated_page(title: str, n: int) -> str:
    """An article page that states no date of its own."""
    body = "".join(f"<p>{p}</p>" for p in story_text(n))
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>'
            f"<body><main><article><h1>{title}</h1>{body}</article></main></body></html>")


@pytest.mark.skipif("sitemap" not in SPIDERS, reason="the sitemap spider is not registered in the runner")
def test_index_with_news_and_gzipped_sitemaps_stores_recent_articles(web, write_config, run_presswatch, tmp_path):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    recent, old = now - timedelta(hours=5), now - timedelta(days=30)
    web.add("/news/recent", undated_page("Recent story from the news sitemap", 1))
    web.add("/news/old", undated_page("Old story", 2))
    web.add("/pages/updated", article_page("Updated page", story_text(3)))
    web.add("/pages/stale", article_page("Stale page", story_text(4)))
    web.add("/news-sitemap.xml", urlset([
        {"loc": web.url("/news/recent"), "news_date": w3c(recent), "news_title": "Recent story"},
        {"loc": web.url("/news/old"), "news_date": w3c(old), "news_title": "Old story"},
    ]), content_type="application/xml")
    web.add("/pages.xml.gz", gzip.compress(urlset([
        {"loc": web.url("/pages/updated"), "lastmod": w3c(now - timedelta(days=1))},
        {"loc": web.url("/pages/stale"), "lastmod": w3c(old)},
    ]).encode()), content_type="application/gzip")
    web.add("/sitemap.xml", sitemap_index([
        (web.url("/news-sitemap.xml"), w3c(recent)), (web.url("/pages.xml.gz"), None),
        (web.url("/missing.xml"), None), (web.url("/archive-2017.xml"), "2017-12-31"),
    ]), content_type="application/xml")
    config = write_config({"sources": [{"id": "outlet", "kind": "sitemap", "url": web.url("/sitemap.xml"),
                                        "since": "7d"}]})
    result = run_presswatch("run", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr

    articles = {r["url"]: r for r in db_rows(tmp_path / "presswatch.db", "SELECT * FROM articles")}
    assert set(articles) == {web.url("/news/recent"), web.url("/pages/updated")}
    news = articles[web.url("/news/recent")]
    assert news["date_source"] == "feed"
    assert datetime.fromisoformat(news["published_at"]) == recent
    assert [p for p, _ in web.requests if p.startswith("/archive")] == []
    (source,) = db_rows(tmp_path / "presswatch.db", "SELECT failures, last_error FROM sources")
    assert source["failures"] == 0 and "HTTP 404" in source["last_error"]  # the missing child: not fatal

    before = len(web.requests)
    assert run_presswatch("run", "--once", "--config", str(config)).returncode == 0
    assert not [p for p, _ in web.requests[before:] if p.startswith(("/news/", "/pages/"))]

"""Spiders only parse: hand-built responses in, items and requests out."""

from __future__ import annotations

from dataclasses import dataclass

import scrapy
from scrapy.http import HtmlResponse, Request, XmlResponse

from conftest import rss_feed
from presswatch.crawler.items import EntryItem, PageItem, SourceFailed, SourceFetched
from presswatch.crawler.fetch.spiders.feed import FeedSpider
from presswatch.crawler.fetch.spiders.site import SiteSpider


@dataclass(frozen=True)
class Source:
    id: str = "outlet"
    kind: str = "feed"
    url: str = "http://example.org/feed.xml"
    fetch_articles: bool = False
    follow: str | None = None
    language: str | None = None


ITEMS = [{"title": f"Story {n}", "link": f"http://example.org/news/{n}", "guid": f"g{n}"} for n in range(3)]


def feed_response(body: str, status: int = 200, url: str = "http://example.org/feed.xml"):
    return XmlResponse(url=url, body=body.encode(), status=status, request=Request(url),
                       headers={"ETag": '"abc"', "Content-Type": "application/rss+xml"})


def test_feed_yields_entries_and_its_fetch_state():
    spider = FeedSpider(source=Source())
    out = list(spider.parse(feed_response(rss_feed(ITEMS))))
    assert isinstance(out[0], SourceFetched) and out[0].etag == '"abc"' and out[0].items == 3
    assert [o.entry.title for o in out[1:]] == ["Story 0", "Story 1", "Story 2"]
    assert all(isinstance(o, EntryItem) for o in out[1:])


def test_feed_fetches_only_unknown_article_pages():
    known = {"http://example.org/news/1"}
    spider = FeedSpider(source=Source(fetch_articles=True), is_known=lambda guid, url, fingerprint=None: url in known)
    out = list(spider.parse(feed_response(rss_feed(ITEMS))))
    requests = [o for o in out if isinstance(o, scrapy.Request)]
    assert [r.url for r in requests] == ["http://example.org/news/0", "http://example.org/news/2"]
    assert requests[0].cb_kwargs["entry"].guid == "g0"
    # The known one is handed on from the feed's text, to be counted as seen (and its entry noted).
    assert [o.entry.link for o in out if isinstance(o, EntryItem)] == ["http://example.org/news/1"]


def test_feed_over_the_page_cap_keeps_entries_from_feed_text():
    spider = FeedSpider(source=Source(fetch_articles=True), max_articles=1)
    out = list(spider.parse(feed_response(rss_feed(ITEMS))))
    assert sum(isinstance(o, scrapy.Request) for o in out) == 1
    assert sum(isinstance(o, EntryItem) for o in out) == 2


def test_not_modified_and_html_instead_of_feed():
    spider = FeedSpider(source=Source())
    assert list(spider.parse(feed_response("", status=304))) == [SourceFetched("outlet", 304)]
    html = HtmlResponse(url="http://example.org/feed.xml", body=b"<html><body>Moved</body></html>",
                        headers={"Content-Type": "text/html"}, request=Request("http://example.org/feed.xml"))
    (failed,) = spider.parse(html)
    assert isinstance(failed, SourceFailed) and failed.fatal and "HTML page" in failed.reason


def test_conditional_headers_come_from_the_stored_state():
    spider = FeedSpider(source=Source(), etag='"v1"', last_modified="Thu, 01 Nov 2018 09:00:00 GMT")
    request = spider.source_request(spider.parse)
    assert request.headers[b"If-None-Match"] == b'"v1"'
    assert request.headers[b"If-Modified-Since"] == b"Thu, 01 Nov 2018 09:00:00 GMT"
    assert request.meta["handle_httpstatus_list"] == [304]


LISTING = """<html><body>
<nav><a href="/en/menu/politics">Politics</a><a href="/en/">Home</a></nav>
<ul><li><a href="/en/article/q/a1.kcmsf">One</a></li><li><a href="/en/article/q/a2.kcmsf">Two</a></li>
<li><a href="/en/article/q/a3.kcmsf">Three</a></li><li><a href="/en/article/q/a1.kcmsf">One again</a></li></ul>
</body></html>"""


def listing_response():
    return HtmlResponse(url="http://kcna.example/en/", body=LISTING.encode(), encoding="utf-8",
                        request=Request("http://kcna.example/en/"))


def test_site_follows_matching_links_only_once_each():
    source = Source(kind="site", url="http://kcna.example/en/", follow="/en/article/")
    spider = SiteSpider(source=source, is_known=lambda guid, url: url.endswith("a2.kcmsf"), max_articles=5)
    out = list(spider.parse(listing_response()))
    assert isinstance(out[0], SourceFetched) and out[0].items == 3
    assert [r.url for r in out[1:]] == ["http://kcna.example/en/article/q/a1.kcmsf",
                                        "http://kcna.example/en/article/q/a3.kcmsf"]
    page = HtmlResponse(url="http://kcna.example/en/article/q/a1.kcmsf", body=b"<html></html>",
                        request=out[1])
    (item,) = spider.parse_article(page)
    assert isinstance(item, PageItem) and item.entry is None


def test_site_without_matching_links_says_so():
    source = Source(kind="site", url="http://kcna.example/en/", follow="/nothing-like-this/")
    (fetched,) = SiteSpider(source=source).parse(listing_response())
    assert fetched.items == 0 and "no links on the listing page match" in fetched.warning

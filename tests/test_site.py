"""`site` sources: start pages, follow/ignore by regex, CSS or XPath, and listing pagination.

Parsing is checked on hand-built responses; crawls run the `presswatch` command against
loopback listings, including a next link that loops back and an endless calendar.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass

import pytest
import scrapy
from pydantic import ValidationError
from scrapy.http import HtmlResponse, Request

from conftest import article_page
from presswatch.config import Source as ConfigSource
from presswatch.config.loader import load_config
from presswatch.config.errors import ConfigError
from presswatch.crawler.items import SourceFetched
from presswatch.crawler.fetch.spiders.site import SiteSpider, is_next_text, next_link

WORDS = ("report officials women interviews border province market guards police court ministry "
         "village winter harvest river railway factory school hospital delegation statement").split()


def story_text(n: int) -> list[str]:
    """Paragraphs distinct for each n, so no two test articles are near duplicates."""
    rng = random.Random(n)
    return [" ".join(rng.choice(WORDS) for _ in range(60)).capitalize() + "." for _ in range(4)]


@dataclass(frozen=True)
class Source:
    id: str = "outlet"
    kind: str = "site"
    url: str = "http://news.example/list"
    urls: tuple = ()
    follow: str | None = "/article/"
    ignore: str | None = None
    listing_pages: int = 1
    next_css: str | None = None
    language: str | None = None

    @property
    def start_urls(self):
        return self.urls or (self.url,)


def html(url: str, body: str, page: int = 1) -> HtmlResponse:
    request = Request(url, meta={"listing_page": page})
    return HtmlResponse(url=url, body=body.encode(), encoding="utf-8", request=request)


def listing(links: list[str], next_href: str | None = None, next_markup: str | None = None) -> str:
    items = "".join(f'<li class="story"><h3><a href="{href}">{href}</a></h3></li>' for href in links)
    pager = next_markup or (f'<a href="{next_href}">Next</a>' if next_href else "")
    return (f'<html><body><nav><a href="/">Home</a><a href="/about">About</a></nav>'
            f'<ul class="stories">{items}</ul><div class="pager">{pager}</div></body></html>')


def requests_of(out) -> list[str]:
    return [o.url for o in out if isinstance(o, scrapy.Request)]


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["Next", "next »", " Next page › ", "다음", "다음 페이지", "»", "›", "Older posts"])
def test_next_link_texts(text):
    assert is_next_text(text)


@pytest.mark.parametrize("text", ["", "Nextel wins contract", "«", "Previous", "이전", "»»", "1", "Last »"])
def test_texts_that_are_not_next_links(text):
    assert not is_next_text(text)


def test_next_link_by_rel_text_or_selector():
    base = "http://news.example/list"
    assert next_link(html(base, '<html><head><link rel="next" href="/list?p=2"></head></html>')) == base + "?p=2"
    assert next_link(html(base, '<a class="x" rel="nofollow next" href="?p=3">3</a>')) == base + "?p=3"
    assert next_link(html(base, '<a href="/list/4"><span>다음</span></a>')) == "http://news.example/list/4"
    custom = '<a href="/a">Prev</a><span class="go-on"><a href="/list/5">continue</a></span>'
    assert next_link(html(base, custom)) is None
    assert next_link(html(base, custom), "span.go-on a") == "http://news.example/list/5"
    assert next_link(html(base, custom), "span.go-on a::attr(href)") == "http://news.example/list/5"


def test_follow_by_css_or_xpath_and_ignore():
    page = listing(["/article/1", "/video/2", "/article/3"]) + '<a href="/article/sidebar">Most read</a>'
    url = "http://news.example/list"
    by_css = SiteSpider(source=Source(follow="css:ul.stories h3 a"), max_articles=10)
    assert by_css.article_links(html(url, page)) == [
        "http://news.example/article/1", "http://news.example/video/2", "http://news.example/article/3"]
    by_xpath = SiteSpider(source=Source(follow="xpath://li[@class='story']//a", ignore="/video/"))
    assert by_xpath.article_links(html(url, page)) == ["http://news.example/article/1",
                                                        "http://news.example/article/3"]
    by_regex = SiteSpider(source=Source(follow=r"/article/\d+$", ignore="/article/3"))
    assert by_regex.article_links(html(url, page)) == ["http://news.example/article/1"]


def test_explain_names_each_link_kept_and_why_each_other_was_dropped():
    page = listing(["/article/1", "/video/2", "/article/3"]).replace(
        "</body>", '<a href="/article/sidebar">Most read</a></body>')
    url = "http://news.example/list"
    spider = SiteSpider(source=Source(follow=r"/article/\d+$", ignore="/article/3"), explain=True)
    fetched, *_ = spider.parse(html(url, page))
    assert fetched.links == 1  # what health reads: links follow kept on the source's own listing
    [report] = spider.link_report
    assert report.url == url and report.kept == ("http://news.example/article/1",)
    assert dict(report.dropped) == {
        "http://news.example/": "does not match follow '/article/\\d+$'",
        "http://news.example/about": "does not match follow '/article/\\d+$'",
        "http://news.example/video/2": "does not match follow '/article/\\d+$'",
        "http://news.example/article/3": "matches ignore '/article/3'",
        "http://news.example/article/sidebar": "does not match follow '/article/\\d+$'",
    }
    by_css = SiteSpider(source=Source(follow="css:ul.stories h3 a"), explain=True)
    by_css.article_links(html(url, page))
    assert dict(by_css.link_report[0].dropped)["http://news.example/article/sidebar"] == (
        "outside follow 'css:ul.stories h3 a'")
    quiet = SiteSpider(source=Source())  # the daemon's spiders keep no report
    list(quiet.parse(html(url, page)))
    assert quiet.link_report == []


def test_a_listing_whose_links_follow_misses_counts_none():
    spider = SiteSpider(source=Source(follow="/en/article/"))
    fetched, *rest = spider.parse(html("http://news.example/list", listing(["/en/news/1.html"])))
    assert (fetched.links, rest) == (0, [])
    assert fetched.warning == "no links on the listing page match '/en/article/'"


def test_listing_pages_follows_next_up_to_n():
    spider = SiteSpider(source=Source(listing_pages=2), max_articles=10)
    first = list(spider.parse(html("http://news.example/list", listing(["/article/1"], "/list?page=2"))))
    assert isinstance(first[0], SourceFetched)
    assert requests_of(first) == ["http://news.example/article/1", "http://news.example/list?page=2"]
    assert first[-1].meta["listing_page"] == 2
    second = list(first[-1].callback(html("http://news.example/list?page=2",
                                          listing(["/article/2"], "/list?page=3"), page=2)))
    assert requests_of(second) == ["http://news.example/article/2"]  # page 3 would be over N


def test_a_next_link_back_to_a_page_read_is_not_followed():
    spider = SiteSpider(source=Source(listing_pages=10), max_articles=10)
    first = list(spider.parse(html("http://news.example/list", listing(["/article/1"], "/list?page=2"))))
    again = list(first[-1].callback(html("http://news.example/list?page=2",
                                         listing(["/article/2"], "/list"), page=2)))
    assert requests_of(again) == ["http://news.example/article/2"]


def test_the_article_cap_stops_pagination():
    spider = SiteSpider(source=Source(listing_pages=5), max_articles=2)
    out = list(spider.parse(html("http://news.example/list",
                                 listing(["/article/1", "/article/2", "/article/3"], "/list?page=2"))))
    assert requests_of(out) == ["http://news.example/article/1", "http://news.example/article/2"]


def test_several_start_pages_are_all_requested():
    import asyncio

    source = Source(url="http://news.example/a", urls=("http://news.example/a", "http://news.example/b", "http://news.example/a"))
    spider = SiteSpider(source=source)

    async def collect():
        return [r async for r in spider.start()]

    requests = asyncio.run(collect())
    assert [r.url for r in requests] == ["http://news.example/a", "http://news.example/b"]
    assert requests[0].callback == spider.parse and requests[1].callback == spider.parse_listing


# --- config ----------------------------------------------------------------------------------


def problems(tmp_path, sources: str) -> list[str]:
    path = tmp_path / "c.yaml"
    path.write_text("sources:\n" + sources, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    return caught.value.problems if hasattr(caught.value, "problems") else str(caught.value).splitlines()


def test_site_keys_load(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("""sources:
  - id: two
    kind: site
    urls: [http://a.example/news, http://a.example/world]
    follow: 'css:h3 a'
    ignore: /video/
    listing_pages: 3
    next_css: 'a.more'
  - id: one
    kind: site
    url: http://b.example/
    follow: 'xpath://h2/a'
""", encoding="utf-8")
    two, one = load_config(path, {}).sources
    assert two.start_urls == ("http://a.example/news", "http://a.example/world")
    assert two.url == "http://a.example/news"
    assert (two.follow, two.ignore, two.listing_pages, two.next_css) == ("css:h3 a", "/video/", 3, "a.more")
    assert one.start_urls == ("http://b.example/",) and one.listing_pages == 1


def test_site_config_mistakes(tmp_path):
    found = "\n".join(problems(tmp_path, """  - {id: both, kind: site, url: 'http://a.example/', urls: ['http://b.example/'], follow: /a/}
  - {id: neither, kind: site, follow: /a/}
  - {id: bad-css, kind: site, url: 'http://a.example/', follow: 'css:a[[', next_css: 'div >> '}
  - {id: bad-xpath, kind: site, url: 'http://a.example/', follow: 'xpath://a[', listing_pages: 0}
  - {id: feed-urls, kind: feed, urls: ['http://a.example/f'], ignore: /x/}
  - {id: empty-prefix, kind: site, url: 'http://a.example/', follow: 'css: '}
"""))
    assert "sources[0] (both): give either url or urls, not both" in found
    assert "sources[1] (neither).url: required, but missing: a site needs url (the listing page) or urls" in found
    assert 'sources[2] (bad-css).follow: "css:a[[" is not a valid CSS selector' in found
    assert "sources[2] (bad-css).next_css:" in found and "not a valid CSS selector" in found
    assert 'sources[3] (bad-xpath).follow: "xpath://a[" is not a valid XPath expression' in found
    assert "sources[3] (bad-xpath).listing_pages:" in found
    assert "sources[4] (feed-urls).url: required, but missing" in found
    assert "sources[4] (feed-urls).urls: only a site source takes urls" in found
    assert "sources[4] (feed-urls).ignore: only site and sitemap sources take ignore" in found
    assert 'sources[5] (empty-prefix).follow: "css: " has no css expression after its prefix' in found


def test_source_built_in_code_is_checked_too():
    with pytest.raises(ValidationError, match="give either url or urls"):
        ConfigSource(id="a", kind="site", url="http://a.example/", urls=["http://b.example/"], follow="/a/")
    source = ConfigSource(id="a", kind="site", urls=["http://a.example/", "http://b.example/"], follow="/a/")
    assert source.start_urls == ("http://a.example/", "http://b.example/")


# --- crawls ------------------------------------------------------------------------------------


def db_rows(path, sql):
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql)]


def add_articles(web, paths: list[str]) -> None:
    for n, path in enumerate(paths):
        web.add(path, article_page(f"Story {path}", story_text(hash(path) % 10_000 + n)))


def stored_urls(tmp_path) -> set[str]:
    return {r["url"] for r in db_rows(tmp_path / "presswatch.db", "SELECT url FROM articles")}


def paths_requested(web, prefix: str) -> list[str]:
    return [path for path, _ in web.requests if path.startswith(prefix)]


def test_a_paginated_listing_is_read_to_n_pages_and_not_beyond(web, write_config, run_presswatch, tmp_path):
    for page in range(1, 6):
        links = [f"/article/{page}-{i}" for i in range(2)]
        add_articles(web, links)
        web.add(f"/list/{page}", listing(links, f"/list/{page + 1}"))
    config = write_config({"sources": [{"id": "outlet", "kind": "site", "url": web.url("/list/1"),
                                        "follow": "/article/", "listing_pages": 3}]})
    result = run_presswatch("run", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert paths_requested(web, "/list/") == ["/list/1", "/list/2", "/list/3"]
    assert stored_urls(tmp_path) == {web.url(f"/article/{p}-{i}") for p in (1, 2, 3) for i in range(2)}
    (source,) = db_rows(tmp_path / "presswatch.db", "SELECT failures, last_error FROM sources")
    assert source == {"failures": 0, "last_error": None}

    # The next run asks the listings again, but no article page it already has.
    before = len(web.requests)
    assert run_presswatch("run", "--once", "--config", str(config)).returncode == 0
    assert [p for p, _ in web.requests[before:]] == ["/list/1", "/list/2", "/list/3"]


def test_traps_end_a_loop_and_an_endless_calendar(web, write_config, run_presswatch, tmp_path):
    # A loop: page 1 -> 2 -> 3 -> back to 1 (with a tracking parameter and a fragment).
    web.add("/loop/1", listing(["/article/loop-1"], "/loop/2"))
    web.add("/loop/2", listing(["/article/loop-2"], "/loop/3"))
    web.add("/loop/3", listing(["/article/loop-3"], "/loop/1#top"))
    # A calendar whose "»" always leads to the month after.
    for month in range(1, 60):
        web.add(f"/cal/{month}", listing([f"/article/cal-{month}"],
                                         next_markup=f'<a href="/cal/{month + 1}">»</a>'))
    add_articles(web, [f"/article/loop-{n}" for n in (1, 2, 3)] + [f"/article/cal-{m}" for m in range(1, 60)])
    config = write_config({"sources": [
        {"id": "loop", "kind": "site", "url": web.url("/loop/1"), "follow": "/article/", "listing_pages": 50},
        {"id": "calendar", "kind": "site", "url": web.url("/cal/1"), "follow": "/article/", "listing_pages": 4},
    ]})
    result = run_presswatch("run", "--once", "--config", str(config), timeout=60)
    assert result.returncode == 0, result.stderr
    assert paths_requested(web, "/loop/") == ["/loop/1", "/loop/2", "/loop/3"]
    assert paths_requested(web, "/cal/") == ["/cal/1", "/cal/2", "/cal/3", "/cal/4"]
    assert len(stored_urls(tmp_path)) == 3 + 4


def test_two_start_pages_css_follow_and_ignore(web, write_config, run_presswatch, tmp_path):
    web.add("/world", listing(["/a/1", "/video/2"]) + '<a href="/a/sidebar">Most read</a>')
    web.add("/asia", listing(["/a/3", "/a/1"]))
    add_articles(web, ["/a/1", "/a/3", "/a/sidebar", "/video/2"])
    config = write_config({"sources": [{
        "id": "outlet", "kind": "site", "urls": [web.url("/world"), web.url("/asia")],
        "follow": "css:ul.stories a", "ignore": "/video/"}]})
    result = run_presswatch("run", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert stored_urls(tmp_path) == {web.url("/a/1"), web.url("/a/3")}
    assert paths_requested(web, "/video/") == [] and paths_requested(web, "/a/sidebar") == []
    (source,) = db_rows(tmp_path / "presswatch.db", "SELECT url, failures FROM sources")
    assert source == {"url": web.url("/world"), "failures": 0}


def test_xpath_follow_and_a_failing_second_start_page(web, write_config, run_presswatch, tmp_path):
    web.add("/list", listing(["/story/1", "/story/2"]))
    add_articles(web, ["/story/1", "/story/2"])
    config = write_config({"sources": [{
        "id": "outlet", "kind": "site", "urls": [web.url("/list"), web.url("/gone")],
        "follow": "xpath://h3/a[contains(@href, '/1')]"}]})
    result = run_presswatch("run", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert stored_urls(tmp_path) == {web.url("/story/1")}
    (source,) = db_rows(tmp_path / "presswatch.db", "SELECT failures, last_error FROM sources")
    assert source["failures"] == 0 and "HTTP 404" in source["last_error"]


def test_script_links_are_followed_like_plain_ones():
    from scrapy.http import HtmlResponse, Request

    from presswatch.crawler.fetch.spiders.site import SiteSpider, script_link

    assert script_link("javascript:article_open('index.php?MTJA@newsID=2021-06-17-0001')") == \
        "index.php?MTJA@newsID=2021-06-17-0001"
    assert script_link("javascript:void(0)") is None
    assert script_link("/en/article/a.kcmsf") == "/en/article/a.kcmsf"
    body = (b"<html><body><a href=\"javascript:article_open('index.php?MTJA@newsID=2021-06-17-0001')\">A</a>"
            b"<a href=\"javascript:void(0)\">menu</a></body></html>")
    page = "http://rodong.example/index.php"
    response = HtmlResponse(url=page, body=body, encoding="utf-8", request=Request(page))

    class Source:
        id, kind, url, follow, ignore = "rodong", "site", page, r"newsID=\d{4}-\d\d-\d\d-\d+", None

    assert SiteSpider(source=Source()).article_links(response) == [
        "http://rodong.example/index.php?MTJA@newsID=2021-06-17-0001"]

"""The `sitemap` spider: a sitemap, a sitemap index or a news sitemap, followed by date.

The source's URL is a sitemap (gzip'd or not), a sitemap index, or a site's robots.txt
naming its sitemaps. URLs dated before the `since` window are skipped (a news sitemap's
publication date, else `lastmod`; undated URLs are kept), as are child sitemaps of an index
last modified before it. Each remaining article page goes the way of every article page;
a news sitemap's title and publication date travel with it in a FeedEntry, for when the
page does not give its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import scrapy
from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots
from w3lib.url import canonicalize_url

from presswatch.crawler.items import FeedEntry, ListingLinks, SourceFailed
from presswatch.crawler.fetch.spiders.base import SourceSpider

MAX_CHILD_SITEMAPS = 20
"""Child sitemaps of an index read in one run (newest first); the rest are left alone."""

DEFAULT_SINCE = timedelta(days=2)
_GZIP_MAGIC = b"\x1f\x8b"


class NewsSitemap(Sitemap):
    """Scrapy's Sitemap, also reading each URL's `news:publication_date` and `news:title`."""

    __slots__ = ()

    def _process_sitemap_element(self, elem):
        news = {}
        for child in elem:
            if self._get_tag_name(child) != "news":
                continue
            for part in child.iter():
                name = self._get_tag_name(part)
                if name in ("publication_date", "title") and part.text and part.text.strip():
                    news[f"news_{name}"] = part.text.strip()
        found = super()._process_sitemap_element(elem)
        if found is not None:
            found.update(news)
        return found


def parse_date(text: str | None) -> datetime | None:
    """A W3C datetime (2018-11-01, 2018-11-01T09:00:00Z, ...) as an aware datetime, else None."""
    if not text:
        return None
    text = text.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        found = re.fullmatch(r"(\d{4})-(\d{2})", text)
        if not found:
            return None
        parsed = datetime(int(found[1]), int(found[2]), 1)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _newest_first(dated: Iterable[tuple]) -> list[tuple]:
    """Entries whose second field is a date or None: newest first, undated last, else in order."""
    return sorted(dated, key=lambda e: (e[1] is None, -e[1].timestamp() if e[1] else 0))


class SitemapSpider(SourceSpider):
    name = "sitemap"

    def __init__(self, *args, now: datetime | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        now = now or datetime.now(timezone.utc)
        self.cutoff = now - (getattr(self.source, "since", None) or DEFAULT_SINCE)
        follow, ignore = getattr(self.source, "follow", None), getattr(self.source, "ignore", None)
        self.follow = re.compile(follow) if follow else None
        self.ignore = re.compile(ignore) if ignore else None
        self.sitemaps_read = {canonicalize_url(self.source.url)}
        self.urls_seen: set[str] = set()

    def parse_source(self, response) -> Iterator:
        yield from self.read(response, own=True)

    def parse_child(self, response) -> Iterator:
        yield from self.read(response, own=False)

    def read(self, response, own: bool) -> Iterator:
        """A sitemap, an index or a robots.txt; `own` when it is the source's own URL."""
        if urlsplit(response.url).path.endswith("/robots.txt"):
            named = [(url, None) for url in sitemap_urls_from_robots(response.body, base_url=response.url)]
            if own:
                yield self.fetched(response, len(named), None if named else "robots.txt names no sitemap")
            yield from self.child_requests(named, response)
            return
        try:
            sitemap = NewsSitemap(self.sitemap_body(response))
            entries = list(sitemap)
        except Exception as exc:  # lxml, gzip and size errors alike end this sitemap only
            yield SourceFailed(self.source.id, response.url, f"not a readable sitemap: {exc}", fatal=own)
            return
        if sitemap.type == "sitemapindex":
            children = [(e["loc"], parse_date(e.get("lastmod"))) for e in entries]
            if own:
                yield self.fetched(response, len(children),
                                   None if children else "the sitemap index lists no sitemaps")
            yield from self.child_requests(children, response)
        elif sitemap.type == "urlset":
            if own:
                yield self.fetched(response, len(entries), None if entries else "the sitemap lists no URLs")
            yield from self.follow_urls(entries, response)
        else:
            yield SourceFailed(self.source.id, response.url,
                               f"not a sitemap (its root element is <{sitemap.type}>)", fatal=own)

    def sitemap_body(self, response) -> bytes:
        body = response.body
        if body[:2] == _GZIP_MAGIC:
            crawler = getattr(self, "crawler", None)
            max_size = crawler.settings.getint("DOWNLOAD_MAXSIZE") if crawler is not None else 0
            body = gunzip(body, max_size=max_size)
        return body

    def child_requests(self, children: list[tuple[str, datetime | None]], response) -> Iterator:
        fresh = [(loc, date) for loc, date in children if date is None or date >= self.cutoff]
        for loc, _ in _newest_first(fresh):
            url = response.urljoin(loc.strip())
            key = canonicalize_url(url)
            if not url.startswith(("http://", "https://")) or key in self.sitemaps_read:
                continue
            if len(self.sitemaps_read) > MAX_CHILD_SITEMAPS:
                return
            self.sitemaps_read.add(key)
            yield scrapy.Request(url, callback=self.parse_child, errback=self.page_failed, dont_filter=True)

    def follow_urls(self, entries: list[dict], response) -> Iterator:
        chosen, dropped = [], []
        for entry in entries:
            url = response.urljoin(entry["loc"].strip())
            published = parse_date(entry.get("news_publication_date"))
            why = self.why_dropped(url, published or parse_date(entry.get("lastmod")))
            if why is not None:
                dropped.append((url, why))
                continue
            self.urls_seen.add(canonicalize_url(url))
            chosen.append((url, published or parse_date(entry.get("lastmod")), published, entry.get("news_title")))
        if self.explain:
            self.link_report.append(ListingLinks(response.url, tuple(c[0] for c in chosen), tuple(dropped)))
        for url, _, published, title in _newest_first(chosen):
            if self.is_known(None, url):
                self.items_seen += 1
                continue
            carrier = None
            if title or published:
                carrier = FeedEntry(guid=None, link=url, title=title or "", summary="", published=published)
            request = self.page_request(url, carrier)
            if request is None:
                return  # over the cap: the rest wait for the next run
            yield request

    def why_dropped(self, url: str, date: datetime | None) -> str | None:
        """Why a sitemap's URL is not followed, or None when it is."""
        if not url.startswith(("http://", "https://")):
            return "not a web address"
        if self.follow and not self.follow.search(url):
            return f"does not match follow '{self.follow.pattern}'"
        if self.ignore and self.ignore.search(url):
            return f"matches ignore '{self.ignore.pattern}'"
        if date is not None and date < self.cutoff:
            return f"dated {date.date().isoformat()}, before the since window"
        if canonicalize_url(url) in self.urls_seen:
            return "listed twice"
        return None

    def page_failed(self, failure) -> Iterator[SourceFailed]:
        # A sitemap entry without a title is no article to keep when its page cannot be had.
        for item in super().page_failed(failure):
            if item.entry is not None and not item.entry.title:
                item = SourceFailed(item.source_id, item.url, item.reason, fatal=False, final=item.final)
            yield item

"""The `site` spider: listing pages whose links picked by `follow` are articles.

A source has one start page (`url`) or several (`urls`); each is read, and with
`listing_pages: N` so are the pages its "next" links lead to, up to N a start page. A
listing page already read in this run is never read again (next links looping back), and
the page count ends endless pagination and calendar traps.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime

import scrapy
from scrapy.http import TextResponse
from scrapy.linkextractors import LinkExtractor
from w3lib.url import canonicalize_url

from presswatch.config.schema import follow_kind
from presswatch.crawler.parse.dateline import dotted_date
from presswatch.crawler.items import ListingLinks, PageItem, SourceFailed
from presswatch.crawler.fetch.spiders.base import SourceSpider

# Link texts that mean "the next page of this listing", once arrows and spaces are stripped.
_NEXT_WORDS = {"next", "next page", "older", "older posts", "older entries", "다음", "다음 페이지", "다음페이지"}
_ARROWS = "»›>→ "


def is_next_text(text: str) -> bool:
    """Whether a link's text reads as a listing's next link: Next, 다음, », › and the like."""
    text = re.sub(r"\s+", " ", text).strip().lower()
    if text in ("»", "›"):
        return True
    return text.strip(_ARROWS) in _NEXT_WORDS


def next_link(response, next_css: str | None = None) -> str | None:
    """The absolute URL of a listing page's next page, if it shows one."""
    candidates: list[str] = []
    if next_css:
        for selected in response.css(next_css):
            root = selected.root
            href = selected.attrib.get("href") if not isinstance(root, str) else root
            if href:
                candidates.append(href)
    candidates += response.xpath(
        "//link[contains(concat(' ', normalize-space(@rel), ' '), ' next ')]/@href"
        " | //a[contains(concat(' ', normalize-space(@rel), ' '), ' next ')]/@href").getall()
    for anchor in response.xpath("//a[@href]"):
        text = " ".join(anchor.xpath(".//text()").getall()) or anchor.attrib.get("aria-label", "")
        if is_next_text(text):
            candidates.append(anchor.attrib["href"])
    for href in candidates:
        href = href.strip()
        if href and not href.startswith(("#", "javascript:", "mailto:")):
            return response.urljoin(href)
    return None


# href="javascript:article_open('index.php?...')": the address in the first quoted argument.
_SCRIPT_LINK = re.compile(r"""^\s*javascript:[\w.$]+\(\s*['"]([^'"]+)['"]""", re.IGNORECASE)


def script_link(value: str) -> str | None:
    """A link as written, or the address inside a `javascript:open('…')` link.

    Some state media (Rodong Sinmun) open every article through a script call; the
    address is right there in the call, so it is followed like any other link.
    """
    if value.lower().lstrip().startswith("javascript:"):
        found = _SCRIPT_LINK.match(value)
        return found.group(1) if found else None
    return value


# How far up from a link its listed date may sit: KCNA's <h5><a/><span>[2026.7.19.]</span></h5>
# is one level, Rodong Sinmun's row of columns two.
_DATE_LEVELS = 3


def listed_dates(response) -> dict[str, datetime]:
    """The date a listing prints next to each of its links ("[2026.7.19.]"), by canonical URL.

    A link's date is the first one in the smallest block around it that links nowhere else,
    so a list item's date never goes to its neighbour's link.
    """
    found: dict[str, datetime] = {}
    for anchor in response.xpath("//a[@href]"):
        href = anchor.attrib["href"].strip()
        block = anchor
        for _ in range(_DATE_LEVELS):
            block = block.xpath("..")
            if not block or {h.strip() for h in block.xpath(".//a/@href").getall()} != {href}:
                break
            date = dotted_date(" ".join(block.xpath(".//text()").getall()))
            if date is not None:
                found.setdefault(canonicalize_url(response.urljoin(href)), date)
                break
    return found


class SiteSpider(SourceSpider):
    name = "site"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.listings_read: set[str] = set()
        self.link_extractor = self._link_extractor()
        self.every_link = LinkExtractor(unique=True, process_value=script_link)

    def _link_extractor(self) -> LinkExtractor:
        follow = self.source.follow or ""
        kind, expression = follow_kind(follow)
        ignore = getattr(self.source, "ignore", None)
        deny = (ignore,) if ignore else ()
        common = {"deny": deny, "unique": True, "process_value": script_link}
        if kind == "css":
            return LinkExtractor(restrict_css=expression, **common)
        if kind == "xpath":
            return LinkExtractor(restrict_xpaths=expression, **common)
        return LinkExtractor(allow=follow, **common)

    @property
    def start_urls_of_source(self) -> tuple[str, ...]:
        return getattr(self.source, "start_urls", None) or (self.source.url,)

    async def start(self):
        first, *others = self.start_urls_of_source
        # Only the first start page is the source's own conditional request: its ETag is the one stored.
        request = self.source_request(self.parse)
        request.meta["listing_page"] = 1
        self.listings_read.add(canonicalize_url(first))
        yield request
        for url in others:
            if canonicalize_url(url) in self.listings_read:
                continue
            self.listings_read.add(canonicalize_url(url))
            yield self.listing_request(url, 1)

    def listing_request(self, url: str, page: int) -> scrapy.Request:
        return scrapy.Request(url, callback=self.parse_listing, errback=self.page_failed,
                              meta={"listing_page": page}, dont_filter=True)

    def parse_source(self, response) -> Iterator:
        if not isinstance(response, TextResponse):
            yield SourceFailed(self.source.id, response.url, "the listing page is not HTML", fatal=True)
            return
        self.mark_read(response)
        links = self.article_links(response)
        none = f"no links on the listing page match {self.source.follow!r}"
        yield self.fetched(response, len(links), None if links else none, links=len(links))
        yield from self.follow_listing(response, links)

    def parse_listing(self, response) -> Iterator:
        """A listing page other than the source's own: a further start page or a next page."""
        if not isinstance(response, TextResponse):
            yield SourceFailed(self.source.id, response.url, "the listing page is not HTML", fatal=False)
            return
        self.mark_read(response)
        yield from self.follow_listing(response, self.article_links(response))

    def mark_read(self, response) -> None:
        """A listing page read in this run, under its own URL and the one asked for."""
        self.listings_read.add(canonicalize_url(response.url))
        if response.request is not None:
            self.listings_read.add(canonicalize_url(response.request.url))

    def follow_listing(self, response, links: list[str]) -> Iterator:
        capped = False
        dates = listed_dates(response) if links else {}
        for url in links:
            if self.is_known(None, url):
                self.items_seen += 1
                continue
            # Over the cap, the remaining links wait for the next run.
            request = self.page_request(url)
            if request is None:
                capped = True
                break
            request.meta["listed"] = dates.get(canonicalize_url(url))
            yield request
        page = response.meta.get("listing_page", 1)
        if capped or page >= getattr(self.source, "listing_pages", 1):
            return
        url = next_link(response, getattr(self.source, "next_css", None))
        if url is None or not url.startswith(("http://", "https://")):
            return
        key = canonicalize_url(url)
        if key in self.listings_read:
            return  # a next link back to a page read in this run: a loop, not more news
        self.listings_read.add(key)
        yield self.listing_request(url, page + 1)

    def parse_article(self, response, entry=None) -> Iterator:
        """An article page, with the date its listing printed next to its link."""
        listed = response.meta.get("listed")
        for item in super().parse_article(response, entry):
            yield replace(item, listed=listed) if listed and isinstance(item, PageItem) else item

    def article_links(self, response) -> list[str]:
        listings = self.listings_read
        links = [link.url for link in self.link_extractor.extract_links(response)
                 if canonicalize_url(link.url) not in listings]
        if self.explain:
            self.link_report.append(self.explain_links(response, links))
        return links

    def explain_links(self, response, kept: list[str]) -> ListingLinks:
        """The links of a listing page `follow` kept, and why each other one was dropped."""
        chosen = set(kept)
        dropped = []
        for link in self.every_link.extract_links(response):
            if link.url not in chosen:
                dropped.append((link.url, self.why_dropped(link.url)))
        return ListingLinks(response.url, tuple(kept), tuple(dropped))

    def why_dropped(self, url: str) -> str:
        if canonicalize_url(url) in self.listings_read:
            return "a listing page read in this run"
        ignore = getattr(self.source, "ignore", None)
        if ignore and re.search(ignore, url):
            return f"matches ignore '{ignore}'"
        kind, _ = follow_kind(self.source.follow or "")
        if kind in ("css", "xpath"):
            return f"outside follow '{self.source.follow}'"
        return f"does not match follow '{self.source.follow}'"

"""Candidates: an article as a crawl collected it (a feed entry, an extracted page), before the writer decides.

Built from what spiders yield (`presswatch.crawler.items`) by the writer's run
(`stories.run`) and by a probe; what becomes of one (new, copy, revision) is `ingest`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from presswatch.crawler.errors import FetchError
from presswatch.crawler.items import FeedEntry, PageItem
from presswatch.crawler.parse.dateline import resolve
from presswatch.crawler.parse.extract import extract_page
from presswatch.crawler.parse.layout import listing_reason


@dataclass(frozen=True)
class Candidate:
    """An article as collected from a feed entry or a page, before deduplication."""

    source_id: str
    url: str
    title: str
    text: str
    extracted_from: str  # "page" or "feed"
    guid: str | None = None
    page_error: str | None = None  # the page of a feed entry failed for good: why
    page_canonical: str | None = None
    published: datetime | None = None
    date_source: str | None = None
    language: str | None = None
    authors: tuple[str, ...] = ()
    origin: str | None = None  # an aggregator's entry: the publisher's site
    entry_fingerprint: str | None = None  # of the feed entry that announced it
    requested_url: str | None = None  # a page: the link followed, when redirects led elsewhere
    page_etag: str | None = None  # a page: its validators as served
    page_last_modified: str | None = None


def extract_candidate(item: PageItem, language_hint: str | None = None, *, reader: str | None = None,
                      http_only: bool = False) -> Candidate:
    """The article of a fetched page; raises FetchError when the page holds none, or when it
    looks like a listing (many links, little text): never stored as an article.

    ``reader`` and ``http_only`` are the source's: a site reader for a mirror, and whether the
    site answers on http only, so that a canonical the page gives as https stays http.
    """
    page = extract_page(_page_text(item), item.url, language_hint=language_hint, reader=reader)
    listing = listing_reason(item.body, page.text)
    if listing is not None:
        raise FetchError(listing)
    if http_only and page.canonical and page.canonical.lower().startswith("https://"):
        page = replace(page, canonical="http://" + page.canonical[len("https://"):])
    return page_candidate(item, page)


def source_reading(source) -> dict:
    """What of a source's config the extraction of its pages takes (see ``extract_candidate``)."""
    return {"reader": getattr(source, "reader", None), "http_only": bool(getattr(source, "http_only", False))}


def _page_text(item: PageItem) -> str | bytes:
    """Decoded as Scrapy decided (BOM, then the HTTP header, then the page's meta), else bytes."""
    if item.encoding:
        return item.body.decode(item.encoding, errors="replace")
    return item.body


def entry_candidate(source_id: str, entry: FeedEntry, page_error: str | None = None) -> Candidate:
    return Candidate(
        page_error=page_error,
        source_id=source_id, url=entry.link or entry.guid or "", title=entry.title,
        text=entry.summary, extracted_from="feed", guid=entry.guid,
        published=entry.published, date_source="feed" if entry.published else None,
        language=entry.language, authors=entry.authors,
        origin=entry.origin, entry_fingerprint=entry.fingerprint,
    )


def page_candidate(item: PageItem, page) -> Candidate:
    """The article of an extracted page; its date: the page's, the dateline's, the feed's, the
    listing's.

    A dateline without a year was resolved against the fetch time; the feed entry's date, else
    the date the listing printed next to the link, is the better reference (a backlog read in
    January keeps December's stories in their year). A KCNA article states no date but its
    dateline's day; its listing gives the year ("dateline+listing"). With no date at all,
    ``date_source`` stays None and the store uses the first-seen time.
    """
    entry = item.entry
    feed_date = entry.published if entry is not None else None
    published, date_source = _page_date(page, feed_date, item.listed)
    if published is None and feed_date is not None:
        published, date_source = feed_date, "feed"
    if published is None and item.listed is not None:
        published, date_source = item.listed, "listing"
    return Candidate(
        source_id=item.source_id, url=item.url,
        title=page.title or (entry.title if entry else ""),
        text=page.text, extracted_from="page",
        guid=entry.guid if entry else None, page_canonical=page.canonical,
        published=published, date_source=date_source,
        language=page.language or (entry.language if entry else None),
        authors=page.authors or (entry.authors if entry else ()),
        origin=entry.origin if entry else None,
        entry_fingerprint=entry.fingerprint if entry else None,
        requested_url=item.requested_url,
        page_etag=item.etag, page_last_modified=item.last_modified,
    )


def _page_date(page, feed_date, listed=None):
    """The page's date and its source, a year-less dateline re-read against the feed's date,
    else against the listing's."""
    dateline = getattr(page, "dateline", None)
    if page.date_source == "dateline" and dateline is not None and dateline.year is None:
        for reference, source in ((feed_date, "dateline"), (listed, "dateline+listing")):
            resolved = resolve(dateline, reference) if reference is not None else None
            if resolved is not None:
                return resolved, source
    return page.published, page.date_source

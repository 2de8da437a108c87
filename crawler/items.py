"""What spiders yield: plain dataclasses named by their stage.

A spider turns responses into these and nothing more; the item pipeline hands them to the
run the crawl serves (`stories.run.SourceIngest`), or a worker sends them to the writer. Keeping them free of Scrapy types lets the same path be fed by
another fetcher later.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class FeedEntry:
    """One entry of a feed, as feedparser read it, with titles and summaries as plain text."""

    guid: str | None
    link: str | None
    title: str
    summary: str
    published: datetime | None = None
    authors: tuple[str, ...] = ()
    language: str | None = None
    origin: str | None = None  # an aggregator's entry: the publisher's site

    @property
    def fingerprint(self) -> str:
        """Changes when the entry's title or summary does: the article may have been revised."""
        return hashlib.sha256(f"{self.title}\n{self.summary}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class EntryItem:
    """A feed entry to store from the feed's own text (no article page fetched)."""

    source_id: str
    entry: FeedEntry


@dataclass(frozen=True)
class PageItem:
    """An article page to extract; `entry` is the feed entry that linked to it, if any."""

    source_id: str
    url: str
    body: bytes
    encoding: str | None
    entry: FeedEntry | None = None
    requested_url: str | None = None  # the link followed, when redirects ended elsewhere
    etag: str | None = None  # the page's validators, kept to ask for it again conditionally
    last_modified: str | None = None
    listed: datetime | None = None  # the date the listing printed next to the link, if any


@dataclass(frozen=True)
class PageUnchanged:
    """A page asked for again conditionally (its feed entry changed) answered 304."""

    source_id: str
    url: str
    entry: FeedEntry | None = None


@dataclass(frozen=True)
class SourceFetched:
    """The source's own URL (its feed or listing page) was fetched."""

    source_id: str
    status: int
    etag: str | None = None
    last_modified: str | None = None
    items: int = 0
    warning: str | None = None
    body_digest: str | None = None  # feeds: a digest of the body read
    unchanged: bool = False  # feeds: the same body as last time, not parsed again
    links: int | None = None  # sites: links `follow` kept on the source's own listing page


@dataclass(frozen=True)
class SourceFailed:
    """Something of a source failed; `fatal` when it was the source's own URL.

    `final` says whether trying again later is pointless (a 404, a page with no text)
    or may well work (a timeout, a 5xx).
    """

    source_id: str
    url: str
    reason: str
    fatal: bool = True
    final: bool = False
    entry: FeedEntry | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ListingLinks:
    """What a spider made of one listing page's links, when asked to explain itself
    (`presswatch sources test`): the links kept, and each one dropped with why."""

    url: str
    kept: tuple[str, ...]
    dropped: tuple[tuple[str, str], ...]  # (link, reason)

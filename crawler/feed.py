"""Reading a feed's bytes with feedparser into `FeedEntry` values.

No HTTP here: Scrapy's downloader fetched the bytes (feedparser has no timeout). A
malformed feed ("bozo") still yields what parsed, with the reason kept as a warning; a
response that is not a feed at all is a `FetchError`.
"""

from __future__ import annotations

import calendar
import html
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import feedparser
from w3lib.html import remove_tags

from presswatch.config.errors import FetchError
from presswatch.crawler.items import FeedEntry

# feedparser's "bozo" reasons that say nothing is wrong with what was read.
HARMLESS = (feedparser.NonXMLContentType,)
# Dates further ahead than this are a feed's mistake, not a publication time.
FUTURE_SLACK = timedelta(days=1)


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    entries: tuple[FeedEntry, ...]
    warning: str | None = None


def parse_feed(body: bytes, url: str, headers: dict[str, str] | None = None) -> ParsedFeed:
    """Parse feed bytes; raise FetchError when they are not a feed."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    headers.setdefault("content-location", url)
    parsed = feedparser.parse(body, response_headers=headers)
    if not parsed.get("version") and not parsed.entries:
        raise FetchError(_not_a_feed_reason(body, headers, parsed))
    language = parsed.feed.get("language")
    entries = tuple(_entry(e, language) for e in parsed.entries)
    warning = None
    if parsed.get("bozo") and not isinstance(parsed.get("bozo_exception"), HARMLESS):
        warning = f"malformed feed, kept {len(entries)} entries: {_bozo_text(parsed)}"
    return ParsedFeed(title=plain_text(parsed.feed.get("title", "")), entries=entries, warning=warning)


def _not_a_feed_reason(body: bytes, headers: dict[str, str], parsed) -> str:
    if not body.strip():
        return "not a feed: the response was empty"
    content_type = headers.get("content-type", "unknown").split(";")[0].strip()
    head = body[:512].lstrip().lower()
    if content_type == "text/html" or head.startswith((b"<!doctype html", b"<html")):
        return f"not a feed: the server sent an HTML page ({content_type})"
    return f"not a feed ({content_type}): {_bozo_text(parsed)}"


def _bozo_text(parsed) -> str:
    exc = parsed.get("bozo_exception")
    return f"{type(exc).__name__}: {exc}" if exc else "unknown problem"


def plain_text(value: str) -> str:
    """Feed titles and summaries may carry markup; alerts and matching want text."""
    text = html.unescape(remove_tags(value or ""))
    return " ".join(text.split())


def _entry(entry, feed_language: str | None) -> FeedEntry:
    summary = entry.get("summary", "")
    if entry.get("content"):
        # Full content, when the feed has it, says more than the summary.
        summary = max((c.get("value", "") for c in entry.content), key=len) or summary
    authors = tuple(a.get("name", "") for a in entry.get("authors", []) if a.get("name"))
    return FeedEntry(
        guid=entry.get("id") or None,
        link=entry.get("link") or None,
        title=_without_publisher(plain_text(entry.get("title", "")), entry),
        summary=plain_text(summary),
        published=_entry_date(entry),
        authors=authors,
        language=(entry.get("language") or feed_language or None),
        origin=_origin(entry),
    )


def _without_publisher(title: str, entry) -> str:
    """An aggregator's title ends with its publisher ("Headline - Reuters"); the headline is
    what the publisher's own copy carries, so that is what is kept and compared."""
    publisher = plain_text((entry.get("source") or {}).get("title", ""))
    suffix = f" - {publisher}"
    if publisher and title.endswith(suffix) and len(title) > len(suffix):
        return title[: -len(suffix)]
    return title


def _origin(entry) -> str | None:
    """The site an aggregator's entry comes from (RSS <source url=...>, Atom <source><link>)."""
    source = entry.get("source") or {}
    href = source.get("href") or source.get("link")
    return href if isinstance(href, str) and href.startswith(("http://", "https://")) else None


def _entry_date(entry) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        # dict.get: FeedParserDict.get maps a missing published onto updated, with a warning.
        value = dict.get(entry, key)
        if value:
            when = datetime.fromtimestamp(calendar.timegm(value), UTC)
            if when <= datetime.now(UTC) + FUTURE_SLACK:
                return when
    return None

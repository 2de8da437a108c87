"""Reading a feed's bytes with feedparser into `FeedEntry` values.

No HTTP here: Scrapy's downloader fetched the bytes (feedparser has no timeout). A
malformed feed ("bozo") still yields what parsed, with the reason kept as a warning; a
response that is not a feed at all is a `FetchError`.
"""

from __future__ import annotations

import calendar
import html
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import feedparser
from feedparser.encodings import convert_to_utf8
from w3lib.html import remove_tags

from presswatch.config.errors import FetchError
from presswatch.crawler.items import FeedEntry

# feedparser's "bozo" reasons that say nothing is wrong with what was read.
HARMLESS = (feedparser.NonXMLContentType,)
# Dates further ahead than this are a feed's mistake, not a publication time.
FUTURE_SLACK = timedelta(days=1)
# Dates before this are a feed's mistake too (a zero timestamp reads 1970-01-01); as
# htmldate's earliest date for pages, so an article's date means the same either way.
EARLIEST = datetime(1995, 1, 1, tzinfo=UTC)

# An entity a feed declares in its own DTD is expanded by feedparser each time it is used:
# one declaration of 50 KB used 20,000 times is a gigabyte of text from a 130 KB feed
# (expat's amplification limit only hands the feed over to feedparser's loose parser, which
# expands every use). Declarations that stand for one character (&#160;) are kept; others
# go before feedparser reads the feed, so their uses stay as they are written.
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY([^>]*)>")
_ONE_CHARACTER = re.compile(rb'\s+\w+\s+"&#\w+;"\s*')
_FIRST_ELEMENT = re.compile(rb"<\w")
# What feedparser falls back to when the charset a feed is labelled with cannot read it.
_FALLBACKS = ("windows-1252", "iso-8859-2")


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    entries: tuple[FeedEntry, ...]
    warning: str | None = None


def parse_feed(body: bytes, url: str, headers: dict[str, str] | None = None) -> ParsedFeed:
    """Parse feed bytes; raise FetchError when they are not a feed."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    headers.setdefault("content-location", url)
    data, parse_headers, notes = _prepared(body, headers)
    parsed = feedparser.parse(data, response_headers=parse_headers)
    if not parsed.get("version") and not parsed.entries:
        raise FetchError(_not_a_feed_reason(body, headers, parsed))
    language = parsed.feed.get("language")
    entries = _distinct_guids(tuple(_entry(e, language) for e in parsed.entries))
    warning = None
    if parsed.get("bozo") and not isinstance(parsed.get("bozo_exception"), HARMLESS):
        warning = f"malformed feed, kept {len(entries)} entries: {'; '.join([*notes, _bozo_text(parsed)])}"
    elif notes:
        warning = "; ".join(notes)
    return ParsedFeed(title=plain_text(parsed.feed.get("title", "")), entries=entries, warning=warning)


def _prepared(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str], list[str]]:
    """The bytes and headers to give feedparser, and what was changed on the way.

    Most feeds go as they came. A feed whose label (header or XML declaration) cannot read
    it, and that feedparser would read as Western single bytes, gets the CJK charset its
    bytes are in (a Korean feed in EUC-KR labelled UTF-8 is mojibake otherwise). A feed
    that declares entities goes as the UTF-8 feedparser would read, without them.
    """
    probe: dict = {}
    data = convert_to_utf8(dict(headers), body, probe)
    notes = []
    if isinstance(probe.get("bozo_exception"), feedparser.CharacterEncodingOverride) \
            and probe.get("encoding") in _FALLBACKS:
        from presswatch.crawler.downloadermiddlewares.charset import _CJK, corrected_encoding

        better = corrected_encoding(body, "cp1252")
        if better in _CJK:
            headers = {**headers, "content-type": f"application/xml; charset={better}"}
            data = convert_to_utf8(dict(headers), body, probe := {})
            notes.append(f"wrong charset label, read as {better}")
    defused = _without_entity_declarations(data)
    if defused is None:
        return body, headers, notes
    notes.append("entity declarations ignored")
    return defused, {**headers, "content-type": "application/xml; charset=utf-8"}, notes


def _without_entity_declarations(data: bytes) -> bytes | None:
    """`data` (as feedparser would read it) without the entity declarations before its first
    element that stand for more than one character; None when there are none."""
    first = _FIRST_ELEMENT.search(data)
    end = first.start() if first else len(data)
    head = data[:end]
    if b"<!ENTITY" not in head:
        return None
    kept = _ENTITY_DECLARATION.sub(lambda m: m[0] if _ONE_CHARACTER.fullmatch(m[1]) else b"", head)
    return None if kept == head else kept + data[end:]


def _distinct_guids(entries: tuple[FeedEntry, ...]) -> tuple[FeedEntry, ...]:
    """A GUID the feed gives to entries of different links identifies none of them (a CMS that
    gives every entry its home page): those entries are known by their links instead."""
    links: dict[str, set[str | None]] = {}
    for entry in entries:
        if entry.guid:
            links.setdefault(entry.guid, set()).add(entry.link)
    shared = {guid for guid, seen in links.items() if len(seen) > 1}
    return tuple(replace(e, guid=None) if e.guid in shared else e for e in entries) if shared else entries


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
    """The entry's date, or None when it has none that can be true (the store then dates the
    article by when it was first seen)."""
    latest = datetime.now(UTC) + FUTURE_SLACK
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        # dict.get: FeedParserDict.get maps a missing published onto updated, with a warning.
        value = dict.get(entry, key)
        if value:
            try:
                when = datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (ValueError, OverflowError, OSError):  # past year 9999 in UTC, or before year 1
                continue
            if EARLIEST <= when <= latest:
                return when
    return None

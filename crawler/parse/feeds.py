"""Reading a feed's bytes with feedparser into `FeedEntry` values.

No HTTP here: Scrapy's downloader fetched the bytes (feedparser has no timeout). A
malformed feed ("bozo") still yields what parsed, with the reason kept as a warning; a
response that is not a feed at all is a `FetchError`. Each text construct becomes text by
the type feedparser tells (only HTML loses tags); a charset label the bytes contradict is
overruled as for pages (crawler.parse.charset), with a note; entities that could blow up are not
expanded. What an entry without a title is shown as is left to `ingest`.
"""

from __future__ import annotations

import calendar
import html
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import feedparser
from feedparser.encodings import convert_to_utf8
from feedparser.urls import _urljoin, make_safe_absolute_uri

from presswatch.crawler.errors import FetchError
from presswatch.crawler.parse.charset import WESTERN, codec_name, corrected_encoding
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
# expands every use), and nested ones grow exponentially ("billion laughs"). A flat, small
# internal entity (`<!ENTITY id "tag:example.com,">`: no references, no markup) is an
# abbreviation, expanded while all of them together add at most ENTITY_BUDGET characters;
# other declarations go before feedparser reads the feed, so their uses stay as written.
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY([^>]*)>")
_ONE_CHARACTER = re.compile(rb'\s+\w+\s+"&#\w+;"\s*')
_FLAT = re.compile(rb'\s+(\w+)\s+"([^"&%<]*)"\s*')
FLAT_ENTITY_MAX = 1_000  # characters in one flat entity's value
ENTITY_BUDGET = 1_000_000  # characters all uses of flat entities may add to a feed
_FIRST_ELEMENT = re.compile(rb"<\w")
# What feedparser falls back to when the charset a feed is labelled with cannot read it.
_FALLBACKS = ("windows-1252", "iso-8859-2")
# Markup whose content is no text (not <noscript>: a gist's code is in it), and tags: those
# of HTML's elements are markup, any other name in brackets is text unless closed later.
_HIDDEN = re.compile(r"<(script|style|template|svg)\b.*?</\1\s*>|<!--.*?-->|</>", re.IGNORECASE | re.DOTALL)
# A tag's attributes, read three ways in turn: quoted values without "<" (alt="a->b");
# up to the first ">" (a stray quote: href=http://x/">); quoted values holding anything
# (feedparser hands attributes over unescaped: title="a <ins> b").
_TAG = re.compile(r"""</?([A-Za-z][\w:.-]*)(?:\s(?:[^<>"']|"[^"<]*"|'[^'<]*')*|\s[^<>]*"""
                  r"""|\s(?:[^<>"']|"[^"]*"|'[^']*')*)?/?>""")
_CUT_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9]*)[^<>]*$")
_CLOSING = re.compile(r"</([A-Za-z][\w:.-]*)\s*>")
# A character reference, terminated: "&nbsp;", "&#8217;" (not "&param" of a URL in text).
_REFERENCE = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
INLINE_ELEMENTS = frozenset(
    "a abbr acronym b bdi bdo big blink cite code data del dfn em font i ins kbd mark nobr q rp rt "
    "ruby s samp small span strike strong sub sup time tt u var wbr".split())
HTML_ELEMENTS = INLINE_ELEMENTS | frozenset(
    "address applet area article aside audio base basefont blockquote body br button canvas caption "
    "center col colgroup datalist dd details dialog dir div dl dt embed fieldset figcaption figure "
    "footer form frame frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html iframe image img input "
    "keygen label legend li link main map marquee math menu meta meter nav noframes noscript object "
    "ol optgroup option output p param picture pre progress script section select source style "
    "summary svg table tbody td template textarea tfoot th thead title tr track ul video xmp".split())
# feedparser joins every URL of a feed (each link, enclosure, category scheme...) to the
# feed's own URL, a fifth of its time on news feeds; the entry's id and link are all that is
# kept of them, so they are joined here instead, by the same function, where that gives
# what feedparser would (`_joining`): not where a feed sets its own base (xml:base), has an
# RSS 1.0 id (rdf:about, never joined) or an aggregator's <source> (its url is not joined,
# its Atom link is). An id is joined only when its GUID is a permalink (isPermaLink absent
# or exactly "true"), so a feed mixing both kinds is left to feedparser too. feedparser's
# base is the feed's URL as it makes it safe at each element (`make_safe_absolute_uri`).
_OWN_BASES = (b"xml:base", b"rdf:about", b"<source")  # each searched for in the lowered feed
_BASE_ATTRIBUTE = re.compile(rb"base\s*=")  # after a space: feedparser takes base= as xml:base
_PERMALINK = re.compile(rb"""ispermalink\s*=\s*["']([^"']*)""")
_ID = re.compile(rb"<(?:[\w.-]+:)?id\b")
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([\w.:-]+)["']""")


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
    joining = _joining(data)
    base = None
    if joining is not None:
        location = parse_headers["content-location"]
        base = make_safe_absolute_uri(location, location) or location
        parse_headers = {key: value for key, value in parse_headers.items() if key != "content-location"}
    # Markup is turned into text here (`text_of`), so feedparser need not sanitise it.
    parsed = feedparser.parse(data, response_headers=parse_headers, sanitize_html=False,
                              resolve_relative_uris=False)
    if not parsed.get("version") and not parsed.entries:
        raise FetchError(_not_a_feed_reason(body, headers, parsed))
    language = parsed.feed.get("language")
    entries = _distinct_guids(tuple(_entry(e, language, base, joining) for e in parsed.entries))
    warning = None
    if parsed.get("bozo") and not isinstance(parsed.get("bozo_exception"), HARMLESS):
        warning = f"malformed feed, kept {len(entries)} entries: {'; '.join([*notes, _bozo_text(parsed)])}"
    elif notes:
        warning = "; ".join(notes)
    return ParsedFeed(title=_field(parsed.feed, "title"), entries=entries, warning=warning)


def _joining(data: bytes) -> bool | None:
    """Whether entries' ids are joined to the feed's URL here, as feedparser would join them
    (their links always are); None when feedparser is left to join them (_OWN_BASES)."""
    lowered = data.lower()  # as feedparser reads names; ASCII only, so positions hold
    if any(marker in lowered for marker in _OWN_BASES):
        return None
    if any(found.start() and lowered[found.start() - 1:found.start()].isspace()
           for found in _BASE_ATTRIBUTE.finditer(lowered)):
        return None
    if b"ispermalink" not in lowered:
        return True
    said = [data[found.start(1):found.end(1)] for found in _PERMALINK.finditer(lowered)]
    if lowered.count(b"ispermalink") != len(said):
        return None  # an isPermaLink written some other way
    if all(value == b"true" for value in said):  # feedparser's test: exactly "true"
        return True
    if b"true" not in said and lowered.count(b"<guid") == len(said) and not _ID.search(lowered):
        return False  # no GUID is a permalink, and there is no Atom id: no id is joined
    return None


def _prepared(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str], list[str]]:
    """The bytes and headers to give feedparser, and what was changed on the way.

    Most feeds go as they came. A feed whose label (header or XML declaration) is wrong
    gets the charset its bytes are in, as pages do (crawler.parse.charset), with a note. A feed
    that declares entities other than flat, small ones goes as the UTF-8 feedparser would
    read, without those declarations.
    """
    data, headers, notes = _charset_checked(body, headers)
    defused = _without_entity_declarations(data)
    if defused is None:
        return body, headers, notes
    notes.append("entity declarations ignored")
    return defused, {**headers, "content-type": "application/xml; charset=utf-8"}, notes


def _charset_checked(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str], list[str]]:
    """`body` as the UTF-8 feedparser will read, the headers that make it read the body in
    its real charset, and the note saying which label was overruled.

    Only a feed feedparser would read as Western single bytes is looked at (a Western label,
    or the fallback when its label cannot read it): Latin-1 decodes anything, so EUC-KR,
    Shift_JIS, KOI8-R or cp1251 under it is silent mojibake. The check is the pages' one,
    which leaves a real Latin-1 or cp1252 feed as it is.
    """
    probe: dict = {}
    data = convert_to_utf8(dict(headers), body, probe)
    fell_back = isinstance(probe.get("bozo_exception"), feedparser.CharacterEncodingOverride) \
        and probe.get("encoding") in _FALLBACKS
    if not (fell_back or codec_name(probe.get("encoding")) in WESTERN):
        return data, headers, []
    better = corrected_encoding(body, "latin_1")
    if better is None:
        return data, headers, []
    label = _label(body, headers)
    said = f"label {label} overruled" if label else "no charset label"
    headers = {**headers, "content-type": f"application/xml; charset={better}"}
    return convert_to_utf8(dict(headers), body, {}), headers, [f"{said}: read as {better.replace('_', '-')}"]


def _label(body: bytes, headers: dict[str, str]) -> str | None:
    """The charset a feed is labelled with: its Content-Type's, else its XML declaration's."""
    found = _HEADER_CHARSET.search(headers.get("content-type", ""))
    if found:
        return found[1].lower()
    found = _XML_ENCODING.match(body.removeprefix(b"\xef\xbb\xbf"))
    return found[1].decode("ascii").lower() if found else None


def _without_entity_declarations(data: bytes) -> bytes | None:
    """`data` (as feedparser would read it) without the entity declarations before its first
    element that could blow up; None when it has none of those."""
    first = _FIRST_ELEMENT.search(data)
    end = first.start() if first else len(data)
    head = data[:end]
    if b"<!ENTITY" not in head:
        return None
    flat = _flat_entities(head, data[end:])
    kept = _ENTITY_DECLARATION.sub(lambda m: m[0] if _harmless(m[1], flat) else b"", head)
    return None if kept == head else kept + data[end:]


def _flat_entities(head: bytes, rest: bytes) -> set[bytes]:
    """The flat entities of `head` (small, no references, no markup), if all their uses in
    `rest` together stay within ENTITY_BUDGET characters; else none."""
    flat = {}
    for declaration in _ENTITY_DECLARATION.findall(head):
        found = _FLAT.fullmatch(declaration)
        if found and len(found[2]) <= FLAT_ENTITY_MAX:
            flat[found[1]] = len(found[2])
    added = sum(size * rest.count(b"&" + name + b";") for name, size in flat.items())
    return set(flat) if added <= ENTITY_BUDGET else set()


def _harmless(declaration: bytes, flat: set[bytes]) -> bool:
    if _ONE_CHARACTER.fullmatch(declaration):
        return True
    found = _FLAT.fullmatch(declaration)
    return bool(found) and found[1] in flat


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


def text_of(value: str, content_type: str = "text/html") -> str:
    """A feed's text construct as text: markup only where the feed says it is markup.

    feedparser tells each construct's type: Atom says it (`type="text"`), RSS's titles are
    guessed, its descriptions are HTML. Plain text keeps its brackets ("History of the
    <blink> tag"); HTML loses its tags. In HTML, only tags of HTML's own elements, or of
    elements closed later on (`<strikethrough>..</strikethrough>`), are markup: "US <human
    rights> racket", as KCNA writes it, is text however often it was escaped. Character
    references are resolved in both: plain text carries them too (Blogger's `type="text"`
    summaries hold `&nbsp;`), and "&nbsp;" is never what a writer meant to show.
    """
    value = value or ""
    if content_type.endswith(("html", "xml")):
        value = _HIDDEN.sub(" ", value)
        closed = {name.lower() for name in _CLOSING.findall(value)}
        value = _TAG.sub(lambda tag: _tag_text(tag, closed), value)
        cut = _CUT_TAG.search(value)  # a teaser cut inside its last tag: "... <a href="
        if cut and cut[1].lower() in HTML_ELEMENTS:
            value = value[:cut.start()]
        value = html.unescape(value)
    else:
        value = _REFERENCE.sub(lambda ref: html.unescape(ref[0]), value)
    return " ".join(value.split())


def _tag_text(tag: re.Match, closed: set[str]) -> str:
    name = tag[1].lower()
    if name in INLINE_ELEMENTS:
        return ""
    if name in HTML_ELEMENTS or name in closed or ":" in name:  # <o:p> and the like: namespaced
        return " "
    return tag[0]


def _field(item, key: str) -> str:
    """An item's (entry, feed, source) text construct `key` as text."""
    detail = item.get(f"{key}_detail") or {}
    return text_of(item.get(key, ""), detail.get("type", "text/html"))


def _entry(entry, feed_language: str | None, base: str | None = None, join_id: bool | None = None) -> FeedEntry:
    """The entry as presswatch keeps it; `base`: the URL its link (and its id, with
    `join_id`) are joined to here (`_joining`), None when feedparser joined them."""
    summary = _field(entry, "summary")
    if entry.get("content"):
        # Full content, when the feed has it, says more than the summary.
        content = max(entry.content, key=lambda c: len(c.get("value", "")))
        summary = text_of(content.get("value", ""), content.get("type", "text/html")) or summary
    authors = tuple(a.get("name", "") for a in entry.get("authors", []) if a.get("name"))
    return FeedEntry(
        guid=(_joined(base, entry.get("id")) if join_id else entry.get("id")) or None,
        link=_joined(base, entry.get("link")) or None,
        title=_without_publisher(_field(entry, "title"), entry),
        summary=summary,
        published=_entry_date(entry),
        authors=authors,
        language=(entry.get("language") or feed_language or None),
        origin=_origin(entry),
    )


def _joined(base: str | None, uri: str | None) -> str | None:
    return _urljoin(base, uri) if base and uri else uri


def _without_publisher(title: str, entry) -> str:
    """An aggregator's title ends with its publisher ("Headline - Reuters"); the headline is
    what the publisher's own copy carries, so that is what is kept and compared."""
    publisher = _field(entry.get("source") or {}, "title")
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

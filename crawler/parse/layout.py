"""Telling a listing page from an article: many links, little text of its own.

After a redesign a site's `follow` may keep the links of section pages, tag pages or the
listing itself; their pages answer 200 and the reader finds "text" in them, made of
the headlines of other articles. Such a page is refused, never stored as an article.
Pure: it reads the page's HTML and the text the reader extracted from it; what a refused
page means for its source's health is crawler.stories.health's business.
"""

from __future__ import annotations

import re

from lxml import etree, html as lxml_html

# A page is a listing when at least this many of its links' texts make up the reader's text...
MIN_LINKS = 8
# ...and together they are at least this share of its words.
MIN_LINK_SHARE = 0.5
# Links shorter than this (Home, World, 더보기) are menus, not headlines.
MIN_HEADLINE_WORDS = 3
LISTING = "looks like a listing, not an article"

_ANCHOR = re.compile(rb"<a\s", re.IGNORECASE)


def listing_reason(body: bytes | str, text: str) -> str | None:
    """Why the page whose reader's text is `text` is a listing, or None for an article."""
    raw = body.encode("utf-8", "replace") if isinstance(body, str) else body
    if len(_ANCHOR.findall(raw)) < MIN_LINKS:
        return None  # cheap: most articles are dismissed before any parse
    flat = _words(text)
    words = len(flat.split())
    if not words:
        return None
    linked = [h for h in _headlines(raw) if f" {h} " in f" {flat} "]
    link_words = sum(len(h.split()) for h in linked)
    if len(linked) < MIN_LINKS or link_words < MIN_LINK_SHARE * words:
        return None
    share = round(100 * min(link_words, words) / words)
    return f"{LISTING}: the texts of {len(linked)} links make {share}% of its text"


def _headlines(raw: bytes) -> set[str]:
    """The distinct texts of the page's links long enough to be headlines."""
    try:
        tree = lxml_html.fromstring(raw)
    except (etree.ParserError, ValueError):
        return set()
    found = set()
    for anchor in tree.iter("a"):
        text = _words(" ".join(anchor.itertext()))  # a date in its own element is a word apart
        if len(text.split()) >= MIN_HEADLINE_WORDS:
            found.add(text)
    return found


def _words(text: str) -> str:
    return " ".join(text.split())

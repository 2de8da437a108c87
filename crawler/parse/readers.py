"""Readers of the state-media sites trafilatura alone does not serve: KCNA and Rodong Sinmun.

Each reads a site's article page, in each of the layouts its archives and mirrors still
serve, into a ``SiteReading``: the title, text, date (and byline) it could find for sure;
fields left None are trafilatura's to fill (``extract.extract_page``). A reader is chosen by
the page's host, or named by the source (``reader: kcna`` for a mirror).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

from lxml.html import HtmlElement

from presswatch.crawler.parse.dateline import dotted_date, plausible_utc, written_date

__all__ = ["READERS", "SiteReading", "rodong_url_date", "site_reading"]


@dataclass(frozen=True)
class SiteReading:
    """What a site reader found; None fields are left to trafilatura."""

    title: str | None = None
    text: str | None = None
    published: datetime | None = None
    authors: tuple[str, ...] = ()
    date_source: str = "page"  # or "url": the date in the article's address


def site_reading(tree: HtmlElement, url: str, reader: str | None) -> SiteReading:
    """The reading of the site reader named, else of the one for the page's host, if any."""
    if reader is None:
        host = (urlsplit(url).hostname or "").lower()
        reader = next((name for pattern, name in _STATE_MEDIA if pattern.search(host)), None)
    return READERS[reader](tree, url) if reader is not None else SiteReading()


def _has_class(name: str) -> str:
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


def _node_text(node: HtmlElement) -> str:
    """The node's text with its inline children, spaces normalised ("Comrade <nobr>Kim</nobr>")."""
    return re.sub(r"\s+", " ", node.text_content()).strip()


def _kcna(tree: HtmlElement, url: str) -> SiteReading:
    """kcna.kp article pages, in the layout of mid-2026 (``/en/article/detail/<hash>``) or the
    one before it (``/en/article/q/<hash>.kcmsf``), which archives and mirrors still serve.

    KCNA files one story under several menus (Top News, Latest News, External ...), each page
    framing the same body with its own menu, topic heading and lists of other headlines. Read
    generically, the framing leaks into the text (favor_recall keeps layout menus), so the twins'
    texts differ and are no longer one story: the body is read from its own element only, and
    the "-0-" KCNA ends a story with is dropped. The title is the headline element, not the
    site-wide ``<title>``.
    """
    if tree.xpath(f"//*[{_has_class('article-main-title')} or {_has_class('content-wrapper')}]"):
        return _kcna_before_2026(tree)
    return _kcna_2026(tree)


def _kcna_2026(tree: HtmlElement) -> SiteReading:
    """``<main><article><div class="container"><h1>Title</h1><p>...``: the paragraphs right
    inside the container are the body (a caption sits in a ``<div>`` of its own there); the
    page states no date: the dateline gives the day, the listing the rest (`PageItem.listed`, resolved in `dateline.resolve`)."""
    articles = tree.xpath("//main//article") or tree.xpath("//article")
    if not articles:
        return SiteReading()
    article = articles[0]
    containers = article.xpath(f".//div[{_has_class('container')}]") or [article]
    text = _paragraphs(containers[0].xpath("./p"))
    titles = article.xpath(".//h1")
    return SiteReading(title=(_node_text(titles[0]) if titles else None) or None, text=text or None)


def _kcna_before_2026(tree: HtmlElement) -> SiteReading:
    """``div.article-main-title``, the paragraphs of ``div.content-wrapper`` and the page's own
    ``publish-time`` ("[2024.01.12.]", "www.kcna.kp (2025.12.14.)" or "[Juche 113.1.12.]")."""
    text = _paragraphs(tree.xpath(f"//div[{_has_class('content-wrapper')}]//p"))
    titles = tree.xpath(f"//*[{_has_class('article-main-title')}]") or tree.xpath("//h1")
    published = None
    for stamp in tree.xpath(f"//*[{_has_class('publish-time')}]"):
        published = plausible_utc(dotted_date(_node_text(stamp)))
        if published is not None:
            break
    title = _node_text(titles[0]) if titles else None
    return SiteReading(title=title or None, text=text or None, published=published)


_END_MARK = re.compile(r"\s*-0-\s*$")  # how KCNA ends a story


def _paragraphs(nodes: list[HtmlElement]) -> str:
    """The nodes' texts, one a line, empty ones and KCNA's "-0-" end mark left out."""
    lines = [t for t in (_node_text(node) for node in nodes) if t]
    if lines:
        lines[-1] = _END_MARK.sub("", lines[-1])
    return "\n".join(line for line in lines if line)


# Full-width digits ("２０２６") that Rodong Sinmun's pages of 2025 on write dates and numbers in.
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def _ascii_digits(value: str) -> str:
    return value.translate(_FULL_WIDTH_DIGITS)


def _rodong(tree: HtmlElement, url: str) -> SiteReading:
    """rodong.rep.kp article pages in each of its three layouts (archives and mirrors serve the
    older ones). Menus, the day's other headlines and photo captions sit around the article on
    every one of them, which a generic reading keeps.

    The date is the one in the URL: the ``newsID=2021-06-17-0001`` of the old site, or since
    2022 the base64 token after ``index.php?`` ("MTJA..." is "12@2024-08-01-H003@15@1@@0@1");
    else the page's own. Full-width digits become ASCII digits in the title, text and date.
    """
    if tree.xpath("//*[@id='ContDIV']"):
        reading = _rodong_2025(tree)
    elif tree.xpath(f"//*[{_has_class('news_Title')}]"):
        reading = _rodong_2022(tree)
    else:
        reading = _rodong_table(tree)
    from_url = rodong_url_date(url)
    if from_url is not None:
        reading = replace(reading, published=plausible_utc(from_url), date_source="url")
    return reading


def _rodong_2025(tree: HtmlElement) -> SiteReading:
    """``#ContDIV`` holds ``p.TitleP`` and the ``p.TextP`` paragraphs; ``#article-date`` reads
    "Feb. 19, 2026 Thursday"."""
    content = tree.xpath("//*[@id='ContDIV']")[0]
    titles = content.xpath(f".//p[{_has_class('TitleP')}]")
    text = _ascii_digits(_paragraphs(content.xpath(f".//p[{_has_class('TextP')}]")))
    stamps = tree.xpath("//*[@id='article-date']")
    published = plausible_utc(written_date(_ascii_digits(_node_text(stamps[0])))) if stamps else None
    title = _ascii_digits(_node_text(titles[0])) if titles else None
    return SiteReading(title=title or None, text=text or None, published=published)


def _rodong_2022(tree: HtmlElement) -> SiteReading:
    """``div.news_Title``, ``span.NewsDate`` ("2023.3.13.") and the ``p.ArticleContent`` paragraphs."""
    title = _ascii_digits(_node_text(tree.xpath(f"//*[{_has_class('news_Title')}]")[0]))
    text = _ascii_digits(_paragraphs(tree.xpath(f"//p[{_has_class('ArticleContent')}]")))
    stamps = tree.xpath(f"//*[{_has_class('NewsDate')}]")
    published = plausible_utc(dotted_date(_ascii_digits(_node_text(stamps[0])))) if stamps else None
    return SiteReading(title=title or None, text=text or None, published=published)


_BYLINE_WORDS = 6


def _rodong_table(tree: HtmlElement) -> SiteReading:
    """The site until 2022 (``index.php?strPageID=SF01_02_01&newsID=<date>-<n>``): a layout table
    of ``.ArticleContent`` cells: the first holds the headline (in a ``<font>``), then one cell
    a paragraph, and last a byline ("Political News Team")."""
    cells = [cell for cell in tree.xpath(f"//*[{_has_class('ArticleContent')}]") if _node_text(cell)]
    if len(cells) < 2:
        return SiteReading()
    title_node = cells[0].xpath(".//font") or [cells[0]]
    body = cells[1:]
    authors: tuple[str, ...] = ()
    last = _node_text(body[-1])
    if len(body) > 1 and len(last.split()) <= _BYLINE_WORDS:
        authors, body = (last,), body[:-1]
    text = "\n".join(_node_text(cell) for cell in body)
    return SiteReading(title=_node_text(title_node[0]) or None, text=text or None, authors=authors)


_RODONG_NEWS_ID = re.compile(r"[?&]newsID=(\d{4}-\d{2}-\d{2})")
_RODONG_TOKEN = re.compile(r"index\.php\?([A-Za-z0-9+/]{8,}={0,2})$")
_RODONG_TOKEN_DATE = re.compile(r"12@(\d{4}-\d{2}-\d{2})-")


def rodong_url_date(url: str) -> datetime | None:
    """The date a Rodong Sinmun article URL carries: ``newsID=2021-06-17-0001``, or the one in
    its base64 token (``index.php?MTJAMjAyNC0wOC0wMS1IMDAzQDE1QDFAQDBAMQ==``)."""
    found = _RODONG_NEWS_ID.search(url)
    if found is None:
        token = _RODONG_TOKEN.search(url)
        if token is None:
            return None
        try:
            decoded = base64.b64decode(token[1] + "=" * (-len(token[1]) % 4)).decode("latin-1")
        except (binascii.Error, ValueError):
            return None
        found = _RODONG_TOKEN_DATE.match(decoded)
    try:
        return datetime.strptime(found[1], "%Y-%m-%d").replace(tzinfo=UTC) if found else None
    except ValueError:
        return None


READERS: dict[str, Callable[[HtmlElement, str], SiteReading]] = {"kcna": _kcna, "rodong": _rodong}
"""The site readers by name, for a source's ``reader`` (a mirror of a state-media site)."""

_STATE_MEDIA: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?:^|\.)kcna\.kp$"), "kcna"),
    (re.compile(r"(?:^|\.)rodong\.rep\.kp$"), "rodong"),
)

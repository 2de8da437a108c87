"""Writing text for a channel's format (text, Markdown or HTML) without trusting feed text.

Feed-derived text (titles, outlets, snippets, URLs) is data, never markup: it is escaped
for the format the channel renders, control characters are dropped, and only http(s)
URLs become links. Messages are put together from a few segments (`Text`, `Strong`,
`Link`) as lines, and `render_lines` writes them out in one format. What goes into a
message is `message`'s business.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

TEXT, MARKDOWN, HTML = "text", "markdown", "html"

# C0 and C1 control characters (newline and tab aside): a feed title could hold terminal
# escapes, which the console would otherwise print.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Markdown: characters that mark up text wherever they are, and entities (&lt;) that a
# renderer would turn into the character they name.
_MD_INLINE = re.compile(r"([\\`*_\[\]<>~])")
_MD_ENTITY = re.compile(r"&(?=#?\w+;)")
# Markdown: what starts a heading, a list, a quote or a rule at the start of a line.
_MD_LINE_START = re.compile(r"(?m)^(\s*)(#|[+-]|\d+[.)])")
_URL_SAFE = "/:?#[]@!$&'*+,;=%~-._"
# Where a cut may end a sentence: Latin and CJK full stops, Korean "다." endings included.
_SENTENCE_END = re.compile(r"[.!?。！？](?=\s)|다\.(?=\s)")


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Strong:
    text: str


@dataclass(frozen=True)
class Raw:
    """Text already written for the format (escaped where it came from a feed)."""

    text: str


@dataclass(frozen=True)
class Link:
    url: str
    label: str = ""  # the URL itself when empty


Segment = Text | Strong | Raw | Link
Line = tuple[Segment, ...]


def clean(text: str | None) -> str:
    """`text` without control characters (newlines and tabs kept)."""
    return _CONTROL.sub("", text or "")


def one_line(text: str | None) -> str:
    """`text` on one line: whitespace runs become one space, control characters go."""
    return " ".join(clean(text).split())


def escape(text: str, fmt: str) -> str:
    """`text` as literal text in `fmt`: nothing in it is read as markup."""
    text = clean(text)
    if fmt == HTML:
        return html.escape(text, quote=True)
    if fmt == MARKDOWN:
        text = _MD_ENTITY.sub(r"\\&", _MD_INLINE.sub(r"\\\1", text))
        return _MD_LINE_START.sub(lambda m: f"{m[1]}{m[2][:-1]}\\{m[2][-1]}", text)
    return text


def safe_url(url: str | None) -> str | None:
    """An http(s) URL with the characters that could end a link percent-encoded; else None."""
    url = one_line(url)
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return quote(url, safe=_URL_SAFE)


def url_value(url: str | None, fmt: str) -> str:
    """A URL as a template's {url}: usable as text, in a Markdown link or an href."""
    safe = safe_url(url)
    if safe is None:
        return escape(one_line(url), fmt)
    return html.escape(safe, quote=True) if fmt == HTML else safe


def segment(part: Segment, fmt: str) -> str:
    if isinstance(part, Strong):
        inner = escape(part.text, fmt)
        return {HTML: f"<b>{inner}</b>", MARKDOWN: f"**{inner}**"}.get(fmt, inner) if inner else ""
    if isinstance(part, Link):
        return link(part.url, part.label, fmt)
    if isinstance(part, Raw):
        return part.text
    return escape(part.text, fmt)


def link(url: str, label: str, fmt: str) -> str:
    """A link to `url` labelled `label` (the URL when empty); a non-http(s) URL stays text."""
    safe = safe_url(url)
    label = label or one_line(url)
    if safe is None or fmt == TEXT:
        return escape(label if safe is None or label == one_line(url) else f"{label} {url}", fmt)
    if fmt == HTML:
        return f'<a href="{html.escape(safe, quote=True)}">{escape(label, fmt)}</a>'
    return f"[{escape(label, fmt)}]({safe})"


def render_lines(lines: list[Line], fmt: str) -> str:
    """Lines in `fmt`; an empty line separates paragraphs."""
    written = ["".join(segment(part, fmt) for part in line) for line in lines]
    if fmt == HTML:
        return "<br>\n".join(written)
    if fmt == MARKDOWN:
        # A hard break ends each line inside a paragraph; empty lines end paragraphs.
        text = "\n".join(line + "  " if line else "" for line in written)
        return re.sub(r" {2}\n\n", "\n\n", text).rstrip()
    return "\n".join(written)


def cut(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut to at most `limit` characters at a clean boundary: (kept, whether it was cut).

    A sentence end in the last 40% of the limit is preferred, else the last word
    boundary; trailing punctuation that would dangle (, ; :) goes. A word longer than
    the whole limit is cut inside.
    """
    if len(text) <= limit:
        return text, False
    head = text[:limit + 1]
    ends = [m.end() for m in _SENTENCE_END.finditer(head) if m.end() <= limit]
    if ends and ends[-1] >= limit * 0.6:
        return text[:ends[-1]], True
    space = head.rfind(" ")
    kept = head[:space] if space > 0 else text[:limit]
    return kept.rstrip(" ,;:–—-"), True

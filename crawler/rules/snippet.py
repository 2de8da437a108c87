"""Snippets: a window of an article's original text around the matched terms, marked «».

Terms are found in the normalised text (``terms``) and mapped back to the original, so what
an analyst reads is what the outlet wrote.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Sequence

from presswatch.crawler.rules.terms import _NON_ASCII_RUN, _SPACE, _spans, normalize, term_words

SNIPPET_CHARS = 280


# --- snippets ---------------------------------------------------------------


def mark_terms(text: str, terms: Iterable[str]) -> str:
    """``text`` with every occurrence of the terms wrapped in «», otherwise unchanged (e.g. a title)."""
    spans = _occurrences(text, terms)
    return _render(text, 0, len(text), _merge(sorted(s for found in spans for s in found)))


def make_snippet(text: str, terms: Sequence[str], limit: int = SNIPPET_CHARS) -> str:
    """About ``limit`` characters of ``text`` around the first occurrences of ``terms``.

    Cut between words, "…" where cut, whitespace collapsed, every occurrence inside
    marked «». Falls back to the start of the text when no term occurs.
    """
    spans = _occurrences(text, terms)
    firsts = sorted(found[0] for found in spans if found)
    start, end = _window(text, firsts, limit)
    inside = [span for found in spans for span in found if start <= span[0] and span[1] <= end]
    body = _render(text, start, end, _merge(sorted(inside)))
    body = " ".join(body.split())
    before = "…" if text[:start].strip() else ""
    after = "…" if text[end:].strip() else ""
    return before + body + after


def _occurrences(text: str, terms: Iterable[str]) -> list[list[tuple[int, int]]]:
    """Per term, its spans in the original text, found in the normalised text."""
    norm, starts, ends = _normalize_mapped(text)
    return [[(starts[s], ends[e - 1]) for s, e in _spans(norm, term_words(term))] for term in terms]


@functools.lru_cache(maxsize=4)  # one article's text serves the snippets of all its matches
def _normalize_mapped(text: str) -> tuple[str, Sequence[int], Sequence[int]]:
    """``normalize(text)``, with each of its characters' source span in ``text``.

    NFKC and casefold change lengths ("ﬁ" -> "fi", "ß" -> "ss", a soft hyphen -> ""),
    so the text is normalised one character cluster at a time, keeping an index map.
    """
    if text.isascii():
        return text.lower(), range(len(text)), range(1, len(text) + 1)
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    done = 0
    # ASCII stretches normalise to their lowercase, one character for one; only the rest
    # is taken cluster by cluster.
    for run in _NON_ASCII_RUN.finditer(text):
        begin, stop = run.span()
        if begin > done and _continues_cluster(text[begin]):
            begin -= 1  # a mark composing with the ASCII letter before it
        pieces.append(text[done:begin].lower())
        starts.extend(range(done, begin))
        ends.extend(range(done + 1, begin + 1))
        for i, j in _clusters(text, begin, stop):
            piece = _normalize_cluster(text[i:j])
            pieces.append(piece)
            starts.extend([i] * len(piece))
            ends.extend([j] * len(piece))
        done = stop
    pieces.append(text[done:].lower())
    starts.extend(range(done, len(text)))
    ends.extend(range(done + 1, len(text) + 1))
    return "".join(pieces), starts, ends


def _clusters(text: str, i: int, n: int) -> Iterable[tuple[int, int]]:
    """Spans of a base character and what composes with it (marks, Hangul vowel/final jamo)."""
    while i < n:
        j = i + 1
        while j < n and _continues_cluster(text[j]):
            j += 1
        yield i, j
        i = j


@functools.lru_cache(maxsize=4096)
def _continues_cluster(ch: str) -> bool:
    if ch.isascii():
        return False
    is_mark = unicodedata.category(ch).startswith("M")
    return is_mark or "\u1160" <= ch <= "\u11ff" or "\ud7b0" <= ch <= "\ud7ff"


@functools.lru_cache(maxsize=16384)
def _normalize_cluster(cluster: str) -> str:
    return normalize(cluster)


def _window(text: str, firsts: list[tuple[int, int]], limit: int) -> tuple[int, int]:
    """The slice of ``text`` to show: as many first occurrences as fit, context around them."""
    lo = firsts[0][0] if firsts else 0
    hi = max((e for s, e in firsts if e - lo <= limit), default=firsts[0][1] if firsts else 0)
    start = max(0, lo - max(0, limit - (hi - lo)) // 2)
    end = min(len(text), max(hi, start + limit))
    # Near the end of the text, spend the unused budget before the terms instead.
    start = max(0, min(start, end - limit))
    return _cut_start(text, start, lo), _cut_end(text, end, hi)


def _cut_start(text: str, pos: int, bound: int) -> int:
    """Move ``pos`` to the start of a word, forwards if possible, never past ``bound``."""
    if pos == 0 or text[pos - 1].isspace():
        return pos
    space = _SPACE.search(text, pos, bound)
    if space:
        return space.end()
    while pos > 0 and not text[pos - 1].isspace():
        pos -= 1
    return pos


def _cut_end(text: str, pos: int, bound: int) -> int:
    """Move ``pos`` to the end of a word, backwards if possible, never before ``bound``."""
    if pos == len(text) or text[pos].isspace():
        return pos
    back = pos
    while back > bound and not text[back - 1].isspace():
        back -= 1
    if back > bound:
        return back - 1
    while pos < len(text) and not text[pos].isspace():
        pos += 1
    return pos


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted spans with overlapping or touching ones joined, so marks never nest."""
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _render(text: str, start: int, end: int, marks: list[tuple[int, int]]) -> str:
    pieces, pos = [], start
    for mark_start, mark_end in marks:
        pieces += [text[pos:mark_start], "«", text[mark_start:mark_end], "»"]
        pos = mark_end
    pieces.append(text[pos:end])
    return "".join(pieces)

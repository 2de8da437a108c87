"""Match analysts' keyword rules against articles, and show where they matched.

Each rule's query (parsed by ``presswatch.config.query``) is compiled once: every
distinct term becomes one regular expression over normalised text (NFKC, casefold,
typographic quotes and dashes folded). Latin terms match on word boundaries ("rape"
never matches "grape"); Hangul has no boundary, because Korean attaches particles to
the word (성폭력 matches 성폭력을, and HRW matches HRW는). A hyphen and a space between
words are the same, so "Kim Jong-un" finds "Kim Jong Un".
``RuleMatcher.match`` evaluates every rule over an article's title and text together,
searching each distinct term at most once per article, and returns a ``Match`` per
rule with a snippet of the original text, the matched words marked «like this».

This module is a pure function of its inputs. Deciding which articles to match (new
stories, changed texts), storing matches and sending alerts are left to the pipeline,
the store and the scheduler.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from presswatch.config.errors import ConfigError
from presswatch.config.query import Node, QuerySyntaxError, Term, evaluate, parse_query, positive_terms
from presswatch.config.query import terms as query_terms

__all__ = [
    "SNIPPET_CHARS",
    "Match",
    "RuleMatcher",
    "make_snippet",
    "mark_terms",
    "normalize",
    "term_pattern",
]

SNIPPET_CHARS = 280

# After NFKC, quotes and dashes still come in several forms; fold them so "Don’t" and
# "Kim Jong‑un" (non-breaking hyphen) match what analysts type. Invisible characters
# that only affect line breaking are dropped.
_FOLD = str.maketrans(
    {
        **dict.fromkeys("\u2018\u2019\u201a\u201b\u02bc\u2032", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u201f", '"'),
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
        **dict.fromkeys("\u00ad\u200b\u2060\ufeff", None),
    }
)

# Scripts written without spaces between a word and its particles (Hangul), or
# without spaces at all (kana, Han): no word boundary is required next to them.
_UNSPACED = (
    "\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff"
    "\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff"
)
_UNSPACED_CHAR = re.compile(f"[{_UNSPACED}]")
_BOUNDED_CHAR = re.compile(f"[^\\W{_UNSPACED}]")
_NOT_AFTER_BOUNDED = f"(?<![^\\W{_UNSPACED}])"
_NOT_BEFORE_BOUNDED = f"(?![^\\W{_UNSPACED}])"
_WORD_GAP = re.compile(r"[\s\-]+")
_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """The form both queries and articles are compared in."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    # casefold can leave decomposed sequences ("ǰ"); recompose them.
    return unicodedata.normalize("NFKC", folded).translate(_FOLD)


@dataclass(frozen=True)
class Match:
    """One rule that matched one article."""

    rule_id: str
    terms: tuple[str, ...]  # the rule's terms (not those under NOT) that occurred, in query order
    snippet: str


@dataclass(frozen=True)
class _CompiledRule:
    id: str
    node: Node
    positive: tuple[Term, ...]


class RuleMatcher:
    """Rules compiled once, matched against any number of articles."""

    def __init__(self, rules: Iterable[object], snippet_chars: int = SNIPPET_CHARS):
        self._rules = [_compile_rule(rule) for rule in rules if getattr(rule, "enabled", True) is not False]
        # Term -> pattern over all rules: a later prefilter can take the distinct
        # patterns from here, while evaluation stays per rule.
        self._patterns = {
            term: term_pattern(term.text) for rule in self._rules for term in query_terms(rule.node)
        }
        self._snippet_chars = snippet_chars

    def match(self, title: str, text: str) -> list[Match]:
        """The rules the article matches, in rule order."""
        article = _ArticleSearch(title or "", text or "")
        matches = []
        for rule in self._rules:
            if evaluate(rule.node, lambda term: article.occurs(self._patterns[term])):
                matches.append(self._make_match(rule, article))
        return matches

    def _make_match(self, rule: _CompiledRule, article: _ArticleSearch) -> Match:
        found: dict[re.Pattern, str] = {}
        for term in rule.positive:
            pattern = self._patterns[term]
            # Terms that differ only in case or hyphenation ("DPRK", "dprk") count once.
            if pattern not in found and article.occurs(pattern):
                found[pattern] = term.text
        source = article.text if any(map(article.in_text, found)) else article.title
        words = tuple(found.values())
        return Match(rule.id, words, make_snippet(source, words, self._snippet_chars))


def _compile_rule(rule: object) -> _CompiledRule:
    try:
        node = parse_query(rule.query)
    except QuerySyntaxError as error:
        raise ConfigError([f'rule "{rule.id}": {error}']) from error
    return _CompiledRule(str(rule.id), node, tuple(positive_terms(node)))


class _ArticleSearch:
    """One article's normalised title and text, with each pattern searched at most once."""

    def __init__(self, title: str, text: str):
        self.title, self.text = title, text
        self._norm_title, self._norm_text = normalize(title), normalize(text)
        self._in_title: dict[re.Pattern, bool] = {}
        self._in_text: dict[re.Pattern, bool] = {}

    def occurs(self, pattern: re.Pattern) -> bool:
        return self.in_text(pattern) or self.in_title(pattern)

    def in_text(self, pattern: re.Pattern) -> bool:
        if pattern not in self._in_text:
            self._in_text[pattern] = pattern.search(self._norm_text) is not None
        return self._in_text[pattern]

    def in_title(self, pattern: re.Pattern) -> bool:
        if pattern not in self._in_title:
            self._in_title[pattern] = pattern.search(self._norm_title) is not None
        return self._in_title[pattern]


# --- terms ------------------------------------------------------------------


def term_pattern(term: str) -> re.Pattern:
    """The regular expression that finds ``term`` in normalised text.

    Terms that normalise alike ("DPRK", "ＤＰＲＫ", "dprk"; "Kim-Jong-un", "Kim Jong un")
    share one pattern object, so an article is searched for them once.
    """
    words = tuple(word for word in _WORD_GAP.split(normalize(term)) if word)
    if not words:
        raise ValueError(f"term {term!r} has no words")
    return _compile_words(words)


@functools.lru_cache(maxsize=8192)
def _compile_words(words: tuple[str, ...]) -> re.Pattern:
    words = list(words)
    # An abbreviation's final dot is optional: "U.N." also finds "the U.N" (and the
    # boundary is checked before it, so "U.N.'s" matches too).
    dot = ""
    if len(words[-1]) > 1 and words[-1].endswith("."):
        words[-1], dot = words[-1][:-1], r"\.?"
    body = re.escape(words[0])
    for before, word in zip(words, words[1:]):
        body += _gap(before[-1], word[0]) + re.escape(word)
    return re.compile(_boundary_before(words[0][0]) + body + _boundary_after(words[-1][-1]) + dot)


def _gap(left: str, right: str) -> str:
    # Korean spacing inside compounds varies ("북한 인권", "북한인권"), so between two
    # Hangul words the space is optional; elsewhere at least one space or hyphen.
    if _UNSPACED_CHAR.match(left) and _UNSPACED_CHAR.match(right):
        return r"[\s\-]*"
    return r"[\s\-]+"


# A term's end that is a Latin (or any spaced-script) letter or digit must not touch
# another such character; a Hangul end, or a neighbouring Hangul particle, is free.
def _boundary_before(first: str) -> str:
    return _NOT_AFTER_BOUNDED if _BOUNDED_CHAR.match(first) else ""


def _boundary_after(last: str) -> str:
    return _NOT_BEFORE_BOUNDED if _BOUNDED_CHAR.match(last) else ""


# --- snippets ---------------------------------------------------------------


def mark_terms(text: str, terms: Iterable[str]) -> str:
    """``text`` with every occurrence of the terms wrapped in «», otherwise unchanged (e.g. a title)."""
    spans = _occurrences(text, [term_pattern(term) for term in terms])
    return _render(text, 0, len(text), _merge(sorted(s for found in spans for s in found)))


def make_snippet(text: str, terms: Sequence[str], limit: int = SNIPPET_CHARS) -> str:
    """About ``limit`` characters of ``text`` around the first occurrences of ``terms``.

    Cut between words, "…" where cut, whitespace collapsed, every occurrence inside
    marked «». Falls back to the start of the text when no term occurs.
    """
    spans = _occurrences(text, [term_pattern(term) for term in terms])
    firsts = sorted(found[0] for found in spans if found)
    start, end = _window(text, firsts, limit)
    inside = [span for found in spans for span in found if start <= span[0] and span[1] <= end]
    body = _render(text, start, end, _merge(sorted(inside)))
    body = " ".join(body.split())
    before = "…" if text[:start].strip() else ""
    after = "…" if text[end:].strip() else ""
    return before + body + after


def _occurrences(text: str, patterns: list[re.Pattern]) -> list[list[tuple[int, int]]]:
    """Per pattern, its spans in the original text, found in the normalised text."""
    norm, starts, ends = _normalize_mapped(text)
    return [[(starts[m.start()], ends[m.end() - 1]) for m in p.finditer(norm)] for p in patterns]


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
    for i, j in _clusters(text):
        piece = _normalize_cluster(text[i:j])
        pieces.append(piece)
        starts.extend([i] * len(piece))
        ends.extend([j] * len(piece))
    return "".join(pieces), starts, ends


def _clusters(text: str) -> Iterable[tuple[int, int]]:
    """Spans of a base character and what composes with it (marks, Hangul vowel/final jamo)."""
    i, n = 0, len(text)
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

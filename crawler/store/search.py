"""The archive's search language: words as analysts type them, turned into SQLite FTS5 syntax.

Queries are words, not FTS5 syntax: `fts_query` turns them into it. Words are ANDed;
"quoted phrases", OR, AND, NOT (in capitals), parentheses, a trailing * (prefix) and
title: / text: keep their meaning, and anything else is quoted, so a hyphen or a colon in
a word never is a syntax error. FTS5 keeps a Hangul word whole (성폭력을 is one token), so
a Hangul word is searched as a prefix: 성폭력 finds 성폭력을 and 성폭력은.

Reading a query here runs no SQL; `archive` runs the query this gives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NoReturn

from presswatch.config.errors import PresswatchError

__all__ = ["QueryError", "fts_query"]

OPERATORS = ("OR", "AND", "NOT")
COLUMNS = ("title", "text")
# Hangul syllables, jamo and compatibility jamo: a word ending in one is searched as a prefix.
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_TOKEN = re.compile(r"""(?P<space>\s+)|(?P<open>\()|(?P<close>\))|(?P<column>(?:title|text):)
                        |(?P<phrase>"(?P<body>[^"]*)"(?P<star>\*)?)|(?P<quote>")|(?P<word>[^\s()"]+)""", re.VERBOSE)


class QueryError(PresswatchError, ValueError):
    """A search the user typed cannot be read; the message says where and why."""


@dataclass
class _Reader:
    """The state of `fts_query` while it reads: what came last, and open parentheses."""

    text: str
    parts: list[str]
    depth: int = 0
    last: str = "start"  # start, operand, operator, open, column

    def fail(self, column: int, why: str) -> NoReturn:
        raise QueryError(f"{self.text!r} cannot be searched: column {column + 1}: {why}")

    def operand(self, fts: str | None) -> None:
        if fts is None:  # nothing searchable in it (punctuation only): left out
            return
        self.start_operand()
        self.parts.append(fts)
        self.last = "operand"

    def start_operand(self) -> None:
        """FTS5 ANDs adjacent phrases, but not a phrase and a parenthesis: say AND always."""
        if self.last == "operand":
            self.parts.append("AND")

    def operator(self, where: int, word: str) -> None:
        if self.last in ("start", "open", "operator", "column"):
            self.fail(where, f"{word} needs a term before it ({_OPERATOR_HELP[word]})")
        self.parts.append(word)
        self.last = "operator"


_OPERATOR_HELP = {"OR": "a OR b: either", "AND": "a AND b: both", "NOT": "a NOT b: a without b"}


def fts_query(text: str) -> str:
    """The FTS5 query for what a user typed as a search (see the module's docstring).

    Raises QueryError naming the column of an unclosed quote or parenthesis, an operator
    without a term on each side, or a query with nothing to search for.
    """
    reader = _Reader(text, [])
    for found in _TOKEN.finditer(text):
        kind, where = found.lastgroup, found.start()
        if kind == "space":
            continue
        if kind == "quote":
            reader.fail(where, 'this quote is not closed (write "a phrase" between two quotes)')
        elif kind == "open":
            reader.start_operand()
            reader.parts.append("(")
            reader.depth, reader.last = reader.depth + 1, "open"
        elif kind == "close":
            _close(reader, where)
        elif kind == "column":
            reader.start_operand()
            reader.parts.append(f"{found.group('column')[:-1]} :")
            reader.last = "column"
        elif kind == "phrase":
            reader.operand(_phrase(found.group("body").split(), bool(found.group("star"))))
        elif found.group("word") in OPERATORS:
            reader.operator(where, found.group("word"))
        else:
            reader.operand(_word(found.group("word")))
    return _finish(reader)


def _close(reader: _Reader, where: int) -> None:
    if reader.depth == 0:
        reader.fail(where, "this parenthesis closes none that was opened")
    if reader.last in ("open", "operator", "column"):
        reader.fail(where, "a parenthesis closes on nothing to search for")
    reader.parts.append(")")
    reader.depth, reader.last = reader.depth - 1, "operand"


def _finish(reader: _Reader) -> str:
    end = len(reader.text)
    if reader.depth:
        reader.fail(end, f"{reader.depth} parenthesis(es) not closed")
    if reader.last == "operator":
        reader.fail(end, f"{reader.parts[-1]} needs a term after it ({_OPERATOR_HELP[reader.parts[-1]]})")
    if reader.last == "column":
        reader.fail(end, f"{reader.parts[-1][:-2]}: needs a term after it")
    if not any(part not in ("(", ")", "AND") for part in reader.parts):
        raise QueryError(f"{reader.text!r} has nothing to search for: give a word or a \"phrase\"")
    return " ".join(reader.parts)


def _word(word: str) -> str | None:
    """One word, quoted; a trailing * or a Hangul ending makes it a prefix."""
    prefix = word.endswith("*")
    word = word.rstrip("*")
    if not re.search(r"\w", word):
        return None
    return f'"{word}"' + ("*" if prefix or _HANGUL.match(word[-1]) else "")


def _phrase(words: list[str], prefix: bool) -> str | None:
    """A phrase: its words in this order, side by side.

    Hangul words are prefixes, so particles do not stop a phrase (북한의 인권 for
    "북한 인권"); an all-Hangul phrase also finds its words written as one (북한인권).
    """
    words = [word for word in words if re.search(r"\w", word)]
    if not words:
        return None
    if not any(_HANGUL.match(word[-1]) for word in words):
        return '"' + " ".join(words) + '"' + ("*" if prefix else "")
    last = len(words) - 1
    spaced = " + ".join(f'"{word}"' + ("*" if _HANGUL.match(word[-1]) or (prefix and i == last) else "")
                        for i, word in enumerate(words))
    if len(words) > 1 and all(_HANGUL.fullmatch(char) for word in words for char in word):
        return f'({spaced} OR "{"".join(words)}"*)'
    return spaced

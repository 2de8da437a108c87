"""The rule query language: text in, a small boolean syntax tree out.

A query is made of terms (bare words such as ``DPRK``, ``Kim-Jong-un``, ``U.N.`` or
``성폭력``, and ``"quoted phrases"``), the uppercase operators ``AND``, ``OR`` and
``NOT``, and parentheses. Terms next to each other are ANDed. ``NOT`` binds tighter
than ``AND``, which binds tighter than ``OR``, so ``a b OR c NOT d`` reads
``(a AND b) OR (c AND NOT d)``.

This module only parses and checks syntax; it has no dependencies beyond the standard
library, so the config loader can validate rules without importing the crawler. What
a term *matches* (normalisation, word boundaries, Korean particles) is decided by
``presswatch.crawler.match``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .errors import PresswatchError

__all__ = [
    "And",
    "Node",
    "Not",
    "Or",
    "QuerySyntaxError",
    "Term",
    "evaluate",
    "parse_query",
    "positive_terms",
    "terms",
]

# Characters allowed inside a bare word between two letters or digits.
_JOINERS = frozenset("-\u2010\u2011'\u2019\u02bc.")
_OPEN_QUOTES = frozenset('"\u201c\u201d')
_CLOSE_QUOTES = re.compile('["\u201c\u201d]')
_KEYWORDS = frozenset({"AND", "OR", "NOT"})
# Tokens that can begin an operand; seeing one right after an operand means implicit AND.
_OPERAND_START = frozenset({"WORD", "PHRASE", "NOT", "("})


class QuerySyntaxError(PresswatchError, ValueError):
    """A rule query that cannot be parsed.

    ``column`` is 1-based, ``expected`` says what the parser wanted there, and
    ``str()`` is a plain sentence naming both, fit to follow a config path.
    """

    def __init__(self, message: str, column: int, expected: str):
        super().__init__(message)
        self.column = column
        self.expected = expected


@dataclass(frozen=True)
class Term:
    """A word or a phrase that must occur, as written in the query."""

    text: str
    phrase: bool = False


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Term | And | Or | Not


def parse_query(text: str) -> Node:
    """Parse a rule query, or raise QuerySyntaxError naming the column at fault."""
    if not text.strip():
        raise QuerySyntaxError("empty query", 1, "a term")
    parser = _Parser(text)
    node = parser.parse()
    # A query true for an article containing none of its terms would alert on
    # nearly everything ("NOT sports", "a OR NOT b"); refuse it here.
    if evaluate(node, lambda term: False):
        column = parser.first_not_column or 1
        raise QuerySyntaxError(
            f"column {column}: expected at least one term that must appear "
            "(as written, the query matches articles that contain none of its terms)",
            column,
            "at least one term that must appear",
        )
    return node


def terms(node: Node) -> list[Term]:
    """Every distinct term of the query, in the order they are written."""
    return _distinct(term for term, _ in _walk(node, negated=False))


def positive_terms(node: Node) -> list[Term]:
    """The distinct terms that count *for* a match (not under an odd number of NOTs)."""
    return _distinct(term for term, negated in _walk(node, negated=False) if not negated)


def evaluate(node: Node, present: Callable[[Term], bool]) -> bool:
    """Whether the query holds, given which terms occur; short-circuits like Python."""
    if isinstance(node, Term):
        return present(node)
    if isinstance(node, And):
        return all(evaluate(item, present) for item in node.items)
    if isinstance(node, Or):
        return any(evaluate(item, present) for item in node.items)
    return not evaluate(node.item, present)


def _walk(node: Node, negated: bool) -> Iterator[tuple[Term, bool]]:
    if isinstance(node, Term):
        yield node, negated
    elif isinstance(node, Not):
        yield from _walk(node.item, not negated)
    else:
        for item in node.items:
            yield from _walk(item, negated)


def _distinct(items: Iterator[Term]) -> list[Term]:
    return list(dict.fromkeys(items))


# --- tokens -----------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # WORD, PHRASE, AND, OR, NOT, "(", ")" or END
    text: str
    column: int


def _tokens(text: str) -> Iterator[_Token]:
    """Yield tokens lazily, so errors surface in reading order."""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            yield _Token(ch, ch, i + 1)
            i += 1
        elif ch in _OPEN_QUOTES:
            token, i = _read_phrase(text, i)
            yield token
        elif ch.isalnum():
            end = _word_end(text, i)
            word = text[i:end]
            yield _Token(word if word in _KEYWORDS else "WORD", word, i + 1)
            i = end
        else:
            raise _bad_character(ch, i + 1)
    yield _Token("END", "", len(text.rstrip()) + 1)


def _is_word_char(ch: str) -> bool:
    # Combining marks count, so a decomposed "é" does not split a word.
    return ch.isalnum() or unicodedata.category(ch).startswith("M")


def _word_end(text: str, i: int) -> int:
    n = len(text)
    j = i
    while j < n:
        if _is_word_char(text[j]):
            j += 1
        elif text[j] in _JOINERS and j + 1 < n and _is_word_char(text[j + 1]):
            j += 1
        else:
            break
    # An abbreviation keeps its final dot: "U.N." stays whole.
    if j < n and text[j] == "." and "." in text[i:j]:
        j += 1
    return j


def _read_phrase(text: str, i: int) -> tuple[_Token, int]:
    close = _CLOSE_QUOTES.search(text, i + 1)
    if close is None:
        raise QuerySyntaxError(
            f"column {i + 1}: unterminated quote opened here", i + 1, "a closing quote"
        )
    phrase = " ".join(text[i + 1 : close.start()].split())
    if not any(ch.isalnum() for ch in phrase):
        raise QuerySyntaxError(
            f"column {i + 1}: expected words inside the quotes", i + 1, "words inside the quotes"
        )
    return _Token("PHRASE", phrase, i + 1), close.end()


def _bad_character(ch: str, column: int) -> QuerySyntaxError:
    hint = "words are letters and digits; put other characters in \"quotes\""
    if ch == "-":
        hint = "use NOT to exclude a term"
    return QuerySyntaxError(f'column {column}: expected a term, got "{ch}" ({hint})', column, "a term")


def _describe(token: _Token) -> str:
    if token.kind == "END":
        return "the end of the query"
    if token.kind in _KEYWORDS:
        return token.kind
    return f'"{token.text}"'


# --- grammar ----------------------------------------------------------------
#   query   := or END
#   or      := and ("OR" and)*
#   and     := unary (["AND"] unary)*
#   unary   := "NOT" unary | primary
#   primary := WORD | PHRASE | "(" or ")"


class _Parser:
    """Recursive descent over the token stream with one token of lookahead."""

    def __init__(self, text: str):
        self._stream = _tokens(text)
        self._next = next(self._stream)
        self.first_not_column: int | None = None

    def parse(self) -> Node:
        node = self._or()
        if self._next.kind != "END":
            # Every other token is consumed by the rules above, so this is a ")".
            column = self._next.column
            raise QuerySyntaxError(
                f'column {column}: expected a term or operator, got ")" with no "(" to close',
                column,
                "a term or operator",
            )
        return node

    def _advance(self) -> _Token:
        token = self._next
        if token.kind != "END":
            self._next = next(self._stream)
        return token

    def _or(self) -> Node:
        items = [self._and()]
        while self._next.kind == "OR":
            self._advance()
            items.append(self._and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def _and(self) -> Node:
        items = [self._unary()]
        while self._next.kind == "AND" or self._next.kind in _OPERAND_START:
            if self._next.kind == "AND":
                self._advance()
            items.append(self._unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def _unary(self) -> Node:
        if self._next.kind != "NOT":
            return self._primary()
        token = self._advance()
        if self.first_not_column is None:
            self.first_not_column = token.column
        return Not(self._unary())

    def _primary(self) -> Node:
        token = self._advance()
        if token.kind in ("WORD", "PHRASE"):
            return Term(token.text, phrase=token.kind == "PHRASE")
        if token.kind == "(":
            return self._group(token)
        raise QuerySyntaxError(
            f"column {token.column}: expected a term, got {_describe(token)}", token.column, "a term"
        )

    def _group(self, opening: _Token) -> Node:
        node = self._or()
        if self._next.kind != ")":
            column = self._next.column
            expected = f'")" to close the "(" at column {opening.column}'
            raise QuerySyntaxError(f"column {column}: expected {expected}", column, expected)
        self._advance()
        return node

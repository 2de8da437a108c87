"""The rule query language: text in, a small boolean syntax tree out.

A query is made of terms (bare words such as ``DPRK``, ``Kim-Jong-un``, ``U.N.`` or
``성폭력``, prefixes such as ``provoc*``, ``"quoted phrases"``, and exact forms such as
``=scum`` or ``="human scum"``, which leave out the plural), the uppercase
operators ``AND``, ``OR``, ``NOT`` and ``NEAR/n``, parentheses, and field scopes:
``title:`` and ``text:`` restrict a term (or a parenthesised group) to the headline or the
body; ``source:ID`` and ``lang:CODE`` test the article's source id and language. Terms
next to each other are ANDed. ``NEAR/n`` binds tightest, then ``NOT``, then ``AND``, then
``OR``, so ``a b OR c NOT d`` reads ``(a AND b) OR (c AND NOT d)``, and
``NOT a NEAR/3 b`` reads ``NOT (a NEAR/3 b)``. Each side of ``NEAR/n`` is a term or an OR
of terms in parentheses; ``a NEAR/3 b NEAR/3 c`` means ``a NEAR/3 b AND b NEAR/3 c``.

This module only parses and checks syntax; it has no dependencies beyond the standard
library, so the config loader can validate rules without importing the crawler. What
a term *matches* (normalisation, word boundaries, Korean particles, word distances) is
decided by ``presswatch.crawler.rules.match``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .errors import PresswatchError

__all__ = [
    "FIELDS",
    "MAX_NEAR",
    "And",
    "Meta",
    "Near",
    "Node",
    "Not",
    "Or",
    "QuerySyntaxError",
    "Term",
    "evaluate",
    "metas",
    "parse_query",
    "parse_term",
    "positive_terms",
    "terms",
]

# Characters allowed inside a bare word between two letters or digits.
_JOINERS = frozenset("-\u2010\u2011'\u2019\u02bc.")
_OPEN_QUOTES = frozenset('"\u201c\u201d')
_CLOSE_QUOTES = re.compile('["\u201c\u201d]')
_KEYWORDS = frozenset({"AND", "OR", "NOT"})
# Tokens that can begin an operand; seeing one right after an operand means implicit AND.
_OPERAND_START = frozenset({"WORD", "PHRASE", "NOT", "(", "FIELD"})
FIELDS = ("title", "text", "source", "lang")
"""The field scopes, written ``title:KCNA``; title and text hold terms, source and lang test metadata."""
MAX_NEAR = 100
"""The largest n of NEAR/n, in words."""
_META_VALUE = {
    "source": (re.compile(r"[a-z0-9][a-z0-9-]*\*?"), "a source id"),
    "lang": (re.compile(r"[a-z]{2,3}(-[a-z0-9]{2,8})*"), "a language code (en, ko)"),
}
_MIN_PREFIX = 2
EXACT = "="
"""Written before a word or a phrase (``=scum``, ``="human scum"``): that form only, no plural."""
_EXACT_HINT = " (=scum finds scum and scum's, not scums)"


class QuerySyntaxError(PresswatchError, ValueError):
    """A rule query that cannot be parsed.

    ``column`` is 1-based, ``expected`` says what the parser wanted there, and
    ``str()`` is a plain sentence naming both, fit to follow a config path.
    """

    def __init__(self, message: str, column: int, expected: str):
        super().__init__(message)
        self.column = column
        self.expected = expected


def _error(column: int, expected: str, detail: str = "") -> QuerySyntaxError:
    return QuerySyntaxError(f"column {column}: expected {expected}{detail}", column, expected)


@dataclass(frozen=True)
class Term:
    """A word, a prefix (``provoc*``) or a phrase that must occur, as written in the query.

    An exact term (``=scum``) keeps its "=" in ``text``, as a prefix keeps its "*", so the
    text alone says what the term finds. ``field`` is None (title or text), "title" or "text".
    """

    text: str
    phrase: bool = False
    field: str | None = None

    @property
    def prefix(self) -> bool:
        """Whether the term's last word may go on (``provoc*`` finds provocation)."""
        return self.text.endswith("*")

    @property
    def exact(self) -> bool:
        """Whether the term finds only the form written (``=scum``: not scums)."""
        return self.text.startswith("=")


@dataclass(frozen=True)
class Meta:
    """A test of the article's metadata: ``source:kcna`` or ``lang:ko`` (a value may end in *)."""

    field: str  # "source" or "lang"
    value: str


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class Near:
    """Both sides occur at most ``distance`` words apart, in either order, in the same field.

    Each side is a Term or an Or of Terms.
    """

    left: Node
    right: Node
    distance: int


Node = Term | Meta | And | Or | Not | Near


def parse_query(text: str) -> Node:
    """Parse a rule query, or raise QuerySyntaxError naming the column at fault."""
    if not text.strip():
        raise QuerySyntaxError("empty query", 1, "a term")
    parser = _Parser(text)
    try:
        node = parser.parse()
    except RecursionError:
        raise QuerySyntaxError("too deeply nested", 1, "fewer nested parentheses") from None
    # A query that can hold for an article containing none of its terms would alert on
    # nearly everything ("NOT sports", "a OR NOT b", "lang:ko"); refuse it here.
    if _without_terms(node) is not False:
        column = parser.first_not_column or 1
        hint = "as written, the query matches articles that contain none of its terms"
        if metas(node):
            hint = "source: and lang: only narrow what the terms match"
        raise _error(column, "at least one term that must appear", f" ({hint})")
    return node


def parse_term(text: str) -> Term:
    """A synonym or other term given on its own: a phrase when it has several words.

    It takes no operators; a final ``*`` makes it a prefix, a leading ``=`` exact.
    """
    text = text.strip()
    exact = text.startswith(EXACT)
    text = text.removeprefix(EXACT).strip() if exact else text
    if len(text) > 1 and text[0] in _OPEN_QUOTES and _CLOSE_QUOTES.fullmatch(text[-1]):
        text = text[1:-1].strip()
    words = text.split()
    if not any(ch.isalnum() for ch in text):
        raise QuerySyntaxError(f"{text!r} has no letters or digits", 1, "a term")
    star = text.find("*")
    if star != -1 and (star != len(text) - 1 or star == 0 or not _is_word_char(text[star - 1])):
        raise _error(star + 1, 'a "*" only at the end of a term (provoc*)')
    if exact and star != -1:
        raise _error(1, f'a whole word after "{EXACT}", or a prefix without it', ' ("*" already finds every ending)')
    return Term((EXACT if exact else "") + " ".join(words), phrase=len(words) > 1)


def terms(node: Node) -> list[Term]:
    """Every distinct term of the query, in the order they are written."""
    return _distinct(term for term, _ in _walk(node, negated=False))


def positive_terms(node: Node) -> list[Term]:
    """The distinct terms that count *for* a match (not under an odd number of NOTs)."""
    return _distinct(term for term, negated in _walk(node, negated=False) if not negated)


def metas(node: Node) -> list[Meta]:
    """The distinct source: and lang: tests of the query."""
    if isinstance(node, Meta):
        return [node]
    if isinstance(node, (Term, Near)):
        return []
    children = (node.item,) if isinstance(node, Not) else node.items
    return list(dict.fromkeys(meta for child in children for meta in metas(child)))


def evaluate(node: Node, present: Callable[[Term], bool],
             near: Callable[[Near], bool] | None = None, meta: Callable[[Meta], bool] | None = None) -> bool:
    """Whether the query holds, given which terms occur; short-circuits like Python.

    Without ``near``, a NEAR holds when both its sides are present; without ``meta``,
    every source: and lang: test fails.
    """
    if isinstance(node, Term):
        return present(node)
    if isinstance(node, And):
        return all(evaluate(item, present, near, meta) for item in node.items)
    if isinstance(node, Or):
        return any(evaluate(item, present, near, meta) for item in node.items)
    if isinstance(node, Not):
        return not evaluate(node.item, present, near, meta)
    if isinstance(node, Near):
        if near is not None:
            return near(node)
        return evaluate(node.left, present) and evaluate(node.right, present)
    return meta(node) if meta is not None else False


def _without_terms(node: Node) -> bool | None:
    """The query's value when no term occurs, in three-valued logic: None when it depends on metadata."""
    if isinstance(node, (Term, Near)):
        return False
    if isinstance(node, Meta):
        return None
    if isinstance(node, Not):
        value = _without_terms(node.item)
        return None if value is None else not value
    values = [_without_terms(item) for item in node.items]
    decisive = isinstance(node, Or)  # True decides an Or, False an And
    if decisive in values:
        return decisive
    return None if None in values else not decisive


def _walk(node: Node, negated: bool) -> Iterator[tuple[Term, bool]]:
    if isinstance(node, Term):
        yield node, negated
    elif isinstance(node, Not):
        yield from _walk(node.item, not negated)
    elif isinstance(node, Near):
        yield from _walk(node.left, negated)
        yield from _walk(node.right, negated)
    elif isinstance(node, (And, Or)):
        for item in node.items:
            yield from _walk(item, negated)


def _distinct(items: Iterator[Term]) -> list[Term]:
    return list(dict.fromkeys(items))


# --- tokens -----------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # WORD, PHRASE, AND, OR, NOT, NEAR, FIELD, "(", ")" or END
    text: str
    column: int
    number: int = 0  # NEAR's distance


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
            token, i = _read_word(text, i)
            yield token
        elif ch == EXACT:
            token, i = _read_exact(text, i)
            yield token
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


def _read_word(text: str, i: int) -> tuple[_Token, int]:
    end = _word_end(text, i)
    word = text[i:end]
    following = text[end] if end < len(text) else ""
    if word == "NEAR":
        return _read_near(text, i, end)
    if following == ":" and word.isalpha():
        if word.lower() not in FIELDS:
            raise _error(i + 1, "a field (title:, text:, source: or lang:)", f', got "{word}:"')
        return _Token("FIELD", word.lower(), i + 1), end + 1
    if following == "*":
        end += 1
        if end < len(text) and _is_word_char(text[end]):
            raise _error(end + 1, 'the end of the word after "*"', " (a wildcard ends a word: provoc*)")
        if sum(map(_is_word_char, word)) < _MIN_PREFIX:
            raise _error(i + 1, f'at least {_MIN_PREFIX} letters before "*"')
        return _Token("WORD", word + "*", i + 1), end
    return _Token(word if word in _KEYWORDS else "WORD", word, i + 1), end


def _read_exact(text: str, i: int) -> tuple[_Token, int]:
    if i and _is_word_char(text[i - 1]):
        raise _error(i + 1, f'a space before "{EXACT}"', f' ("{EXACT}" starts an exact term: =scum)')
    following = text[i + 1] if i + 1 < len(text) else ""
    if following in _OPEN_QUOTES:
        token, end = _read_phrase(text, i + 1)
    elif following.isalnum():
        token, end = _read_word(text, i + 1)
    else:
        raise _error(i + 2, f'a word or a "phrase" right after "{EXACT}"', _EXACT_HINT)
    if token.kind not in ("WORD", "PHRASE"):
        raise _error(i + 2, f'a word or a "phrase" after "{EXACT}"', f", got {_describe(token)}")
    if token.text.endswith("*"):
        raise _error(i + 1, f'a whole word after "{EXACT}", or a prefix without it',
                     ' ("*" already finds every ending: provoc*)')
    return _Token(token.kind, EXACT + token.text, i + 1), end


def _read_near(text: str, i: int, end: int) -> tuple[_Token, int]:
    if end >= len(text) or text[end] != "/":
        raise _error(end + 1, '"/" and a number of words after NEAR',
                     " (NEAR/5: within 5 words; write near in lowercase for the word itself)")
    start = stop = end + 1
    while stop < len(text) and text[stop].isdigit():
        stop += 1
    if stop == start:
        raise _error(start + 1, "a number after NEAR/", " (NEAR/5: within 5 words)")
    distance = int(text[start:stop])
    if not 1 <= distance <= MAX_NEAR:
        raise _error(start + 1, f"a number of words from 1 to {MAX_NEAR} after NEAR/", f", got {distance}")
    if stop < len(text) and _is_word_char(text[stop]):
        raise _error(stop + 1, f"a space after NEAR/{distance}")
    return _Token("NEAR", text[i:stop], i + 1, distance), stop


def _read_phrase(text: str, i: int) -> tuple[_Token, int]:
    close = _CLOSE_QUOTES.search(text, i + 1)
    if close is None:
        raise QuerySyntaxError(
            f"column {i + 1}: unterminated quote opened here", i + 1, "a closing quote"
        )
    raw = text[i + 1 : close.start()]
    phrase = " ".join(raw.split())
    if not any(ch.isalnum() for ch in phrase):
        raise _error(i + 1, "words inside the quotes")
    star = raw.find("*")
    if star != -1 and (star != len(raw.rstrip()) - 1 or not _is_word_char(raw[star - 1])):
        raise _error(i + 2 + star, 'a "*" only at the end of a phrase\'s last word', ' ("sexual viol*")')
    return _Token("PHRASE", phrase, i + 1), close.end()


def _bad_character(ch: str, column: int) -> QuerySyntaxError:
    hint = "words are letters and digits; put other characters in \"quotes\""
    if ch == "-":
        hint = "use NOT to exclude a term"
    elif ch == "*":
        hint = "a wildcard goes at the end of a word: provoc*"
    return _error(column, "a term", f', got "{ch}" ({hint})')


def _describe(token: _Token) -> str:
    if token.kind == "END":
        return "the end of the query"
    if token.kind in _KEYWORDS or token.kind == "NEAR":
        return token.text
    if token.kind == "FIELD":
        return f'"{token.text}:"'
    return f'"{token.text}"'


# --- grammar ----------------------------------------------------------------
#   query   := or END
#   or      := and ("OR" and)*
#   and     := unary (["AND"] unary)*
#   unary   := "NOT" unary | near
#   near    := primary ("NEAR/n" primary)*
#   primary := FIELD? (WORD | PHRASE | "(" or ")")


class _Parser:
    """Recursive descent over the token stream with one token of lookahead."""

    def __init__(self, text: str):
        self._stream = _tokens(text)
        self._next = next(self._stream)
        self._field: _Token | None = None  # the scope being parsed, if any
        self.first_not_column: int | None = None

    def parse(self) -> Node:
        node = self._or()
        if self._next.kind != "END":
            # Every other token is consumed by the rules above, so this is a ")".
            raise _error(self._next.column, "a term or operator", ', got ")" with no "(" to close')
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
            return self._near()
        token = self._advance()
        if self.first_not_column is None:
            self.first_not_column = token.column
        return Not(self._unary())

    def _near(self) -> Node:
        start = self._next
        left = self._primary()
        pairs = []
        while self._next.kind == "NEAR":
            operator = self._advance()
            right_start = self._next
            right = self._primary()
            pairs.append(Near(_near_side(left, start, operator), _near_side(right, right_start, operator),
                              operator.number))
            if _side_field(left) != _side_field(right):
                raise _error(operator.column, f"both sides of {operator.text} in the same field")
            left, start = right, right_start
        if not pairs:
            return left
        return pairs[0] if len(pairs) == 1 else And(tuple(pairs))

    def _primary(self) -> Node:
        token = self._advance()
        if token.kind == "FIELD":
            return self._scoped(token)
        if token.kind in ("WORD", "PHRASE"):
            return self._term(token)
        if token.kind == "(":
            return self._group(token)
        raise _error(token.column, "a term", f", got {_describe(token)}")

    def _scoped(self, field: _Token) -> Node:
        if self._field is not None:
            raise _error(field.column, "a term", f', got "{field.text}:" inside '
                         f'"{self._field.text}:" at column {self._field.column} (fields do not nest)')
        following = self._next
        if following.kind not in ("WORD", "PHRASE", "("):
            raise _error(following.column, f'a term after "{field.text}:"', f", got {_describe(following)}")
        self._field = field
        try:
            return self._primary()
        finally:
            self._field = None

    def _term(self, token: _Token) -> Node:
        field = self._field.text if self._field else None
        if field not in ("source", "lang"):
            return Term(token.text, phrase=token.kind == "PHRASE", field=field)
        pattern, what = _META_VALUE[field]
        value = token.text.lower()
        if token.kind == "PHRASE" or not pattern.fullmatch(value):
            raise _error(token.column, f"{what} after {field}:", f", got {_describe(token)}")
        return Meta(field, value)

    def _group(self, opening: _Token) -> Node:
        node = self._or()
        if self._next.kind != ")":
            raise _error(self._next.column, f'")" to close the "(" at column {opening.column}')
        self._advance()
        return node


def _near_side(node: Node, start: _Token, operator: _Token) -> Node:
    """A side of NEAR must be a term or an OR of terms, in one field."""
    items = node.items if isinstance(node, Or) else (node,)
    if all(isinstance(item, Term) for item in items) and len({item.field for item in items}) == 1:
        return node
    raise _error(start.column, f"a term, a phrase or (a OR b) on each side of {operator.text}")


def _side_field(node: Node) -> str | None:
    return node.field if isinstance(node, Term) else node.items[0].field

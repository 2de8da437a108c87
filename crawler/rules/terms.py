"""Terms as rules and snippets find them: normalised text, and where a term occurs in it.

Text is compared normalised (NFKC, casefold, typographic quotes and dashes folded), with
every run of spaces and hyphens read as one space. Latin terms match on word boundaries;
Hangul has none (Korean attaches particles to the word); a prefix (``provoc*``) may go on to
the end of its word. A term's last English word also finds its regular plural (``scum``
finds scums, ``atrocity`` atrocities, ``church`` churches), unless the term is marked exact
(``=scum``); a possessive ("Korea's", "victims'") needs nothing, as the apostrophe ends a
word. Pure functions, shared by the matcher and the snippets.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata

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
_FOLD_TO = {chr(code): to or "" for code, to in _FOLD.items()}
_FOLDED = re.compile("[" + "".join(_FOLD_TO) + "]")

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
_REST_OF_WORD = f"[^\\W{_UNSPACED}]*"
# A whole word of a spaced script: what a Latin term must equal exactly.
_BOUNDED_WORD = re.compile(f"[^\\W{_UNSPACED}]+")
_WORD_GAP = re.compile(r"[\s\-]+")
_SPACE = re.compile(r"\s+")
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
# A phrase's Hangul words may be written apart or together; past this many such gaps the
# spellings are too many to list, and the phrase is confirmed by its regular expression.
_MAX_JOINED_GAPS = 6
# Regular English plurals are made of the last word's ASCII letters only; shorter words
# ("us", "un", "eu") are mostly abbreviations, whose -es form would be another word ("uses").
_MIN_PLURAL_LETTERS = 3
_SIBILANT_ENDS = ("s", "x", "z", "sh", "ch")
_VOWELS = frozenset("aeiou")


def normalize(text: str) -> str:
    """The form both queries and articles are compared in."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    # casefold can leave decomposed sequences ("ǰ"); recompose them.
    if not unicodedata.is_normalized("NFKC", folded):
        folded = unicodedata.normalize("NFKC", folded)
    # Replacing the few folded characters where they occur is far faster than translate().
    return _FOLDED.sub(lambda found: _FOLD_TO[found[0]], folded)


def searchable(text: str) -> str:
    """``normalize(text)`` with each run of spaces and hyphens made one space: what rules search.

    (``str.split`` and ``\\s`` agree on what is a space; ends are stripped.)
    """
    return " ".join(normalize(text).replace("-", " ").split())


# --- terms ------------------------------------------------------------------


@functools.lru_cache(maxsize=16384)
def term_words(term: str) -> tuple[str, ...]:
    """A term's normalised words; a prefix keeps its "*"."""
    words = tuple(word for word in _WORD_GAP.split(normalize(term)) if word)
    if not words:
        raise ValueError(f"term {term!r} has no words")
    return words


def term_pattern(term: str) -> re.Pattern:
    """The regular expression that finds ``term`` in normalised text.

    Terms that normalise alike ("DPRK", "ＤＰＲＫ", "dprk"; "Kim-Jong-un", "Kim Jong un")
    share one pattern object, so an article is searched for them once.
    """
    return _compile_words(term_words(term))


def plural_forms(word: str) -> tuple[str, ...]:
    """A normalised English word's regular plurals, longest first; none for other words.

    report -> reports; church -> churches, churchs (monarchs); box -> boxes; atrocity ->
    atrocities, atrocitys (the Kennedys); hero -> heroes, heros. Irregular plurals (women,
    wives, children) are not guessed: a rule names them.
    """
    if len(word) < _MIN_PLURAL_LETTERS or not (word.isascii() and word.isalpha()):
        return ()
    if word.endswith("ch"):
        return word + "es", word + "s"
    if word.endswith(_SIBILANT_ENDS):
        return (word + "es",)
    if word.endswith("y") and word[-2] not in _VOWELS:
        return word[:-1] + "ies", word + "s"
    if word.endswith("o"):
        return word + "es", word + "s"
    return (word + "s",)


def _parts(words: tuple[str, ...]) -> tuple[list[str], tuple[str, ...], bool, str]:
    """The words to find, the forms of the last one, whether it is a prefix, the optional final dot."""
    words = list(words)
    exact = len(words[0]) > 1 and words[0].startswith("=")
    if exact:
        words[0] = words[0][1:]
    prefix = len(words[-1]) > 1 and words[-1].endswith("*")
    dot = ""
    if prefix:
        words[-1] = words[-1][:-1]
    elif len(words[-1]) > 1 and words[-1].endswith("."):
        # An abbreviation's final dot is optional: "U.N." also finds "the U.N" (and the
        # boundary is checked before it, so "U.N.'s" matches too).
        words[-1], dot = words[-1][:-1], r"\.?"
    # Only the last word takes a plural: the head of an English noun phrase comes last
    # ("human scums", "prison guards", "press statements").
    plurals = () if exact or prefix or dot else plural_forms(words[-1])
    return words, tuple(sorted((*plurals, words[-1]), key=len, reverse=True)), prefix, dot


def first_word(words: tuple[str, ...]) -> str:
    """The term's first word as it occurs in text: without the "=" of an exact term or a "*"."""
    return _parts(words)[0][0]


def _body(words: list[str], last: tuple[str, ...]) -> str:
    """The words in order with the gaps allowed between them, the last in any of its forms."""
    body = ""
    for before, word in itertools.pairwise(words):
        body += re.escape(before) + _gap(before[-1], word[0])
    if len(last) == 1:
        return body + re.escape(last[0])
    # Longest first: where a longer form fails its end boundary, a shorter one (a prefix
    # of it, ended by a letter) fails it too, so one try per position is enough.
    return body + "(?:" + "|".join(map(re.escape, last)) + ")"


@functools.lru_cache(maxsize=65536)
def _compile_words(words: tuple[str, ...]) -> re.Pattern:
    words, forms, prefix, dot = _parts(words)
    body = _body(words, forms)
    last = words[-1][-1]
    after = (_REST_OF_WORD if _BOUNDED_CHAR.match(last) else "") if prefix else _boundary_after(last)
    return re.compile(_boundary_before(words[0][0]) + body + after + dot)


@functools.lru_cache(maxsize=65536)
def _finder(words: tuple[str, ...]) -> tuple[re.Pattern, bool, bool, bool, bool]:
    """The term's letters and gaps as a pattern quick to compile (a word-boundary class of
    all Unicode takes milliseconds), with the boundaries and endings ``_spans`` checks itself."""
    words, forms, prefix, dot = _parts(words)
    body = _body(words, forms)
    bounded_start, bounded_end = bool(_BOUNDED_CHAR.match(words[0][0])), bool(_BOUNDED_CHAR.match(words[-1][-1]))
    return re.compile(body), bounded_start, bounded_end, prefix, bool(dot)


def _spans(text: str, words: tuple[str, ...]) -> list[tuple[int, int]]:
    """Where ``term_pattern`` would match in ``text``: the same spans, found without it."""
    pattern, bounded_start, bounded_end, prefix, dot = _finder(words)
    spans, pos, n = [], 0, len(text)
    while (found := pattern.search(text, pos)) is not None:
        start, end = found.span()
        if (bounded_start and start and _bounded(text[start - 1])) or (
                bounded_end and not prefix and end < n and _bounded(text[end])):
            pos = start + 1
            continue
        if prefix and bounded_end:
            while end < n and _bounded(text[end]):
                end += 1
        elif dot and end < n and text[end] == ".":
            end += 1
        spans.append((start, end))
        pos = max(end, start + 1)
    return spans


def _literals(words: tuple[str, ...]) -> tuple[list[str] | None, bool, bool]:
    """Every spelling of the term in searchable text (None: too many), and which ends need a boundary."""
    words, forms, prefix, _ = _parts(words)
    spellings, joined = [""], 0
    for before, word in itertools.pairwise(words):
        if _UNSPACED_CHAR.match(before[-1]) and _UNSPACED_CHAR.match(word[0]):
            joined += 1
            spellings = [s + before + gap for s in spellings for gap in ("", " ")]
        else:
            spellings = [s + before + " " for s in spellings]
    spellings = [s + form for s in spellings for form in forms]
    check_before = bool(_BOUNDED_CHAR.match(words[0][0]))
    check_after = not prefix and bool(_BOUNDED_CHAR.match(words[-1][-1]))
    return (spellings if joined <= _MAX_JOINED_GAPS else None), check_before, check_after


def _cost(words: tuple[str, ...]) -> float:
    """A guess of how often a term occurs: short words often, long phrases seldom."""
    return (3.0 if words[-1].endswith("*") else 1.0) / (sum(map(len, words)) * len(words))


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


def _bounded(ch: str) -> bool:
    return _BOUNDED_CHAR.match(ch) is not None

"""Telling a body's real charset when its label is wrong: for pages and feeds alike.

A label (an HTTP header, a meta tag, an XML declaration) that cannot decode the body, or a
Western single-byte one (Latin-1 decodes any bytes) on a body that reads as UTF-8, as a CJK
multi-byte encoding, or as Cyrillic or Greek, is overruled by what the bytes are. Pure
functions: the page middleware (downloadermiddlewares.charset) and the feed reader
(crawler.parse.feeds) each apply the answer their own way.
"""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes
from w3lib.encoding import html_body_declared_encoding, resolve_encoding

WESTERN = {"cp1252", "latin_1", "iso8859_1", "iso8859_15", "ascii"}
CJK = {"cp949", "euc_kr", "iso2022_kr", "johab", "big5", "big5hkscs", "cp950", "gb2312", "gbk",
       "gb18030", "hz", "shift_jis", "cp932", "euc_jp", "iso2022_jp", "euc_jis_2004", "shift_jis_2004"}
# Single-byte encodings of other scripts: Cyrillic and Greek text sent as cp1252/Latin-1
# reads as a run of accented Latin letters ("Ïðàâîçàùèòíèêè").
OTHER_SINGLE_BYTE = {"cp1251", "koi8_r", "koi8_u", "iso8859_5", "mac_cyrillic", "cp866",
                     "cp1253", "iso8859_7", "mac_greek"}
# A detected encoding and the superset its writers really use: Korean sites labelled
# EUC-KR write cp949 syllables outside its 2,350, Japanese ones cp932's extra signs.
_SUPERSETS = {"euc_kr": "cp949", "shift_jis": "cp932", "gb2312": "gb18030", "gbk": "gb18030", "big5": "cp950"}
_TAG = re.compile(r"<script.*?</script>|<style.*?</style>|<[^>]*>", re.IGNORECASE | re.DOTALL)
_HIGH_RUN = re.compile(rb"[\x80-\xff]+")


def codec_name(name: str | None) -> str | None:
    """Python's name of an encoding label ("ISO-8859-1" -> "latin_1"); None if unknown."""
    if not name:
        return None
    resolved = resolve_encoding(name) or name
    try:
        return codecs.lookup(resolved).name.replace("-", "_")
    except LookupError:
        return None


def corrected_encoding(body: bytes, declared: str) -> str | None:
    """The encoding to use instead of the label's `declared` (a codec name), or None to keep it."""
    if not body or body.isascii():
        return None
    if _decodes(body, declared):
        return _instead_of_western(body, declared) if declared in WESTERN else None
    meta = codec_name(html_body_declared_encoding(body))
    if meta and meta != declared and _decodes(body, meta):
        return meta
    guess = _detected(body)
    return guess if guess and guess != declared else None


def _instead_of_western(body: bytes, declared: str) -> str | None:
    """What a body a Western single-byte label decodes (as it decodes anything) really is."""
    if _decodes(body, "utf_8"):
        # Non-ASCII bytes that happen to form valid UTF-8 are UTF-8: a Western text in
        # cp1252 almost never does ("é" alone is not valid UTF-8), mislabelled UTF-8
        # always does ("Ã©" would be shown instead of "é").
        return "utf_8"
    guess = _detected(body)
    if guess in CJK and _double_byte(body):
        return guess
    if guess in OTHER_SINGLE_BYTE and _mojibake(body.decode(declared)):
        return guess
    return None


def _detected(body: bytes) -> str | None:
    """charset_normalizer's best guess that decodes the whole body (or its superset does)."""
    match = from_bytes(body).best()
    guess = codec_name(match.encoding) if match else None
    for candidate in (guess, _SUPERSETS.get(guess or "")):
        if candidate and _decodes(body, candidate):
            return candidate
    return None


def _double_byte(body: bytes) -> bool:
    """Whether the body's non-ASCII bytes mostly come in runs, as CJK text's two-byte
    characters do; a Western text's accented letters stand alone between ASCII ones
    ("élection"), which a CJK codec may still happen to decode."""
    runs = _HIGH_RUN.findall(body)
    high = sum(len(run) for run in runs)
    paired = sum(len(run) for run in runs if len(run) > 1)
    return high > 0 and paired / high >= 0.5


def _mojibake(text: str) -> bool:
    """Whether a text's visible letters, read as Latin-1, are mostly accented Latin letters.

    Real Western text has a few (French: a letter in twenty or so); another script read
    as Latin-1 has almost nothing else.
    """
    letters = [c for c in _TAG.sub(" ", text) if c.isalpha()]
    accented = sum("\u00c0" <= c <= "\u00ff" for c in letters)
    return bool(letters) and accented / len(letters) >= 0.3


def _decodes(body: bytes, encoding: str) -> bool:
    try:
        body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    return True

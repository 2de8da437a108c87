"""A charset the HTTP header gets wrong is corrected from the body.

Scrapy trusts the Content-Type charset over everything else. A Korean page in EUC-KR sent
as "charset=utf-8" then decodes to replacement characters, and one sent as ISO-8859-1
to mojibake (Latin-1 decodes any bytes). When the declared charset cannot decode the
body, or is a Western single-byte one while the body is valid UTF-8, reads as a CJK
multi-byte encoding, or reads as Cyrillic or Greek that Latin-1 turns into accented
letters, the page's own meta charset (if it decodes) or the detected encoding is used.
Without any declaration Scrapy already detects the encoding (EUC-KR as cp949).
"""

from __future__ import annotations

import codecs
import logging
import re

from charset_normalizer import from_bytes
from scrapy.http import HtmlResponse
from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, resolve_encoding

log = logging.getLogger("presswatch.crawl")

_WESTERN = {"cp1252", "latin_1", "iso8859_1", "iso8859_15", "ascii"}
_CJK = {"cp949", "euc_kr", "iso2022_kr", "johab", "big5", "big5hkscs", "cp950", "gb2312", "gbk",
        "gb18030", "hz", "shift_jis", "cp932", "euc_jp", "iso2022_jp", "euc_jis_2004", "shift_jis_2004"}


# Single-byte encodings of other scripts: Cyrillic and Greek text sent as cp1252/Latin-1
# reads as a run of accented Latin letters ("Ïðàâîçàùèòíèêè").
_OTHER_SINGLE_BYTE = {"cp1251", "koi8_r", "koi8_u", "iso8859_5", "mac_cyrillic", "cp866",
                      "cp1253", "iso8859_7", "mac_greek"}
_TAG = re.compile(r"<script.*?</script>|<style.*?</style>|<[^>]*>", re.IGNORECASE | re.DOTALL)


def _mojibake(text: str) -> bool:
    """Whether a page's visible text, read as Latin-1, is mostly accented Latin letters.

    Real Western text has a few (French: a letter in twenty or so); another script read
    as Latin-1 has almost nothing else.
    """
    letters = [c for c in _TAG.sub(" ", text) if c.isalpha()]
    accented = sum("\u00c0" <= c <= "\u00ff" for c in letters)
    return bool(letters) and accented / len(letters) >= 0.3


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    resolved = resolve_encoding(name) or name
    try:
        return codecs.lookup(resolved).name.replace("-", "_")
    except LookupError:
        return None


def _decodes(body: bytes, encoding: str) -> bool:
    try:
        body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def corrected_encoding(body: bytes, declared: str) -> str | None:
    """The encoding to use instead of the header's `declared`, or None to keep it."""
    if not body or body.isascii():
        return None
    if _decodes(body, declared):
        if declared not in _WESTERN:
            return None
        if _decodes(body, "utf_8"):
            # Non-ASCII bytes that happen to form valid UTF-8 are UTF-8: a Western text in
            # cp1252 almost never does ("é" alone is not valid UTF-8), mislabelled UTF-8
            # always does ("Ã©" would be shown instead of "é").
            return "utf_8"
        match = from_bytes(body).best()
        guess = _codec(match.encoding) if match else None
        if guess in _CJK and _decodes(body, guess):
            return guess
        if guess in _OTHER_SINGLE_BYTE and _decodes(body, guess) and _mojibake(body.decode(declared)):
            return guess
        return None
    meta = _codec(html_body_declared_encoding(body))
    if meta and meta != declared and _decodes(body, meta):
        return meta
    match = from_bytes(body).best()
    guess = _codec(match.encoding) if match else None
    return guess if guess and guess != declared and _decodes(body, guess) else None


class CharsetMiddleware:

    def process_response(self, request, response):
        if not isinstance(response, HtmlResponse):
            return response
        content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
        declared = _codec(http_content_type_encoding(content_type))
        if declared is None:
            return response
        better = corrected_encoding(response.body, declared)
        if better is None:
            return response
        log.info("charset: the header says %s, the page is %s (%s)", declared, better, response.url)
        return response.replace(encoding=better)

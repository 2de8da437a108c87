"""A charset the HTTP header gets wrong is corrected from the body.

Scrapy trusts the Content-Type charset over everything else. A Korean page in EUC-KR sent
as "charset=utf-8" then decodes to replacement characters, and one sent as ISO-8859-1
to mojibake (Latin-1 decodes any bytes). When the declared charset cannot decode the
body, or is a Western single-byte one while the body reads as a CJK multi-byte encoding,
the page's own meta charset (if it decodes) or the detected encoding is used instead.
Without any declaration Scrapy already detects the encoding (EUC-KR as cp949).
"""

from __future__ import annotations

import codecs
import logging

from charset_normalizer import from_bytes
from scrapy.http import HtmlResponse
from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, resolve_encoding

log = logging.getLogger("presswatch.crawl")

_WESTERN = {"cp1252", "latin_1", "iso8859_1", "iso8859_15", "ascii"}
_CJK = {"cp949", "euc_kr", "iso2022_kr", "johab", "big5", "big5hkscs", "cp950", "gb2312", "gbk",
        "gb18030", "hz", "shift_jis", "cp932", "euc_jp", "iso2022_jp", "euc_jis_2004", "shift_jis_2004"}


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
        match = from_bytes(body).best()
        guess = _codec(match.encoding) if match else None
        return guess if guess in _CJK and _decodes(body, guess) else None
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

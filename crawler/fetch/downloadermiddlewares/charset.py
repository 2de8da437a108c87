"""A charset the HTTP header gets wrong is corrected from the body.

Scrapy trusts the Content-Type charset over everything else. A Korean page in EUC-KR sent
as "charset=utf-8" then decodes to replacement characters, and one sent as ISO-8859-1
to mojibake (Latin-1 decodes any bytes). When the declared charset cannot decode the
body, or is a Western single-byte one while the body is valid UTF-8, reads as a CJK
multi-byte encoding, or reads as Cyrillic or Greek that Latin-1 turns into accented
letters, the page's own meta charset (if it decodes) or the detected encoding is used
(crawler.parse.charset decides; feeds get the same answer in crawler.parse.feeds).
Without any declaration Scrapy already detects the encoding (EUC-KR as cp949).
"""

from __future__ import annotations

import logging

from scrapy.http import HtmlResponse
from w3lib.encoding import http_content_type_encoding

from presswatch.crawler.parse.charset import codec_name, corrected_encoding

__all__ = ["CharsetMiddleware", "corrected_encoding"]

log = logging.getLogger("presswatch.crawl")


class CharsetMiddleware:

    def process_response(self, request, response):
        if not isinstance(response, HtmlResponse):
            return response
        content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
        declared = codec_name(http_content_type_encoding(content_type))
        if declared is None:
            return response
        better = corrected_encoding(response.body, declared)
        if better is None:
            return response
        log.info("charset: the header says %s, the page is %s (%s)", declared, better, response.url)
        return response.replace(encoding=better)

"""Size limits with a plain reason: an oversize response, and a body that inflates past the limit.

Scrapy enforces DOWNLOAD_MAXSIZE while downloading and while decompressing; these two
middlewares only turn its exceptions into a `ResponseTooLarge` that says so.
"""

from __future__ import annotations

from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest

from presswatch.crawler.fetch.downloadermiddlewares import ResponseTooLarge


def _limit(request, crawler) -> int:
    return int(request.meta.get("download_maxsize", crawler.settings.getint("DOWNLOAD_MAXSIZE")))


class SizeLimitMiddleware:
    """Names the reason when the download handler cancelled a response over the limit."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_exception(self, request, exception):
        if not isinstance(exception, DownloadCancelledError):
            return None
        message = str(exception)
        engine = self.crawler.engine
        # Announced too large (Content-Length): Scrapy says so; found too large while
        # reading: the download is cancelled without a message. A shutdown cancels too.
        if "download max size" in message or (not message and engine is not None and engine.running):
            limit = _limit(request, self.crawler)
            raise ResponseTooLarge(f"response larger than the size limit of {limit} bytes") from exception
        return None


class LimitedHttpCompressionMiddleware(HttpCompressionMiddleware):
    """Scrapy's decompression, with a gzip (or other) bomb reported as too large."""

    def process_response(self, request, response, spider=None):
        try:
            return super().process_response(request, response)
        except IgnoreRequest as exc:
            if "during decompression" not in str(exc):
                raise
            limit = int(request.meta.get("download_maxsize", self._max_size))
            raise ResponseTooLarge(
                f"response larger than the size limit of {limit} bytes once decompressed "
                f"({len(response.body)} bytes compressed)") from exc

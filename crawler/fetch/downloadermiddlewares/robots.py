"""Scrapy's robots.txt middleware, with a robots.txt that cannot be fetched told in one line.

Scrapy logs every robots.txt it could not download at ERROR with the whole traceback: on
a machine without a network that is an error and forty lines for each host, for what is
a routine failure the source's own request reports again right after (one WARNING line
naming the source, and the reason on its record). Here a network failure is one INFO
line naming the source and the host; anything else (a bug) stays an ERROR with its
traceback. What is obeyed is Scrapy's business: a robots.txt that cannot be read allows
everything, as in Scrapy.
"""

from __future__ import annotations

import logging
import time

from OpenSSL.SSL import Error as TLSError
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.utils.httpobj import urlparse_cached
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectError, ConnectionLost
from twisted.internet.error import TimeoutError as TwistedTimeoutError
from twisted.web.client import ResponseFailed, ResponseNeverReceived

from presswatch.crawler.fetch.downloadermiddlewares import source_id_of

log = logging.getLogger("presswatch.crawl")

# What the network does to a request on a bad day; anything else reaching robots.txt is ours.
NETWORK_ERRORS = (
    CannotResolveHostError, DownloadConnectionRefusedError, DownloadTimeoutError,
    DownloadCancelledError, DownloadFailedError, ResponseDataLossError, ConnectError,
    ConnectionLost, TwistedTimeoutError, ResponseFailed, ResponseNeverReceived, TLSError, OSError,
)

SCRAPY_LOGGER = "scrapy.downloadermiddlewares.robotstxt"
# A host's robots.txt is read again when its copy is this old (seconds): the crawl engine
# lives as long as the daemon, and RFC 9309 asks that a copy be kept no longer than a day.
MAX_AGE = 3600.0


class _ScrapyDownloadError(logging.Filter):
    """Drops Scrapy's own "Error downloading" record: `_robots_error` tells it instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Error downloading")


_FILTER = _ScrapyDownloadError()


class QuietRobotsTxtMiddleware(RobotsTxtMiddleware):

    def __init__(self, crawler):
        super().__init__(crawler)
        logging.getLogger(SCRAPY_LOGGER).addFilter(_FILTER)  # once: the same filter is not added twice
        self.read_at: dict[str, float] = {}  # netloc -> when its robots.txt was asked for
        self.asked_by: dict[str, str | None] = {}  # netloc -> the source whose request asked

    async def robot_parser(self, request):
        netloc = urlparse_cached(request).netloc
        read = self.read_at.get(netloc)
        stale = read is not None and time.monotonic() - read > MAX_AGE
        if stale and not isinstance(self._parsers.get(netloc), Deferred):  # (not while being read)
            del self._parsers[netloc]
        if netloc not in self._parsers:
            self.read_at[netloc] = time.monotonic()
            self.asked_by[netloc] = source_id_of(request, self.crawler)
        return await super().robot_parser(request)

    def _robots_error(self, exc: Exception, netloc: str) -> None:
        source = self.asked_by.get(netloc) or "-"
        if isinstance(exc, IgnoreRequest):
            log.info("source=%s robots.txt of %s not read: %s", source, netloc, exc)
        elif isinstance(exc, NETWORK_ERRORS):
            detail = str(exc).strip().rstrip(".") or type(exc).__name__
            log.info("source=%s robots.txt of %s not read: %s; its pages are asked for as if it "
                     "allowed them", source, netloc, detail)
        else:
            log.error("source=%s robots.txt of %s not read", source, netloc, exc_info=exc)
        super()._robots_error(exc, netloc)

"""Retries with backoff; 429 and 503 honour Retry-After, up to a cap.

Replaces Scrapy's RetryMiddleware (same settings: RETRY_TIMES, RETRY_HTTP_CODES,
RETRY_EXCEPTIONS). The wait happens in the middleware as an asynchronous sleep, so the
reactor goes on serving every other request meanwhile.

Settings of ours:
- PRESSWATCH_RETRY_BACKOFF: the first wait, in seconds, doubled for each further retry;
- PRESSWATCH_RETRY_MAX_BACKOFF: the longest wait without a Retry-After;
- PRESSWATCH_MAX_RETRY_AFTER: the longest Retry-After honoured; a server asking for more
  ends the request for this run with that reason.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.utils.asyncio import sleep
from scrapy.utils.response import response_status_message

from presswatch.crawler.fetch.downloadermiddlewares import RetryGivenUp

log = logging.getLogger("presswatch.crawl")

THROTTLE_CODES = frozenset({429, 503})


def retry_after_seconds(value: bytes | str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds from now: delay-seconds or an HTTP date; None if absent or unusable."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


class BackoffRetryMiddleware(RetryMiddleware):

    def __init__(self, settings):
        super().__init__(settings)
        self.backoff = settings.getfloat("PRESSWATCH_RETRY_BACKOFF", 1.0)
        self.max_backoff = settings.getfloat("PRESSWATCH_RETRY_MAX_BACKOFF", 60.0)
        self.max_retry_after = settings.getfloat("PRESSWATCH_MAX_RETRY_AFTER", 600.0)

    def backoff_for(self, retry_times: int) -> float:
        """Exponential backoff with jitter (between half and all of the doubled wait)."""
        wait = min(self.max_backoff, self.backoff * 2 ** max(0, retry_times - 1))
        return wait * random.uniform(0.5, 1.0)

    async def wait(self, seconds: float, request) -> None:
        """Sleep without blocking the reactor, in short steps so that a shutdown is not held up."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            engine = self.crawler.engine
            if engine is not None and not engine.running:
                raise RetryGivenUp(f"the crawl stopped while waiting to retry {request.url}")
            await sleep(min(remaining, 0.5))

    async def process_response(self, request, response):
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        asked = None
        if response.status in THROTTLE_CODES:
            asked = retry_after_seconds(response.headers.get("Retry-After"))
            if asked is not None and asked > self.max_retry_after:
                raise RetryGivenUp(
                    f"HTTP {response.status}: the server asks to wait {asked:.0f} s (Retry-After), "
                    f"more than the {self.max_retry_after:.0f} s limit; given up for this run")
        retry = self._retry(request, response_status_message(response.status))
        if retry is None:
            return response  # retries used up: the spider sees the HTTP error
        wait = asked if asked is not None else self.backoff_for(retry.meta["retry_times"])
        log.debug("retrying %s in %.1f s after HTTP %d", request.url, wait, response.status)
        await self.wait(wait, request)
        return retry

    async def process_exception(self, request, exception):
        if request.meta.get("dont_retry", False) or not isinstance(exception, self.exceptions_to_retry):
            return None
        retry = self._retry(request, exception)
        if retry is None:
            return None
        wait = self.backoff_for(retry.meta["retry_times"])
        log.debug("retrying %s in %.1f s after %s", request.url, wait, type(exception).__name__)
        await self.wait(wait, request)
        return retry

"""One pace per host for every crawl of this process: `crawl.delay` between requests to a site.

Scrapy spaces requests per download slot, and each source run has slots of its own (in
the crawl engine, or a worker's crawler per job), so two sources on one site (an outlet's
English and Korean feeds, several Google News searches) would each keep their own pace and
hit the site together. This middleware holds the next free moment of each host for all of
them: a request waits until then, and books the moment its delay later for the next one
(`crawl.delay`, or its source's own `delay`, carried as meta `presswatch_delay`). Requests
of one run are then spaced by at least the delay (Scrapy's own randomised wait may add to it).

On a remote worker each job is a process of its own; there the booking is kept in Redis
(`share_through`), read and written by one script on the server with the server's clock, so
the pace holds across every job and worker that shares the queue.
"""

from __future__ import annotations

import asyncio
import logging
import time

from scrapy.utils.httpobj import urlparse_cached

from presswatch.crawler.fetch.downloadermiddlewares import CrawlStopped

log = logging.getLogger("presswatch.crawl")

DELAY_META = "presswatch_delay"  # a source's own delay, on each request of its run in the crawl engine


# KEYS[1]: the host's key; ARGV[1]: the delay. Books the host's next free moment, returns
# how long to wait for it (seconds, as text). The key expires a minute after it is free.
_BOOK = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local start = math.max(t, tonumber(redis.call('GET', KEYS[1]) or '0'))
local free = start + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.6f', free), 'PX', math.ceil((free - t) * 1000) + 60000)
return string.format('%.6f', start - t)
"""


class HostPacingMiddleware:
    next_free: dict[str, float] = {}  # host -> monotonic time its next request may go
    shared = None  # (Redis script, key prefix) on a worker: see share_through

    def __init__(self, delay: float):
        self.delay = delay
        self.stopping: asyncio.Event | None = None  # set when the crawl stops: waits end at once

    def stop_waiting(self) -> None:
        """The crawl is stopping: requests waiting for their host's pace are not sent."""
        if self.stopping is None:
            self.stopping = asyncio.Event()
        self.stopping.set()

    @classmethod
    def share_through(cls, connection, prefix: str) -> None:
        """Keep the hosts' bookings in Redis under `prefix` (a worker's jobs)."""
        cls.shared = (connection.register_script(_BOOK), prefix)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings.getfloat("DOWNLOAD_DELAY"))

    async def process_request(self, request):
        delay = request.meta.get(DELAY_META, self.delay)
        if delay <= 0:
            return None
        host = (urlparse_cached(request).hostname or "").lower()
        if self.stopping is not None and self.stopping.is_set():
            raise CrawlStopped("the crawl was stopped before this request was sent")
        wait = self._booked(host, delay)
        if wait > 0:
            if self.stopping is None:
                self.stopping = asyncio.Event()
            try:
                await asyncio.wait_for(self.stopping.wait(), wait)
            except TimeoutError:
                return None  # its turn came
            raise CrawlStopped("the crawl was stopped before this request was sent")
        return None

    def _booked(self, host: str, delay: float) -> float:
        if self.shared is not None:
            script, prefix = self.shared
            try:
                return float(script(keys=[f"{prefix}{host}"], args=[delay]))
            except Exception as exc:  # Redis away: this job keeps its own pace
                log.warning("pace of %s kept in this job only: %s", host, exc)
        now = time.monotonic()
        start = max(now, self.next_free.get(host, 0.0))
        self.next_free[host] = start + delay
        return start - now

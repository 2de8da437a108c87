"""One pace per host for every crawl of this process: `crawl.delay` between requests to a site.

Scrapy spaces requests per download slot of one crawler, and presswatch runs one crawler
per source, so two sources on one site (an outlet's English and Korean feeds, several
Google News searches) would each keep their own pace and hit the site together. This
middleware holds the next free moment of each host for all of them: a request waits until
then, and books the moment `crawl.delay` later for the next one. Requests of one crawler
are then spaced by at least the delay (Scrapy's own randomised wait may add to it).

A remote worker runs each job in a process of its own: the pace holds within a job only.
"""

from __future__ import annotations

import asyncio
import time

from scrapy.utils.httpobj import urlparse_cached


class HostPacingMiddleware:
    next_free: dict[str, float] = {}  # host -> monotonic time its next request may go

    def __init__(self, delay: float):
        self.delay = delay

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings.getfloat("DOWNLOAD_DELAY"))

    async def process_request(self, request):
        if self.delay <= 0:
            return None
        host = (urlparse_cached(request).hostname or "").lower()
        now = time.monotonic()
        start = max(now, self.next_free.get(host, 0.0))
        self.next_free[host] = start + self.delay
        if start > now:
            await asyncio.sleep(start - now)
        return None

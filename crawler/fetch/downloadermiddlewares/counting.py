"""Counting requests and responses per source for the metrics, next to the downloader.

It sits closest to the download handler (after retries, redirects, robots.txt and the size
limit in the chain), so it sees each request actually sent and each raw response: a
redirect counts its 301 and then the request it leads to; a retry counts again. Requests
that never reach the network (robots.txt forbids them, a limit drops them) are not counted.
"""

from __future__ import annotations

from scrapy.exceptions import IgnoreRequest

from presswatch.crawler import metrics
from presswatch.crawler.fetch.downloadermiddlewares import source_id_of

# Set on a request when it was counted as sent, so only those count an error when no response came.
SENT = "presswatch_counted"


class FetchMetricsMiddleware:
    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request):
        source_id = source_id_of(request, self.crawler)
        if source_id is not None:
            metrics.record_fetch(source_id)
            request.meta[SENT] = True
        return None

    def process_response(self, request, response):
        source_id = source_id_of(request, self.crawler)
        if request.meta.pop(SENT, False) and source_id is not None:
            metrics.record_response(source_id, response.status)
        return response

    def process_exception(self, request, exception):
        # Exceptions raised before the request was sent (robots.txt, limits) run this too.
        source_id = source_id_of(request, self.crawler)
        if request.meta.pop(SENT, False) and source_id is not None and not isinstance(exception, IgnoreRequest):
            metrics.record_response(source_id, "timeout" if "Timeout" in type(exception).__name__ else "error")
        return None

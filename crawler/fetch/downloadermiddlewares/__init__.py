"""presswatch's downloader middlewares: each source's policy on every request, retries with
backoff, a redirect policy, size limits, charsets, one pace per host across sources, no
requests to internal addresses, robots.txt failures in one line.

Each ends a request it will not serve with a `PageRefused`, whose message is the reason
recorded for the page (an `IgnoreRequest`, so Scrapy calls the request's errback and
logs no traceback; and a `PresswatchError`, like every error of ours).
"""

from __future__ import annotations

from scrapy.exceptions import IgnoreRequest

from presswatch.config.errors import PresswatchError

# The meta key of a request made by a source run of the crawl engine (crawler.fetch.engine):
# the run, whose `spider` serves the source. Without it the crawler's own spider does.
RUN_META = "presswatch_run"


def spider_of(request, crawler):
    """The spider a request was made for: its run's in the crawl engine, else the crawler's."""
    run = request.meta.get(RUN_META) if request is not None else None
    return run.spider if run is not None else crawler.spider


def source_id_of(request, crawler) -> str | None:
    """The id of the source a request was made for, or None (a probe's own, robots.txt)."""
    return getattr(getattr(spider_of(request, crawler), "source", None), "id", None)


class PageRefused(IgnoreRequest, PresswatchError):
    """A request ended on purpose; the message says why, in plain words."""


class RetryGivenUp(PageRefused):
    """The server asked us to wait longer than we are willing to within one run."""


class RedirectRefused(PageRefused):
    """A redirect loop, too many redirects, or a redirect to another host."""


class ResponseTooLarge(PageRefused):
    """The response (or its decompressed body) is over the size limit."""


class AddressRefused(PageRefused):
    """A link (or redirect) to an internal address, on a host that is no source's own."""


class CrawlStopped(PageRefused):
    """The crawl is stopping: a request still waiting (for its host's pace, or its download
    slot) is not sent. Its run is then not recorded, so it is read again next time."""

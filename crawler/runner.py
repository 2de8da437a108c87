"""Running crawls: Scrapy settings from the config, and one crawl per due source.

All HTTP goes through Scrapy's downloader (timeouts, retries, robots.txt, politeness,
a size limit). Crawls run on the already running asyncio loop of Twisted's asyncio
reactor; installing and running that reactor is the caller's business (the daemon).
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from collections.abc import Iterable

from scrapy.crawler import AsyncCrawlerRunner
from scrapy.settings import Settings

from presswatch.crawler.ingest import Ingest
from presswatch.crawler.pipeline import pipeline_for
from presswatch.crawler.store import SourceRun
from presswatch.crawler.spiders.feed import FeedSpider
from presswatch.crawler.spiders.site import SiteSpider
from presswatch.crawler.spiders.sitemap import SitemapSpider

log = logging.getLogger("presswatch.crawl")

SPIDERS = {"feed": FeedSpider, "site": SiteSpider, "sitemap": SitemapSpider}
REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

# Politeness and limits not (yet) in the config: proposed as crawl.* keys.
AUTOTHROTTLE_MAX_DELAY = 60.0        # crawl.max_delay: AutoThrottle's longest pause
RETRY_BACKOFF = 1.0                  # crawl.retry_backoff: first wait before a retry, doubled each time
RETRY_MAX_BACKOFF = 60.0             # crawl.max_retry_backoff
MAX_RETRY_AFTER = 600.0              # crawl.max_retry_after: a longer Retry-After gives up for this run
REDIRECT_OTHER_HOSTS = False         # crawl.redirect_other_hosts (and per source)
REDIRECT_MAX_TIMES = 10              # crawl.max_redirects

_MW = "presswatch.crawler.downloadermiddlewares"
_SCRAPY_MW = "scrapy.downloadermiddlewares"
DOWNLOADER_MIDDLEWARES = {
    # Ours replace Scrapy's at the same places in the chain.
    f"{_SCRAPY_MW}.retry.RetryMiddleware": None,
    f"{_MW}.retry.BackoffRetryMiddleware": 550,
    f"{_MW}.limits.SizeLimitMiddleware": 560,
    f"{_SCRAPY_MW}.redirect.MetaRefreshMiddleware": None,
    f"{_MW}.redirect.PolicyMetaRefreshMiddleware": 580,
    f"{_SCRAPY_MW}.httpcompression.HttpCompressionMiddleware": None,
    f"{_MW}.limits.LimitedHttpCompressionMiddleware": 590,
    f"{_SCRAPY_MW}.redirect.RedirectMiddleware": None,
    f"{_MW}.redirect.PolicyRedirectMiddleware": 600,
    # Sees the decompressed, final response.
    f"{_MW}.charset.CharsetMiddleware": 585,
}


def user_agent(config) -> str:
    contact = config.contact.strip()
    return f"{config.user_agent} {contact}".strip() if contact else config.user_agent


def scrapy_settings(config, ingest: Ingest) -> Settings:
    """Scrapy settings for presswatch's crawls, from the config's `crawl` section."""
    crawl = config.crawl
    return Settings({
        "TWISTED_REACTOR": REACTOR,
        "USER_AGENT": user_agent(config),
        "ROBOTSTXT_OBEY": crawl.robots,
        "DOWNLOAD_TIMEOUT": crawl.timeout.total_seconds(),
        # DOWNLOAD_DELAY is AutoThrottle's floor: it never goes faster than the configured delay.
        "DOWNLOAD_DELAY": crawl.delay.total_seconds(),
        "RANDOMIZE_DOWNLOAD_DELAY": True,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrency_per_domain,
        "AUTOTHROTTLE_ENABLED": True,
        "AUTOTHROTTLE_START_DELAY": crawl.delay.total_seconds(),
        "AUTOTHROTTLE_MAX_DELAY": max(AUTOTHROTTLE_MAX_DELAY, crawl.delay.total_seconds()),
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(crawl.concurrency_per_domain),
        "DOWNLOAD_MAXSIZE": crawl.max_response_size,
        "DOWNLOAD_WARNSIZE": 0,
        "RETRY_TIMES": crawl.retries,
        "RETRY_HTTP_CODES": [500, 502, 503, 504, 522, 524, 408, 429],
        "PRESSWATCH_RETRY_BACKOFF": RETRY_BACKOFF,
        "PRESSWATCH_RETRY_MAX_BACKOFF": RETRY_MAX_BACKOFF,
        "PRESSWATCH_MAX_RETRY_AFTER": MAX_RETRY_AFTER,
        "REDIRECT_MAX_TIMES": REDIRECT_MAX_TIMES,
        "PRESSWATCH_REDIRECT_OTHER_HOSTS": REDIRECT_OTHER_HOSTS,
        "DOWNLOADER_MIDDLEWARES": DOWNLOADER_MIDDLEWARES,
        "COOKIES_ENABLED": False,
        # A daemon opens no ports but its own: no telnet console, no remote control.
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        "LOG_ENABLED": False,
        "ITEM_PIPELINES": {pipeline_for(ingest): 100},
    })


class Crawls:
    """Starts crawls of sources on the running loop and can stop them all."""

    def __init__(self, config, ingest: Ingest):
        self.config = config
        self.ingest = ingest
        self.runner = AsyncCrawlerRunner(scrapy_settings(config, ingest))

    def crawl(self, source) -> asyncio.Task:
        state = self.ingest.store.source_state(source.id)
        return self.runner.crawl(
            SPIDERS[source.kind], source=source,
            is_known=partial(self.ingest.is_known, source.id,
                             want_page=source.kind == "feed" and source.fetch_articles),
            etag=state.etag, last_modified=state.last_modified,
            max_articles=self.config.crawl.max_articles,
        )

    async def crawl_all(self, sources: Iterable) -> None:
        """Crawl the sources at once; a failing source never stops the others."""
        sources = list(sources)
        results = await asyncio.gather(*(self.crawl(s) for s in sources), return_exceptions=True)
        for source, result in zip(sources, results):
            if isinstance(result, Exception):
                self.record_crash(source, result)

    def record_crash(self, source, exc: Exception) -> None:
        """A crawl that died before its pipeline could record the run is recorded here."""
        reason = f"crawl crashed: {type(exc).__name__}: {exc}"
        log.error("source=%s %s", source.id, reason)
        self.ingest.record_run(SourceRun(source.id, ok=False, error=reason))

    async def stop(self) -> None:
        await self.runner.stop()

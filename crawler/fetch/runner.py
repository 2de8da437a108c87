"""Running crawls: Scrapy settings from the config, and one crawl per due source.

All HTTP goes through Scrapy's downloader (timeouts, retries, robots.txt, politeness,
a size limit), in one crawl engine for the process (`crawler.fetch.engine`) that each
source run feeds. Crawls run on the already running asyncio loop of Twisted's asyncio
reactor; installing and running that reactor is the caller's business (the daemon).

A feed source with a `fallback` is crawled in two steps when its feed is gone: the feed
is tried first every run (a cheap conditional GET), and when health says it is gone
(404/410, not a feed, failing, or empty for far longer than usual) the fallback is
crawled in the same run, under the same source id. One run is recorded for both. The
switch to the fallback and the return to the feed are source events, logged and
alerted like a change of health, once each.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from scrapy.settings import Settings, default_settings

from presswatch.crawler import metrics
from presswatch.crawler.fetch.downloadermiddlewares.address import source_hosts
from presswatch.crawler.fetch.engine import CrawlEngine, engine_settings
from presswatch.crawler.fetch.pipeline import FLUSH_AFTER, IngestPipeline
from presswatch.crawler.fetch.spiders.feed import FeedSpider
from presswatch.crawler.fetch.spiders.site import SiteSpider
from presswatch.crawler.fetch.spiders.sitemap import SitemapSpider
from presswatch.crawler.errors import StoreError
from presswatch.crawler.items import EntryItem, PageItem
from presswatch.crawler.store.records import SourceRun
from presswatch.crawler.stories.health import feed_back, feed_gone
from presswatch.crawler.stories.ingest import CONSOLE_CHANNEL, Ingest
from presswatch.crawler.stories.run import SourceIngest, WriteBatch

log = logging.getLogger("presswatch.crawl")

SPIDERS = {"feed": FeedSpider, "site": SiteSpider, "sitemap": SitemapSpider}
REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

# Politeness not (yet) in the config. crawl.max_retry_after, crawl.max_redirects and
# crawl.redirect_other_hosts (also per source) are.
AUTOTHROTTLE_MAX_DELAY = 60.0        # AutoThrottle's longest pause
RETRY_BACKOFF = 1.0                  # first wait before a retry, doubled each time
RETRY_MAX_BACKOFF = 60.0             # the longest wait before a retry
# Scrapy's extensions a daemon must not run (they listen on ports: see scrapy_settings).
UNUSED_EXTENSIONS = ("scrapy.extensions.telnet.TelnetConsole", "scrapy.extensions.remote_control.RemoteControl")

_MW = "presswatch.crawler.fetch.downloadermiddlewares"
_SCRAPY_MW = "scrapy.downloadermiddlewares"
DOWNLOADER_MIDDLEWARES = {
    # Before robots.txt (100): every request of a source carries its policy.
    f"{_MW}.policy.SourcePolicyMiddleware": 50,
    # Before robots.txt too: a link to an internal address is refused before anything is sent.
    f"{_MW}.address.AddressGuardMiddleware": 60,
    f"{_SCRAPY_MW}.robotstxt.RobotsTxtMiddleware": None,
    f"{_MW}.robots.QuietRobotsTxtMiddleware": 100,
    # After robots.txt (100), whose own request for /robots.txt passes here first: a page
    # then waits its turn after it. One pace per host across the crawls of all sources.
    f"{_MW}.politeness.HostPacingMiddleware": 110,
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
    # Next to the download handler: counts each request sent and each raw response.
    f"{_MW}.counting.FetchMetricsMiddleware": 950,
    # Responses pass it right after the metrics: one from an internal address is refused
    # before anything else reads it (and a lookup the guard emptied gets its reason).
    f"{_MW}.address.ConnectedAddressMiddleware": 940,
}


def user_agent(config) -> str:
    contact = config.contact.strip()
    return f"{config.user_agent} {contact}".strip() if contact else config.user_agent


def trusted_hosts(config) -> frozenset[str]:
    """The hosts of every configured source URL (fallbacks' included): their requests may
    go to internal addresses; links elsewhere may not (see downloadermiddlewares.address)."""
    urls = []
    for source in config.sources:
        for each in (source, source.on_fallback):
            if each is not None:
                urls += [each.url, *each.start_urls]
    return source_hosts(urls)


def scrapy_settings(config, pipeline: type | None) -> Settings:
    """Scrapy settings for presswatch's crawls, from the config's `crawl` section; every
    item goes to `pipeline` (`IngestPipeline` here, a forwarding one on a worker; none for a probe)."""
    crawl = config.crawl
    return Settings({
        "TWISTED_REACTOR": REACTOR,
        "USER_AGENT": user_agent(config),
        # On when any source obeys robots.txt; each request says whether its source does.
        "ROBOTSTXT_OBEY": crawl.robots or any(getattr(s, "robots", None) for s in config.sources),
        "DOWNLOAD_TIMEOUT": crawl.timeout.total_seconds(),
        # DOWNLOAD_DELAY is AutoThrottle's floor: it never goes faster than the configured delay.
        "DOWNLOAD_DELAY": crawl.delay.total_seconds(),
        # Not randomised: HostPacingMiddleware books each host's requests crawl.delay apart
        # across sources, and a crawler's own random wait (0.5-1.5x) would break that pace.
        # (DOWNLOAD_DELAY_JITTER replaces RANDOMIZE_DOWNLOAD_DELAY, deprecated in Scrapy 2.19.)
        "DOWNLOAD_DELAY_JITTER": 0,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrency_per_domain,
        "AUTOTHROTTLE_ENABLED": True,
        "AUTOTHROTTLE_START_DELAY": crawl.delay.total_seconds(),
        "AUTOTHROTTLE_MAX_DELAY": max(AUTOTHROTTLE_MAX_DELAY, crawl.delay.total_seconds()),
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(crawl.concurrency_per_domain),
        "DOWNLOAD_MAXSIZE": crawl.max_response_size,
        "DOWNLOAD_WARNSIZE": 0,
        "RETRY_TIMES": crawl.retries,
        "RETRY_HTTP_CODES": [500, 502, 503, 504, 522, 524, 408, 429],
        # Not ERROR: the source's own failure line (a WARNING) says it, with the reason.
        "RETRY_GIVE_UP_LOG_LEVEL": "DEBUG",
        "PRESSWATCH_RETRY_BACKOFF": RETRY_BACKOFF,
        "PRESSWATCH_RETRY_MAX_BACKOFF": RETRY_MAX_BACKOFF,
        "PRESSWATCH_MAX_RETRY_AFTER": crawl.max_retry_after.total_seconds(),
        "REDIRECT_MAX_TIMES": crawl.max_redirects,
        # Links to internal addresses: refused unless on these hosts or in these networks.
        "PRESSWATCH_TRUSTED_HOSTS": sorted(trusted_hosts(config)),
        "PRESSWATCH_ALLOW_NETWORKS": [str(network) for network in crawl.allow_private_networks],
        "PRESSWATCH_REDIRECT_OTHER_HOSTS": crawl.redirect_other_hosts,
        "DOWNLOADER_MIDDLEWARES": DOWNLOADER_MIDDLEWARES,
        "COOKIES_ENABLED": False,
        # A daemon opens no ports but its own: no telnet console, no remote control.
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        # Out of the list too, so their modules are not imported only to find them off (the
        # remote control's imports aiohttp: about 0.1 s of CPU at every start). Not through
        # EXTENSIONS: Scrapy imports every key named there, None or not, to compare them.
        "EXTENSIONS_BASE": {name: order for name, order in default_settings.EXTENSIONS_BASE.items()
                            if name not in UNUSED_EXTENSIONS},
        "LOG_ENABLED": False,
        "ITEM_PIPELINES": {pipeline: 100} if pipeline is not None else {},
    })


def wants_pages(source) -> bool:
    """Whether a run of `source` reads its entries' pages (a feed with fetch_articles), so
    that an article stored from the feed's text alone is not yet "known" (`Ingest.is_known`)."""
    return source.kind == "feed" and bool(getattr(source, "fetch_articles", False))


def source_policy(config, source) -> dict:
    """The robots.txt and redirect choices of a source: its own, else the crawl section's."""
    crawl = config.crawl
    robots = getattr(source, "robots", None)
    other_hosts = getattr(source, "redirect_other_hosts", None)
    return {
        "robots": crawl.robots if robots is None else robots,
        "redirect_other_hosts": crawl.redirect_other_hosts if other_hosts is None else other_hosts,
    }


def source_settings(source) -> dict:
    """The Scrapy settings a source's own `timeout` and `delay` override in a crawler of its
    own (a worker's job, a probe). In the crawl engine they go with its run's requests instead
    (`source_overrides`)."""
    settings: dict = {}
    timeout = getattr(source, "timeout", None)
    if timeout is not None:
        settings["DOWNLOAD_TIMEOUT"] = timeout.total_seconds()
    delay = getattr(source, "delay", None)
    if delay is not None:
        seconds = delay.total_seconds()
        settings.update({"DOWNLOAD_DELAY": seconds, "AUTOTHROTTLE_START_DELAY": seconds,
                         "AUTOTHROTTLE_MAX_DELAY": max(AUTOTHROTTLE_MAX_DELAY, seconds)})
    return settings


def source_overrides(source) -> dict:
    """A source's own `timeout` and `delay` in seconds (None: the crawl section's), for its
    run in the crawl engine: its requests' timeout, its slots' delay and its pace per host."""
    timeout = getattr(source, "timeout", None)
    delay = getattr(source, "delay", None)
    return {"timeout": None if timeout is None else timeout.total_seconds(),
            "delay": None if delay is None else delay.total_seconds()}


class Slot:
    """One of `Crawls.slots`, taken by a source's crawl; freed once, at the crawl's end or
    (`free`, by its run) when the run has ended and only waits to be recorded."""

    def __init__(self, slots: asyncio.Semaphore):
        self.slots = slots
        self.held = True

    def free(self) -> None:
        if self.held:
            self.held = False
            self.slots.release()


class Crawls:
    """Starts crawls of sources on the running loop and can stop them all."""

    def __init__(self, config, ingest: Ingest):
        self.config = config
        self.ingest = ingest
        self.held: dict[str, SourceRun] = {}  # a feed's first try, until the fallback is decided
        # The runs' candidates commit together, at most FLUSH_AFTER after the first waiting;
        # a run that ends is recorded in the next commit (at once when as many wait as
        # sources crawl at once, or when no other crawl is under way).
        self.crawling = 0  # crawls under way (`crawl`), waiting for a slot or not
        self.batch = WriteBatch(ingest.store, wait=FLUSH_AFTER, endings=self.parallel_sources(),
                                running=lambda: self.crawling)
        self.engine = self.make_engine()
        # At most this many sources crawl at once; the others wait their turn. Thousands of
        # sources falling due together would otherwise open thousands of connections (and
        # files) and hold every run in memory at once. A run's slot is freed once its
        # crawl has ended, while its record waits for the batch's commit.
        self.slots = asyncio.Semaphore(self.parallel_sources())
        self.slot_of: dict[str, Slot] = {}
        self.with_fallback: set[asyncio.Task] = set()  # runs that may crawl a fallback
        self.stopping = False
        self.progress = None  # told of each article read during crawl_all(..., progress)

    def make_engine(self) -> CrawlEngine | None:
        """What crawls in this process: one engine, opened at the first run."""
        settings = scrapy_settings(self.config, IngestPipeline)
        return CrawlEngine(engine_settings(settings, self.parallel_sources()))

    def source_run(self, source, hold: bool = False) -> SourceIngest:
        """The writer's side of one run of `source` (a configured source or its fallback):
        its outcome recorded at once, or held in `held` for the runner, which records one
        run once it knows whether the fallback was needed."""
        # A held run's source may crawl its fallback next, in the same slot: kept to the end.
        slot = None if hold else self.slot_of.get(source.id)
        return SourceIngest(self.ingest, source.id, self._hold if hold else None, want_page=wants_pages(source),
                            batch=self.batch, on_end=slot.free if slot is not None else None)

    def _hold(self, run: SourceRun) -> None:
        self.held[run.source_id] = run

    def parallel_sources(self) -> int:
        return self.config.crawl.max_parallel_sources

    async def crawl(self, source) -> None:
        """Crawl one source when a slot is free (`crawl.max_parallel_sources`)."""
        self.crawling += 1
        try:
            await self.slots.acquire()
            slot = self.slot_of[source.id] = Slot(self.slots)
            try:
                if self.stopping:
                    return
                await self._crawl_now(source)
            finally:
                if self.slot_of.get(source.id) is slot:
                    del self.slot_of[source.id]
                slot.free()
        finally:
            self.crawling -= 1

    def _crawl_now(self, source) -> asyncio.Future:
        if getattr(source, "fallback", None) is None or source.kind != "feed":
            state = self.ingest.store.source_state(source.id)
            return self._start(source, state.etag, state.last_modified, state.body_digest)
        task = asyncio.ensure_future(self.crawl_with_fallback(source))
        self.with_fallback.add(task)
        task.add_done_callback(self.with_fallback.discard)
        return task

    def _start(self, source, etag: str | None, last_modified: str | None, body_digest: str | None = None,
               hold: bool = False):
        return asyncio.ensure_future(self._run(source, etag, last_modified, body_digest, hold))

    async def _run(self, source, etag, last_modified, body_digest, hold) -> None:
        """One run of `source` in the engine; done when it has been recorded (or held)."""
        run = self.source_run(source, hold)
        spider = SPIDERS[source.kind](
            source=source, etag=etag, last_modified=last_modified, body_digest=body_digest,
            max_articles=self.config.crawl.max_articles, is_known=run.is_known,
            page_validators=run.page_validators, **source_policy(self.config, source))
        counter = _article_counter(self.progress, source.id) if self.progress is not None else None
        await (await self.engine.start(spider, run, on_item=counter, **source_overrides(source)))

    async def crawl_with_fallback(self, source) -> None:
        """The feed first; its fallback in the same run when the feed is gone."""
        before = self.ingest.store.source_state(source.id)
        try:
            await self._start(source, before.etag, before.last_modified, before.body_digest, hold=True)
        finally:
            feed_run = self.held.pop(source.id, None)
        if feed_run is None and self.stopping:
            return  # stopped before the feed's run ended: nothing to record (remote results wait)
        if feed_run is None:
            feed_run = SourceRun(source.id, ok=False, error="the run ended before the source was fetched")
        now = datetime.now(UTC)
        on_fallback = before.fallback_since is not None
        if on_fallback and feed_back(feed_run):
            self._switch(source, None, f"{source.name} is back on its feed: {source.url} serves entries again")
            self.ingest.record_run(feed_run, at=now)
            return
        reason = (before.fallback_reason or "its feed is gone") if on_fallback else feed_gone(before, feed_run, now, self.ingest.health)
        if reason is None or self.stopping:
            self.ingest.record_run(feed_run, at=now)
            return
        fallback = source.on_fallback
        if not on_fallback:
            self._switch(source, reason, f"{source.name} switched to fallback: {reason}; "
                                         f"now crawling its {fallback.kind} {fallback.url}")
        log.info("source=%s feed gone (%s); crawling its fallback %s", source.id,
                 self.ingest.redact(feed_run.error or reason), self.ingest.redact(fallback.url))
        try:
            await self._start(fallback, None, None, hold=True)
        finally:
            fallback_run = self.held.pop(source.id, None)
        if fallback_run is None:
            fallback_run = SourceRun(source.id, ok=False, error="the fallback's run ended before it was fetched")
        self.ingest.record_run(_together(feed_run, fallback_run), at=now)

    def _switch(self, source, reason: str | None, detail: str) -> None:
        detail = self.ingest.redact(detail)
        channels = tuple(self.config.health.channels) or (CONSOLE_CHANNEL,)
        log.warning("source=%s %s", source.id, detail)
        self.ingest.store.record_fallback(
            source.id, None if reason is None else self.ingest.redact(reason), detail, channels)

    async def crawl_all(self, sources: Iterable, progress=None) -> None:
        """Crawl the sources at once; a failing source never stops the others.

        `progress`, if given, is told of each article read (`article(source_id)`) and
        of each source done (`source_done(source_id, ok, new)`), as they happen.
        """
        sources = list(sources)
        self.progress = progress
        try:
            results = await asyncio.gather(*(self._crawl_counted(s, progress) for s in sources),
                                           return_exceptions=True)
        finally:
            self.progress = None
        for source, result in zip(sources, results):
            if isinstance(result, Exception):
                self.record_crash(source, result)
        # The cycle's pages are copied from the WAL into the database once, now.
        try:
            self.ingest.store.checkpoint()
        except StoreError as exc:  # copied at the next checkpoint instead
            log.warning("the cycle's writes stay in the WAL for now: %s", exc)

    async def _crawl_counted(self, source, progress) -> None:
        before = self.ingest.store.source_state(source.id)
        try:
            await self.crawl(source)
        except Exception as exc:
            self.record_crash(source, exc)
        if progress is not None:
            after = self.ingest.store.source_state(source.id)
            ok = after.runs > before.runs and after.failures == 0  # a success resets failures
            progress.source_done(source.id, ok, after.articles_new - before.articles_new)

    def record_crash(self, source, exc: Exception) -> None:
        """A crawl that died before its pipeline could record the run is recorded here."""
        reason = f"crawl crashed: {type(exc).__name__}: {exc}"
        log.error("source=%s %s", source.id, reason)
        metrics.record_crash(source.id)
        self.ingest.record_run(SourceRun(source.id, ok=False, error=reason))

    async def stop(self) -> None:
        """Stop every crawl; runs that were to crawl a fallback record what they have."""
        self.stopping = True
        await self.engine.stop()
        if self.with_fallback:
            await asyncio.wait(list(self.with_fallback))


def _article_counter(progress, source_id: str):
    """Told of each item of a source's run: tells `progress` of each article."""

    def count(item, **_) -> None:
        if isinstance(item, (EntryItem, PageItem)):
            progress.article(source_id)

    return count


def _together(feed: SourceRun, fallback: SourceRun) -> SourceRun:
    """One run of a source whose fallback was crawled after its feed.

    It worked when the fallback worked; the feed's validators are kept only when the feed
    answered (they belong to the feed's URL); the error says what is wrong with either.
    """
    if fallback.ok:
        error = fallback.error or feed.error
    else:
        error = f"fallback: {fallback.error}; feed: {feed.error or 'no entries'}"
    return SourceRun(
        source_id=feed.source_id, ok=fallback.ok, error=error,
        etag=feed.etag if feed.ok else None,
        last_modified=feed.last_modified if feed.ok else None,
        body_digest=feed.body_digest if feed.ok else None,
        not_modified=feed.not_modified,
        items_seen=feed.items_seen + fallback.items_seen,
        articles_new=feed.articles_new + fallback.articles_new,
        # A fallback site that moves is told like any site: by its listing and its pages.
        links=fallback.links, pages_read=feed.pages_read + fallback.pages_read,
        pages_without_text=feed.pages_without_text + fallback.pages_without_text,
        pages_like_listings=feed.pages_like_listings + fallback.pages_like_listings,
    )

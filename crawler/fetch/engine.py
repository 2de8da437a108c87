"""One crawl engine for the process: a single Scrapy crawler that every source run feeds.

Building a Scrapy `Crawler` (its settings copied, its engine, middlewares and signals
made) costs about as much as fetching a feed, and the daemon would pay it at every run of
every source, forever. Here one crawler, built at the first run, stays open for the
process's lifetime: its one spider (`EngineSpider`) is kept open while idle, and a source
run (`SourceCrawl`) is the source's own spider object (feed, site or sitemap, built
directly, not by Scrapy) whose requests are scheduled into that engine, tagged with the run.

Each run keeps what a crawler of its own gave it before: its callbacks and errbacks are
its spider's methods (the engine calls them through the run, which hands the items to the
run's pipeline and schedules the requests they yield); its requests get their own download
slots (one per host and run, so its per-domain concurrency is its own, as before), its
`delay` (on its slots, AutoThrottle's floor, and the pace of `HostPacingMiddleware`) and its
`timeout` (`download_timeout`); duplicate requests are filtered within the run only. The
run ends when every request it made has been answered, failed or dropped: then its
pipeline's `close_spider` records it, once, and the future `start` returned is done. A run
stopped with requests in flight stores what it read but is not recorded: recorded, its
ETag would hide the entries it never reached.

What a run records and how items are decided is the pipeline's and the writer's; which
sources run when is the runner's (`runner.Crawls`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import scrapy
from scrapy import signals
from scrapy.core.downloader import Downloader
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.crawler import AsyncCrawlerRunner
from scrapy.exceptions import DontCloseSpider
from scrapy.extensions.throttle import AutoThrottle
from scrapy.settings import Settings

from presswatch.crawler.fetch.downloadermiddlewares import RUN_META, CrawlStopped
from presswatch.crawler.fetch.downloadermiddlewares.politeness import DELAY_META
from presswatch.crawler.fetch.pipeline import IngestPipeline

log = logging.getLogger("presswatch.crawl")

_CALLBACK = "presswatch_callback"  # the spider's own callback and errback of a request, in its meta
_ERRBACK = "presswatch_errback"
AUTOTHROTTLE_MAX_DELAY = 60.0  # as runner.AUTOTHROTTLE_MAX_DELAY: AutoThrottle's longest pause
# Seconds an idle kept-alive connection stays open. A crawler per run closed its connections
# with it; the engine's pool lives as long as the daemon, and Twisted's default (240 s) would
# keep a socket open for each host crawled in the last four minutes (thousands of sources).
IDLE_CONNECTION = 10.0


def engine_settings(settings: Settings, parallel_sources: int) -> Settings:
    """The settings of the one crawler, from those a crawler per source had.

    No item pipeline (each run has its own), no duplicate filter across runs (each run
    filters its own requests), the downloader and AutoThrottle that know runs, and room for
    as many requests at once as `parallel_sources` crawlers had together.
    """
    settings = settings.copy()
    settings.set("ITEM_PIPELINES", {})
    settings.set("DUPEFILTER_CLASS", "scrapy.dupefilters.BaseDupeFilter")
    settings.set("DOWNLOADER", f"{__name__}.RunDownloader")
    settings.set("DOWNLOAD_HANDLERS", {"http": f"{__name__}.EngineHTTPHandler",
                                       "https": f"{__name__}.EngineHTTPHandler"})
    settings.set("EXTENSIONS", {"scrapy.extensions.throttle.AutoThrottle": None,
                                f"{__name__}.RunAutoThrottle": 0})
    settings.set("CONCURRENT_REQUESTS", settings.getint("CONCURRENT_REQUESTS") * max(1, parallel_sources))
    return settings


class EngineSpider(scrapy.Spider):
    """The crawler's one spider: no requests of its own; the runs bring theirs."""

    name = "presswatch"

    async def start(self):
        return
        yield  # an async generator that yields nothing


class RunDownloader(Downloader):
    """Scrapy's downloader with a download slot per host and run, carrying the run's delay.

    A crawler per source had a slot per host of its own: its `concurrency_per_domain` and
    its delay were its own. The pace across sources is HostPacingMiddleware's, as before.
    """

    def get_slot_key(self, request) -> str:
        key = super().get_slot_key(request)
        run = request.meta.get(RUN_META)
        if run is None or self.DOWNLOAD_SLOT in request.meta:
            return key
        return f"{key} {run.key}"

    def drop_queued(self) -> int:
        """The crawl is stopping: requests waiting in a download slot end with CrawlStopped
        (those being downloaded finish, within their timeout). Returns how many."""
        dropped = 0
        for slot in list(self.slots.values()):
            while slot.queue:
                request, waiting = slot.queue.popleft()
                waiting.errback(CrawlStopped("the crawl was stopped before this request was sent"))
                dropped += 1
        return dropped

    def _get_slot(self, request, spider=None):
        new = self.get_slot_key(request) not in self.slots
        key, slot = super()._get_slot(request)
        run = request.meta.get(RUN_META)
        if new and run is not None and run.delay is not None:
            slot.delay = run.delay
        return key, slot


class EngineHTTPHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP/1.1 handler whose idle connections close after IDLE_CONNECTION seconds."""

    def __init__(self, crawler):
        super().__init__(crawler)
        self._pool.cachedConnectionTimeout = IDLE_CONNECTION


class RunAutoThrottle(AutoThrottle):
    """AutoThrottle whose floor is the run's own delay when its source has one."""

    def _adjust_delay(self, slot, latency: float, response) -> None:
        run = response.meta.get(RUN_META) if response.request is not None else None
        if run is None or run.delay is None:
            return super()._adjust_delay(slot, latency, response)
        floor, ceiling = self.mindelay, self.maxdelay
        self.mindelay, self.maxdelay = run.delay, max(AUTOTHROTTLE_MAX_DELAY, run.delay)
        try:
            return super()._adjust_delay(slot, latency, response)
        finally:
            self.mindelay, self.maxdelay = floor, ceiling


class SourceCrawl:
    """One run of a source in the engine: its spider, its pipeline, its requests in flight."""

    def __init__(self, engine: CrawlEngine, spider, receiver, key: int,
                 timeout: float | None, delay: float | None, on_item: Callable | None):
        self.engine = engine
        self.spider = spider  # read by the pipeline's close_spider (items_seen) as a crawler's
        self.key = key
        self.timeout = timeout
        self.delay = delay
        self.on_item = on_item
        self.pipeline = IngestPipeline(receiver, self)
        self.pending = 0
        self.seen: set[bytes] = set()
        self.handing: set[asyncio.Task] = set()  # items on their way to the writer (a page in the pool)
        self.cut_short = False  # a request of it was not sent because the crawl stopped
        self.ended = False
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()

    async def start(self) -> None:
        self.pending += 1  # the start itself: the run cannot end while its start requests come
        try:
            async for each in self.spider.start():
                self.take(each, None)
        except Exception:
            log.exception("source=%s the crawl could not start", self.spider.source.id)
        finally:
            self.answered()

    def schedule(self, request: scrapy.Request, referer: str | None = None) -> None:
        if self.ended or self.engine.stopping:
            return
        if not request.dont_filter:
            fingerprint = self.engine.fingerprint(request)
            if fingerprint in self.seen:
                return
            self.seen.add(fingerprint)
        meta = request.meta
        meta[RUN_META] = self
        meta[_CALLBACK], meta[_ERRBACK] = request.callback, request.errback
        if self.timeout is not None:
            meta.setdefault("download_timeout", self.timeout)
        if self.delay is not None:
            meta.setdefault(DELAY_META, self.delay)
        # As Scrapy's RefererMiddleware does for what a spider yields (not from https to http).
        if referer is not None and not (referer.startswith("https:") and request.url.startswith("http:")):
            request.headers.setdefault("Referer", referer)
        request.callback, request.errback = self.on_response, self.on_failure
        self.engine.crawl(request)
        self.pending += 1

    def on_response(self, response, **kwargs) -> None:
        try:
            callback = response.meta.get(_CALLBACK) or self.spider.parse
            self.run_callback(callback, response, response.url, **kwargs)
        finally:
            self.answered()

    def on_failure(self, failure) -> None:
        request = getattr(failure, "request", None)
        if failure.check(CrawlStopped):  # not the page's failure: the run is read again
            self.cut_short = True
            self.answered()
            return
        try:
            errback = request.meta.get(_ERRBACK) if request is not None else None
            if errback is not None:
                self.run_callback(errback, failure, None)
        finally:
            self.answered()

    def run_callback(self, callback, result, referer: str | None, **kwargs) -> None:
        try:
            for each in callback(result, **kwargs) or ():
                self.take(each, referer)
        except Exception:
            log.exception("source=%s spider error", self.spider.source.id)

    def take(self, each, referer: str | None) -> None:
        if isinstance(each, scrapy.Request):
            self.schedule(each, referer)
            return
        # Handed over in the order yielded: tasks start in the order they are made, and the
        # run keeps that order while a page waits for the extraction pool (`SourceIngest.take`).
        task = asyncio.ensure_future(self._hand_over(each))
        self.handing.add(task)
        task.add_done_callback(self.handing.discard)

    async def _hand_over(self, item) -> None:
        try:
            await self.pipeline.process_item(item)
        except Exception:
            log.exception("source=%s error processing %r", self.spider.source.id, type(item).__name__)
            return
        if self.on_item is not None:
            self.on_item(item)

    def answered(self) -> None:
        self.pending -= 1
        if self.pending <= 0:
            self.end(interrupted=self.cut_short)

    def end(self, interrupted: bool = False) -> None:
        """End the run, once: recorded (the pipeline's close_spider) when every request it
        made was answered; `interrupted` (stopped with requests in flight), what it read is
        stored but the run is not recorded, so its source is read in full again next time."""
        if self.ended:
            return
        self.ended = True
        self.engine.runs.discard(self)
        closing = asyncio.ensure_future(self._close(interrupted))
        self.engine.closing.add(closing)
        closing.add_done_callback(self.engine.closing.discard)

    async def _close(self, interrupted: bool) -> None:
        try:
            if self.handing:
                await asyncio.wait(list(self.handing))
            if interrupted:
                await self.pipeline.abandon_spider()
            else:
                await self.pipeline.close_spider()
        except Exception:
            log.exception("source=%s the run could not be recorded", self.spider.source.id)
        finally:
            if not self.done.done():
                self.done.set_result(None)


class CrawlEngine:
    """The process's one Scrapy crawler, opened at the first run and kept until `stop`."""

    def __init__(self, settings: Settings):
        self.runner = AsyncCrawlerRunner(settings)
        self.crawler = None
        self.opened: asyncio.Future | None = None
        self.task: asyncio.Task | None = None
        self.runs: set[SourceCrawl] = set()
        self.closing: set[asyncio.Task] = set()  # runs being recorded
        self.stopping = False
        self.count = 0

    async def open(self):
        if self.opened is None:
            self.opened = asyncio.get_running_loop().create_future()
            crawler = self.runner.create_crawler(EngineSpider)
            crawler.signals.connect(self._opened, signals.spider_opened, weak=False)
            crawler.signals.connect(self._idle, signals.spider_idle, weak=False)
            crawler.signals.connect(self._dropped, signals.request_dropped, weak=False)
            self.task = self.runner.crawl(crawler)
            self.task.add_done_callback(self._closed)
        await asyncio.shield(self.opened)
        return self.crawler

    def _opened(self, spider) -> None:
        self.crawler = spider.crawler
        if not self.opened.done():
            self.opened.set_result(None)

    def _closed(self, task: asyncio.Task) -> None:
        if not self.opened.done():  # the crawler failed before its spider opened
            error = task.exception() if not task.cancelled() else None
            self.opened.set_exception(error or RuntimeError("the crawl engine did not start"))
        for run in list(self.runs):
            run.end(interrupted=True)
        if not self.stopping:  # closed by itself (a bug in a middleware?): the next run opens another
            log.error("the crawl engine closed unexpectedly; the next run opens it again")
            self.opened = self.crawler = self.task = None

    def _idle(self, spider) -> None:
        if not self.stopping:
            raise DontCloseSpider

    def _dropped(self, request, spider) -> None:
        run = request.meta.get(RUN_META)
        if run is not None:
            run.answered()

    def fingerprint(self, request) -> bytes:
        return self.crawler.request_fingerprinter.fingerprint(request)

    def crawl(self, request) -> None:
        self.crawler.engine.crawl(request)

    async def start(self, spider, receiver, timeout: float | None = None, delay: float | None = None,
                    on_item: Callable | None = None) -> asyncio.Future:
        """Start a run of `spider` (a SourceSpider object) whose items go to `receiver`;
        returns a future done when the run has ended and been recorded."""
        crawler = await self.open()
        spider.crawler, spider.settings = crawler, crawler.settings
        self.count += 1
        run = SourceCrawl(self, spider, receiver, self.count, timeout, delay, on_item)
        self.runs.add(run)
        if self.stopping:
            run.end(interrupted=True)
        else:
            await run.start()
        return run.done

    async def stop(self) -> None:
        """Close the crawler: requests in flight are dropped; what open runs read is stored,
        but they are not recorded (their sources are read again in full next time)."""
        self.stopping = True
        if self.crawler is not None and self.crawler.engine is not None:
            # Requests not sent yet are not sent now: a stop waits for downloads under way only.
            for middleware in self.crawler.engine.downloader.middleware.middlewares:
                if hasattr(middleware, "stop_waiting"):
                    middleware.stop_waiting()
            self.crawler.engine.downloader.drop_queued()
        if self.task is not None:
            await self.runner.stop()
            await asyncio.wait([self.task])
        for run in list(self.runs):
            run.end(interrupted=True)
        if self.closing:
            await asyncio.wait(list(self.closing))

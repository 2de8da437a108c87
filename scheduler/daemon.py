"""The daemon: one process, Twisted's asyncio reactor, APScheduler and Scrapy on one loop.

Each enabled source is an APScheduler job on its own interval (with jitter, coalesced,
one instance at a time, a grace of half the interval); delivery of the outbox is a job
every `delivery.every`, and the rules' surges are judged every `surges.every`. Per-source
state lives in the store, not in APScheduler, so jobs are rebuilt from the config at
every start.

SIGTERM and SIGINT stop it in the order that loses nothing: pause the scheduler, stop
the crawls (their pipelines record the runs), wait for a delivery in flight, shut the
scheduler down, close the database, close the monitor endpoint, stop the reactor.

The long-running daemon (not `run --once`, not the demo) serves /healthz and /metrics on
`monitor.listen` (scheduler.monitor); the port is taken before anything runs.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import UTC, datetime, timedelta

from scrapy.utils.reactor import install_reactor

from presswatch.crawler.fetch.runner import Crawls, REACTOR
from presswatch.crawler.metrics import declare_sources
from presswatch.crawler.store.database import Store
from presswatch.crawler.stories.extracting import close_shared_pool, share_pool
from presswatch.crawler.stories.health import backoff
from presswatch.crawler.stories.ingest import Ingest
from presswatch.crawler.stories.surges import judge_surges
from presswatch.scheduler.delivery.deliver import Delivery
from presswatch.scheduler.progress import progress_for

log = logging.getLogger("presswatch.daemon")
# Sources never run at start are staggered by this much each, up to a minute.
STAGGER = timedelta(seconds=0.2)
# Retention first runs this long after a start (not with the first crawls), then daily.
RETENTION_DELAY = timedelta(minutes=5)


class Daemon:
    def __init__(self, config, redact, print_alert=None):
        self.config = config
        self.store = Store(str(config.database))
        try:
            self.store.lock_writer()
        except Exception:
            self.store.close()
            raise
        self.store.sync_sources([(s.id, s.kind, redact(s.url), s.name) for s in config.sources])
        self.ingest = Ingest.from_config(self.store, config.rules, config.sources, redact, config.health,
                                          config.stories, config.events, config.channels, config.reactions)
        share_pool(config.crawl.extract_processes)  # its processes start at the first article page
        if config.workers.redis:  # remote workers fetch and extract; this process writes
            # imported here: RQ and the remote side cost about 15 ms at start-up and only remote workers need them
            from presswatch.crawler.fetch.remote import RemoteCrawls

            self.crawls = RemoteCrawls(config, self.ingest)
        else:
            self.crawls = Crawls(config, self.ingest)
        extra = {"print_alert": print_alert} if print_alert is not None else {}
        self.delivery = Delivery.from_config(self.store, config, redact, **extra)
        self.scheduler = None
        self.delivering: asyncio.Task | None = None
        self.stopping = False
        self.exit_code = 0
        self.started_at = datetime.now(UTC)  # /healthz: no source is stale before this is old enough

    @property
    def sources(self):
        return self.config.enabled_sources

    # One pass, for cron and tests --------------------------------------------

    async def run_once(self, progress=None) -> None:
        """Every source once, then deliver; `progress` (scheduler.progress) shows how far it got."""
        self._resume_interrupted()
        log.info("run once: %d sources", len(self.sources))
        if progress is not None:
            progress.start(len(self.sources))
        try:
            await self.crawls.crawl_all(self.sources, progress)
            if self.stopping:
                return
            await self.judge_surges()  # after the crawls, so their stories count; before delivering
            sent = await self.deliver()
            if progress is not None:
                progress.delivered(sent)
        finally:
            if progress is not None:
                progress.close()
        counts = self.store.outbox_counts()
        held, uncertain = counts["held"], counts.get("uncertain", 0)
        retries = counts.get("pending", 0) - held
        if retries:
            log.warning("%d alerts wait for a retry; the next run sends them", retries)
        if held:
            log.info("%d alerts are held for a digest, quiet hours or a rate limit; a run at or "
                     "after their time sends them (presswatch alerts lists them)", held)
        if uncertain:
            log.warning("%d alerts may or may not have arrived (uncertain); presswatch alerts "
                        "lists them", uncertain)

    # The long-running daemon ------------------------------------------------

    def start_schedule(self) -> None:
        # imported here: APScheduler costs about 15 ms at start-up, and `run --once` and the demo schedule nothing
        from apscheduler.schedulers.asyncio import AsyncIOScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        self._resume_interrupted()
        self.scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=UTC)
        now = datetime.now(UTC)
        for i, source in enumerate(self.sources):
            every = source.every.total_seconds()
            self.scheduler.add_job(
                self.run_source, IntervalTrigger(seconds=every, jitter=every * self.config.crawl.jitter),
                args=[source], id=f"source:{source.id}", coalesce=True, max_instances=1,
                misfire_grace_time=max(1, int(every / 2)),
                next_run_time=self._first_run(source, now, i),
            )
        self.scheduler.add_job(
            self.deliver, IntervalTrigger(seconds=self.config.delivery.every.total_seconds()),
            id="deliver", coalesce=True, max_instances=1, misfire_grace_time=30,
        )
        every = self.config.surges.every.total_seconds()  # surges off: it only closes open ones
        self.scheduler.add_job(
            self.judge_surges, IntervalTrigger(seconds=every), id="surges", coalesce=True,
            max_instances=1, misfire_grace_time=max(1, int(every / 2)),
        )
        if self.config.retention.article_text is not None:  # first a few minutes after the start
            self.scheduler.add_job(
                self.apply_retention, IntervalTrigger(days=1), id="retention", coalesce=True,
                max_instances=1, misfire_grace_time=3600, next_run_time=now + RETENTION_DELAY,
            )
        self.scheduler.start()
        log.info("daemon started: %d sources, %d rules, %d channels", len(self.sources),
                 len(self.config.rules), len(self.config.channels))

    def _first_run(self, source, now: datetime, position: int) -> datetime:
        """When a source first runs after a start: when it falls due by its last run, or now.

        Honouring the last run means a daemon that restarts often (a crash loop under
        Restart=always) does not fetch every source at every start. Sources due now are
        staggered a little, so a start does not hit every host at once.
        """
        last = self.store.source_state(source.id).last_run_at
        due = datetime.fromisoformat(last) + source.every if last else now
        return max(due, now + min(STAGGER * position, timedelta(minutes=1)))

    async def run_source(self, source) -> None:
        if self.stopping:
            return
        task = self.crawls.crawl(source)
        try:
            await task
        except Exception as exc:  # a crash of one crawl is recorded, never fatal
            self.crawls.record_crash(source, exc)
        if not self.stopping:
            self._back_off_if_failing(source)

    def _back_off_if_failing(self, source) -> None:
        """A failing source waits longer and longer between runs, up to a cap; never dropped."""

        state = self.store.source_state(source.id)
        job = self.scheduler.get_job(f"source:{source.id}") if self.scheduler else None
        if state.state != "failing" or job is None:
            return
        delay = backoff(source.every, state.failures, self.config.health)
        job.modify(next_run_time=datetime.now(UTC) + delay)
        log.info("source=%s failing; next run in %s", source.id, delay)

    async def deliver(self) -> int:
        """Send what is due; returns how many alerts were sent."""
        if self.stopping and self.delivering is None:
            return 0
        self.delivering = asyncio.current_task()
        try:
            return await self.delivery.deliver_due()
        except Exception:
            log.exception("delivery failed; the rows stay in the outbox")
            return 0
        finally:
            self.delivering = None

    async def judge_surges(self) -> int:
        """Judge every rule's surge now (crawler.stories.surges); returns the surges told.

        A coroutine although it never waits: APScheduler runs plain functions in a thread
        pool, and the store is this loop's thread's. A failure is logged and judged again at
        the next turn: surges never stop crawls or deliveries.
        """
        if self.stopping:
            return 0
        try:
            outcomes = judge_surges(self.store, self.config.rules, self.config.surges, datetime.now(UTC))
        except Exception:
            log.exception("judging surges failed; they are judged again at the next turn")
            return 0
        return sum(outcome.told is not None for outcome in outcomes)

    async def apply_retention(self) -> None:
        """Drop the texts older than retention.article_text, a batch (one transaction) at a
        time, so crawls and deliveries run between batches."""
        before = datetime.now(UTC) - self.config.retention.article_text
        articles = revisions = 0
        try:
            while not self.stopping:
                done = self.store.drop_texts(before)
                if done == (0, 0):
                    break
                articles, revisions = articles + done[0], revisions + done[1]
                await asyncio.sleep(0)
        except Exception:
            log.exception("retention failed; it is tried again tomorrow")
        if articles:
            log.info("retention: dropped the texts of %d articles (%d earlier versions) first seen before %s",
                     articles, revisions, before.isoformat(timespec="seconds"))

    async def shutdown(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.delivery.stopping = True
        log.info("stopping: waiting for crawls and deliveries in flight")
        if self.scheduler is not None:
            self.scheduler.pause()
        await self.crawls.stop()
        await close_shared_pool()  # after the crawls: their last pages are read
        if self.delivering is not None:
            # At most one alert is in flight, and Apprise's own timeout bounds its send.
            await asyncio.wait([self.delivering])
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        self.store.close()
        log.info("stopped")

    def _resume_interrupted(self) -> None:
        """Rows claimed when presswatch last stopped go back to the outbox.

        The URL each was being sent to may have it: with delivery.on_timeout: uncertain it
        is not sent there again by itself (the row ends uncertain if nothing else is left);
        with retry it is. URLs not reached yet are sent as usual.
        """
        uncertain = self.config.delivery.on_timeout == "uncertain"
        released = self.store.release_interrupted(uncertain=uncertain)
        if released:
            log.warning("%d alerts were being sent when presswatch last stopped; the URLs they had "
                        "not reached get them now%s", released,
                        "; a URL they were in flight to is marked uncertain" if uncertain else "")


def run(config, redact, once: bool = False, print_alert=None, body=None) -> int:
    """Run the daemon until it is stopped; returns the exit code.

    With `once`, every source runs once and the alerts are delivered; with `body`, an
    async function given the Daemon runs instead of the schedule (the demo's passes).
    """
    install_reactor(REACTOR)
    # Imported here: importing the reactor installs one, and the asyncio reactor must come first.
    from twisted.internet import reactor

    daemon = Daemon(config, redact, print_alert)
    if once and body is None:
        # A bar on a terminal, plain lines otherwise; the schedule shows neither.
        body = lambda daemon: daemon.run_once(progress_for())  # noqa: E731
    monitor = _start_monitor(daemon, reactor) if body is None else None  # the long-running daemon only

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(stop()))
        try:
            if body is None:
                daemon.start_schedule()
                return
            await body(daemon)
        except Exception:
            log.exception("presswatch failed")
            daemon.exit_code = 1
        await stop()

    async def stop() -> None:
        if daemon.stopping:
            log.info("already stopping; waiting for work in flight")
            return
        await daemon.shutdown()
        if monitor is not None:
            await monitor.stop()
        if reactor.running:
            reactor.stop()

    reactor.callWhenRunning(lambda: asyncio.ensure_future(main()))
    reactor.run(installSignalHandlers=False)
    return daemon.exit_code


def _start_monitor(daemon: Daemon, reactor):
    """The /healthz and /metrics endpoint, listening before the reactor runs; None when off.

    A port that cannot be had stops the start (a PresswatchError naming monitor.listen):
    a daemon its supervisor cannot see is worse than one that does not start.
    """
    if daemon.config.monitor.address is None:
        return None
    # imported here: the endpoint (Twisted's web server) costs about 15 ms at start-up, and
    # `run --once` and the demo serve no /metrics
    from presswatch.scheduler.monitor import MonitorServer

    monitor = MonitorServer(daemon)
    try:
        monitor.start(reactor)
    except BaseException:
        daemon.store.close()
        raise
    declare_sources(source.id for source in daemon.sources)
    return monitor

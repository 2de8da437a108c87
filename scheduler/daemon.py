"""The daemon: one process, Twisted's asyncio reactor, APScheduler and Scrapy on one loop.

Each enabled source is an APScheduler job on its own interval (with jitter, coalesced,
one instance at a time, a grace of half the interval); delivery of the outbox is a job
every `delivery.every`. Per-source state lives in the store, not in APScheduler, so jobs
are rebuilt from the config at every start.

SIGTERM and SIGINT stop it in the order that loses nothing: pause the scheduler, stop
the crawls (their pipelines record the runs), wait for a delivery in flight, shut the
scheduler down, close the database, stop the reactor.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import UTC, datetime, timedelta

from scrapy.utils.reactor import install_reactor

from presswatch.crawler.runner import REACTOR
from presswatch.crawler.store import Store

log = logging.getLogger("presswatch.daemon")
# Sources never run at start are staggered by this much each, up to a minute.
STAGGER = timedelta(seconds=0.2)


class Daemon:
    def __init__(self, config, redact, print_alert=None):
        from presswatch.crawler.ingest import Ingest
        from presswatch.crawler.runner import Crawls
        from presswatch.scheduler.deliver import Delivery

        self.config = config
        self.store = Store(str(config.database))
        try:
            self.store.lock_writer()
        except Exception:
            self.store.close()
            raise
        self.store.sync_sources([(s.id, s.kind, redact(s.url), s.name) for s in config.sources])
        self.ingest = Ingest.from_config(self.store, config.rules, config.sources, redact, config.health,
                                          config.stories)
        self.crawls = Crawls(config, self.ingest)
        extra = {"print_alert": print_alert} if print_alert is not None else {}
        self.delivery = Delivery.from_config(self.store, config, redact, **extra)
        self.scheduler = None
        self.delivering: asyncio.Task | None = None
        self.stopping = False
        self.exit_code = 0

    @property
    def sources(self):
        return self.config.enabled_sources

    # One pass, for cron and tests --------------------------------------------

    async def run_once(self) -> None:
        self._resume_interrupted()
        log.info("run once: %d sources", len(self.sources))
        await self.crawls.crawl_all(self.sources)
        if self.stopping:
            return
        await self.deliver()
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
        from presswatch.crawler.health import backoff

        state = self.store.source_state(source.id)
        job = self.scheduler.get_job(f"source:{source.id}") if self.scheduler else None
        if state.state != "failing" or job is None:
            return
        delay = backoff(source.every, state.failures, self.config.health)
        job.modify(next_run_time=datetime.now(UTC) + delay)
        log.info("source=%s failing; next run in %s", source.id, delay)

    async def deliver(self) -> None:
        if self.stopping and self.delivering is None:
            return
        self.delivering = asyncio.current_task()
        try:
            await self.delivery.deliver_due()
        except Exception:
            log.exception("delivery failed; the rows stay in the outbox")
        finally:
            self.delivering = None

    async def shutdown(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.delivery.stopping = True
        log.info("stopping: waiting for crawls and deliveries in flight")
        if self.scheduler is not None:
            self.scheduler.pause()
        await self.crawls.stop()
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
    from twisted.internet import reactor

    daemon = Daemon(config, redact, print_alert)
    if once and body is None:
        body = Daemon.run_once

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
        if reactor.running:
            reactor.stop()

    reactor.callWhenRunning(lambda: asyncio.ensure_future(main()))
    reactor.run(installSignalHandlers=False)
    return daemon.exit_code

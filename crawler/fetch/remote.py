"""Remote crawls, the writer's side: jobs out to workers, their results ingested here.

The engine is RQ on a Redis server. The writer (the daemon, or `run --once`) puts one job
per due source on the queue `workers.queue`; a `presswatch worker` process runs it
(`crawler.fetch.worker`: the crawl and the extraction, on any machine) and appends one
record per item to the Redis stream `<queue>:results` (`crawler.fetch.record`: the format),
ending with an `end` record. The job carries the newest 20,000 articles the source stored
or listed, so pages already read are not fetched again.

The writer reads that stream as the consumer group `writer` and hands each record to the
run's `SourceIngest`, the same steps as a local crawl's pipeline: dedup, stories, rules
and the outbox stay in one serial writer. A record is acknowledged (and deleted) only
after its ingest committed, so a writer that dies re-reads what it had not finished at
its next start; ingesting a record twice stores nothing twice (an article seen again is
"seen"). A job that fails, or that no worker finishes within `workers.timeout`, ends its
run as failed with the reason, and its job is cancelled; results that still arrive later
are ingested as any others.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError, ResponseError
from rq import Queue, Worker
from rq.command import send_stop_job_command
from rq.job import Job

from presswatch.config.duration import format_duration
from presswatch.crawler.fetch.record import candidate_from_record, entry_from_record, results_stream
from presswatch.crawler.fetch.runner import Crawls, trusted_hosts
from presswatch.crawler.items import EntryItem, PageUnchanged, SourceFailed, SourceFetched
from presswatch.crawler.stories.run import SourceIngest

log = logging.getLogger("presswatch.remote")

GROUP = CONSUMER = "writer"  # one writer: its pending records are its own after a restart
JOB_FUNCTION = "presswatch.crawler.fetch.worker.crawl_job"
READ_BLOCK_MS = 1000     # a read of the results stream waits this long for new records
READ_COUNT = 500         # records read (and acknowledged) at a time
CHECK_EVERY = 2.0        # seconds between looks at the jobs of runs still waiting
RESULT_TTL = 3600        # seconds RQ keeps a finished job's return value
FAILURE_TTL = 7 * 86400  # and a failed job, for `rq info` and a look at its traceback
KNOWN_LIMIT = 20_000     # articles of a source told to its worker at most
GRACE = 60.0             # past workers.timeout, a run still without its end record ends here
NO_WORKER_AFTER = 30.0   # a job still queued this long with no worker on the queue: a warning


@dataclass
class _Run:
    source_id: str
    ingest: SourceIngest
    future: asyncio.Future
    job_id: str
    deadline: float
    queued: float
    ending: bool = False  # an end record was written for it by the writer


class RemoteCrawls(Crawls):
    """`Crawls` whose runs are jobs for remote workers; their results are ingested here."""

    def __init__(self, config, ingest):
        workers = config.workers
        self.redis = Redis.from_url(workers.redis)
        self.queue = Queue(workers.queue, connection=self.redis)
        self.stream = results_stream(workers.queue)
        self.runs: dict[str, _Run] = {}
        self.orphans: dict[str, SourceIngest] = {}  # runs queued by an earlier writer
        self.reader: asyncio.Task | None = None
        self.checked = 0.0
        self.warned = False  # about a queue no worker takes from
        super().__init__(config, ingest)

    def make_engine(self):
        return None  # the workers crawl

    def parallel_sources(self) -> int:
        return self.config.workers.max_jobs

    def where(self) -> str:
        return self.ingest.redact(self.config.workers.redis)

    def _start(self, source, etag, last_modified, body_digest=None, hold=False):
        return asyncio.ensure_future(self._remote(source, etag, last_modified, body_digest, hold))

    async def _remote(self, source, etag, last_modified, body_digest, hold) -> None:
        run_id = uuid.uuid4().hex
        payload = {
            "run": run_id,
            "stream": self.stream,
            "pace": f"{self.config.workers.queue}:pace:",  # + host: its next free moment
            "config": {
                "crawl": self.config.crawl.model_dump(mode="json"),
                "user_agent": self.config.user_agent,
                "contact": self.config.contact,
                "sources": [source.model_dump(mode="json", exclude_none=True)],
            },
            "etag": etag,
            "last_modified": last_modified,
            "body_digest": body_digest,
            "known": self.ingest.store.source_known(source.id, KNOWN_LIMIT),
            "trusted_hosts": sorted(trusted_hosts(self.config)),
        }
        run = _Run(source.id, self.source_run(source, hold), asyncio.get_running_loop().create_future(),
                   job_id=f"presswatch-{run_id}",
                   deadline=time.monotonic() + self.config.workers.timeout.total_seconds(),
                   queued=time.monotonic())
        self.runs[run_id] = run
        try:
            await asyncio.to_thread(
                self.queue.enqueue, JOB_FUNCTION, payload, job_id=run.job_id,
                job_timeout=int(self.config.workers.timeout.total_seconds()),
                result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL, description=f"crawl {source.id}")
        except Exception as exc:
            self.runs.pop(run_id, None)
            run.ingest.finish(fatal=f"could not queue the crawl on {self.where()}: {type(exc).__name__}: {exc}")
            return
        log.debug("source=%s queued as job %s", source.id, run.job_id)
        self._ensure_reader()
        # The reader ends runs; this is the backstop should it fail to (Redis lost the end
        # record, or the reader cannot read): a run never waits forever.
        wait = self.config.workers.timeout.total_seconds() + GRACE
        try:
            await asyncio.wait_for(asyncio.shield(run.future), wait)
        except TimeoutError:
            if self.runs.pop(run_id, None) is not None:
                run.ingest.finish(fatal=f"no result of the crawl arrived within workers.timeout "
                                        f"({self._timeout()}) and {GRACE:.0f}s more")

    def _ensure_reader(self) -> None:
        if self.reader is None or self.reader.done():
            self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        """Ingest the results stream until no run waits: first this writer's records left
        unacknowledged by its last life, then new ones."""
        last = "0"
        while self.runs or last == "0":
            try:
                if last == "0":
                    await asyncio.to_thread(self._create_group)
                reply = await asyncio.to_thread(
                    self.redis.xreadgroup, GROUP, CONSUMER, {self.stream: last}, count=READ_COUNT,
                    block=READ_BLOCK_MS if last == ">" else None)
                entries = reply[0][1] if reply else []
                if last != ">":
                    last = entries[-1][0] if entries else ">"
                touched: dict[int, SourceIngest] = {}
                for _, fields in entries:
                    target = self._handle(fields)
                    if target is not None:
                        touched[id(target)] = target
                for target in touched.values():
                    try:
                        target.flush()  # committed before acknowledged
                    except Exception:  # its run is recorded failed (SourceIngest.fatal)
                        log.exception("source=%s results could not be stored", target.source_id)
                if entries:
                    await asyncio.to_thread(self._acknowledge, [entry_id for entry_id, _ in entries])
                await self._check_jobs()
            except asyncio.CancelledError:
                raise
            except ResponseError as exc:
                if "NOGROUP" in str(exc):  # Redis restarted without its data: start over
                    log.warning("results: the stream's consumer group is gone from %s; created again",
                                self.where())
                    last = "0"
                    continue
                log.warning("results: %s answered %s; trying again in a second", self.where(), exc)
                await asyncio.sleep(1)
                await self._check_deadlines_only()
            except RedisError as exc:
                log.warning("results: %s unreachable (%s); trying again in a second", self.where(), exc)
                await asyncio.sleep(1)
                await self._check_deadlines_only()
            except Exception:
                # Never let the reader die: runs would wait for their backstop.
                log.exception("results: reading failed; trying again in a second")
                await asyncio.sleep(1)
                await self._check_deadlines_only()

    def _create_group(self) -> None:
        try:
            self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _acknowledge(self, ids: list) -> None:
        pipe = self.redis.pipeline()
        pipe.xack(self.stream, GROUP, *ids)
        pipe.xdel(self.stream, *ids)
        pipe.execute()

    def _handle(self, fields) -> SourceIngest | None:
        """Ingest one record (a bad one is logged and dropped); returns the run it went to,
        whose batch must be flushed before the record is acknowledged."""
        if not fields:  # deleted from the stream while pending
            return None
        try:
            record = json.loads(fields[b"r"])
            run_id, kind = record["run"], record["type"]
        except (KeyError, ValueError, TypeError) as exc:
            log.error("results: a record that cannot be read was dropped: %s", exc)
            return None
        run = self.runs.get(run_id)
        target = run.ingest if run else self.orphans.get(run_id)
        if target is None:
            target = self.orphans[run_id] = SourceIngest(self.ingest, record["source"], batch=self.batch)
        try:
            if kind == "end":
                self._end(run_id, run, target, record)
            elif kind == "candidate":
                target.store(candidate_from_record(record["candidate"]))
            elif kind == "unreadable":
                target.unreadable(record["url"], record["reason"], entry_from_record(record.get("entry")))
            elif kind == "entry":
                target.process(EntryItem(record["source"], entry_from_record(record["entry"])))
            elif kind == "unchanged":
                target.process(PageUnchanged(record["source"], record["url"], entry_from_record(record.get("entry"))))
            elif kind == "fetched":
                target.process(SourceFetched(**record["item"]))
            elif kind == "failed":
                item = record["item"]
                target.process(SourceFailed(**{**item, "entry": entry_from_record(item.get("entry"))}))
            else:
                log.error("results: record of an unknown type %r dropped (source=%s)", kind, record["source"])
        except Exception:
            # One bad record never stops the others; it is logged with its source.
            log.exception("source=%s result %s could not be ingested", record.get("source"), kind)
        if kind in ("candidate", "entry") and self.progress is not None:
            self.progress.article(record["source"])
        return target

    def _end(self, run_id: str, run: _Run | None, target: SourceIngest, record: dict) -> None:
        if run is None:
            # A run queued before this writer started: what of it was ingested before the
            # restart is stored; its outcome is recorded only if this writer saw it fetched.
            self.orphans.pop(run_id, None)
            if target.fetched is not None or target.fatal is not None:
                target.finish(record.get("items_seen", 0), record.get("error"))
            return
        del self.runs[run_id]
        try:
            target.finish(record.get("items_seen", 0), record.get("error"))
        finally:
            if not run.future.done():
                run.future.set_result(None)

    async def _check_jobs(self) -> None:
        """Runs whose job failed or outlived `workers.timeout` end as failed, in stream order."""
        if time.monotonic() - self.checked < CHECK_EVERY or not self.runs:
            return
        self.checked = time.monotonic()
        waiting = [(run_id, run) for run_id, run in self.runs.items() if not run.ending]
        statuses = await asyncio.to_thread(self._statuses, [run.job_id for _, run in waiting])
        now = time.monotonic()
        for (run_id, run), (status, reason) in zip(waiting, statuses):
            if status in ("failed", "stopped", "canceled"):
                await self._end_by_writer(run_id, run, f"the worker's job {status}: {reason}")
            elif now > run.deadline:
                await asyncio.to_thread(self._cancel, run.job_id)
                await self._end_by_writer(
                    run_id, run, f"no worker finished the crawl within workers.timeout "
                                 f"({self._timeout()}); job {status or 'lost'}, now cancelled")
            elif status == "queued" and now - run.queued > NO_WORKER_AFTER and not self.warned:
                await self._warn_if_no_worker()

    def _timeout(self) -> str:
        return format_duration(self.config.workers.timeout)

    async def _warn_if_no_worker(self) -> None:
        if await asyncio.to_thread(Worker.count, queue=self.queue):
            return
        self.warned = True
        log.warning("no worker takes jobs from the queue %r on %s: crawls wait (up to workers.timeout, %s); "
                    "start one with: presswatch worker --redis URL", self.config.workers.queue, self.where(),
                    self._timeout())

    async def _check_deadlines_only(self) -> None:
        """Redis is unreachable: runs past their deadline end here, as failed."""
        now = time.monotonic()
        for run_id, run in list(self.runs.items()):
            if now > run.deadline:
                self.runs.pop(run_id)
                run.ingest.finish(fatal=f"results could not be read from {self.where()} within "
                                        f"workers.timeout ({self._timeout()})")
                if not run.future.done():
                    run.future.set_result(None)

    def _statuses(self, job_ids: list[str]) -> list[tuple[str | None, str]]:
        found = []
        for job in Job.fetch_many(job_ids, connection=self.redis):
            if job is None:
                found.append((None, ""))
                continue
            status = job.get_status(refresh=False)
            status = getattr(status, "value", status)
            reason = ""
            if status == "failed":
                result = job.latest_result()
                text = (getattr(result, "exc_string", None) or "").strip().splitlines()
                reason = text[-1] if text else "no reason given"
            found.append((status, reason))
        return found

    def _cancel(self, job_id: str) -> None:
        try:
            job = Job.fetch(job_id, connection=self.redis)
            status = getattr(job.get_status(), "value", job.get_status())
            if status == "started":
                send_stop_job_command(self.redis, job_id)
            elif status in ("queued", "deferred", "scheduled"):
                job.cancel()
        except Exception as exc:  # gone already, or Redis away: the deadline still holds
            log.info("job %s could not be cancelled: %s", job_id, exc)

    async def _end_by_writer(self, run_id: str, run: _Run, reason: str) -> None:
        """Append the run's end after whatever its worker wrote, so it is ingested last."""
        record = {"run": run_id, "source": run.source_id, "type": "end", "items_seen": 0,
                  "error": reason, "worker": None}
        await asyncio.to_thread(self.redis.xadd, self.stream, {"r": json.dumps(record, ensure_ascii=False)})
        run.ending = True

    async def stop(self) -> None:
        """Stop waiting: results not yet read stay in the stream for the next start."""
        self.stopping = True
        if self.reader is not None:
            self.reader.cancel()
        for run in list(self.runs.values()):
            if not run.future.done():
                run.future.set_result(None)
        self.runs.clear()
        if self.with_fallback:
            await asyncio.wait(list(self.with_fallback))

"""Remote crawls: workers on any machine fetch and extract; this process stays the one writer.

The engine is RQ on a Redis server. The writer (the daemon, or `run --once`) puts one job
per due source on the queue `workers.queue`; a `presswatch worker` process takes it and
runs it in a fresh forked process (RQ's work horse), so each job gets its own Twisted
reactor, as Scrapy needs. The job carries everything the crawl needs and nothing of the
database: the source and the `crawl` section, the source's validators and body digest,
and the articles the source stored or listed, the newest 20,000 (so pages already
read are not fetched again). The worker crawls with the same spiders and settings as a
local crawl, extracts each page there, and appends one record per item to the Redis
stream `<queue>:results`, ending with an `end` record.

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
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime

from redis import Redis
from redis.exceptions import RedisError, ResponseError
from rq import Queue, Worker, get_current_job
from rq.command import send_stop_job_command
from rq.job import Job
from scrapy.crawler import CrawlerProcess

from presswatch.config.duration import format_duration
from presswatch.config.schema import Config
from presswatch.crawler.errors import FetchError
from presswatch.crawler.fetch.downloadermiddlewares.politeness import HostPacingMiddleware
from presswatch.crawler.fetch.pipeline import hand_items_to, items_receiver
from presswatch.crawler.fetch.runner import (
    Crawls,
    SPIDERS,
    scrapy_settings,
    source_policy,
    source_settings,
    trusted_hosts,
)
from presswatch.crawler.items import EntryItem, FeedEntry, PageItem, PageUnchanged, SourceFailed, SourceFetched
from presswatch.crawler.parse.canonical import canonical_url
from presswatch.crawler.stories.candidates import Candidate, extract_candidate, source_reading
from presswatch.crawler.stories.ingest import page_not_wanted
from presswatch.crawler.stories.run import SourceIngest

log = logging.getLogger("presswatch.remote")

GROUP = CONSUMER = "writer"  # one writer: its pending records are its own after a restart
JOB_FUNCTION = "presswatch.crawler.fetch.remote.crawl_job"
READ_BLOCK_MS = 1000     # a read of the results stream waits this long for new records
READ_COUNT = 500         # records read (and acknowledged) at a time
CHECK_EVERY = 2.0        # seconds between looks at the jobs of runs still waiting
RESULT_TTL = 3600        # seconds RQ keeps a finished job's return value
FAILURE_TTL = 7 * 86400  # and a failed job, for `rq info` and a look at its traceback
KNOWN_LIMIT = 20_000     # articles of a source told to its worker at most
GRACE = 60.0             # past workers.timeout, a run still without its end record ends here
NO_WORKER_AFTER = 30.0   # a job still queued this long with no worker on the queue: a warning
LISTEN_POLL = 1.0        # seconds a worker's command listener waits before it looks at its stop flag


def results_stream(queue: str) -> str:
    return f"{queue}:results"


# Records: plain JSON, one per item a spider yielded ---------------------------------


def _entry_record(entry: FeedEntry | None) -> dict | None:
    if entry is None:
        return None
    data = asdict(entry)
    data["published"] = entry.published.isoformat() if entry.published else None
    return data


def _entry(data: dict | None) -> FeedEntry | None:
    if data is None:
        return None
    published = datetime.fromisoformat(data["published"]) if data.get("published") else None
    return FeedEntry(**{**data, "published": published, "authors": tuple(data.get("authors") or ())})


def _candidate_record(candidate: Candidate) -> dict:
    data = asdict(candidate)
    data["published"] = candidate.published.isoformat() if candidate.published else None
    return data


def _candidate(data: dict) -> Candidate:
    published = datetime.fromisoformat(data["published"]) if data.get("published") else None
    return Candidate(**{**data, "published": published, "authors": tuple(data.get("authors") or ())})


# The worker's side ------------------------------------------------------------------


class KnownEntries:
    """`is_known` for a spider on a worker: the writer's answer, from the job's list.

    The same decision as `Ingest.is_known`, made on what the source itself stored or
    listed; a page another source stored first is fetched once, found "seen" and noted.
    """

    def __init__(self, rows: list[dict], want_page: bool):
        self.want_page = want_page
        self.by_key: dict[str, dict] = {}
        self.by_guid: dict[str, dict] = {}
        for row in reversed(rows):  # newest last, so newest wins
            self.by_key[row["url_key"]] = row
            self.by_key[row["canonical_url"]] = row
            if row.get("guid"):
                self.by_guid[row["guid"]] = row

    def _row(self, guid: str | None, url: str) -> dict | None:
        try:
            key = canonical_url(url)
        except ValueError:
            return None
        return self.by_key.get(key) or (self.by_guid.get(guid) if guid else None)

    def is_known(self, guid: str | None, url: str, fingerprint: str | None = None) -> bool:
        row = self._row(guid, url)
        if row is None:
            return False
        return page_not_wanted(row["extracted_from"], row["page_error"], fingerprint, self.want_page,
                               lambda: row["fingerprint"])

    def page_validators(self, guid: str | None, url: str) -> tuple[str | None, str | None] | None:
        row = self._row(guid, url)
        if row is None or row["extracted_from"] != "page":
            return None
        if not (row.get("page_etag") or row.get("page_last_modified")):
            return None
        return row.get("page_etag"), row.get("page_last_modified")


class ResultSink:
    """Appends a run's records to the results stream, extracting pages on the way."""

    def __init__(self, connection, stream: str, run_id: str, source):
        self.connection = connection
        self.stream = stream
        self.run_id = run_id
        self.source = source
        self.sent = 0
        self.lost = 0  # records Redis refused: the run must fail, so they are fetched again
        self.lost_reason = ""
        self.ended = False
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def send(self, kind: str, **data) -> None:
        record = {"run": self.run_id, "source": self.source.id, "type": kind, **data}
        self.connection.xadd(self.stream, {"r": json.dumps(record, ensure_ascii=False)})
        self.sent += 1

    def item(self, item) -> None:
        try:
            self._item(item)
        except RedisError as exc:
            self.lost += 1
            self.lost_reason = f"{type(exc).__name__}: {exc}"
            log.warning("source=%s a result could not be sent to Redis: %s", self.source.id, self.lost_reason)

    def _item(self, item) -> None:
        if isinstance(item, SourceFetched):
            self.send("fetched", item=asdict(item))
        elif isinstance(item, SourceFailed):
            self.send("failed", item={**asdict(item), "entry": _entry_record(item.entry)})
        elif isinstance(item, EntryItem):
            self.send("entry", entry=_entry_record(item.entry))
        elif isinstance(item, PageUnchanged):
            self.send("unchanged", url=item.url, entry=_entry_record(item.entry))
        elif isinstance(item, PageItem):
            try:
                candidate = extract_candidate(item, getattr(self.source, "language", None),
                                              **source_reading(self.source))
            except FetchError as exc:
                self.send("unreadable", url=item.url, reason=str(exc), entry=_entry_record(item.entry))
            else:
                self.send("candidate", candidate=_candidate_record(candidate))

    def end(self, items_seen: int, error: str | None = None) -> None:
        """The run's last record; raises if Redis refuses it (the job then fails, and the
        writer ends the run with the job's error)."""
        if self.ended:
            return
        if self.lost and error is None:
            error = (f"{self.lost} results could not be sent to Redis ({self.lost_reason}); "
                     "the run is read again next time")
        self.send("end", items_seen=items_seen, error=error, worker=self.worker)
        self.ended = True


class ForwardPipeline:
    """A worker's item pipeline: everything the spider yields goes to the writer."""

    def __init__(self, sink: ResultSink, crawler):
        self.sink = sink
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(items_receiver(crawler), crawler)

    def process_item(self, item):
        self.sink.item(item)
        return item

    def close_spider(self):
        self.sink.end(getattr(self.crawler.spider, "items_seen", 0))


def crawl_job(payload: dict) -> dict:
    """One source's crawl, run by RQ in a work horse (a forked process of its own)."""
    job = get_current_job()
    config = Config.model_validate(payload["config"])
    source = config.sources[0]
    sink = ResultSink(job.connection, payload["stream"], payload["run"], source)
    # One pace per host across every job and worker of the queue, kept in Redis.
    HostPacingMiddleware.share_through(job.connection, payload["pace"])
    try:
        known = KnownEntries(payload["known"], want_page=source.kind == "feed" and source.fetch_articles)
        settings = scrapy_settings(config, ForwardPipeline)
        settings.setdict(source_settings(source), priority="spider")
        # The job's config holds its own source only: the writer's config says which hosts are sources'.
        if "trusted_hosts" in payload:
            settings.set("PRESSWATCH_TRUSTED_HOSTS", payload["trusted_hosts"])
        process = CrawlerProcess(settings, install_root_handler=False)
        crawler = process.create_crawler(SPIDERS[source.kind])
        hand_items_to(crawler, sink)
        process.crawl(crawler, source=source, is_known=known.is_known,
                      page_validators=known.page_validators,
                      etag=payload["etag"], last_modified=payload["last_modified"],
                      body_digest=payload["body_digest"], max_articles=config.crawl.max_articles,
                      **source_policy(config, source))
        process.start()
    except Exception as exc:
        sink.end(0, f"crawl crashed on worker {sink.worker}: {type(exc).__name__}: {exc}")
        raise
    sink.end(0, None if sink.sent else "the crawl ended without a result")
    return {"records": sink.sent, "lost": sink.lost, "worker": sink.worker}


class CrawlWorker(Worker):
    """RQ's worker, whose command listener cannot hold up its exit.

    RQ listens for commands (stop a job, shut down) in a thread that waits up to a minute
    for a message and counts on the reply to its UNSUBSCRIBE, at exit, to wake it. When
    that thread reads the reply before it is told to stop, it goes back to waiting a full
    minute for a subscription that never comes, and redis-py's `stop()` (8.2 on) waits
    with it: a `--burst` worker lingered a minute after "done, quitting", and SIGTERM as
    long. Here the thread looks at its stop flag every `LISTEN_POLL` seconds.
    """

    def subscribe(self):
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=LISTEN_POLL, daemon=True, exception_handler=self._pubsub_exception_handler)


def work(redis_url: str, queue: str, burst: bool = False, name: str | None = None) -> bool:
    """Run an RQ worker on the queue until stopped (or, with `burst`, until it is empty)."""
    # Scrapy, trafilatura and the extraction are loaded by this module already, so each job's
    # forked process starts with them; none installs a Twisted reactor: each job installs its own.
    connection = Redis.from_url(redis_url)
    worker = CrawlWorker([Queue(queue, connection=connection)], connection=connection,
                         name=name or f"presswatch-{socket.gethostname()}-{os.getpid()}")
    return worker.work(burst=burst, with_scheduler=False)


# The writer's side --------------------------------------------------------------------


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

    def make_runner(self):
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
        run = _Run(source.id, self.source_run(source.id, hold), asyncio.get_running_loop().create_future(),
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
            target = self.orphans[run_id] = SourceIngest(self.ingest, record["source"])
        try:
            if kind == "end":
                self._end(run_id, run, target, record)
            elif kind == "candidate":
                target.store(_candidate(record["candidate"]))
            elif kind == "unreadable":
                target.unreadable(record["url"], record["reason"], _entry(record.get("entry")))
            elif kind == "entry":
                target.process(EntryItem(record["source"], _entry(record["entry"])))
            elif kind == "unchanged":
                target.process(PageUnchanged(record["source"], record["url"], _entry(record.get("entry"))))
            elif kind == "fetched":
                target.process(SourceFetched(**record["item"]))
            elif kind == "failed":
                item = record["item"]
                target.process(SourceFailed(**{**item, "entry": _entry(item.get("entry"))}))
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

"""The worker's side of remote crawls: what runs in `presswatch worker`.

A worker takes one job per due source from the RQ queue `workers.queue` (put there by the
writer, `crawler.fetch.remote`) and runs it in a fresh forked process (RQ's work horse), so
each job gets its own Twisted reactor, as Scrapy needs. The job carries everything the
crawl needs and nothing of the database: the source and the `crawl` section, the source's
validators and body digest, and the articles the source stored or listed (so pages already
read are not fetched again). The worker crawls with the same spiders and settings as a
local crawl, extracts each page here, and appends one record per item (`crawler.fetch.record`)
to the results stream, ending with an `end` record. Storing, dedup, stories, rules and the
outbox are left to the writer.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import asdict

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker, get_current_job
from scrapy.crawler import CrawlerProcess

from presswatch.config.schema import Config
from presswatch.crawler.errors import FetchError
from presswatch.crawler.fetch.downloadermiddlewares.politeness import HostPacingMiddleware
from presswatch.crawler.fetch.pipeline import hand_items_to, items_receiver
from presswatch.crawler.fetch.record import candidate_record, entry_record
from presswatch.crawler.fetch.runner import SPIDERS, scrapy_settings, source_policy, source_settings, wants_pages
from presswatch.crawler.items import EntryItem, PageItem, PageUnchanged, SourceFailed, SourceFetched
from presswatch.crawler.parse.canonical import canonical_url
from presswatch.crawler.stories.candidates import extract_candidate, source_reading
from presswatch.crawler.stories.ingest import page_not_wanted

log = logging.getLogger("presswatch.remote")

LISTEN_POLL = 1.0        # seconds a worker's command listener waits before it looks at its stop flag


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

    def __init__(self, connection, stream: str, run_id: str, source, known: KnownEntries | None = None):
        self.connection = connection
        self.known = known or KnownEntries([], want_page=False)  # what the writer has, from the job
        self.stream = stream
        self.run_id = run_id
        self.source = source
        self.sent = 0
        self.lost = 0  # records Redis refused: the run must fail, so they are fetched again
        self.lost_reason = ""
        self.ended = False
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def is_known(self, guid: str | None, url: str, fingerprint: str | None = None) -> bool:
        return self.known.is_known(guid, url, fingerprint)

    def page_validators(self, guid: str | None, url: str) -> tuple[str | None, str | None] | None:
        return self.known.page_validators(guid, url)

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
            self.send("failed", item={**asdict(item), "entry": entry_record(item.entry)})
        elif isinstance(item, EntryItem):
            self.send("entry", entry=entry_record(item.entry))
        elif isinstance(item, PageUnchanged):
            self.send("unchanged", url=item.url, entry=entry_record(item.entry))
        elif isinstance(item, PageItem):
            try:
                candidate = extract_candidate(item, getattr(self.source, "language", None),
                                              **source_reading(self.source))
            except FetchError as exc:
                self.send("unreadable", url=item.url, reason=str(exc), entry=entry_record(item.entry))
            else:
                self.send("candidate", candidate=candidate_record(candidate))

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
    sink = ResultSink(job.connection, payload["stream"], payload["run"], source,
                      KnownEntries(payload["known"], want_page=wants_pages(source)))
    # One pace per host across every job and worker of the queue, kept in Redis.
    HostPacingMiddleware.share_through(job.connection, payload["pace"])
    try:
        settings = scrapy_settings(config, ForwardPipeline)
        settings.setdict(source_settings(source), priority="spider")
        # The job's config holds its own source only: the writer's config says which hosts are sources'.
        if "trusted_hosts" in payload:
            settings.set("PRESSWATCH_TRUSTED_HOSTS", payload["trusted_hosts"])
        process = CrawlerProcess(settings, install_root_handler=False)
        crawler = process.create_crawler(SPIDERS[source.kind])
        hand_items_to(crawler, sink)
        process.crawl(crawler, source=source, etag=payload["etag"], last_modified=payload["last_modified"],
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

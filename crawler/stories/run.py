"""One run of one source on the writer's side: what its crawl brought, into the store.

A `SourceIngest` takes what a crawl yields (`presswatch.crawler.items`), in this process
through the item pipeline or from a remote worker's records, turns it into candidates
(`candidates`; a crawl in this process has its article pages extracted in the process pool
of `extracting` when there is one), hands them to `ingest` in batches of one transaction
each, and at the end records the run's outcome on the source and logs one summary line.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import replace

from presswatch.crawler import metrics
from presswatch.crawler.errors import FetchError, StoreError
from presswatch.crawler.items import EntryItem, FeedEntry, PageItem, PageUnchanged, SourceFailed, SourceFetched
from presswatch.crawler.parse.layout import LISTING
from presswatch.crawler.store.records import SourceRun
from presswatch.crawler.stories.candidates import Candidate, entry_candidate, extract_candidate, source_reading
from presswatch.crawler.stories.extracting import PagePool, PoolClosed, shared_pool
from presswatch.crawler.stories.ingest import Ingest, IngestResult, Outcome

log = logging.getLogger("presswatch.crawl")
BATCH = 50  # candidates of a run stored in one transaction at most, when it has a batch of its own
SHARED_BATCH = 400  # candidates of the runs sharing a batch (the runs of one crawl process)


class WriteBatch:
    """Candidates of one or more runs waiting to be stored in one transaction, and the runs
    waiting to be recorded with them.

    The runs of a crawl process share one (`runner.Crawls`), so the entries of several
    sources that arrive together commit together: a commit rewrites the last page of every
    table and index it grows, and one commit for ten feeds' entries writes those pages once
    instead of ten times. Each run's candidates stay in its order, each in its own savepoint;
    which run's come first does not matter.

    With a `wait` (a crawl process's batch), what waits is committed at most `wait` seconds
    after the first of it, and a run that ends is recorded in the batch's next commit, with
    its last entries (`SourceIngest.finish_with_batch`): a run's end does not commit the
    batch on its own. Entries and their run's record are one transaction, so a crash loses
    both or neither.
    """

    def __init__(self, store, limit: int = SHARED_BATCH, wait: float | None = None, endings: int = 16,
                 running: Callable[[], int] | None = None):
        self.store = store
        self.limit = limit
        self.wait = wait
        # Runs waiting to be recorded that commit the batch at once (a crawl process: as
        # many as crawl at once): their records, and the memory they hold, wait no longer.
        self.endings = endings
        # How many runs are under way (a crawl process's, ended or not): when every one of
        # them waits to be recorded, none is left to share the commit, and it is made at once.
        self.running = running
        self.runs: dict[SourceIngest, None] = {}  # the runs with candidates waiting, in order
        self.size = 0
        self.ending: list[Ending] = []  # runs to record in the next commit
        self.timer: asyncio.TimerHandle | None = None

    def add(self, run: SourceIngest, candidate: Candidate) -> None:
        run.pending.append(candidate)
        self.runs[run] = None
        self.size += 1
        if self.size >= self.limit:
            self.commit()
        else:
            self._commit_later()

    def end(self, ending: Ending) -> None:
        """Record a run in the next commit, at most `wait` seconds from now."""
        self.ending.append(ending)
        if len(self.ending) >= self.endings or (self.running is not None and len(self.ending) >= self.running()):
            self.commit()
        else:
            self._commit_later()

    def _commit_later(self) -> None:
        """One timer for the batch: what waits is committed at most `wait` after the first
        of it (a timer per run would commit as often as runs start)."""
        if self.wait is None or self.timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # stored from outside a loop: committed by an explicit flush
            return
        self.timer = loop.call_later(self.wait, self.commit)

    def commit(self) -> None:
        """Ingest every run's waiting candidates and record the runs that ended, in one
        transaction (see `SourceIngest.flush`)."""
        waiting = [(run, run.pending) for run in self.runs if run.pending]
        for run in self.runs:
            run.pending = []
        ending, self.ending = self.ending, []
        self.runs, self.size = {}, 0
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not waiting and not ending:
            return
        try:
            with self.store.transaction():
                for run, candidates in waiting:
                    for candidate in candidates:
                        run._ingest(candidate)
                for end in ending:
                    end.record()
        except (sqlite3.Error, StoreError) as exc:  # the commit itself failed
            for run, candidates in waiting:
                run.fatal = f"database error, {len(candidates)} entries not stored: {exc}"
                log.error("source=%s %s", run.source_id, run.fatal)
            for end in ending:
                end.record_again()
            return
        except BaseException as exc:  # not the database's: no run waits for ever
            for end in ending:
                end.fail(exc)
            raise
        for end in ending:
            end.done()


class Ending:
    """A run waiting to be recorded in its batch's commit; `finished` gets its `SourceRun`."""

    def __init__(self, run: SourceIngest, items_seen: int, fatal: str | None):
        self.run, self.items_seen, self.fatal = run, items_seen, fatal
        self.finished: asyncio.Future = asyncio.get_running_loop().create_future()
        self.recorded: SourceRun | None = None
        self.error: BaseException | None = None

    def record(self) -> None:
        """Inside the batch's transaction (a savepoint of its own): a run that cannot be
        recorded fails alone, as a run recorded on its own would."""
        try:
            with self.run.ingest.store.transaction():
                self.recorded = self.run._record(self.items_seen, self.fatal)
        except Exception as exc:  # a bug too: this run fails alone, the others are recorded
            self.error = exc

    def record_again(self) -> None:
        """The batch's commit failed: record the run on its own (failed, when entries of its
        were in that commit: they were not stored, and its ETag must not hide them)."""
        try:
            self.recorded = self.run._record(self.items_seen, self.fatal)
        except Exception as exc:  # given to the run's waiter
            self.error = exc
        self.done()

    def fail(self, exc: BaseException) -> None:
        if not self.finished.done():
            self.finished.set_exception(exc)

    def done(self) -> None:
        if self.error is not None:
            self.fail(self.error)
            return
        self.run._report(self.recorded, self.items_seen)
        self.finished.set_result(self.recorded)


class SourceIngest:
    """One run of one source on the writer's side: what its crawl brought, into the store.

    Fed by the Scrapy pipeline in this process, or by records of a remote worker's crawl
    (`presswatch.crawler.fetch.remote`): the same steps, the same recorded run. At the end (`finish`) it
    records the run's outcome on the source (success, or the reason it failed) and logs
    one summary line. Failures of single pages are recorded, never raised.
    """

    def __init__(self, ingest: Ingest, source_id: str, record_run: Callable[[SourceRun], object] | None = None,
                 want_page: bool = False, pool: PagePool | None = None, batch: WriteBatch | None = None,
                 on_end: Callable[[], object] | None = None):
        self.ingest = ingest
        self.source_id = source_id
        self.want_page = want_page  # the run reads its entries' pages (`Ingest.is_known`)
        # Where the run's outcome goes: the store at once, or the runner, which holds a
        # feed's first try until it knows whether the fallback is needed.
        self.record_run = record_run or ingest.record_run
        self.fetched: SourceFetched | None = None
        self.fatal: str | None = None
        self.errors: list[str] = []
        self.counts = {outcome: 0 for outcome in Outcome}
        self.alerts = 0
        self.items = 0  # everything handed to ingest, stored or not
        # Article pages read with text, without any, and refused as listings: a changed layout shows here.
        self.pages = {"read": 0, "without_text": 0, "like_listings": 0}
        self.pending: list[Candidate] = []  # waiting for the batch's one transaction
        # Shared with the other runs of the crawl process, or a batch of this run's own.
        self.batch = batch if batch is not None else WriteBatch(ingest.store, BATCH)
        # Told when the run has ended and only waits to be recorded (the runner frees its slot).
        self.on_end = on_end
        # Where `take` has article pages extracted: the process's pool, else this thread.
        self.pool = pool if pool is not None else shared_pool()
        # Done when the last item given to `take` has been handed over; None when nothing waits.
        self.turn: asyncio.Future | None = None
        self.started = time.monotonic()

    def is_known(self, guid: str | None, url: str, fingerprint: str | None = None) -> bool:
        """Whether the spider need not fetch this page (again): asked before each request."""
        return self.ingest.is_known(self.source_id, guid, url, fingerprint, want_page=self.want_page)

    def page_validators(self, guid: str | None, url: str) -> tuple[str | None, str | None] | None:
        """The stored page's validators, to ask for it again conditionally."""
        return self.ingest.page_validators(self.source_id, guid, url)

    async def take(self, item) -> None:
        """`process` for a crawl in this process: an article page is extracted in the pool while
        the loop goes on, and every item is still handed over in the order it came (a page
        unchanged or a feed entry waits for the pages before it)."""
        extraction = self._extraction(item)
        before = self.turn
        if extraction is None and before is None:
            self.process(item)
            return
        self.turn = turn = asyncio.get_running_loop().create_future()
        try:
            if before is not None:
                await before
            if extraction is None:
                self.process(item)
            else:
                await self._extracted(item, extraction)
        finally:
            turn.set_result(None)
            if self.turn is turn:
                self.turn = None

    async def settle(self) -> None:
        """Wait until every item given to `take` has been handed over."""
        while self.turn is not None:
            await self.turn

    def _extraction(self, item) -> asyncio.Task | None:
        if self.pool is None or not isinstance(item, PageItem):
            return None
        source = self.ingest.sources.get(item.source_id)
        return asyncio.ensure_future(
            self.pool.candidate(item, getattr(source, "language", None), **source_reading(source)))

    async def _extracted(self, item: PageItem, extraction: asyncio.Task) -> None:
        try:
            candidate = await extraction
        except FetchError as exc:
            self.unreadable(item.url, str(exc), item.entry)
            return
        except PoolClosed:
            # Stopping: the run fails, so the page is fetched and read again next time.
            self.fatal = self.fatal or f"page not read, presswatch was stopping ({item.url})"
            return
        self.store(candidate)

    def process(self, item) -> None:
        if isinstance(item, SourceFetched):
            self.fetched = item
            if item.warning:
                self.note(item.warning)
        elif isinstance(item, SourceFailed):
            self._failed(item)
        elif isinstance(item, EntryItem):
            self.store(entry_candidate(item.source_id, item.entry))
        elif isinstance(item, PageItem):
            self._page(item)
        elif isinstance(item, PageUnchanged):
            self.unchanged(item)

    def unchanged(self, item: PageUnchanged) -> None:
        """A page asked for again answered 304: seen, its entry noted."""
        self.flush()  # in order with what came before it
        entry = item.entry
        try:
            result = self.ingest.page_unchanged(item.source_id, entry.guid if entry else None, item.url,
                                                entry.fingerprint if entry else None)
        except (sqlite3.Error, StoreError) as exc:
            self.fatal = f"database error, entry not noted: {exc} ({item.url})"
            log.error("source=%s %s", item.source_id, self.fatal)
            return
        if result is None and entry is not None:  # not stored after all: keep the feed's text
            self.store(entry_candidate(item.source_id, entry))
        elif result is not None:
            self.items += 1
            self.counts[result.outcome] += 1

    def _failed(self, item: SourceFailed) -> None:
        if item.fatal:
            self.fatal = self.ingest.redact(f"{item.reason} ({item.url})")
            log.warning("source=%s fetch failed: %s", item.source_id, self.fatal)
            return
        self.note(f"{item.reason} ({item.url})")
        if item.entry is not None:
            # The page failed but the feed told us about the article: keep its own text
            # now; unless the failure is final, the page is tried again next run.
            page_error = item.reason if item.final else None
            self.store(entry_candidate(item.source_id, item.entry, page_error))

    def _page(self, item: PageItem) -> None:
        source = self.ingest.sources.get(item.source_id)
        try:
            candidate = extract_candidate(item, getattr(source, "language", None), **source_reading(source))
        except FetchError as exc:
            self.unreadable(item.url, str(exc), item.entry)
            return
        self.store(candidate)

    def unreadable(self, url: str, reason: str, entry: FeedEntry | None) -> None:
        """A page fetched but with no article in it: noted; its feed entry kept, for good."""
        self.pages["like_listings" if reason.startswith(LISTING) else "without_text"] += 1
        self.note(f"{reason} ({url})")
        if entry is not None:
            self.store(entry_candidate(self.source_id, entry, page_error=reason))

    def store(self, candidate: Candidate) -> None:
        """Ingest a candidate; it commits with the others of its batch (see `flush`)."""
        if candidate.extracted_from == "page":
            self.pages["read"] += 1
        self.batch.add(self, candidate)

    def flush(self) -> None:
        """Ingest the candidates waiting, in one transaction (each its own savepoint).

        One commit for many entries instead of one each: the same index pages are written
        once, not once an entry. The batch (this run's candidates, and those of the runs it
        shares its batch with: `WriteBatch`) is ingested whole and in order, without
        returning to the event loop, so nothing else touches the store in between; it is
        flushed when full, `wait` after the first candidate waiting (a local crawl's batch),
        before a remote record is acknowledged, and when a run finishes (a local crawl's
        run: in the batch's next commit). Until then candidates are in memory only: a crash
        loses them, and their run (not recorded, its ETag not kept) fetches them again.
        """
        self.batch.commit()

    def _ingest(self, candidate: Candidate) -> None:
        self.items += 1
        try:
            with self.ingest.store.transaction():  # a savepoint: a failure undoes this entry only
                result: IngestResult = self.ingest.ingest(candidate)
        except ValueError as exc:  # an unusable URL, for instance
            self.note(f"not stored: {exc} ({candidate.url})")
            return
        except (sqlite3.Error, StoreError) as exc:
            # The run must not count as a success: its ETag would hide this entry for good.
            self.fatal = f"database error, entry not stored: {exc} ({candidate.url})"
            log.error("source=%s %s", candidate.source_id, self.fatal)
            return
        except Exception as exc:
            # A bug, not the input: the entry's savepoint is undone, the batch goes on, and
            # the run fails so that the entry is read again.
            self.fatal = f"entry not stored: {type(exc).__name__}: {exc} ({candidate.url})"
            log.exception("source=%s %s", candidate.source_id, self.fatal)
            return
        self.counts[result.outcome] += 1
        self.alerts += result.alerts_queued

    def note(self, problem: str) -> None:
        problem = self.ingest.redact(problem)
        self.errors.append(problem)
        log.info("source=%s problem: %s", self.source_id, problem)

    def abandon(self) -> None:
        """The crawl was stopped before it ended: what it read is stored, and the run is not
        recorded, so the source keeps its last validators and is read in full next time (a
        run recorded with this feed's ETag would hide the entries it never reached)."""
        self.flush()
        log.info("source=%s stopped before the run ended: %d entries stored, the run not recorded "
                 "(read again next time)", self.source_id, self.counts[Outcome.NEW] + self.counts[Outcome.COPY])

    def finish(self, items_seen: int = 0, fatal: str | None = None) -> SourceRun:
        """Record the run: `items_seen` are entries the crawl itself knew to be stored;
        `fatal`, why the run as a whole failed when nothing said so on the way."""
        self.flush()
        run = self._record(items_seen, fatal)
        self._report(run, items_seen)
        return run

    async def finish_with_batch(self, items_seen: int = 0, fatal: str | None = None) -> SourceRun:
        """`finish`, in the next commit of a batch that waits (`WriteBatch.wait`): the run's
        record joins the entries of the runs that end about the same time, in one commit."""
        if self.batch.wait is None:
            return self.finish(items_seen, fatal)
        if self.on_end is not None:
            self.on_end()
        ending = Ending(self, items_seen, fatal)
        self.batch.end(ending)
        return await ending.finished

    def _record(self, items_seen: int, fatal: str | None) -> SourceRun:
        """The run's outcome, recorded (`record_run`) once its candidates were ingested."""
        if self.turn is not None:  # `settle` was not awaited: pages not handed over yet
            fatal = fatal or "the run ended while article pages were still being read"
        seen = self.counts[Outcome.SEEN] + items_seen
        fetched = self.fetched
        if fatal is not None and self.fatal is None:
            self.fatal = self.ingest.redact(fatal)
            log.warning("source=%s run failed: %s", self.source_id, self.fatal)
        if fetched is None and self.fatal is None:
            self.fatal = "the run ended before the source was fetched"
        run = SourceRun(
            source_id=self.source_id,
            ok=self.fatal is None,
            error=self.fatal or (self.errors[-1] if self.errors else None),
            etag=fetched.etag if fetched else None,
            last_modified=fetched.last_modified if fetched else None,
            not_modified=bool(fetched and (fetched.status == 304 or fetched.unchanged)),
            body_digest=fetched.body_digest if fetched else None,
            items_seen=seen,
            articles_new=self.counts[Outcome.NEW] + self.counts[Outcome.COPY],
            links=fetched.links if fetched else None,
            pages_read=self.pages["read"], pages_without_text=self.pages["without_text"],
            pages_like_listings=self.pages["like_listings"],
        )
        if run.error:
            run = replace(run, error=self.ingest.redact(run.error))
        self.record_run(run)
        return run

    def _report(self, run: SourceRun, items_seen: int) -> None:
        """The run's metrics and its one summary line, once it is recorded."""
        seconds = time.monotonic() - self.started
        outcomes = {outcome.value: count for outcome, count in self.counts.items()}
        outcomes["seen"] = run.items_seen
        metrics.record_crawl(run.source_id, run.ok, outcomes, self.items + items_seen, self.alerts, seconds)
        log.info(
            "source=%s run %s new=%d copies=%d filled=%d revised=%d seen=%d alerts=%d errors=%d "
            "duration=%.1fs%s",
            run.source_id, "ok" if run.ok else "failed", self.counts[Outcome.NEW],
            self.counts[Outcome.COPY], self.counts[Outcome.FILLED], self.counts[Outcome.REVISED], run.items_seen,
            self.alerts, len(self.errors) + (not run.ok), seconds, " not-modified" if run.not_modified else "",
        )

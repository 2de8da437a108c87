"""The one item pipeline: hands what spiders yield to extraction, `ingest` and the store.

A pipeline instance serves one crawl of one source through a `SourceIngest`, which at the
end records the run's outcome on the source (success, or the reason it failed) and logs
one summary line. Failures of single pages are recorded, never raised: one bad page does
not end a run. A remote worker's crawl (crawler.remote) feeds a `SourceIngest` too.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from dataclasses import replace

from presswatch.crawler.errors import FetchError, StoreError
from presswatch.crawler import metrics
from presswatch.crawler.parse.dateline import resolve
from presswatch.crawler.parse.extract import extract_page
from presswatch.crawler.stories.ingest import Candidate, Ingest, IngestResult, Outcome
from presswatch.crawler.fetch.items import EntryItem, FeedEntry, PageItem, PageUnchanged, SourceFailed, SourceFetched
from presswatch.crawler.parse.layout import LISTING, listing_reason
from presswatch.crawler.store.records import SourceRun

log = logging.getLogger("presswatch.crawl")
BATCH = 50  # candidates of a run stored in one transaction at most
FLUSH_AFTER = 0.5  # seconds a candidate of a local crawl waits for others to share its commit

def pipeline_for(ingest: Ingest) -> type:
    """The pipeline class bound to `ingest`.

    Scrapy deep-copies its settings, and a database connection cannot be copied, so the
    Ingest travels on a class (classes are copied by reference) instead of in a setting.
    """
    return type("BoundIngestPipeline", (IngestPipeline,), {"bound_ingest": ingest})


class IngestPipeline:
    """Scrapy's side of a run: each item a spider yields goes to the run's `SourceIngest`."""

    bound_ingest: Ingest | None = None

    def __init__(self, ingest: Ingest, crawler=None):
        self.ingest = ingest
        self.crawler = crawler
        self.run: SourceIngest | None = None
        self.timer: asyncio.TimerHandle | None = None

    @classmethod
    def from_crawler(cls, crawler):
        return cls(cls.bound_ingest, crawler)

    def open_spider(self):
        self.run = SourceIngest(self.ingest, self.crawler.spider.source.id)

    def process_item(self, item):
        self.run.process(item)
        if self.run.pending and self.timer is None:
            # A batch waits at most FLUSH_AFTER for more of its run's candidates.
            self.timer = asyncio.get_running_loop().call_later(FLUSH_AFTER, self._flush)
        return item

    def _flush(self) -> None:
        self.timer = None
        self.run.flush()

    def close_spider(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.run.finish(getattr(self.crawler.spider, "items_seen", 0))


class SourceIngest:
    """One run of one source on the writer's side: what its crawl brought, into the store.

    Fed by the Scrapy pipeline in this process, or by records of a remote worker's crawl
    (crawler.remote): the same steps, the same recorded run. At the end (`finish`) it
    records the run's outcome on the source (success, or the reason it failed) and logs
    one summary line. Failures of single pages are recorded, never raised.
    """

    def __init__(self, ingest: Ingest, source_id: str):
        self.ingest = ingest
        self.source_id = source_id
        self.fetched: SourceFetched | None = None
        self.fatal: str | None = None
        self.errors: list[str] = []
        self.counts = {outcome: 0 for outcome in Outcome}
        self.alerts = 0
        self.items = 0  # everything handed to ingest, stored or not
        # Article pages read with text, without any, and refused as listings: a changed layout shows here.
        self.pages = {"read": 0, "without_text": 0, "like_listings": 0}
        self.pending: list[Candidate] = []  # waiting for the batch's one transaction
        self.started = time.monotonic()

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
        """Ingest a candidate; up to BATCH of them commit together (see `flush`)."""
        if candidate.extracted_from == "page":
            self.pages["read"] += 1
        self.pending.append(candidate)
        if len(self.pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Ingest the candidates waiting, in one transaction (each its own savepoint).

        One commit for a feed's entries instead of one each: the same index pages are
        written once, not once an entry. A batch is ingested whole and in order, without
        returning to the event loop, so nothing else touches the store in between; it
        is flushed at BATCH candidates, FLUSH_AFTER after its first one (a local crawl),
        before a remote record is acknowledged, and when the run finishes. Until then its
        candidates are in memory only: a crash loses them, and the run (not recorded, its
        ETag not kept) fetches them again.
        """
        batch, self.pending = self.pending, []
        if not batch:
            return
        try:
            with self.ingest.store.transaction():
                for candidate in batch:
                    self._ingest(candidate)
        except (sqlite3.Error, StoreError) as exc:  # the commit itself failed
            self.fatal = f"database error, {len(batch)} entries not stored: {exc}"
            log.error("source=%s %s", self.source_id, self.fatal)

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

    def finish(self, items_seen: int = 0, fatal: str | None = None) -> SourceRun:
        """Record the run: `items_seen` are entries the crawl itself knew to be stored;
        `fatal`, why the run as a whole failed when nothing said so on the way."""
        self.flush()
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
        self.ingest.record_run(run)
        seconds = time.monotonic() - self.started
        outcomes = {outcome.value: count for outcome, count in self.counts.items()}
        outcomes["seen"] = seen
        metrics.record_crawl(run.source_id, run.ok, outcomes, self.items + items_seen, self.alerts, seconds)
        log.info(
            "source=%s run %s new=%d copies=%d filled=%d revised=%d seen=%d alerts=%d errors=%d "
            "duration=%.1fs%s",
            run.source_id, "ok" if run.ok else "failed", self.counts[Outcome.NEW],
            self.counts[Outcome.COPY], self.counts[Outcome.FILLED], self.counts[Outcome.REVISED], seen,
            self.alerts, len(self.errors) + (not run.ok), seconds, " not-modified" if run.not_modified else "",
        )
        return run


def extract_candidate(item: PageItem, language_hint: str | None = None, *, reader: str | None = None,
                      http_only: bool = False) -> Candidate:
    """The article of a fetched page; raises FetchError when the page holds none, or when it
    looks like a listing (many links, little text): never stored as an article.

    ``reader`` and ``http_only`` are the source's: a site reader for a mirror, and whether the
    site answers on http only, so that a canonical the page gives as https stays http.
    """
    page = extract_page(_page_text(item), item.url, language_hint=language_hint, reader=reader)
    listing = listing_reason(item.body, page.text)
    if listing is not None:
        raise FetchError(listing)
    if http_only and page.canonical and page.canonical.lower().startswith("https://"):
        page = replace(page, canonical="http://" + page.canonical[len("https://"):])
    return page_candidate(item, page)


def source_reading(source) -> dict:
    """What of a source's config the extraction of its pages takes (see ``extract_candidate``)."""
    return {"reader": getattr(source, "reader", None), "http_only": bool(getattr(source, "http_only", False))}


def _page_text(item: PageItem) -> str | bytes:
    """Decoded as Scrapy decided (BOM, then the HTTP header, then the page's meta), else bytes."""
    if item.encoding:
        return item.body.decode(item.encoding, errors="replace")
    return item.body


def entry_candidate(source_id: str, entry: FeedEntry, page_error: str | None = None) -> Candidate:
    return Candidate(
        page_error=page_error,
        source_id=source_id, url=entry.link or entry.guid or "", title=entry.title,
        text=entry.summary, extracted_from="feed", guid=entry.guid,
        published=entry.published, date_source="feed" if entry.published else None,
        language=entry.language, authors=entry.authors,
        origin=entry.origin, entry_fingerprint=entry.fingerprint,
    )


def page_candidate(item: PageItem, page) -> Candidate:
    """The article of an extracted page; its date: the page's, the dateline's, the feed's, the
    listing's.

    A dateline without a year was resolved against the fetch time; the feed entry's date, else
    the date the listing printed next to the link, is the better reference (a backlog read in
    January keeps December's stories in their year). A KCNA article states no date but its
    dateline's day; its listing gives the year ("dateline+listing"). With no date at all,
    ``date_source`` stays None and the store uses the first-seen time.
    """
    entry = item.entry
    feed_date = entry.published if entry is not None else None
    published, date_source = _page_date(page, feed_date, item.listed)
    if published is None and feed_date is not None:
        published, date_source = feed_date, "feed"
    if published is None and item.listed is not None:
        published, date_source = item.listed, "listing"
    return Candidate(
        source_id=item.source_id, url=item.url,
        title=page.title or (entry.title if entry else ""),
        text=page.text, extracted_from="page",
        guid=entry.guid if entry else None, page_canonical=page.canonical,
        published=published, date_source=date_source,
        language=page.language or (entry.language if entry else None),
        authors=page.authors or (entry.authors if entry else ()),
        origin=entry.origin if entry else None,
        entry_fingerprint=entry.fingerprint if entry else None,
        requested_url=item.requested_url,
        page_etag=item.etag, page_last_modified=item.last_modified,
    )


def _page_date(page, feed_date, listed=None):
    """The page's date and its source, a year-less dateline re-read against the feed's date,
    else against the listing's."""
    dateline = getattr(page, "dateline", None)
    if page.date_source == "dateline" and dateline is not None and dateline.year is None:
        for reference, source in ((feed_date, "dateline"), (listed, "dateline+listing")):
            resolved = resolve(dateline, reference) if reference is not None else None
            if resolved is not None:
                return resolved, source
    return page.published, page.date_source

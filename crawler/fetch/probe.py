"""Trying one source live, as the daemon would, and keeping nothing: `presswatch sources test`.

The crawl is the daemon's: the same spider, Scrapy settings, robots.txt and redirect
policy (`runner`), and the same reader of article pages (`extract_candidate`, which
refuses pages without text and pages that look like listings). Only its items are collected
(Scrapy's item_scraped signal) instead of stored: nothing is stored, nothing is known
(every link is fetched, up to the limit), no alert can be queued. What a person makes of
the result (printing it) is the CLI's business; running the reactor is the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scrapy import signals
from scrapy.crawler import AsyncCrawlerRunner

from presswatch.crawler.errors import FetchError
from presswatch.crawler.fetch.runner import SPIDERS, scrapy_settings, source_policy, source_settings
from presswatch.crawler.items import EntryItem, ListingLinks, PageItem, PageUnchanged, SourceFailed, SourceFetched
from presswatch.crawler.stories.candidates import Candidate, entry_candidate, extract_candidate, source_reading


@dataclass(frozen=True)
class ProbedArticle:
    """An article the source gave: its candidate as it would be stored, or why it was refused."""

    url: str
    candidate: Candidate | None = None
    refused: str | None = None


@dataclass
class Probe:
    """What one live run of a source read."""

    source_id: str
    url: str
    fetched: SourceFetched | None = None
    failures: list[SourceFailed] = field(default_factory=list)
    listings: list[ListingLinks] = field(default_factory=list)
    articles: list[ProbedArticle] = field(default_factory=list)


def with_url(source, url: str | None):
    """The source crawled from `url` instead of its own listing or feed URL(s)."""
    if url is None:
        return source
    return source.model_copy(update={"url": url, "urls": ()})


async def probe_source(config, source, url: str | None = None, limit: int = 5) -> Probe:
    """Crawl `source` once (from `url` if given), reading at most `limit` articles."""
    source = with_url(source, url)
    items: list = []
    runner = AsyncCrawlerRunner(scrapy_settings(config, None))
    crawler = runner.create_crawler(SPIDERS[source.kind])
    crawler.settings.setdict(source_settings(source), priority="spider")
    crawler.signals.connect(_collect(items), signals.item_scraped, weak=False)
    await runner.crawl(crawler, source=source, max_articles=limit, explain=True,
                       **source_policy(config, source))
    probe = Probe(source.id, str(source.url), listings=list(crawler.spider.link_report))
    for item in items:
        _read(probe, item, source, limit)
    return probe


def _collect(items: list):
    """A handler of Scrapy's item_scraped keeping every item the spider yields in `items`."""

    def collect(item, **_) -> None:
        items.append(item)

    return collect


def _read(probe: Probe, item, source, limit: int) -> None:
    if isinstance(item, SourceFetched):
        probe.fetched = item
    elif isinstance(item, SourceFailed):
        probe.failures.append(item)
    elif len(probe.articles) >= limit:
        return
    elif isinstance(item, EntryItem):
        entry = item.entry
        probe.articles.append(ProbedArticle(entry.link or entry.guid or "", entry_candidate(source.id, entry)))
    elif isinstance(item, PageItem):
        probe.articles.append(read_page(item, source))
    elif isinstance(item, PageUnchanged):  # not asked conditionally here; kept for completeness
        probe.articles.append(ProbedArticle(item.url, refused="answered 304 (not modified)"))


def read_page(item: PageItem, source) -> ProbedArticle:
    """A fetched page as the daemon's reader reads it (the source's language, reader and http_only)."""
    try:
        return ProbedArticle(item.url, extract_candidate(item, getattr(source, "language", None),
                                                         **source_reading(source)))
    except FetchError as exc:
        return ProbedArticle(item.url, refused=str(exc))

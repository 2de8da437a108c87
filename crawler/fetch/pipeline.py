"""The one item pipeline: what spiders yield goes to the run the crawl was given.

Scrapy deep-copies its settings, and a database connection cannot be copied, so the run a
crawl serves travels on the crawl's own `Crawler` (`hand_items_to`), set by whoever starts
the crawl: a `SourceIngest` of the writer (`presswatch.crawler.stories.run`) here, a result
sink on a remote worker. The run takes the items (`process`) and answers the spider's two
questions about what is stored (`is_known`, `page_validators`: see `SourceSpider.from_crawler`).
Deciding and storing are the writer's; this is Scrapy glue.
"""

from __future__ import annotations

import asyncio

FLUSH_AFTER = 0.5  # seconds a candidate of a local crawl waits for others to share its commit


def hand_items_to(crawler, receiver) -> None:
    """Give a crawl, before it starts, what its items go to (read by the pipeline's `from_crawler`)."""
    crawler.presswatch_items_to = receiver


def run_of(crawler):
    """The run a crawl was handed, or None (a probe collects the items itself)."""
    return getattr(crawler, "presswatch_items_to", None)


def items_receiver(crawler):
    receiver = run_of(crawler)
    if receiver is None:
        raise RuntimeError("a crawl was started without hand_items_to(crawler, ...): its items would go nowhere")
    return receiver


class IngestPipeline:
    """Scrapy's side of a run: each item a spider yields goes to the run's `SourceIngest`."""

    def __init__(self, run, crawler):
        self.run = run
        self.crawler = crawler
        self.timer: asyncio.TimerHandle | None = None

    @classmethod
    def from_crawler(cls, crawler):
        return cls(items_receiver(crawler), crawler)

    async def process_item(self, item):
        # Returns once the item is handed over: an article page's extraction may take a pool
        # process while the loop goes on (`SourceIngest.take`).
        await self.run.take(item)
        if self.run.pending and self.timer is None:
            # A batch waits at most FLUSH_AFTER for more of its run's candidates.
            self.timer = asyncio.get_running_loop().call_later(FLUSH_AFTER, self._flush)
        return item

    def _flush(self) -> None:
        self.timer = None
        self.run.flush()

    async def close_spider(self):
        self._stop_timer()
        await self.run.settle()
        await self.run.finish_with_batch(getattr(self.crawler.spider, "items_seen", 0))

    async def abandon_spider(self):
        """The crawl was stopped before it ended: what was read is stored, the run not recorded."""
        self._stop_timer()
        await self.run.settle()
        self.run.abandon()

    def _stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

"""The one item pipeline: what spiders yield goes to the run the crawl was given.

Scrapy deep-copies its settings, and a database connection cannot be copied, so the run a
crawl serves travels on the crawl's own `Crawler` (`hand_items_to`), set by whoever starts
the crawl: a `SourceIngest` of the writer (`presswatch.crawler.stories.run`) here, a result
sink on a remote worker. The run takes the items (`process`) and answers the spider's two
questions about what is stored (`is_known`, `page_validators`: see `SourceSpider.from_crawler`).
Deciding and storing are the writer's; this is Scrapy glue.
"""

from __future__ import annotations

FLUSH_AFTER = 0.5  # seconds a candidate (or a run's end) of a local crawl waits for others to share its commit


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
    """Scrapy's side of a run: each item a spider yields goes to the run's `SourceIngest`.

    When its candidates commit is the run's batch's (`WriteBatch`: at most FLUSH_AFTER after
    the first one waiting, in the crawl engine)."""

    def __init__(self, run, crawler):
        self.run = run
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(items_receiver(crawler), crawler)

    async def process_item(self, item):
        # Returns once the item is handed over: an article page's extraction may take a pool
        # process while the loop goes on (`SourceIngest.take`).
        await self.run.take(item)
        return item

    async def close_spider(self):
        await self.run.settle()
        await self.run.finish_with_batch(getattr(self.crawler.spider, "items_seen", 0))

    async def abandon_spider(self):
        """The crawl was stopped before it ended: what was read is stored, the run not recorded."""
        await self.run.settle()
        self.run.abandon()

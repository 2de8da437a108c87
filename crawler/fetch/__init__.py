"""Fetching with Scrapy: the crawls, their spiders and downloader middlewares, the item pipeline.

Spiders only parse and yield items; the item pipeline hands each to the run the crawl
serves (`presswatch.crawler.stories.run.SourceIngest`), which makes candidates of them for
the writer. A remote worker (`worker`) runs the same spiders in another process and sends
records back on a Redis stream; `remote` is the writer's side that reads them.
"""

"""Fetching with Scrapy: the crawls, their spiders and downloader middlewares, the item pipeline.

Spiders only parse and yield items; the pipeline turns items into candidates and hands
them to the writer (`presswatch.crawler.stories`). A remote worker (`remote`) runs the same
spiders in another process and sends the candidates back.
"""

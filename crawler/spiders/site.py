"""The `site` spider: a listing page whose links matching `follow` are articles."""

from __future__ import annotations

from collections.abc import Iterator

from scrapy.http import TextResponse
from scrapy.linkextractors import LinkExtractor

from presswatch.crawler.items import SourceFailed
from presswatch.crawler.spiders.base import SourceSpider


class SiteSpider(SourceSpider):
    name = "site"

    def parse_source(self, response) -> Iterator:
        if not isinstance(response, TextResponse):
            yield SourceFailed(self.source.id, response.url, "the listing page is not HTML", fatal=True)
            return
        links = self.article_links(response)
        none = f"no links on the listing page match {self.source.follow!r}"
        yield self.fetched(response, len(links), None if links else none)
        for url in links:
            if self.is_known(None, url):
                self.items_seen += 1
                continue
            # Over the cap, the remaining links wait for the next run.
            request = self.page_request(url)
            if request is None:
                break
            yield request

    def article_links(self, response) -> list[str]:
        extractor = LinkExtractor(allow=self.source.follow, unique=True)
        return [link.url for link in extractor.extract_links(response)]

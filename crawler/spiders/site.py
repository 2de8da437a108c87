"""The `site` spider: a listing page whose links matching `follow` are articles."""

from __future__ import annotations

from collections.abc import Iterator

from scrapy.http import TextResponse
from scrapy.linkextractors import LinkExtractor

from presswatch.crawler.items import PageItem, SourceFailed, SourceFetched
from presswatch.crawler.spiders.base import SourceSpider, header


class SiteSpider(SourceSpider):
    name = "site"

    async def start(self):
        yield self.source_request(self.parse)

    def parse(self, response) -> Iterator:
        if response.status == 304:
            yield SourceFetched(self.source.id, 304)
            return
        if not isinstance(response, TextResponse):
            yield SourceFailed(self.source.id, response.url,
                               "the listing page is not HTML", fatal=True)
            return
        links = self.article_links(response)
        yield SourceFetched(
            self.source.id, response.status, etag=header(response, "ETag"),
            last_modified=header(response, "Last-Modified"), items=len(links),
            warning=None if links else f"no links on the listing page match {self.source.follow!r}",
        )
        for url in links:
            if self.is_known(None, url):
                self.items_seen += 1
                continue
            request = self.page_request(url, self.parse_article)
            if request is None:
                break
            yield request

    def article_links(self, response) -> list[str]:
        extractor = LinkExtractor(allow=self.source.follow, unique=True)
        return [link.url for link in extractor.extract_links(response)]

    def parse_article(self, response, entry=None) -> Iterator[PageItem]:
        yield PageItem(self.source.id, response.url, response.body, response.encoding, None)

"""The `feed` spider: one RSS/Atom feed, and optionally each entry's article page."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace

from presswatch.crawler.errors import FetchError
from presswatch.crawler.parse.feeds import parse_feed
from presswatch.crawler.items import EntryItem, FeedEntry, SourceFailed
from presswatch.crawler.fetch.spiders.base import SourceSpider


class FeedSpider(SourceSpider):
    name = "feed"

    def parse_source(self, response) -> Iterator:
        digest = hashlib.sha256(response.body).hexdigest()
        if digest == self.body_digest and not self.source.fetch_articles:
            # The same bytes as last time (a server that sends no validators): like a 304.
            # Not for feeds whose pages are fetched: a page that failed for now is retried
            # when its entry is read again.
            yield self.fetched(response, 0, body_digest=digest, unchanged=True)
            return
        headers = {k.decode().lower(): v[0].decode("latin-1") for k, v in response.headers.items() if v}
        try:
            feed = parse_feed(response.body, response.url, headers)
        except FetchError as exc:
            yield SourceFailed(self.source.id, response.url, str(exc), fatal=True)
            return
        empty = None if feed.entries else "feed has no entries"
        yield self.fetched(response, len(feed.entries), feed.warning or empty, body_digest=digest)
        for entry in feed.entries:
            yield from self.follow_entry(entry, response)

    def follow_entry(self, entry: FeedEntry, response) -> Iterator:
        link = response.urljoin(entry.link) if entry.link else None
        if link and link != entry.link:
            entry = replace(entry, link=link)
        if not (self.source.fetch_articles and link and link.startswith(("http://", "https://"))):
            yield EntryItem(self.source.id, entry)
            return
        if self.is_known(entry.guid, link, entry.fingerprint):
            # Stored, and this feed's entry unchanged: no fetch; the entry goes on to be
            # counted as seen (and noted, when this feed never listed the article before).
            yield EntryItem(self.source.id, entry)
            return
        request = self.page_request(link, entry, self.page_validators(entry.guid, link))
        # Over the page cap the entry is kept from the feed's own text now, and its page
        # is fetched in a later run (the store says it still wants it).
        yield request if request is not None else EntryItem(self.source.id, entry)

"""What the feed, site and sitemap spiders share: the source they serve, and turning failures into items."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import scrapy
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from twisted.python.failure import Failure

from presswatch.crawler.fetch.downloadermiddlewares import RetryGivenUp
from presswatch.crawler.fetch.pipeline import run_of
from presswatch.crawler.items import FeedEntry, PageItem, PageUnchanged, SourceFailed, SourceFetched


def header(response, name: str) -> str | None:
    """A response header as text (Scrapy's Headers are case-insensitive bytes)."""
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def conditional_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    """The headers of a conditional GET: a 304 answers when nothing changed."""
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


# Scrapy's download failures, as a sentence an operator understands at a glance.
_REASONS = (
    (DownloadTimeoutError, "timed out"),
    (DownloadConnectionRefusedError, "connection refused"),
    (CannotResolveHostError, "host not found"),
    (ResponseDataLossError, "the connection closed before the response was complete"),
)


def failure_is_final(failure: Failure) -> bool:
    """A client error other than 408/429, or a refusal by policy (robots.txt, size,
    redirects), will not go away by asking again."""
    if failure.check(HttpError):  # (an IgnoreRequest too, so first)
        status = failure.value.response.status
        return 400 <= status < 500 and status not in (408, 429)
    if failure.check(RetryGivenUp):  # the server is busy now: a later run may do
        return False
    return bool(failure.check(IgnoreRequest))


def failure_reason(failure: Failure) -> str:
    """One plain sentence for why a request failed, with the library's words after it."""
    exc = failure.value
    if failure.check(HttpError):
        return f"HTTP {exc.response.status}"
    if failure.check(IgnoreRequest):  # our refusals (size, redirects), robots.txt
        return str(exc) or "request ignored"
    detail = str(exc).strip()
    request = getattr(failure, "request", None)
    if request is not None and (short := _network_reason(failure, request)):
        return short
    for kind, reason in _REASONS:
        if failure.check(kind):
            return f"{reason}: {detail}" if detail else reason
    name = type(exc).__name__
    return f"{name}: {detail}" if detail else name


def _network_reason(failure: Failure, request) -> str | None:
    """The routine network failures in the words `presswatch doctor` uses: the library's
    sentence ("DNS lookup failed: no results for hostname lookup: ...") only repeats the URL."""
    url = urlsplit(request.url)
    if failure.check(CannotResolveHostError):
        return f"host not found: {url.hostname}"
    if failure.check(DownloadConnectionRefusedError):
        return f"connection refused by {url.netloc}"
    if failure.check(DownloadTimeoutError):
        seconds = request.meta.get("download_timeout")
        return f"timed out after {seconds:g}s" if isinstance(seconds, (int, float)) else None
    return None


class SourceSpider(scrapy.Spider):
    """A spider that serves one configured source.

    `source` is the config's Source; `is_known(guid, url[, fingerprint])` says whether the
    store already has an article (and, given a feed entry's fingerprint, has seen that entry
    unchanged), so its page is not fetched again; `etag` and `last_modified` make the
    source's own request conditional; `explain` keeps what the spider made of each listing's
links in `link_report`. `robots` (obey robots.txt) and `redirect_other_hosts`
    are the source's policy, carried by each of its requests as meta; which URL a run
    crawls (a feed or its fallback) is the runner's choice, given here as `source`.
    """

    def __init__(self, source, is_known: Callable[..., bool] | None = None,
                 etag: str | None = None, last_modified: str | None = None,
                 body_digest: str | None = None,
                 max_articles: int = 50, robots: bool = True, redirect_other_hosts: bool = False,
                 page_validators: Callable[..., tuple | None] | None = None,
                 explain: bool = False, **kwargs):
        super().__init__(name=self.name, **kwargs)
        self.source = source
        self.robots = robots
        self.redirect_other_hosts = redirect_other_hosts
        self.is_known = is_known or (lambda guid, url, fingerprint=None: False)
        # (ETag, Last-Modified) of a stored article's page, to ask for it conditionally.
        self.page_validators = page_validators or (lambda guid, url: None)
        self.etag = etag
        self.last_modified = last_modified
        self.body_digest = body_digest
        self.max_articles = max_articles
        self.pages_requested = 0
        self.items_seen = 0
        # With `explain`, each listing's links kept and dropped (ListingLinks), for people to read.
        self.explain = explain
        self.link_report: list = []

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        # What the store holds is asked of the run the crawl serves (the writer's
        # SourceIngest, or a worker's sink holding the job's list), as its items go there.
        run = run_of(crawler)
        if run is not None:
            kwargs.setdefault("is_known", run.is_known)
            kwargs.setdefault("page_validators", run.page_validators)
        return super().from_crawler(crawler, *args, **kwargs)

    async def start(self):
        yield self.source_request(self.parse)

    def parse(self, response) -> Iterator:
        if response.status == 304:
            yield SourceFetched(self.source.id, 304)
            return
        yield from self.parse_source(response)

    def parse_source(self, response) -> Iterator:
        """The source's own page (feed or listing), answered with content."""
        raise NotImplementedError

    def fetched(self, response, items: int, warning: str | None = None, **kw) -> SourceFetched:
        return SourceFetched(self.source.id, response.status, etag=header(response, "ETag"),
                             last_modified=header(response, "Last-Modified"), items=items,
                             warning=warning, **kw)

    def parse_article(self, response, entry: FeedEntry | None = None) -> Iterator[PageItem | PageUnchanged]:
        requested = (response.request.meta.get("redirect_urls") or [response.url])[0] if response.request else None
        if response.status == 304:  # asked for conditionally: the stored article is its text
            yield PageUnchanged(self.source.id, requested or response.url, entry)
            return
        yield PageItem(self.source.id, response.url, response.body, response.encoding, entry,
                       requested_url=requested if requested != response.url else None,
                       etag=header(response, "ETag"), last_modified=header(response, "Last-Modified"))

    def conditional_headers(self) -> dict[str, str]:
        return conditional_headers(self.etag, self.last_modified)

    def policy_meta(self) -> dict:
        """The source's robots.txt and redirect policy, as request meta."""
        return {"dont_obey_robotstxt": not self.robots,
                "allow_other_host_redirect": self.redirect_other_hosts}

    def source_request(self, callback) -> scrapy.Request:
        # 304 must reach the callback: it is the answer to a conditional GET, not an error.
        return scrapy.Request(
            self.source.url, callback=callback, errback=self.source_failed,
            headers=self.conditional_headers(), dont_filter=True,
            meta={**self.policy_meta(), "handle_httpstatus_list": [304]},
        )

    def page_request(self, url: str, entry: FeedEntry | None = None,
                     validators: tuple[str | None, str | None] | None = None) -> scrapy.Request | None:
        """A request for an article page, or None when the per-run cap is reached.

        With `validators` (the ETag and Last-Modified it was last served with) the request
        is conditional, and a 304 means the stored article is still the page.
        """
        if self.pages_requested >= self.max_articles:
            return None
        self.pages_requested += 1
        # A feed's own links may pass through its redirector (FeedBurner, Google News)
        # to the outlet's host: the feed chose them, so that redirect is followed.
        meta = self.policy_meta()
        if entry is not None:
            meta["allow_other_host_redirect"] = True
        headers = conditional_headers(*validators) if validators is not None else {}
        if headers:
            meta["handle_httpstatus_list"] = [304]
        return scrapy.Request(url, callback=self.parse_article, errback=self.page_failed,
                              cb_kwargs={"entry": entry}, meta=meta, headers=headers)

    def source_failed(self, failure: Failure) -> Iterator[SourceFailed]:
        yield SourceFailed(self.source.id, self.source.url, failure_reason(failure), fatal=True)

    def page_failed(self, failure: Failure) -> Iterator[SourceFailed]:
        request = failure.request
        entry = request.cb_kwargs.get("entry") if request is not None else None
        url = request.url if request is not None else "?"
        yield SourceFailed(self.source.id, url, failure_reason(failure), fatal=False,
                           final=failure_is_final(failure), entry=entry)

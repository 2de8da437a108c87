"""Redirects that end with a clear reason: loops, too many hops, another host.

Replaces Scrapy's RedirectMiddleware and MetaRefreshMiddleware. A redirect to a host other
than the one first asked (a leading "www." aside) is refused unless the setting
PRESSWATCH_REDIRECT_OTHER_HOSTS or the request's meta "allow_other_host_redirect" allows it.
"""

from __future__ import annotations

from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware, RedirectMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.httpobj import urlparse_cached
from urllib.parse import urlsplit

from presswatch.crawler.fetch.downloadermiddlewares import RedirectRefused


def _host(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


class _RedirectPolicy:
    max_redirect_times: int

    def _redirect(self, redirected, request, reason):
        chain = [*request.meta.get("redirect_urls", []), request.url]
        if redirected.url in chain:
            hops = chain[chain.index(redirected.url):] + [redirected.url]
            raise RedirectRefused(f"redirect loop: {' -> '.join(hops)}")
        allowed = request.meta.get(
            "allow_other_host_redirect",
            self.crawler.settings.getbool("PRESSWATCH_REDIRECT_OTHER_HOSTS", False))
        target = urlparse_cached(redirected).hostname or ""
        if not allowed and _host(redirected.url) != _host(chain[0]):
            raise RedirectRefused(f"redirected to another host: {target}")
        try:
            return super()._redirect(redirected, request, reason)
        except IgnoreRequest as exc:
            raise RedirectRefused(
                f"too many redirects: more than {self.max_redirect_times} from {chain[0]}") from exc


class PolicyRedirectMiddleware(_RedirectPolicy, RedirectMiddleware):
    pass


class PolicyMetaRefreshMiddleware(_RedirectPolicy, MetaRefreshMiddleware):
    pass

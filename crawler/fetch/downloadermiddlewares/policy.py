"""Every request of a source carries its robots.txt and redirect policy, as meta.

What the policy is (the source's own choice, else the crawl section's) is the runner's
`source_policy`; the robots.txt and redirect middlewares read it from each request's meta.
"""

from __future__ import annotations

from presswatch.crawler.fetch.downloadermiddlewares import spider_of


class SourcePolicyMiddleware:
    """Gives every request of a source its robots.txt and redirect policy as meta.

    The spider's own requests carry it already; this covers the others (listing pages,
    child sitemaps). A request's own meta wins, so a feed's links keep their redirector.
    """

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request):
        policy = getattr(spider_of(request, self.crawler), "policy_meta", None)
        for key, value in (policy() if policy else {}).items():
            request.meta.setdefault(key, value)
        return None

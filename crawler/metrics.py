"""Prometheus metrics of crawls and deliveries: the metric objects and the helpers that record them.

Everything sits in a registry of its own, `REGISTRY`, not prometheus-client's global default:
nothing else in the process (a library, a test) can add to what presswatch exposes or clash
with its names. Crawls and deliveries only count here; they know nothing of who reads the
numbers. Serving them over HTTP, and the gauges read from the database at each scrape
(alerts by state, source states, matches by rule), are the scheduler's monitor's job.

Labels stay few and bounded: a source id, a channel id, an HTTP status, an outcome from a
short fixed list. Never a URL or a title.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = [
    "REGISTRY", "declare_sources", "record_crash", "record_crawl", "record_delivered", "record_fetch",
    "record_response", "record_send",
]

REGISTRY = CollectorRegistry()

# A crawl of one source: a few seconds for a feed, minutes for a site with many articles.
CRAWL_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800)
# From an alert's creation to its last URL confirming it: seconds when the services are up;
# hours for digests, quiet hours and services that were down.
DELIVERY_BUCKETS = (1, 5, 15, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 72 * 3600)
ARTICLE_OUTCOMES = ("new", "copy", "filled", "revised", "seen")
CRAWL_RESULTS = ("ok", "failed")

FETCHES = Counter(
    "presswatch_fetches", "HTTP requests sent for a source (feeds, pages, sitemaps, robots.txt, "
    "redirects and retries each count).", ["source"], registry=REGISTRY)
RESPONSES = Counter(
    "presswatch_responses", "HTTP responses received for a source, by status code; status "
    '"timeout" or "error" when none came (timeout, refused connection, DNS failure...).',
    ["source", "status"], registry=REGISTRY)
CRAWLS = Counter(
    "presswatch_crawls", "Crawls of a source by result (ok or failed); a feed whose fallback "
    "was crawled in the same run counts two crawls.", ["source", "result"], registry=REGISTRY)
CRAWL_SECONDS = Histogram(
    "presswatch_crawl_duration_seconds", "How long each crawl of a source took, start to end.",
    ["source"], buckets=CRAWL_BUCKETS, registry=REGISTRY)
ITEMS = Counter(
    "presswatch_items", "Items a source's crawls brought: feed entries, article pages, sitemap "
    "URLs, known ones included.", ["source"], registry=REGISTRY)
ARTICLES = Counter(
    "presswatch_articles", "Items by what became of them: new (a new story), copy (joined a "
    "known story), filled, revised, seen (known, unchanged).", ["source", "outcome"], registry=REGISTRY)
NEW_STORIES = Counter(
    "presswatch_new_stories", "Stories first seen at a source.", ["source"], registry=REGISTRY)
ALERTS_QUEUED = Counter(
    "presswatch_alerts_queued", "Alerts queued in the outbox by a source's crawls (one per story, "
    "rule and channel).", ["source"], registry=REGISTRY)
SENDS = Counter(
    "presswatch_alert_sends", "Messages handed to a channel's URLs, by outcome: sent, failed or "
    "uncertain (timed out; it may have arrived). A digest is one message.",
    ["channel", "outcome"], registry=REGISTRY)
DELIVERY_SECONDS = Histogram(
    "presswatch_alert_delivery_seconds", "From an alert's creation to its being sent everywhere; "
    'paced="true" for alerts that waited for a digest, quiet hours or a rate limit.',
    ["channel", "paced"], buckets=DELIVERY_BUCKETS, registry=REGISTRY)


def declare_sources(source_ids: Iterable[str]) -> None:
    """Create the series of each source at 0, so rates work from the first scrape."""
    for source_id in source_ids:
        FETCHES.labels(source_id)
        ITEMS.labels(source_id)
        NEW_STORIES.labels(source_id)
        ALERTS_QUEUED.labels(source_id)
        for result in CRAWL_RESULTS:
            CRAWLS.labels(source_id, result)
        for outcome in ARTICLE_OUTCOMES:
            ARTICLES.labels(source_id, outcome)


def record_fetch(source_id: str) -> None:
    FETCHES.labels(source_id).inc()


def record_response(source_id: str, status: int | str) -> None:
    RESPONSES.labels(source_id, str(status)).inc()


def record_crawl(source_id: str, ok: bool, outcomes: Mapping[str, int], items: int, alerts: int,
                 seconds: float) -> None:
    """One crawl of a source ended; `outcomes` counts its items by outcome (see ARTICLE_OUTCOMES)."""
    CRAWLS.labels(source_id, "ok" if ok else "failed").inc()
    CRAWL_SECONDS.labels(source_id).observe(seconds)
    ITEMS.labels(source_id).inc(items)
    for outcome, count in outcomes.items():
        ARTICLES.labels(source_id, outcome).inc(count)
    NEW_STORIES.labels(source_id).inc(outcomes.get("new", 0))
    ALERTS_QUEUED.labels(source_id).inc(alerts)


def record_crash(source_id: str) -> None:
    """A crawl that died before its pipeline could record it."""
    CRAWLS.labels(source_id, "failed").inc()


def record_send(channel_id: str, outcome: str) -> None:
    SENDS.labels(channel_id, outcome).inc()


def record_delivered(channel_id: str, paced: bool, seconds: float) -> None:
    DELIVERY_SECONDS.labels(channel_id, "true" if paced else "false").observe(max(0.0, seconds))

"""What the store takes and gives: plain frozen dataclasses, no SQL and no connection.

Timestamps are ISO 8601 strings in UTC with second precision, so they sort and compare
as text; `now_iso` writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# How long a statement waits for another writer before it fails.
BUSY_TIMEOUT_MS = 10_000


def now_iso(at: datetime | None = None) -> str:
    """The current time (or `at`) as the store writes it."""
    return (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")



@dataclass(frozen=True)
class SourceState:
    """What the store remembers of a source between runs."""

    id: str
    etag: str | None = None
    last_modified: str | None = None
    last_run_at: str | None = None
    last_success_at: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None
    failures: int = 0
    runs: int = 0
    items_seen: int = 0
    articles_new: int = 0
    kind: str = ""
    url: str = ""
    name: str = ""
    state: str = "new"
    state_since: str | None = None
    last_new_at: str | None = None
    usual_gap: float | None = None  # seconds between runs that brought something new
    fallback_since: str | None = None  # set while runs crawl the source's fallback
    fallback_reason: str | None = None  # why its feed was left
    body_digest: str | None = None  # of the feed's last body: unchanged is skipped like a 304
    layout_runs: int = 0  # runs in a row that looked like a changed layout
    layout_reason: str | None = None  # what the last of them showed


@dataclass(frozen=True)
class HealthChange:
    """A source's health after a run; `event` is set when its state changed."""

    state: str
    last_new_at: str | None
    usual_gap: float | None
    event: str | None = None  # the sentence saying what changed
    from_state: str | None = None
    channels: tuple[str, ...] = ()
    layout_runs: int = 0
    layout_reason: str | None = None


@dataclass(frozen=True)
class SourceRun:
    """The outcome of one run of one source, as its `SourceIngest` saw it."""

    source_id: str
    ok: bool
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    items_seen: int = 0
    articles_new: int = 0
    body_digest: str | None = None
    # What tells a changed layout: links `follow` kept on the listing (None: not a site,
    # or not read), and the article pages read with text, without text, or like listings.
    links: int | None = None
    pages_read: int = 0
    pages_without_text: int = 0
    pages_like_listings: int = 0


@dataclass(frozen=True)
class NewArticle:
    """An article as a candidate makes it, keyed and normalised, before the writer decides
    what it is (new, a copy, a fill or revision of a stored one: `stories.intent`)."""

    source_id: str
    url: str  # the link to show: the page's own canonical, else the URL fetched
    url_key: str  # the fetched URL, normalised: how it is found again before a fetch
    canonical_url: str  # the dedup key
    guid: str | None
    title: str
    text: str
    published_at: str | None
    date_source: str | None
    language: str | None
    authors: tuple[str, ...]
    content_hash: str | None
    extracted_from: str  # "page", or "feed" when the feed's own text stands in for it
    page_error: str | None = None  # why the page can't stand in, when that is final
    outlet: str = ""  # who published it: the site, without www./m./amp.
    version_hash: str = ""  # of its normalised title and text: a change is a revision
    entry_fingerprint: str | None = None  # of the feed entry that announced it
    page_etag: str | None = None  # the page's validators, to ask for it again conditionally
    page_last_modified: str | None = None
    title_stand_in: bool = False  # the entry had no title: `title` is its link or "(no title)"

    @property
    def headline(self) -> str:
        """The title as text to match and compare: none when it only stands in."""
        return "" if self.title_stand_in else self.title


@dataclass(frozen=True)
class KnownArticle:
    id: int
    story_id: int
    extracted_from: str
    page_error: str | None
    version_hash: str | None = None
    source_id: str = ""  # the source that stored it first
    guid: str | None = None
    owner: str = ""  # the source whose text it holds: only its changes are revisions


@dataclass(frozen=True)
class NewMatch:
    rule_id: str
    terms: tuple[str, ...]
    snippet: str
    channels: tuple[str, ...]


@dataclass(frozen=True)
class SurgeFigures:
    """What a surge is told with, as the `surges` table keeps it."""

    rule_id: str
    window: timedelta
    stories: int
    outlets: int
    total: int
    usual: float
    expected: float
    p_value: float


@dataclass(frozen=True)
class SurgeFacts:
    """A surge as its alert tells it: the window's figures, and the event holding most of it."""

    stories: int
    outlets: int
    total: int
    usual: float
    expected: float
    p_value: float
    window_seconds: int
    started_at: str
    event_id: int | None = None
    event_stories: int = 0


@dataclass(frozen=True)
class OutboxRow:
    """One alert to deliver, with what a message needs to be written."""

    id: int
    kind: str
    story_id: int | None
    rule_id: str
    channel_id: str
    state: str
    tries: int
    next_attempt_at: str
    last_error: str | None
    created_at: str
    sent_at: str | None
    done_urls: tuple[int, ...] = ()  # positions of the channel's URLs that have it
    event_source: str | None = None  # health rows: the source, and its change of state
    event_from: str | None = None
    event_to: str | None = None
    title: str = ""
    url: str = ""
    outlet: str = ""
    published_at: str | None = None
    first_seen_at: str = ""
    terms: tuple[str, ...] = ()
    snippet: str = ""
    article_count: int = 1
    outlet_count: int = 1
    milestone: int = 0  # spread updates: the outlet count reached
    outlets: tuple[str, ...] = ()  # the first outlets that carried the story (spread: as when reached)
    pace: str | None = None  # why it waits for a digest: digest, quiet or rate; None: sent at once
    url_results: tuple[UrlResult, ...] = ()  # the last outcome at each URL it was sent to
    event_id: int | None = None  # the event of its story (None: a health notice)
    thread_title: str = ""  # event updates: the headline of the event's alert they follow up
    entries: tuple[dict, ...] = ()  # event updates: the stories reported (headline, url, outlet, language)
    surge_id: int | None = None  # surge alerts: the surge told
    surge: SurgeFacts | None = None  # surge alerts: the figures it was told with
    # Reactions: what the story answers (its alert, and the answered thread's reaction row)
    answers_event: int | None = None
    answers_title: str = ""
    answers_first_seen: str = ""
    answers_outlets: int = 0

    def url_result(self, key: str) -> UrlResult | None:
        return next((result for result in self.url_results if result.key == key), None)




@dataclass(frozen=True)
class NearCandidate:
    """An indexed article that shares an LSH bucket with the one being stored."""

    article_id: int
    story_id: int
    minhash: bytes
    outlet: str | None = None
    dated: str = ""  # its publication date, else when it was first seen


@dataclass(frozen=True)
class StorySummary:
    """A story as `presswatch stories` lists it."""

    id: int
    title: str
    url: str
    first_seen_at: str
    updated_at: str
    article_count: int
    outlet_count: int
    languages: tuple[str, ...]
    rules: tuple[str, ...]


@dataclass(frozen=True)
class UrlResult:
    """The last outcome of sending one outbox row to one URL of its channel.

    `state` is sending (in flight, or interrupted), sent, failed (sent again after a
    backoff) or uncertain (timed out: it may have arrived; not sent again by itself).
    """

    key: str  # the URL as shown (Apprise's privacy form, secrets masked): how it is recognised
    url: str
    state: str
    error: str | None
    tries: int
    at: str


@dataclass(frozen=True)
class ChannelSend:
    """One message that reached a channel: what its rate limit counts."""

    channel_id: str
    rows: int
    sent_at: str

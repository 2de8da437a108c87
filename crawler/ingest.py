"""From a collected article to a stored story, its matches and its alerts: the serial writer.

Deciding is kept apart from storing: `ingest` asks the store what it already knows
(same canonical URL or feed GUID: seen; same normalised text: a copy of a known story),
matches rules only against new stories, and writes the article, its story, the matches
and their outbox rows in one transaction, so nothing is alerted that is not stored and
nothing stored can miss its alert.
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from urllib.parse import urljoin

from presswatch.config.redact import Redactor
from presswatch.config.schema import CONSOLE, Health
from presswatch.crawler.canonical import canonical_url, is_plausible_canonical
from presswatch.crawler.health import judge
from presswatch.crawler.match import RuleMatcher
from presswatch.crawler.store import HealthChange, NewArticle, NewMatch, SourceRun, Store, now_iso

# The console channel receives the alerts of rules that name no channel.
CONSOLE_CHANNEL = CONSOLE
log = logging.getLogger("presswatch.health")

# Texts shorter than this are too generic for their hash to identify a story.
MIN_HASH_WORDS = 40


@dataclass(frozen=True)
class Candidate:
    """An article as collected from a feed entry or a page, before deduplication."""

    source_id: str
    url: str
    title: str
    text: str
    extracted_from: str  # "page" or "feed"
    guid: str | None = None
    page_error: str | None = None  # the page of a feed entry failed for good: why
    page_canonical: str | None = None
    published: datetime | None = None
    date_source: str | None = None
    language: str | None = None
    authors: tuple[str, ...] = ()


class Outcome(Enum):
    SEEN = "seen"  # the same article again (URL or GUID)
    COPY = "copy"  # a new URL carrying a known story's text
    NEW = "new"  # a new story
    FILLED = "filled"  # a known article's feed text replaced by its page's


@dataclass(frozen=True)
class IngestResult:
    outcome: Outcome
    story_id: int | None = None
    alerts_queued: int = 0


def content_hash(text: str) -> str | None:
    """A hash of the text that ignores case, spacing and Unicode presentation forms."""
    words = unicodedata.normalize("NFKC", text).casefold().split()
    if len(words) < MIN_HASH_WORDS:
        return None
    return hashlib.sha256(" ".join(words).encode()).hexdigest()


class Ingest:
    """Stores candidates in `store`, matching new stories with `matcher`."""

    def __init__(self, store: Store, matcher: RuleMatcher,
                 rule_channels: dict[str, tuple[str, ...]], sources: dict | None = None,
                 redact: Redactor | None = None, health: Health | None = None):
        self.store = store
        self.matcher = matcher
        self.rule_channels = rule_channels
        self.sources = sources or {}
        self.redact = redact or Redactor()
        self.health = health or Health()

    @classmethod
    def from_config(cls, store: Store, rules: Iterable, sources: Iterable = (),
                    redact: Redactor | None = None, health: Health | None = None) -> Ingest:
        """An Ingest for the config's enabled rules; their alerts go to the console when they name no channel."""
        rules = [r for r in rules if getattr(r, "enabled", True)]
        channels = {r.id: tuple(r.channels) or (CONSOLE_CHANNEL,) for r in rules}
        return cls(store, RuleMatcher(rules), channels, {s.id: s for s in sources}, redact, health)

    def record_run(self, run: SourceRun, at: datetime | None = None) -> HealthChange:
        """Save a source's run with its health; a change of health is queued as an alert."""
        now = at or datetime.now(UTC)
        change = judge(self.store.source_state(run.source_id), run, now, self.health)
        if change.event:
            change = replace(change, event=self.redact(change.event),
                             channels=tuple(self.health.channels) or (CONSOLE_CHANNEL,))
            log.warning("source=%s state %s -> %s: %s", run.source_id, change.from_state,
                        change.state, change.event)
        self.store.record_source_run(run, change, at=now)
        return change

    def is_known(self, source_id: str, guid: str | None, url: str, want_page: bool = False) -> bool:
        """Whether an article is stored, so its page need not be fetched (again).

        With `want_page`, an article stored from its feed's text because its page could
        not be had yet (a timeout, a 5xx, the per-run cap) is not "known": its page is
        tried again, and its full text then replaces the feed's.
        """
        try:
            key = canonical_url(url)
        except ValueError:
            return False
        known = self.store.known_article(source_id, guid, (key,))
        if known is None:
            return False
        return not (want_page and known.extracted_from == "feed" and known.page_error is None)

    def ingest(self, candidate: Candidate) -> IngestResult:
        if not candidate.url.startswith(("http://", "https://")):
            candidate = self._without_link(candidate)
            key = fetched_key = candidate.url
        else:
            fetched_key = canonical_url(candidate.url)
            key = canonical_url(candidate.url, candidate.page_canonical)
        known = self.store.known_article(candidate.source_id, candidate.guid, (key, fetched_key))
        article = self._new_article(candidate, key, fetched_key, self._language_hint(candidate))
        if known is not None:
            if known.extracted_from == "feed" and article.extracted_from == "page":
                return self._fill(known, article)
            return IngestResult(Outcome.SEEN)
        with self.store.transaction():
            story_id = self.store.story_with_content(article.content_hash) if article.content_hash else None
            article_id, story_id_now = self.store.add_article(article, story_id)
            if story_id is not None:
                return IngestResult(Outcome.COPY, story_id)
            queued = self.store.add_matches(story_id_now, article_id, self._matches(article))
        return IngestResult(Outcome.NEW, story_id_now, queued)

    def _fill(self, known, article: NewArticle) -> IngestResult:
        """The page of an article first stored from its feed's text: keep the full text
        and match it, so a rule that only its full text satisfies still alerts (once)."""
        with self.store.transaction():
            self.store.fill_article(known.id, article)
            queued = self.store.add_matches(known.story_id, known.id, self._matches(article))
        return IngestResult(Outcome.FILLED, known.story_id, queued)

    def _without_link(self, candidate: Candidate) -> Candidate:
        """A feed entry with no web link still gets stored, under a key of its own.

        The key is its GUID, or a hash of its title and text, scoped to the source, so the
        entry is recognised in the next run; its link points at the source.
        """
        ident = candidate.guid or hashlib.sha256(
            f"{candidate.title}\n{candidate.text}".encode()).hexdigest()[:32]
        source = self.sources.get(candidate.source_id)
        return replace(candidate, url=f"urn:presswatch:{candidate.source_id}:{ident}",
                       page_canonical=getattr(source, "url", None))

    def _language_hint(self, candidate: Candidate) -> str | None:
        source = self.sources.get(candidate.source_id)
        return candidate.language or getattr(source, "language", None)

    def _matches(self, article: NewArticle) -> list[NewMatch]:
        return [
            NewMatch(m.rule_id, m.terms, m.snippet, self.rule_channels[m.rule_id])
            for m in self.matcher.match(article.title, article.text)
        ]

    @staticmethod
    def _new_article(candidate: Candidate, key: str, fetched_key: str, language: str | None) -> NewArticle:
        text = candidate.text.strip()
        title = candidate.title.strip() or _title_from(text) or key
        return NewArticle(
            source_id=candidate.source_id,
            url=_display_url(candidate),
            url_key=fetched_key,
            canonical_url=key,
            guid=candidate.guid,
            title=title,
            text=text,
            published_at=now_iso(candidate.published) if candidate.published else None,
            date_source=candidate.date_source if candidate.published else None,
            language=language,
            authors=candidate.authors,
            content_hash=content_hash(text),
            extracted_from=candidate.extracted_from,
            page_error=candidate.page_error,
        )


def _display_url(candidate: Candidate) -> str:
    """The link an analyst clicks: the page's own canonical when it is plausible, else the URL fetched."""
    if candidate.url.startswith("urn:"):
        return candidate.page_canonical or candidate.url
    if candidate.page_canonical and is_plausible_canonical(candidate.url, candidate.page_canonical):
        return urljoin(candidate.url, candidate.page_canonical)
    return candidate.url


def _title_from(text: str, words: int = 12) -> str:
    head = text.split()[:words]
    return " ".join(head) + ("…" if len(text.split()) > words else "")

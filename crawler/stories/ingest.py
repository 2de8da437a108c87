"""From a collected article to a stored story, its matches and its alerts: the serial writer.

Deciding is kept apart from storing: `ingest` asks the store what it already knows
(same canonical URL or feed GUID: the same article, maybe revised by the source that owns
its text, while other sources listing it are only noted; same normalised text,
or a near-duplicate text found through the MinHash index: a copy of a known story), has
`crawler.stories.intent` decide what the candidate is (an intent, over plain data), and
writes that intent, the rules it matches and their outbox rows in one transaction
(store calls only), so nothing is alerted that is not stored
and nothing stored can miss its alert. A match is kept once per (story, rule): a story
alerts each rule's channels once, however many outlets carry it; a story that already
alerted sends one short update when it reaches each configured outlet count.

Above stories, events: a story a rule matches (any story, with `events.scope: all`) is
embedded once and joins the event of the same happening if `crawler.stories.events`
finds one among its nearest stories of the window; a rule alerting per event (the
default) alerts once per (event, rule, channel), and the event's later matching stories
go out as event updates. A matched story of a tagged source may then be linked as the
reaction to an earlier event of another side (`crawler.stories.reactions`): its alert says
so, and the answered event's thread gets a reply.
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit

from presswatch.config.redact import Redactor
from presswatch.config.schema import CONSOLE, Events, Health, Reactions, Stories
from presswatch.crawler.parse.canonical import canonical_url, is_plausible_canonical, site_of
from presswatch.crawler.rules.match import RuleMatcher
from presswatch.crawler.store.database import Store
from presswatch.crawler.store.records import (
    HealthChange,
    KnownArticle,
    NewArticle,
    NewMatch,
    SourceRun,
    now_iso,
)
from presswatch.crawler.stories.candidates import Candidate
from presswatch.crawler.stories.dedup import Scheme, Signature, from_bytes, signatures, similarity, version_hash
from presswatch.crawler.stories import events as grouping
from presswatch.crawler.stories.health import judge
from presswatch.crawler.stories.reactions import Answer, Linking, synonym_forms
from presswatch.crawler.stories.intent import (
    CopyOf,
    Fill,
    NewStory,
    NoteListing,
    Outcome,
    Seen,
    decide_again,
    decide_new,
    match_article,
)

# The console channel receives the alerts of rules that name no channel.
CONSOLE_CHANNEL = CONSOLE
log = logging.getLogger("presswatch.health")
# How often the near-duplicate index drops what is older than its window.
PRUNE_EVERY = timedelta(hours=1)
# Two headlines and leads further apart in time than this are two events, however alike.
SHORT_COPY_SPAN = timedelta(days=2)

# Texts shorter than this are too generic for their hash to identify a story.
MIN_HASH_WORDS = 40
# The title shown for an entry with neither title, text nor web link.
NO_TITLE = "(no title)"


@dataclass(frozen=True)
class IngestResult:
    outcome: Outcome
    story_id: int | None = None
    alerts_queued: int = 0
    similarity: float | None = None  # a copy: how close to the story's text (1.0: the same)
    updates_queued: int = 0  # spread updates
    event_id: int | None = None  # the event its story is in
    event_updates: int = 0  # event updates queued (a later story of an event that alerted)
    answers_event: int | None = None  # the earlier event its story was linked to as a reaction


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
                 redact: Redactor | None = None, health: Health | None = None,
                 stories: Stories | None = None, events: Events | None = None,
                 rule_alert: dict[str, str] | None = None,
                 rule_updates: dict[tuple[str, str], tuple[int, timedelta | None]] | None = None,
                 reactions: Reactions | None = None, reacts_to: dict[str, tuple[str, ...]] | None = None,
                 synonyms: dict[str, tuple[str, ...]] | None = None):
        self.store = store
        self.matcher = matcher
        self.rule_channels = rule_channels
        self.sources = sources or {}
        self.redact = redact or Redactor()
        self.health = health or Health()
        self.stories = stories or Stories()
        self.scheme = Scheme(
            permutations=self.stories.permutations, seed=self.stories.seed, shingle=self.stories.shingle,
            threshold=self.stories.near_duplicate, short_threshold=self.stories.short_text,
        )
        self._pruned_at: datetime | None = None
        self.grouping = grouping.Grouping(store, events or Events())
        self.rule_alert = rule_alert or {}  # rule -> "event" or "story" (unlisted: story)
        self.rule_updates = rule_updates or {}  # (rule, channel) -> (new outlets an update waits for, interval)
        tags = {source_id: frozenset(getattr(s, "tags", ())) for source_id, s in self.sources.items()}
        self.linking = Linking(store, reactions or Reactions(), tags, reacts_to or {}, synonyms)

    @classmethod
    def from_config(cls, store: Store, rules: Iterable, sources: Iterable = (),
                    redact: Redactor | None = None, health: Health | None = None,
                    stories: Stories | None = None, events: Events | None = None,
                    channels_config: Iterable = (), reactions: Reactions | None = None) -> Ingest:
        """An Ingest for the config's enabled rules; their alerts go to the console when they name no channel.

        A rule's event updates keep its pace (`event_updates`, `event_updates_every`) unless a
        channel of `channels_config` sets its own.
        """
        rules = [r for r in rules if getattr(r, "enabled", True)]
        channels = {r.id: tuple(r.channels) or (CONSOLE_CHANNEL,) for r in rules}
        alert = {r.id: getattr(r, "alert", "event") for r in rules}
        updates = update_paces(rules, channels, {c.id: c for c in channels_config})
        reacts_to = {r.id: tuple(getattr(r, "reacts_to", ())) for r in rules}
        synonyms = synonym_forms(members for r in rules for members in getattr(r, "synonyms", ()))
        return cls(store, RuleMatcher(rules), channels, {s.id: s for s in sources}, redact, health, stories,
                   events, alert, updates, reactions, reacts_to, synonyms)

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
        self.prune(now)
        return change

    def prune(self, now: datetime | None = None) -> None:
        """Drop index entries older than the near-duplicate window (at most once an hour)."""
        now = now or datetime.now(UTC)
        if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
            self.store.prune_index(now - self.stories.window)
            self.grouping.prune(now)
            self._pruned_at = now

    def is_known(self, source_id: str, guid: str | None, url: str, fingerprint: str | None = None,
                 want_page: bool = False) -> bool:
        """Whether an article is stored, so its page need not be fetched (again).

        With `want_page`, an article stored from its feed's text because its page could
        not be had yet (a timeout, a 5xx, the per-run cap) is not "known": its page is
        tried again, and its full text then replaces the feed's. Nor is one whose feed
        entry changed (`fingerprint`): its page is fetched again for a possible revision.
        """
        known = self._known(source_id, guid, url)
        if known is None:
            return False
        return page_not_wanted(known.extracted_from, known.page_error, fingerprint, want_page,
                               lambda: self.store.entry_fingerprint(known.id, source_id))

    def ingest(self, candidate: Candidate) -> IngestResult:
        """The writer's path: look up what is known (store reads), decide what the candidate
        is (an intent, pure), write that intent in one transaction (store calls only)."""
        article, known = self._look_up(candidate)
        if known is not None:
            noted = self.store.entry_fingerprint(known.id, article.source_id)
            intent = decide_again(known, article, noted)
            if isinstance(intent, Fill):  # a fuller or changed text: indexed, maybe regrouped
                signed = signatures(self.scheme, article.headline, article.text)
                move_to = self._regroup_target(known, article, signed)
                intent = replace(intent, signed=signed, move_to=move_to,
                                 outlets=self._outlets_once_filled(known, article, move_to))
        else:
            signed = signatures(self.scheme, article.headline, article.text)
            copy_of, similar = self._story_for(article, signed)  # the near-duplicate search: a read
            before, known_outlet = self._outlets(copy_of, article.outlet)
            intent = decide_new(article, signed, copy_of, similar, before, known_outlet)
        return self._write(intent)

    def _outlets(self, story_id: int | None, outlet: str) -> tuple[int, bool]:
        """A story's outlet count, and whether `outlet` is one of them (none for no story)."""
        if story_id is None:
            return 0, False
        return self.store.outlet_count(story_id), self.store.story_has_outlet(story_id, outlet)

    def _look_up(self, candidate: Candidate) -> tuple[NewArticle, KnownArticle | None]:
        """The article a candidate makes, and the stored article it already is, if any."""
        if not candidate.url.startswith(("http://", "https://")):
            candidate = self._without_link(candidate)
            key = fetched_key = candidate.url
            keys: tuple[str, ...] = (key,)
        else:
            # The link as listed is how the article is found before a fetch; after redirects,
            # and by its page's canonical, it may have other URLs too.
            final_key = canonical_url(candidate.url)
            fetched_key = canonical_url(candidate.requested_url) if candidate.requested_url else final_key
            key = canonical_url(candidate.url, candidate.page_canonical) if candidate.page_canonical else final_key
            keys = tuple(dict.fromkeys((key, fetched_key, final_key)))
        known = self.store.known_article(candidate.source_id, candidate.guid, keys)
        if known is not None and _another_entry_of_one_page(candidate, known):
            # One feed listing several entries on one page (comments, a "now" page, a link
            # list), told apart by their fragments and GUIDs: each is an article of its own.
            key = fetched_key = f"{key}#{urlsplit(candidate.url).fragment}"
            known = self.store.known_article(candidate.source_id, candidate.guid, (key,))
        return self._new_article(candidate, key, fetched_key), known

    def _outlets_once_filled(self, known: KnownArticle, article: NewArticle, move_to: int | None) -> int | None:
        """The outlets of a filled article's story once written (it counts in its own story
        already; moved, it may add one): looked up only when a rule filters on outlets."""
        if not self.matcher.needs_facts:
            return None
        if move_to is None:
            return self.store.outlet_count(known.story_id)
        count, known_outlet = self._outlets(move_to, article.outlet)
        return count + (not known_outlet)

    def _write(self, intent: NewStory | CopyOf | Fill | NoteListing | Seen) -> IngestResult:
        """Store an intent, its matches and their outbox rows in one transaction."""
        if isinstance(intent, Seen):
            return IngestResult(Outcome.SEEN, intent.known.story_id)
        with self.store.transaction():
            if isinstance(intent, NoteListing):
                self.store.note_entry(intent.known.id, intent.article.source_id, intent.fingerprint)
                if intent.page_fetched:
                    self.store.note_page_validators(intent.known.id, intent.article)
                return IngestResult(Outcome.SEEN, intent.known.story_id)
            if isinstance(intent, Fill):
                return self._write_text(intent)
            return self._write_article(intent)

    def _write_article(self, intent: NewStory | CopyOf) -> IngestResult:
        """A new article, in a new story or in the story it is a copy of, with its matches."""
        copy_of = intent.story_id if isinstance(intent, CopyOf) else None
        article_id, story_id = self.store.add_article(intent.article, copy_of)
        self.store.add_signatures(article_id, intent.signed, self.scheme)
        outlets = 1 if copy_of is None else intent.outlets_after
        matches = self._matches(intent.article, outlets)
        event_id, answer = self._group(story_id, intent.article, matches)
        queued, event_updates = self._queue(story_id, article_id, matches)
        self.linking.tell(story_id, answer)
        if copy_of is None:
            return IngestResult(Outcome.NEW, story_id, queued, event_id=event_id, event_updates=event_updates,
                                answers_event=answer and answer.event_id)
        # One update per alerted channel when the story reaches a configured outlet count.
        milestone = intent.spread_milestone(self.stories.spread_updates)
        updates = self.store.queue_spread(story_id, milestone) if milestone is not None else 0
        return IngestResult(Outcome.COPY, story_id, queued, intent.similarity, updates, event_id, event_updates,
                            answer and answer.event_id)

    def _write_text(self, intent: Fill) -> IngestResult:
        """A fuller or changed text of a stored article: stored, indexed and matched, so a
        rule that only the new text satisfies alerts (once, like any match)."""
        known, article = intent.known, intent.article
        if intent.outcome is Outcome.REVISED:
            self.store.revise_article(known.id, article)
        else:
            self.store.fill_article(known.id, article)
        self.store.add_signatures(known.id, intent.signed, self.scheme)
        story_id = known.story_id
        if intent.move_to is not None:
            self.store.move_article(known.id, intent.move_to)
            story_id = intent.move_to
        matches = self._matches(article, intent.outlets)
        event_id, answer = self._group(story_id, article, matches)
        queued, event_updates = self._queue(story_id, known.id, matches)
        self.linking.tell(story_id, answer)
        return IngestResult(intent.outcome, story_id, queued, event_id=event_id, event_updates=event_updates,
                            answers_event=answer and answer.event_id)

    def _group(self, story_id: int, article: NewArticle, matches: list[NewMatch]) -> tuple[int | None, Answer | None]:
        """The story's event, and the earlier event it answers (linking may take it out of that one)."""
        event_id = self.grouping.group(story_id, article, matches)
        answer = self.linking.link(story_id, event_id, article, matches)
        return (self.store.story_event(story_id) if answer else event_id), answer

    def _queue(self, story_id: int, article_id: int, matches: list[NewMatch]) -> tuple[int, int]:
        """The matches stored, with their alerts (per event or per story) or event updates."""
        return self.store.add_event_matches(story_id, article_id, matches, self.rule_alert, self.rule_updates)

    def _known(self, source_id: str, guid: str | None, url: str) -> KnownArticle | None:
        """The stored article a link (or this source's GUID) names; None for an unusable link."""
        try:
            key = canonical_url(url)
        except ValueError:
            return None
        return self.store.known_article(source_id, guid, (key,))

    def page_validators(self, source_id: str, guid: str | None, url: str) -> tuple[str | None, str | None] | None:
        """The validators of a stored article's page, to fetch it again conditionally."""
        known = self._known(source_id, guid, url)
        if known is None or known.extracted_from != "page":
            return None
        return self.store.page_validators(known.id)

    def page_unchanged(self, source_id: str, guid: str | None, url: str,
                       fingerprint: str | None) -> IngestResult | None:
        """A page asked for again answered 304: the article is as stored; its changed feed
        entry is noted so the page is not asked for again until the entry changes again."""
        known = self._known(source_id, guid, url)
        if known is None:
            return None
        if fingerprint:
            with self.store.transaction():
                self.store.note_entry(known.id, source_id, fingerprint)
        return IngestResult(Outcome.SEEN, known.story_id)

    def _regroup_target(self, known: KnownArticle, article: NewArticle, signed: list[Signature]) -> int | None:
        """An article alone in its story whose new text is a copy of another story joins that
        story, so what its text matches alerts there (once) and not as a second story."""
        if self.store.story_size(known.story_id) != 1:
            return None
        other, _ = self._story_for(article, signed, exclude_story=known.story_id)
        return other

    def _story_for(self, article: NewArticle, signed: list[Signature],
                   exclude_story: int | None = None) -> tuple[int | None, float | None]:
        """The story an article is a copy of: the same text, else the nearest close enough.

        A full text is compared with full texts; a headline and lead (all a feed entry may
        carry) with the headlines and leads of every article. A full text is also compared
        by its headline and lead with articles known only that way, so a story first seen
        as a feed summary is found again when an outlet's full page arrives.
        """
        if article.content_hash:
            story_id = self.store.story_with_content(article.content_hash, exclude_story)
            if story_id is not None:
                return story_id, 1.0
        by_kind = {sig.kind: sig for sig in signed}
        since = datetime.now(UTC) - self.stories.window
        for kind in ("text", "short"):
            sig = by_kind.get(kind)
            if sig is None:
                continue
            threshold = self.scheme.threshold if kind == "text" else self.scheme.short_threshold
            best: tuple[float, int] | None = None
            for near in self.store.near_candidates(
                    kind, self.scheme.label, sig.buckets, since, only_short=kind == "short" and "text" in by_kind,
                    other_than_outlet=article.outlet if kind == "short" else None):
                if near.story_id == exclude_story or (kind == "short" and not _short_copy(article, near)):
                    continue
                score = similarity(sig.values, from_bytes(near.minhash))
                if score >= threshold and (best is None or score > best[0]):
                    best = (score, near.story_id)
            if best is not None:
                return best[1], best[0]
        return None, None

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

    def _outlet(self, candidate: Candidate, display_url: str) -> str:
        """Who published it: the aggregator entry's origin, else the site of its link."""
        source_url = getattr(self.sources.get(candidate.source_id), "url", None)
        for url in (candidate.origin, display_url, source_url):
            if url and url.startswith(("http://", "https://")):
                try:
                    return site_of(url)
                except ValueError:
                    continue
        return candidate.source_id

    def _matches(self, article: NewArticle, outlets: int | None) -> list[NewMatch]:
        # `outlets`: the story's, the article counted (copies included); the rules that
        # filter on outlets are given them, the others need not be.
        return match_article(self.matcher, self.rule_channels, article,
                             outlets if self.matcher.needs_facts else None)

    def _new_article(self, candidate: Candidate, key: str, fetched_key: str) -> NewArticle:
        text = candidate.text.strip()
        headline = candidate.title.strip() or _title_from(text)
        url = _display_url(candidate)
        return NewArticle(
            source_id=candidate.source_id,
            url=url,
            url_key=fetched_key,
            canonical_url=key,
            guid=candidate.guid,
            title=headline or _stand_in_title(candidate),
            text=text,
            published_at=now_iso(candidate.published) if candidate.published else None,
            date_source=candidate.date_source if candidate.published else None,
            language=self._language_hint(candidate),
            authors=candidate.authors,
            content_hash=content_hash(text),
            extracted_from=candidate.extracted_from,
            page_error=candidate.page_error,
            outlet=self._outlet(candidate, url),
            version_hash=version_hash(headline, text),
            entry_fingerprint=candidate.entry_fingerprint,
            page_etag=candidate.page_etag,
            page_last_modified=candidate.page_last_modified,
            title_stand_in=not headline,
        )




def update_paces(rules: list, channels: dict[str, tuple[str, ...]],
                 configured: dict) -> dict[tuple[str, str], tuple[int, timedelta | None]]:
    """(rule, channel) -> (new outlets an event update waits for, at most one per interval):
    the channel's setting where it has one, else the rule's."""
    paces = {}
    for rule in rules:
        for channel_id in channels[rule.id]:
            channel = configured.get(channel_id)
            count = getattr(channel, "event_updates", None)
            every = getattr(channel, "event_updates_every", None)
            paces[(rule.id, channel_id)] = (getattr(rule, "event_updates", 1) if count is None else count,
                                            getattr(rule, "event_updates_every", None) if every is None else every)
    return paces


def page_not_wanted(extracted_from: str, page_error: str | None, fingerprint: str | None,
                    want_page: bool, recorded) -> bool:
    """Whether a stored article's page need not be fetched again (`Ingest.is_known`).

    `recorded()` gives the fingerprint of the entry this feed listed it with last time.
    """
    if not want_page or page_error is not None:
        return True
    if extracted_from == "feed":
        return False
    # Each feed's entry is compared with what that feed said before; one this feed
    # never listed is taken as it is (the spider hands it on, and it is noted).
    if fingerprint is None:
        return True
    seen = recorded()
    return seen is None or fingerprint == seen


def _another_entry_of_one_page(candidate: Candidate, known: KnownArticle) -> bool:
    """Whether a feed entry found by its URL is another entry of the same page: same source,
    both with GUIDs that differ, and a fragment of its own (not a `key=value` tracker such as
    `#storylink=rss`, which only says how a reader came)."""
    fragment = urlsplit(candidate.url).fragment
    return bool(
        fragment and "=" not in fragment and candidate.guid and known.guid
        and candidate.guid != known.guid and known.source_id == candidate.source_id
    )


def _short_copy(article: NewArticle, near) -> bool:
    """Headlines and leads are alike for recurring events ("N. Korea fires ballistic missile"):
    on that evidence alone, a copy must come from another outlet and within a couple of days."""
    if near.outlet == article.outlet:
        return False
    try:
        then = datetime.fromisoformat(near.dated)
        now = datetime.fromisoformat(article.published_at) if article.published_at else datetime.now(UTC)
    except (TypeError, ValueError):
        return True
    return abs(now - then) <= SHORT_COPY_SPAN


def _display_url(candidate: Candidate) -> str:
    """The link an analyst clicks: the page's own canonical when it is plausible, else the URL fetched."""
    if candidate.url.startswith("urn:"):
        return candidate.page_canonical or candidate.url
    if candidate.page_canonical and is_plausible_canonical(candidate.url, candidate.page_canonical):
        return urljoin(candidate.url, candidate.page_canonical)
    return candidate.url


def _stand_in_title(candidate: Candidate) -> str:
    """What an entry with neither title nor text is shown (and found) by: its link, else
    "(no title)". Never its GUID or key: rules would match the words inside them."""
    if candidate.url.startswith(("http://", "https://")):
        return candidate.url
    return NO_TITLE


def _title_from(text: str, words: int = 12) -> str:
    head = text.split()[:words]
    return " ".join(head) + ("…" if len(text.split()) > words else "")

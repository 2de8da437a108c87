"""The writer's deciding step: what a candidate is, as an intent, from what the store knows.

Pure functions over plain data: they are given the article a candidate makes and what
the store's reads found (the stored article it already is, the story the near-duplicate
search found), and return an intent: a `NewStory`, a `CopyOf` a story, a `Fill` or a
`Revision` of a stored article, a `NoteListing` of one, or `Seen`; and the rules an
article matches. Reading the store and writing the intent in one transaction are left to
`crawler.stories.ingest`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import ClassVar

from presswatch.crawler.rules.match import RuleMatcher
from presswatch.crawler.store.records import KnownArticle, NewArticle, NewMatch
from presswatch.crawler.stories.dedup import Signature

LISTED = "listed"  # the entry fingerprint noted for a page a site or sitemap source listed


class Outcome(Enum):
    SEEN = "seen"  # the same article again (URL or GUID), unchanged
    COPY = "copy"  # a new URL carrying a known story's text, the same or nearly
    NEW = "new"  # a new story
    FILLED = "filled"  # a known article's feed text replaced by its page's
    REVISED = "revised"  # a known article whose title or text changed


@dataclass(frozen=True)
class NewStory:
    article: NewArticle
    signed: list[Signature]


@dataclass(frozen=True)
class CopyOf:
    """A new article carrying a known story's text, the same or nearly."""
    article: NewArticle
    signed: list[Signature]
    story_id: int
    similarity: float | None
    outlets_before: int  # the story's outlets before it: a spread update when it grows past one
    outlets_after: int  # with it: one more when its outlet is new to the story

    def spread_milestone(self, milestones: tuple[int, ...]) -> int | None:
        """The outlet count this copy brings the story to, when it is one that is reported."""
        grown = self.outlets_after > self.outlets_before
        return self.outlets_after if grown and self.outlets_after in milestones else None


@dataclass(frozen=True)
class Fill:
    """A known article's feed text replaced by its page's (`Revision`: its changed text)."""
    known: KnownArticle
    article: NewArticle
    signed: list[Signature] = field(default_factory=list)
    move_to: int | None = None  # the story it now is a copy of, when it was alone in its own
    outlets: int | None = None  # its story's outlets once written, when a rule filters on them
    outcome: ClassVar[Outcome] = Outcome.FILLED


@dataclass(frozen=True)
class Revision(Fill):
    outcome: ClassVar[Outcome] = Outcome.REVISED


@dataclass(frozen=True)
class NoteListing:
    """A known article, unchanged, listed by a source (or with an entry) not noted yet."""
    known: KnownArticle
    article: NewArticle
    fingerprint: str
    page_fetched: bool  # its page was fetched again: its validators are noted too


@dataclass(frozen=True)
class Seen:
    known: KnownArticle


def decide_new(article: NewArticle, signed: list[Signature], copy_of: int | None,
               similar: float | None, outlets_before: int, outlet_known: bool = False) -> NewStory | CopyOf:
    """A new article: a new story, or a copy of the story the near-duplicate search found
    (which has `outlets_before` outlets, the article's own among them when `outlet_known`)."""
    if copy_of is None:
        return NewStory(article, signed)
    return CopyOf(article, signed, copy_of, similar, outlets_before, outlets_before + (not outlet_known))


def decide_again(known: KnownArticle, article: NewArticle, noted: str | None) -> Fill | NoteListing | Seen:
    """An article already stored: its page at last, a revision, or nothing new.

    Its page replaces a feed's text whoever fetched it, and that source owns the text
    from then on; otherwise only the owner (the source that stored it first) revises
    it: another source listing it, with a summary of its own, only has its listing noted.
    `noted` is the entry fingerprint this source was last noted with.
    """
    if known.extracted_from == "feed" and article.extracted_from == "page":
        return Fill(known, article)
    if known.extracted_from != article.extracted_from:
        # The feed's entry of an article stored from its page: the page is the better text.
        # A feed that lists it for the first time has its entry noted; a changed entry
        # is not (its page is wanted, and noted when fetched).
        if article.entry_fingerprint and noted is None:
            return NoteListing(known, article, article.entry_fingerprint, page_fetched=False)
        return Seen(known)
    owner = known.owner or known.source_id
    if article.version_hash != known.version_hash and article.source_id == owner:
        return Revision(known, article)
    fingerprint = article.entry_fingerprint
    if fingerprint is None and known.source_id != article.source_id:
        # A page another source stored first, listed by this one too (a site, a
        # sitemap): noted, so that what this source is told it knows includes it
        # (crawler.fetch.worker: a worker does not fetch it again every run).
        fingerprint = LISTED
    if fingerprint and noted != fingerprint:
        return NoteListing(known, article, fingerprint, page_fetched=True)  # fetched again, unchanged
    return Seen(known)


def match_article(matcher: RuleMatcher, rule_channels: dict[str, tuple[str, ...]],
                  article: NewArticle, outlets: int | None) -> list[NewMatch]:
    """The rules an article matches, each with its channels; `outlets` (its story's) is
    given when a rule filters on the source, language or outlets."""
    facts = {}
    if matcher.needs_facts:
        facts = {"source": article.source_id, "language": article.language, "outlets": outlets}
    return [NewMatch(m.rule_id, m.terms, m.snippet, rule_channels[m.rule_id])
            for m in matcher.match(article.headline, article.text, **facts)]

"""Reactions: a story linked as the answer to an earlier event from another side.

A source may carry `tags` naming the side it speaks for (`state-media`). A story from a
tagged source that a rule matched may answer an earlier event (first seen within
`reactions.window` before it) none of whose stories come from a source sharing one of its
tags: North Korea's state media rebutting a report that other outlets covered. The
evidence is

- the names the two share: the terms the rules found in the event's stories that the
  story names, and the terms the rules found in the story that the event's stories name
  (found as rules find them: `crawler.rules.terms`, so Korean particles and spellings are
  handled as in matching), without names most events of the window carry (the country
  they are all about: `reactions.common_share`), nor a name inside another one found;
- the cosine of the story's stored embedding to the event's mean vector (its vector sum),
  which reaches across languages.

One name at least must be the event's own (a term found in its stories: what it is about;
the story's terms echoed in the event, "human rights", "report", are said of many things).
When the story matched a rule whose `reacts_to` names a rule the event matched, the event's
own names are the terms of the rules answered only (a broad rule's "Pyongyang" is in every
KCNA dateline), and the link needs `min_names` names and `min_cosine`; without, the terms
of every rule, `strong_names` and `strong_cosine`. The best candidate (most names, then the
closest) is linked: bench/reactions_eval.py and "Reactions" in bench/README.md give the
figures the defaults were chosen by. Names are matched terms, and a name counts as shared
when the other side writes one of its synonyms (a rule's `synonyms` set: "Human Rights
Watch" and 휴먼라이츠워치), so a Korean answer to an event covered in English only shares
a name when a rule says the two are one.

Here: the pure deciding (`shared_names`, `common_names`, `choose_answer`) and `Linking`,
which the writer (`crawler.stories.ingest`) calls inside its transaction after a story is
grouped into its event; the store writes the link and the answered thread's update.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from presswatch.crawler.rules.terms import normalize, searchable, term_pattern
from presswatch.crawler.stories.events import centroid_cosine, from_blob, to_blob

# Only the closest events by cosine are looked at for names (each costs two reads).
CLOSEST = 8
# Below this many matched events in the window, no name is common: shares say nothing yet.
COMMON_AFTER = 4


@dataclass(frozen=True)
class Evidence:
    """What links a story to one candidate event."""

    event_id: int
    cosine: float  # the story's vector to the event's mean vector
    names: tuple[str, ...]  # the event's names (its matched terms) the story names
    echoes: tuple[str, ...]  # the story's matched terms the event's stories name
    rule_id: str | None  # the story's rule whose reacts_to names a rule the event matched

    @property
    def shared(self) -> int:
        return len(self.names) + len(self.echoes)


@dataclass(frozen=True)
class Answer:
    """The event a story answers, and why."""

    event_id: int
    rule_id: str | None
    names: tuple[str, ...]
    cosine: float

    @property
    def score(self) -> float:
        return round(len(self.names) + self.cosine, 4)


def found_in(text: str, names: Iterable[str], synonyms: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """Those of `names` that occur in `text`, themselves or as one of their synonyms (the
    rules' `synonyms` sets, by `name_key`: "Human Rights Watch" found as 휴먼라이츠워치),
    found as rules find terms. A prefix (abus*) names nothing: "human rights abuser" is no
    evidence of "sexually abused"."""
    haystack = searchable(text)
    synonyms = synonyms or {}
    found = []
    for name in names:
        if name.endswith("*"):
            continue
        for form in (name, *synonyms.get(name_key(name), ())):
            try:
                if term_pattern(form).search(haystack):
                    found.append(name)
                    break
            except ValueError:  # a term of no words
                continue
    return found


def synonym_forms(sets: Iterable[Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """Each member of the rules' synonym sets (by `name_key`) -> the other members of its sets."""
    forms: dict[str, tuple[str, ...]] = {}
    for members in sets:
        for member in members:
            key = name_key(member)
            others = [m for m in members if name_key(m) != key]
            forms[key] = tuple(dict.fromkeys((*forms.get(key, ()), *others)))
    return forms


def shared_names(story_text: str, story_terms: Sequence[str], event_names: Sequence[str],
                 event_texts: Sequence[str], common: set[str],
                 synonyms: Mapping[str, Sequence[str]] | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The names a story and an event share: the event's names the story names, and the
    story's own terms the event's stories name (either as written or as a synonym); common
    names, and names inside another shared name ("human rights" in "Human Rights Watch"), aside."""
    own = _distinct(found_in(story_text, event_names, synonyms), common)
    echoes = _distinct(found_in("\n".join(event_texts), story_terms, synonyms), common | set(own))
    keys = [*own, *echoes]
    inside = {key for key in keys if any(key != other and key in other for other in keys)}
    return (tuple(name for key, name in own.items() if key not in inside),
            tuple(name for key, name in echoes.items() if key not in inside))


def name_key(name: str) -> str:
    """A name as compared: normalised, without spaces or an exact mark, so 휴먼라이츠워치 and
    "휴먼 라이츠 워치" are one name."""
    return normalize(name).lstrip("=").replace(" ", "")


def _distinct(names: Iterable[str], leave_out: set[str]) -> dict[str, str]:
    """Normalised name -> the name as first written, without those in `leave_out`."""
    kept: dict[str, str] = {}
    for name in names:
        key = name_key(name)
        if key not in leave_out:
            kept.setdefault(key, name)
    return kept


def common_names(events: int, terms_by_event: Sequence[Sequence[str]], share: float) -> set[str]:
    """The names (normalised) at least `share` of the window's matched events carry."""
    if events < COMMON_AFTER:
        return set()
    counts: dict[str, int] = {}
    for terms in terms_by_event:
        for key in {name_key(term) for term in terms}:
            counts[key] = counts.get(key, 0) + 1
    return {key for key, count in counts.items() if count >= share * events}


def answering_rule(story_rules: Sequence[str], event_rules: Iterable[str],
                   reacts_to: Mapping[str, Sequence[str]]) -> str | None:
    """The first of the story's rules whose reacts_to names a rule the event matched."""
    answered = set(event_rules)
    return next((rule for rule in story_rules if answered & set(reacts_to.get(rule, ()))), None)


def other_side(tags: frozenset[str], event_sources: Iterable[str], source_tags: Mapping[str, frozenset[str]]) -> bool:
    """Whether no story of the event comes from a source sharing one of `tags`."""
    return not any(tags & source_tags.get(source, frozenset()) for source in event_sources)


def passes(settings, evidence: Evidence) -> bool:
    """At least one of the event's own names, and enough names and closeness in all."""
    if not evidence.names:
        return False
    if evidence.rule_id is not None:
        return evidence.shared >= settings.min_names and evidence.cosine >= settings.min_cosine
    return evidence.shared >= settings.strong_names and evidence.cosine >= settings.strong_cosine


def choose_answer(settings, candidates: Sequence[Evidence]) -> Answer | None:
    """The candidate passing its thresholds with the most names, then the closest; or None."""
    passing = [e for e in candidates if passes(settings, e)]
    if not passing:
        return None
    best = max(passing, key=lambda e: (e.shared, e.cosine))
    return Answer(best.event_id, best.rule_id, (*best.names, *best.echoes), best.cosine)


class Linking:
    """Links the writer's stories to the events they answer, with store calls (inside the
    writer's transaction): the config's `reactions`, each source's tags, each rule's reacts_to."""

    def __init__(self, store, settings, source_tags: Mapping[str, frozenset[str]],
                 reacts_to: Mapping[str, Sequence[str]], synonyms: Mapping[str, Sequence[str]] | None = None):
        self.store = store
        self.settings = settings
        self.source_tags = source_tags
        self.reacts_to = reacts_to
        self.synonyms = synonyms or {}  # `synonym_forms` of the rules' synonym sets

    def link(self, story_id: int, event_id: int | None, article, matches: Sequence,
             now: datetime | None = None) -> Answer | None:
        """Link a matched story of a tagged source to the event it answers, if any. A story
        is linked once.

        Called after grouping and before the story's alerts are queued: a story that joined
        an event of another side's stories that it answers (a rebuttal is written about
        the report) is taken out into an event of its own, which alerts as its own. The
        answered thread is told after (`tell`), so the story's own alert goes out first.
        """
        tags = self.source_tags.get(article.source_id, frozenset())
        if not (self.settings.enabled and matches and tags) or self.store.story_reaction(story_id):
            return None
        if self.store.reaction_refused(story_id):  # an analyst unlinked it: a copy or revision changes nothing
            return None
        vector = from_blob(self.store.story_vector(story_id))
        if vector is None:
            return None
        evidence = self._evidence(story_id, vector, tags, event_id, article, matches, now)
        answer = choose_answer(self.settings, evidence)
        if answer is None:
            return None
        if answer.event_id == event_id:
            self._take_out(story_id, event_id, vector)
        self.store.add_reaction(story_id, answer.event_id, answer.rule_id, list(answer.names), answer.score)
        return answer

    def tell(self, story_id: int, answer: Answer | None) -> int:
        """The answered event's thread gets its reply (per rule and channel it alerted); rows queued."""
        return 0 if answer is None else self.store.queue_reaction(story_id, answer.event_id)

    def _take_out(self, story_id: int, event_id: int, vector: np.ndarray) -> None:
        """The story leaves the event it answers for one of its own (vector sums follow)."""
        _, new = self.store.split_story(story_id)
        total, count = self.store.event_vector(event_id)
        if total is not None:
            self.store.set_event_vector(event_id, to_blob(from_blob(total) - vector), max(0, count - 1))
        self.store.set_event_vector(new, to_blob(vector), 1)

    def _evidence(self, story_id: int, vector: np.ndarray, tags: frozenset[str], event_id: int | None,
                  article, matches: Sequence, now: datetime | None) -> list[Evidence]:
        now = now or datetime.now(UTC)
        since = now - self.settings.window
        floor = min(self.settings.min_cosine, self.settings.strong_cosine)
        story_rules = [m.rule_id for m in matches]
        near = []
        for cand in self.store.reaction_candidates(since, now, story_id):
            if not other_side(tags, cand["sources"], self.source_tags):
                continue
            total = from_blob(cand["vector_sum"])
            cosine = centroid_cosine(total - vector if cand["id"] == event_id else total, vector)
            if cosine >= floor:
                near.append((cosine, cand))
        if not near:
            return []
        common = common_names(*self.store.window_event_terms(since), self.settings.common_share)
        text = f"{article.headline}\n{article.text}"
        story_terms = list(dict.fromkeys(t for m in matches for t in m.terms))
        return [self._weigh(story_id, cand, cosine, text, story_rules, story_terms, common)
                for cosine, cand in sorted(near, key=lambda pair: self._rank(story_rules, *pair))[:CLOSEST]]

    def _rank(self, story_rules: list[str], cosine: float, cand: dict) -> tuple[bool, float]:
        """Events a rule of the story answers first, then the closest."""
        return answering_rule(story_rules, cand["rules"], self.reacts_to) is None, -cosine

    def _weigh(self, story_id: int, cand: dict, cosine: float, text: str, story_rules: list[str],
               story_terms: list[str], common: set[str]) -> Evidence:
        """The evidence against one event. Answering by a rule's reacts_to, the event's names
        are the terms of the rules answered ("Human Rights Watch" for the report's rule), not
        of every rule (a broad rule's "Pyongyang" is in every KCNA dateline)."""
        rule = answering_rule(story_rules, cand["rules"], self.reacts_to)
        answered = tuple(self.reacts_to.get(rule, ())) if rule else ()
        names = self.store.event_names(cand["id"], story_id, answered)
        return Evidence(cand["id"], cosine,
                        *shared_names(text, story_terms, names, self.store.event_texts(cand["id"], story_id), common,
                                      self.synonyms), rule)

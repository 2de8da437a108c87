"""Judging surges: every rule's recent window against its baseline, a surge opened and told
once, closed when it calms.

For each enabled rule whose surges are on: its window and baseline counted by the store,
`crawler.rules.surge.judge` (pure) on them, and `next_state` with the rule's open surge
as stored. A surge to tell is written with its outbox rows in one transaction (the rule's
open surge and each (surge, channel) row are unique, so judging twice tells it once); a
surge that calmed is closed, and so is the open surge of a rule no longer judged.

The baseline counts only from when the rule began to match as it does now (the store
remembers a fingerprint of its query and filters): a rule added or changed learns its
usual share before it is judged. Delivering the alerts is the scheduler's; the daemon
calls `judge_surges` every `surges.every`, and `run --once` after its crawls.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from presswatch.config.schema import CONSOLE
from presswatch.crawler.rules.surge import Baseline, SurgeSettings, Verdict, Window, judge, next_state
from presswatch.crawler.store.database import Store
from presswatch.crawler.store.records import SurgeFigures

__all__ = ["SurgeOutcome", "judge_surges", "rule_matching", "rule_settings"]

log = logging.getLogger("presswatch.surges")


@dataclass(frozen=True)
class SurgeOutcome:
    """What judging one rule did: told a surge (its id), calmed one, or neither."""

    rule_id: str
    verdict: Verdict
    told: int | None = None
    calmed: int | None = None


def rule_settings(section, rule) -> SurgeSettings | None:
    """The rule's surge settings: the `surges:` section's with the rule's overrides, or None
    when surges are off for it."""
    own = getattr(rule, "surge", None)
    if not section.enabled or not getattr(rule, "enabled", True) or (own is not None and not own.enabled):
        return None
    values = {name: getattr(section, name) for name in ("window", "baseline", "min_stories", "min_outlets",
                                                       "min_ratio", "p_value", "calm_ratio", "min_baseline")}
    if own is not None:
        values.update({name: value for name in ("window", "min_stories", "min_outlets", "min_ratio")
                       if (value := getattr(own, name)) is not None})
    return SurgeSettings(**values)


def judge_surges(store: Store, rules: Iterable, section, now: datetime) -> list[SurgeOutcome]:
    """Judge every rule with surges on at `now`; returns what was done for each."""
    judged = [(rule, settings) for rule in rules if (settings := rule_settings(section, rule)) is not None]
    since = store.note_surge_rules({rule.id: rule_matching(rule) for rule, _ in judged}, at=now) if judged else {}
    totals = NewStories(store)
    outcomes = [judge_rule(store, rule, settings, now, totals, since.get(rule.id)) for rule, settings in judged]
    close_unjudged(store, {outcome.rule_id for outcome in outcomes}, now)
    return outcomes


def rule_matching(rule) -> str:
    """A fingerprint of what decides which stories a rule matches: when it changes, the rule's
    stored matches no longer tell its usual share, and it learns again."""
    keys = [getattr(rule, name, None) for name in ("query", "synonyms", "sources", "languages", "min_outlets")]
    return hashlib.sha256(json.dumps(keys, ensure_ascii=False, default=str).encode()).hexdigest()[:16]


def close_unjudged(store: Store, judged: set[str], now: datetime) -> None:
    """A rule no longer judged (surge: off, disabled, gone from the config) keeps no open
    surge: nothing would ever calm it, and /metrics would show it surging for good."""
    for rule_id in set(store.open_surges()) - judged:
        opened = store.open_surge(rule_id)
        if opened is not None and store.calm_surge(opened["id"], at=now):
            log.info("rule=%s surge=%d closed: the rule's surges are no longer judged", rule_id, opened["id"])


class NewStories:
    """All new stories of a period, counted once for every rule judged on it in one turn."""

    def __init__(self, store: Store):
        self.store = store
        self.counted: dict[tuple[datetime, datetime], int] = {}

    def __call__(self, after: datetime, upto: datetime) -> int:
        if (after, upto) not in self.counted:
            self.counted[after, upto] = self.store.new_stories(after, upto)
        return self.counted[after, upto]


def judge_rule(store: Store, rule, settings: SurgeSettings, now: datetime,
               totals: NewStories | None = None, since: datetime | None = None) -> SurgeOutcome:
    """One rule (matching as it does now since `since`): its counts, the verdict, and the
    surge told or calmed."""
    totals = totals or NewStories(store)
    start = now - settings.window
    stories, outlets = store.rule_stories(rule.id, start, now)
    window = Window(stories, outlets, max(totals(start, now), stories))
    verdict = judge(window, baseline_of(store, rule.id, start, settings, totals, since), settings)
    opened = store.open_surge(rule.id)
    tell, surging = next_state(opened is not None, verdict)
    if tell:
        figures = SurgeFigures(rule.id, settings.window, window.stories, window.outlets, window.total,
                               verdict.usual, verdict.expected, verdict.p_value)
        channels = tuple(rule.channels) or (CONSOLE,)
        surge_id = store.record_surge(figures, store.surge_event(rule.id, start, now), channels, at=now)
        if surge_id is not None:
            log.warning("rule=%s surge=%d %s", rule.id, surge_id, verdict.figures(window, settings))
        return SurgeOutcome(rule.id, verdict, told=surge_id)
    if opened is not None and not surging and store.calm_surge(opened["id"], at=now):
        log.info("rule=%s surge=%d calmed: %s", rule.id, opened["id"], verdict.reason or "back to usual")
        return SurgeOutcome(rule.id, verdict, calmed=opened["id"])
    return SurgeOutcome(rule.id, verdict)


def baseline_of(store: Store, rule_id: str, start: datetime, settings: SurgeSettings, totals: NewStories,
                since: datetime | None = None) -> Baseline:
    """The rule's share before `start`: over `settings.baseline`, or over as much of it as the
    store holds and the rule has matched as it does now (`since`)."""
    after = start - settings.baseline if since is None else max(start - settings.baseline, since)
    first = store.stored_since()
    if first is None or after >= start:
        return Baseline(0, 0, timedelta(0))
    stories, _ = store.rule_stories(rule_id, after, start, outlets=False)
    return Baseline(stories, totals(after, start), max(timedelta(0), start - max(after, first)))

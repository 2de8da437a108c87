"""Surges: is a rule's coverage in the recent window well above its own usual level?

Pure functions over counts; counting stories in time windows is the store's, sending an
alert the outbox's. The test is on the rule's *share* of all new stories, not on its count:
a day when every source publishes twice as much (or half the sources are down) moves the
rule's count and the total together and fires nothing, while a story that takes over the
news does (Kleinberg's burst model works on the same proportion).

Given, for the recent window, the rule's new stories ``x``, their outlets, and all new
stories ``n``; and for the baseline before it (by default the 14 days before the window),
the rule's stories ``X`` of all ``N``: the usual share is ``p0 = (X + 0.5) / (N + 1)``
(half a story added so that a rule with no history still has a share above zero), and the
window surges when all of these hold:

- enough evidence: ``x >= min_stories`` from at least ``min_outlets`` outlets;
- well above usual: ``x >= min_ratio * n * p0``;
- unlikely by chance: the binomial upper tail ``P(Bin(n, p0) >= x) <= p_value``;
- enough history to judge against: ``N >= min_baseline`` stories over at least half the
  baseline's length (a new database learns first).

A surge is told once. The rule counts as surging until its window calms down (fewer than
half of ``min_stories``, or under ``calm_ratio`` times the usual: both with room below the
bar a surge must pass, so a window hovering at it is one surge), and only then can a new surge be
told: a story that keeps growing for a day is one surge, not twenty-four.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import math

__all__ = ["Baseline", "SurgeSettings", "Verdict", "Window", "binomial_tail", "figures_text", "judge", "next_state"]

PRIOR = 0.5  # stories added to the rule's baseline count (and one to the total): no zero share


@dataclass(frozen=True)
class SurgeSettings:
    window: timedelta = timedelta(hours=6)
    baseline: timedelta = timedelta(days=14)
    min_stories: int = 5
    min_outlets: int = 3
    min_ratio: float = 3.0
    p_value: float = 1e-4
    calm_ratio: float = 1.5
    min_baseline: int = 50  # stories (of all rules) in the baseline before anything is judged


@dataclass(frozen=True)
class Window:
    """The recent window: the rule's new stories, their distinct outlets, and all new stories."""
    stories: int
    outlets: int
    total: int


@dataclass(frozen=True)
class Baseline:
    """The period before the window: the rule's new stories of all new stories, and its length."""
    stories: int
    total: int
    span: timedelta


@dataclass(frozen=True)
class Verdict:
    surging: bool
    calm: bool  # the window is back to about usual: a later surge may be told again
    expected: float  # the rule's stories the window would hold at its usual share
    usual: float  # the rule's stories in a window of this length, on average, in the baseline
    ratio: float  # stories over expected
    p_value: float
    reason: str  # why it is not a surge (empty when it is)

    def figures(self, window: Window, settings: SurgeSettings) -> str:
        """The sentence a surge alert gives, e.g. "23 stories from 17 outlets in the last 6 h; usual 0.4"."""
        return figures_text(window.stories, window.outlets, settings.window, self.usual)


def figures_text(stories: int, outlets: int, window: timedelta, usual: float) -> str:
    """"23 stories from 17 outlets in the last 6 h; usual 0.4": what a surge alert's title says."""
    return f"{stories} stories from {outlets} outlets in the last {_span(window)}; usual {usual:.1f}"


def judge(window: Window, baseline: Baseline, settings: SurgeSettings = SurgeSettings()) -> Verdict:
    """Whether the rule's window surges against its baseline (see the module's text)."""
    share = (baseline.stories + PRIOR) / (baseline.total + 1)
    expected = window.total * share
    ratio = window.stories / expected if expected > 0 else float("inf")
    p_value = binomial_tail(window.stories, window.total, share)
    usual = baseline.stories * (settings.window / baseline.span) if baseline.span > timedelta(0) else 0.0
    calm = window.stories < calm_stories(settings) or ratio < settings.calm_ratio

    def verdict(reason: str) -> Verdict:
        return Verdict(reason == "", calm, expected, usual, ratio, p_value, reason)

    if baseline.total < settings.min_baseline or baseline.span < settings.baseline / 2:
        return verdict(f"not enough history yet ({baseline.total} stories over {_span(baseline.span)})")
    if window.stories < settings.min_stories:
        return verdict(f"{window.stories} stories, fewer than {settings.min_stories}")
    if window.outlets < settings.min_outlets:
        return verdict(f"{window.outlets} outlets, fewer than {settings.min_outlets}")
    if ratio < settings.min_ratio:
        return verdict(f"{ratio:.1f} times the usual share, under {settings.min_ratio:g}")
    if p_value > settings.p_value:
        return verdict(f"p = {p_value:.2g}: within chance")
    return verdict("")


def binomial_tail(x: int, n: int, p: float) -> float:
    """P(Bin(n, p) >= x): the chance of at least `x` of `n` at share `p`.

    Summed in log space from `x` up, stopping once the terms past the mode no longer count
    (a few thousand terms at most a window); scipy's `bdtrc` gives the same to 1e-12, but
    importing scipy costs a third of a second at every start of `run --once`.
    """
    if x <= 0 or p >= 1:
        return 1.0
    if x > n or p <= 0:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    base = math.lgamma(n + 1)
    total, peak = 0.0, None
    for k in range(x, n + 1):
        log_term = base - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_p + (n - k) * log_q
        if peak is None or log_term > peak:
            total = total * math.exp(peak - log_term) + 1.0 if peak is not None else 1.0
            peak = log_term
        else:
            term = math.exp(log_term - peak)
            total += term
            if k > n * p and term < 1e-17 * total:
                break
    return min(1.0, math.exp(peak) * total)


def calm_stories(settings: SurgeSettings) -> int:
    """Under this many stories a window is calm: half of min_stories (at least 1), so that
    a window going 5, 4, 5, 4 stories is one surge, not three."""
    return max(1, math.ceil(settings.min_stories / 2))


def next_state(surging_before: bool, verdict: Verdict) -> tuple[bool, bool]:
    """(tell a surge now, surging after): a surge is told once, then not again until calm."""
    if surging_before:
        return False, not verdict.calm
    return verdict.surging, verdict.surging


def _span(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    if hours >= 48 and hours % 24 == 0:
        return f"{hours / 24:g} d"
    return f"{hours:g} h"

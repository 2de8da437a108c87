"""Surges on real feeds: false surges on their own background, and how fast an injected burst is told.

Replays the entries of every real feed of `corpus/feeds/real` by their own dates, hour by
hour, through `presswatch.crawler.rules.surge` with the shipped settings: at each hour, per
rule, the window (the last 6 h: the rule's entries, their outlets, all entries) is judged
against the baseline (the 14 days before the window). An entry is a story here and its
feed's site its outlet (the feeds are from many publishers; copies across them are rare).

Rules: the shipped mission rules (quiet on this material) and a few steady ones whose
subjects these feeds write about every week.

1. False surges per rule per 30 days on the real background, and on the same background
   with one day on which every feed publishes each entry twice (a global news day: the
   share test must not fire on it).
2. Injected bursts on a quiet rule: k stories (5, 10, 30) from k distinct outlets (the
   corpus's own sites, at most as many as exist), spread over 2 hours from a start hour,
   at 40 start hours; how many are told, and the delay from the burst's start to the
   hour it is told, in hours (buckets).

    .venv/bin/python bench/surge_eval.py [CORPUS] [--days 120]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import feedparser

from presswatch.config import load_config
from presswatch.config.schema import Rule
from presswatch.crawler.rules.match import RuleMatcher
from presswatch.crawler.rules.surge import Baseline, SurgeSettings, Window, judge, next_state

HOUR = timedelta(hours=1)
STEADY = {
    "security": "vulnerability OR exploit OR malware OR ransomware",
    "ai": '"artificial intelligence" OR LLM OR "machine learning" OR OpenAI',
    "python": "python",
    "google": "google",
    "release": 'release OR released OR "now available"',
    # broad ones: enough matches a day for chance alone to make a busy window
    "new": "new",
    "how": "how OR why",
    "data": "data OR database OR AI",
}
QUIET_RULE = "burst"  # injected stories carry its word and nothing else matches it
QUIET_QUERY = "zxqvsurge"


@dataclass(frozen=True)
class Entry:
    at: datetime
    outlet: str
    rules: frozenset[str]


def corpus_folder(argument: str | None) -> Path:
    base = Path(argument or os.environ.get("PRESSWATCH_CORPUS") or Path(__file__).resolve().parents[2] / "shared" / "corpus")
    return base / "feeds" / "real" if (base / "feeds" / "real").is_dir() else base


def load_entries(folder: Path, matcher: RuleMatcher) -> list[Entry]:
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".md")):
        parsed = feedparser.parse(path.read_bytes())
        site = urlsplit(parsed.feed.get("link") or "").hostname or path.stem
        for entry in parsed.entries:
            stamp = entry.get("published_parsed") or entry.get("updated_parsed")
            if not stamp:
                continue
            at = datetime(*stamp[:6], tzinfo=UTC)
            outlet = urlsplit(entry.get("link") or "").hostname or site
            rules = matcher.rule_ids(entry.get("title", ""), entry.get("summary", ""))
            entries.append(Entry(at, outlet, frozenset(rules)))
    return sorted(entries, key=lambda e: e.at)


class Replay:
    """Counts over sorted entries by time, for the windows of one rule."""

    def __init__(self, entries: list[Entry]):
        self.entries = entries
        self.times = [e.at for e in entries]

    def between(self, start: datetime, end: datetime) -> list[Entry]:
        return self.entries[bisect_right(self.times, start):bisect_right(self.times, end)]

    def surges(self, rule: str, hours: list[datetime], settings: SurgeSettings,
               counts_only: bool = False) -> list[datetime]:
        """The hours a surge of `rule` is told. `counts_only`: judged on the rule's count
        against its usual rate in time (the total the window "should" hold, from the
        baseline's rate), as a count test would, instead of on its share of what arrived."""
        told, surging = [], False
        for hour in hours:
            recent = self.between(hour - settings.window, hour)
            before = self.between(hour - settings.window - settings.baseline, hour - settings.window)
            mine = [e for e in recent if rule in e.rules]
            span = min(settings.baseline, hour - settings.window - self.times[0]) if self.times else timedelta(0)
            total = len(recent)
            if counts_only and span > timedelta(0):
                total = round(len(before) * (settings.window / span))
            window = Window(len(mine), len({e.outlet for e in mine}), max(total, len(mine)))
            baseline = Baseline(sum(rule in e.rules for e in before), len(before), span)
            tell, surging = next_state(surging, judge(window, baseline, settings))
            if tell:
                told.append(hour)
        return told


def doubled_day(entries: list[Entry], day: datetime) -> list[Entry]:
    """Every entry of `day` published twice (the second a minute later, by the same outlet)."""
    extra = [Entry(e.at + timedelta(minutes=1), e.outlet, e.rules) for e in entries
             if day <= e.at < day + timedelta(days=1)]
    return sorted(entries + extra, key=lambda e: e.at)


def with_burst(entries: list[Entry], start: datetime, size: int, outlets: list[str]) -> list[Entry]:
    spread = timedelta(hours=2) / size
    burst = [Entry(start + spread * i + timedelta(seconds=1), outlets[i % len(outlets)], frozenset({QUIET_RULE}))
             for i in range(size)]
    return sorted(entries + burst, key=lambda e: e.at)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?")
    parser.add_argument("--days", type=int, default=45, help="replay the last N days of the corpus")
    parser.add_argument("--starts", type=int, default=40, help="start hours of injected bursts")
    args = parser.parse_args()
    random.seed(7)
    settings = SurgeSettings()
    config = load_config(None, {})
    rules = list(config.enabled_rules) + [Rule(id=i, query=q) for i, q in STEADY.items()]
    rules.append(Rule(id=QUIET_RULE, query=QUIET_QUERY))
    matcher = RuleMatcher(rules)
    folder = corpus_folder(args.corpus)
    started = time.process_time()
    entries = load_entries(folder, matcher)
    if not entries:
        print(f"no dated entries under {folder}", file=sys.stderr)
        return 1
    end = entries[-1].at.replace(minute=0, second=0, microsecond=0) + HOUR
    first = end - timedelta(days=args.days)
    hours = [first + HOUR * i for i in range(int((end - first) / HOUR) + 1)]
    months = args.days / 30
    replay = Replay(entries)
    in_range = replay.between(first - settings.window, end)
    print(f"surges replayed on {folder} ({datetime.now(UTC):%Y-%m-%d %H:%M})")
    print(f"{len(entries)} dated entries from {len({e.outlet for e in entries})} outlets; replayed {first:%Y-%m-%d} "
          f"to {end:%Y-%m-%d} ({args.days} days, {len(hours)} hours): {len(in_range)} entries")
    print(f"settings: window {settings.window}, baseline {settings.baseline}, at least {settings.min_stories} stories "
          f"from {settings.min_outlets} outlets, {settings.min_ratio:g}x the usual share, p <= {settings.p_value:g}, "
          f"calm under {settings.calm_ratio:g}x, history >= {settings.min_baseline} stories")

    busiest = max(range(args.days), key=lambda d: len(replay.between(first + timedelta(days=d),
                                                                  first + timedelta(days=d + 1))))
    day = first + timedelta(days=busiest)
    doubled = Replay(doubled_day(entries, day))
    print(f"\n1. false surges on the real background (and with every entry of {day:%Y-%m-%d}, the busiest day, "
          f"published twice)")
    print(f"  {'rule':<26} {'matches':>7} {'surges':>6} {'per 30 d':>8} {'doubled day':>11} "
          f"{'counts only: surges':>19} {'doubled day':>11}")
    for rule in rules:
        if rule.id == QUIET_RULE:
            continue
        matches = sum(rule.id in e.rules for e in in_range)
        told = replay.surges(rule.id, hours, settings)
        told_doubled = doubled.surges(rule.id, hours, settings)
        extra = len([h for h in told_doubled if day <= h < day + timedelta(days=1, hours=6)]) - \
            len([h for h in told if day <= h < day + timedelta(days=1, hours=6)])
        by_count = replay.surges(rule.id, hours, settings, counts_only=True)
        by_count_doubled = doubled.surges(rule.id, hours, settings, counts_only=True)
        on_day = [h for h in by_count_doubled if day <= h < day + timedelta(days=1, hours=6)]
        extra_count = len(on_day) - len([h for h in by_count if day <= h < day + timedelta(days=1, hours=6)])
        print(f"  {rule.id:<26} {matches:>7} {len(told):>6} {len(told) / months:>8.2f} {extra:>+11d} "
              f"{len(by_count):>19} {extra_count:>+11d}")

    outlets = sorted({e.outlet for e in in_range})
    random.shuffle(outlets)
    starts = sorted(random.sample(hours[len(hours) // 4:-6], args.starts))
    print(f"\n2. bursts injected on a quiet rule (no match of its own), {args.starts} start hours, spread over 2 h")
    print(f"  {'stories':>7} {'outlets':>7} {'told':>9} {'delay h: median':>15} {'max':>4} {'within 1 h':>10} "
          f"{'false, before':>13}")
    for size in (5, 10, 30):
        delays, early = [], 0
        for start in starts:
            burst = Replay(with_burst(entries, start, size, outlets[:size]))
            told = burst.surges(QUIET_RULE, [h for h in hours if start - timedelta(days=1) <= h <= start + timedelta(hours=8)],
                                settings)
            early += sum(h <= start for h in told)
            after = [h for h in told if h > start]
            if after:
                delays.append((after[0] - start) / HOUR)
        delays.sort()
        median = f"{delays[len(delays) // 2]:.0f}" if delays else "-"
        biggest = f"{delays[-1]:.0f}" if delays else "-"
        within = sum(d <= 1 for d in delays)
        print(f"  {size:>7} {min(size, len(outlets)):>7} {len(delays):>4} / {len(starts):<2} {median:>15} {biggest:>4} "
              f"{within:>6} / {len(starts):<2} {early:>13}")
    print(f"\nCPU {time.process_time() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import feedparser

from presswatch.config import load_config
from presswatch.config.schema import Rule, Surges
from presswatch.crawler.rules.match import RuleMatcher
from presswatch.crawler.rules.surge import Baseline, SurgeSettings, Window, judge, next_state
from presswatch.crawler.store.database import Store
from presswatch.crawler.store.records import NewArticle, NewMatch
from presswatch.crawler.stories.surges import judge_surges, rule_matching

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
    parser.add_argument("--wired-starts", type=int, default=10,
                        help="of those, start hours replayed through the store (3.)")
    parser.add_argument("--pure-only", action="store_true", help="skip 3., the replay through the store")
    parser.add_argument("--scale", type=int, default=0, metavar="STORIES_A_DAY",
                        help="4.: the cost of one judging turn on a store of 15 days of this many stories a day")
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
        median, biggest, within = delay_figures(delays)
        print(f"  {size:>7} {min(size, len(outlets)):>7} {len(delays):>4} / {len(starts):<2} {median:>15} {biggest:>4} "
              f"{within:>6} / {len(starts):<2} {early:>13}")
    if not args.pure_only:
        wired(entries, rules, hours, starts[::max(1, len(starts) // args.wired_starts)], outlets, day)
    if args.scale:
        at_scale(args.scale, [r for r in rules if r.id != QUIET_RULE])
    print(f"\nCPU {time.process_time() - started:.1f} s")
    return 0


# --- 3. the wired path: the store's counting, judge_surges, surges and their outbox rows ---------


def delay_figures(delays: list[float]) -> tuple[str, str, int]:
    """The median and largest delay in hours ("-" with none) and how many came within an hour."""
    delays = sorted(delays)
    median = f"{delays[len(delays) // 2]:.0f}" if delays else "-"
    biggest = f"{delays[-1]:.0f}" if delays else "-"
    return median, biggest, sum(d <= 1 for d in delays)


def write_entries(store: Store, entries: list[Entry], first: int = 0) -> None:
    """Each entry a story of one article at its own date, with its rules' matches (no channel:
    nothing queued but surges), as ingest writes them; one transaction."""
    with store.transaction():
        for number, entry in enumerate(entries, first):
            url = f"https://{entry.outlet}/entry/{number}"
            article = NewArticle(source_id="corpus", url=url, url_key=url, canonical_url=url, guid=None,
                                 title=f"entry {number}", text="", published_at=None, date_source=None,
                                 language=None, authors=(), content_hash=None, extracted_from="feed",
                                 outlet=entry.outlet)
            article_id, story_id = store.add_article(article, None, at=entry.at)
            store.add_matches(story_id, article_id, [NewMatch(r, (), "", ()) for r in sorted(entry.rules)],
                              at=entry.at)


def wired_store(folder: Path, entries: list[Entry], rules: list[Rule]) -> Store:
    """The entries in a store, with the rules known since the first entry (as a daemon
    running all along would have them)."""
    store = Store(str(folder / "surges.db"))
    store.sync_sources([("corpus", "feed", "https://corpus.invalid/", "corpus")])
    store.note_surge_rules({rule.id: rule_matching(rule) for rule in rules}, at=entries[0].at)
    write_entries(store, entries)
    return store


def told_hours(store: Store, rules: list[Rule], hours: list[datetime], section: Surges) -> dict[str, list[datetime]]:
    """Every rule judged at each hour by `judge_surges`: the hours a surge was told (opened)."""
    told = defaultdict(list)
    for hour in hours:
        for outcome in judge_surges(store, rules, section, hour):
            if outcome.told is not None:
                told[outcome.rule_id].append(hour)
    return told


def wired(entries: list[Entry], rules: list[Rule], hours: list[datetime], starts: list[datetime],
          outlets: list[str], day: datetime) -> None:
    section = Surges()
    logging.getLogger("presswatch").setLevel(logging.ERROR)  # each surge told is logged: the table says it
    months = (hours[-1] - hours[0]) / timedelta(days=30)
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        store = wired_store(Path(folder), entries, rules)
        written = time.perf_counter() - began
        began = time.perf_counter()
        told = told_hours(store, [r for r in rules if r.id != QUIET_RULE], hours, section)
        judged = time.perf_counter() - began
        rows = store.counts().get("outbox surge", 0)
        store.close()
        doubled_folder = Path(folder) / "doubled"
        doubled_folder.mkdir()
        store = wired_store(doubled_folder, doubled_day(entries, day), rules)
        told_doubled = told_hours(store, [r for r in rules if r.id != QUIET_RULE], hours, section)
        store.close()
        print(f"\n3. the wired path: the entries as stories and matches in a SQLite store ({written:.1f} s), every "
              f"rule judged by judge_surges at each of the {len(hours)} hours ({judged:.1f} s, "
              f"{1000 * judged / len(hours) / max(1, len(rules) - 1):.2f} ms a rule)")
        print(f"  {'rule':<26} {'surges':>6} {'per 30 d':>8} {'doubled day':>11}")
        on_day = lambda hours_told: len([h for h in hours_told if day <= h < day + timedelta(days=1, hours=6)])  # noqa: E731
        for rule in rules:
            if rule.id != QUIET_RULE:
                extra = on_day(told_doubled[rule.id]) - on_day(told[rule.id])
                print(f"  {rule.id:<26} {len(told[rule.id]):>6} {len(told[rule.id]) / months:>8.2f} {extra:>+11d}")
        print(f"  surge rows queued in the outbox: {rows}")
        quiet = [r for r in rules if r.id == QUIET_RULE]
        print(f"  bursts on the quiet rule, {len(starts)} start hours, through the store and judge_surges")
        print(f"  {'stories':>7} {'told':>9} {'delay h: median':>15} {'max':>4} {'within 1 h':>10} {'false, before':>13}")
        for size in (5, 10, 30):
            delays, early = [], 0
            for start in starts:
                copy = Path(folder) / f"burst-{size}.db"
                shutil.copy(Path(folder) / "surges.db", copy)
                store = Store(str(copy))
                burst = [e for e in with_burst([], start, size, outlets[:size])]
                write_entries(store, burst, first=len(entries))
                window = [h for h in hours if start - timedelta(days=1) <= h <= start + timedelta(hours=8)]
                at = told_hours(store, quiet, window, section)[QUIET_RULE]
                store.close()
                early += sum(h <= start for h in at)
                after = [h for h in at if h > start]
                if after:
                    delays.append((after[0] - start) / HOUR)
            median, biggest, within = delay_figures(delays)
            print(f"  {size:>7} {len(delays):>4} / {len(starts):<2} {median:>15} {biggest:>4} "
                  f"{within:>6} / {len(starts):<2} {early:>13}")


# --- 4. the cost of one judging turn at scale --------------------------------------------------


def at_scale(per_day: int, rules: list[Rule]) -> None:
    """15 days of `per_day` made-up stories (200 outlets; each rule matching 1 in 100), then
    one judging turn of every rule timed: what the daemon pays every surges.every."""
    logging.getLogger("presswatch").setLevel(logging.ERROR)
    end = datetime(2031, 1, 16, tzinfo=UTC)
    step = timedelta(days=1) / per_day
    count = 15 * per_day
    with tempfile.TemporaryDirectory() as folder:
        store = Store(str(Path(folder) / "scale.db"))
        store.sync_sources([("corpus", "feed", "https://corpus.invalid/", "corpus")])
        store.note_surge_rules({rule.id: rule_matching(rule) for rule in rules}, at=end - timedelta(days=16))
        began = time.perf_counter()
        batch = 5000
        for first in range(0, count, batch):
            made = [Entry(end - step * (count - n), f"outlet{n % 200}.example",
                          frozenset(r.id for i, r in enumerate(rules) if (n + i * 7) % 100 == 0))
                    for n in range(first, min(count, first + batch))]
            write_entries(store, made, first)
        written = time.perf_counter() - began
        turns = []
        for minutes in (0, 10, 20):
            began = time.perf_counter()
            judge_surges(store, rules, Surges(), end + timedelta(minutes=minutes))
            turns.append(time.perf_counter() - began)
        size = os.path.getsize(Path(folder) / "scale.db") / 1e6
        store.close()
    print(f"\n4. one judging turn at scale: {count} stories over 15 days ({per_day} a day, 200 outlets), "
          f"{len(rules)} rules each matching 1 in 100; written in {written:.0f} s, {size:.0f} MB")
    print(f"  a turn of judge_surges: {', '.join(f'{1000 * t:.0f}' for t in turns)} ms "
          f"({1000 * min(turns) / len(rules):.1f} ms a rule at best)")


if __name__ == "__main__":
    sys.exit(main())

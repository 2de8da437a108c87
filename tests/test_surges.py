"""Surges wired end to end: counted by the store, judged, opened once with its outbox rows,
delivered through Apprise to the loopback sink, paced like any alert, calmed.

Background coverage is written with the store's own writes at past times (an article, its
story and event, the rule's match: what ingest writes); a burst comes through the real
ingest path or the same writes. Judging runs `judge_surges` on the real store; delivery
is the real `Delivery`. The config's baseline is 2 days so the background stays small:

- 200 new stories a day from 8 outlets (50 in a 6-hour window);
- `hrw-report` matches one story in 50 (about 1 a window): a quiet rule;
- `market` matches one in 2 (about 25 a window, from every outlet): a busy, steady rule,
  which judges at min_ratio 1.8 so that a count test would fire on a doubled day.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest

from conftest import rss_feed
from test_monitor import Daemon, wait_for

from presswatch.config import Channel, Config, ConfigError, Rule, load_config
from presswatch.config.schema import Surges
from presswatch.crawler.stories.ingest import Candidate, Ingest
from presswatch.crawler.stories.surges import judge_surges, rule_matching, rule_settings
from presswatch.crawler.store.database import Store
from presswatch.crawler.store.records import NewArticle, NewMatch, SurgeFigures
from presswatch.scheduler.delivery.deliver import Delivery, build_channels
from presswatch.scheduler.delivery.message import Style, render

NOW = datetime(2031, 3, 10, 12, 0, tzinfo=UTC)
OUTLETS = [f"outlet{i}.example" for i in range(8)]
PER_DAY = 200
QUIET_EVERY = 50  # one background story in this many matches hrw-report
SURGES = Surges(baseline=timedelta(days=2))


def rules(*channels: str, **quiet_rule) -> tuple[Rule, ...]:
    return (Rule(id="hrw-report", query='"Human Rights Watch"', channels=channels, **quiet_rule),
            Rule(id="market", query="market", surge={"min_ratio": 1.8}))


def make_config(sink=None, surges: Surges = SURGES, **quiet_rule) -> Config:
    channels = (Channel(id="analysts", url=sink.apprise_url), Channel(id="desk", url=sink.apprise_url)) if sink else ()
    return Config(rules=rules(*(c.id for c in channels), **quiet_rule), channels=channels, surges=surges)


@pytest.fixture
def store(tmp_path):
    store = Store(str(tmp_path / "t.db"))
    store.sync_sources([(f"src{i}", "feed", f"https://{o}/feed", o) for i, o in enumerate(OUTLETS)])
    yield store
    store.close()


def write_story(store: Store, at: datetime, number: int, outlet: int, title: str, rule_ids: tuple[str, ...]) -> None:
    """A new story of one article, and the rules' matches, as ingest writes them at `at`."""
    url = f"https://{OUTLETS[outlet]}/story/{number}"
    article = NewArticle(source_id=f"src{outlet}", url=url, url_key=url, canonical_url=url, guid=None,
                         title=title, text=title, published_at=None, date_source=None, language="en",
                         authors=(), content_hash=f"h{number}", extracted_from="feed", outlet=OUTLETS[outlet])
    article_id, story_id = store.add_article(article, None, at=at)
    store.add_matches(story_id, article_id, [NewMatch(rule_id, (), "", ()) for rule_id in rule_ids], at=at)


def background(store: Store, end: datetime, days: float = 3, per_day: int = PER_DAY, first: int = 0,
               start: datetime | None = None) -> int:
    """`per_day` stories a day over `days` up to `end`, round the outlets; returns the next number."""
    start = start or end - timedelta(days=days)
    step = timedelta(days=1) / per_day
    count = int((end - start) / step)
    with store.transaction():
        for i in range(count):
            number = first + i
            rule_ids = ("market",) if number % 2 else ()
            if number % QUIET_EVERY == 0:
                rule_ids += ("hrw-report",)
            write_story(store, start + step * (i + 1), number, number % len(OUTLETS), f"Background {number}",
                        rule_ids)
    return first + count


def burst(store: Store, end: datetime, size: int, outlets: int, first: int = 100_000, rule: str = "hrw-report") -> None:
    """`size` stories of `rule` from `outlets` outlets over the 2 hours before `end`."""
    with store.transaction():
        for i in range(size):
            at = end - timedelta(hours=2) + timedelta(hours=2) * (i + 1) / (size + 1)
            write_story(store, at, first + i, i % outlets, f"Human Rights Watch report, reaction {i}", (rule,))


def remember(store: Store, rules, at: datetime) -> None:
    """The rules as the daemon has known them since `at` (its first judging then)."""
    store.note_surge_rules({rule.id: rule_matching(rule) for rule in rules}, at=at)


def told(outcomes) -> dict[str, int]:
    return {o.rule_id: o.told for o in outcomes if o.told is not None}


def surge_messages(sink) -> list[dict]:
    return [m for m in sink.messages if m["title"].startswith("[presswatch] surge:")]


def deliver(delivery: Delivery) -> int:
    return asyncio.run(delivery.deliver_due())


# --- a burst through the ingest path, delivered once ------------------------------------------

BURST = [  # eight write-ups of one report by six outlets: different words, one subject
    ("nknews.org", "North Korean officials abuse women with impunity, Human Rights Watch says",
     "Women in North Korea are routinely subjected to sexual abuse by police officers, prison guards and "
     "market inspectors, Human Rights Watch said in a report published on Thursday."),
    ("yna.co.kr", "Seoul urges UN debate after Human Rights Watch report",
     "South Korea's foreign ministry asked for a debate at the United Nations on the findings that Human "
     "Rights Watch published this week about officials abusing women."),
    ("kcna.kp", "KCNA calls Human Rights Watch testimony a smear",
     "The state news agency in Pyongyang dismissed the interviews gathered by Human Rights Watch as "
     "fabrications paid for by hostile forces, in a commentary read on radio."),
    ("theguardian.com", "Defectors in London recount market inspections",
     "Two women now living in New Malden told reporters how inspectors demanded money and worse, echoing "
     "what Human Rights Watch documented across a hundred interviews."),
    ("japantimes.co.jp", "Japanese lawmakers raise abductions alongside abuse findings",
     "A cross-party group in Tokyo tied the long campaign over abducted citizens to the report by Human "
     "Rights Watch, calling for sanctions reviews before the spring session."),
    ("rodong.rep.kp", "Rodong Sinmun editorial attacks rights groups",
     "An unsigned editorial on the second page of the party daily named Human Rights Watch among "
     "organisations it accused of meddling, without addressing any single account."),
    ("nknews.org", "Border guards named in testimony gathered by Human Rights Watch",
     "Several of the hundred and six people interviewed described guards at the Chinese border who "
     "detained traders overnight; Human Rights Watch withheld their names for safety."),
    ("yna.co.kr", "Unification ministry reviews support for women who fled",
     "Officials in Seoul said counselling budgets for resettled women would be reviewed after Human "
     "Rights Watch recommended trauma care in its closing chapter."),
]


def ingest_burst(store: Store, config: Config) -> None:
    ingest = Ingest.from_config(store, config.rules)
    for number, (site, title, text) in enumerate(BURST):
        source = f"src{number % len(OUTLETS)}"
        result = ingest.ingest(Candidate(source_id=source, url=f"https://www.{site}/2031/{number}/report",
                                         title=title, text=text, extracted_from="feed"))
        assert result.story_id is not None


def test_a_burst_is_told_once_per_channel_and_delivered_once(store, sink):
    config = make_config(sink)
    now = datetime.now(UTC).replace(microsecond=0)
    background(store, now - timedelta(hours=2))
    ingest_burst(store, config)  # the real path: stored now, matched, event alerts queued

    now = datetime.now(UTC)
    outcomes = judge_surges(store, config.rules, config.surges, now)
    assert set(told(outcomes)) == {"hrw-report"}  # the busy, steady rule: no surge
    [surge] = store.surges()
    assert (surge["rule_id"], surge["stories"], surge["outlets"], surge["calmed_at"]) == ("hrw-report", 8, 6, None)
    assert surge["event_id"] is not None and surge["event_title"]
    rows = [row for row in store.outbox() if row.kind == "surge"]
    assert sorted(row.channel_id for row in rows) == ["analysts", "desk"]

    delivery = Delivery.from_config(store, config)
    while deliver(delivery):
        pass
    messages = surge_messages(sink)
    assert len(messages) == 2  # one per channel
    title = messages[0]["title"]
    assert re.fullmatch(r"\[presswatch\] surge: hrw-report: 8 stories from 6 outlets in the last 6 h; "
                        r"usual \d+\.\d", title), title
    body = messages[0]["message"]
    assert surge["event_title"] in body and surge["event_url"] in body
    assert f"presswatch event {surge['event_id']}" in body and "presswatch stories --since 6h" in body

    # Judged again (the daemon's next turn) and delivered again: nothing more.
    again = judge_surges(store, config.rules, config.surges, now + timedelta(minutes=10))
    assert told(again) == {} and len(store.surges()) == 1
    assert deliver(delivery) == 0 and len(surge_messages(sink)) == 2
    assert [row.state for row in store.outbox() if row.kind == "surge"] == ["sent", "sent"]
    assert sum(day["surges"] for day in store.stats_by_day()) == 1  # presswatch stats counts it


def test_the_outbox_keeps_one_surge_row_per_channel_even_if_asked_twice(store):
    background(store, NOW)
    burst(store, NOW, 8, 6)
    config = make_config()
    [outcome] = [o for o in judge_surges(store, config.rules, config.surges, NOW) if o.told]
    figures = SurgeFigures("hrw-report", timedelta(hours=6), 8, 6, 58, 0.3, 1.2, 1e-7)
    assert store.record_surge(figures, None, ("console",), at=NOW) is None  # one open surge per rule
    assert [(r.kind, r.channel_id, r.surge_id) for r in store.outbox()] == [("surge", "console", outcome.told)]


def test_open_surges_are_found_however_many_newer_ones_calmed(store):
    """`presswatch surges --open` asks the store for open surges before the limit, not after."""
    figures = SurgeFigures("hrw-report", timedelta(hours=6), 8, 6, 58, 0.3, 1.2, 1e-7)
    opened = store.record_surge(figures, None, (), at=NOW - timedelta(days=2))
    for hours in range(3):  # newer surges of another rule, each calmed
        other = store.record_surge(replace(figures, rule_id="state-media-response"), None, (),
                                   at=NOW - timedelta(hours=10 - hours))
        store.calm_surge(other, at=NOW - timedelta(hours=9 - hours))
    assert [s["id"] for s in store.surges(limit=1, only_open=True)] == [opened]
    assert [s["id"] for s in store.surges(limit=1)] != [opened]  # the newest is a calmed one
    assert store.surges("state-media-response", only_open=True) == []


# --- what is not a surge ----------------------------------------------------------------------


def test_a_steady_stream_is_never_a_surge(store):
    background(store, NOW)
    config = make_config()
    hours = [NOW - timedelta(hours=h) for h in range(24, -1, -1)]
    verdicts = []
    for hour in hours:
        outcomes = judge_surges(store, config.rules, config.surges, hour)
        assert told(outcomes) == {}, hour
        verdicts += [o.verdict for o in outcomes if o.rule_id == "market"]
    # The busy rule had the evidence every hour; only its share, as usual, kept it quiet.
    assert all("usual share" in v.reason for v in verdicts)
    assert store.surges() == [] and store.outbox() == []


def test_a_day_when_every_source_doubles_is_not_a_surge(store):
    """The last 6 hours bring twice as many stories from every outlet: the busy rule's count
    doubles with everything else (a count test against its usual rate would fire)."""
    first = background(store, NOW - timedelta(hours=6))
    background(store, NOW, per_day=2 * PER_DAY, first=first, start=NOW - timedelta(hours=6))
    config = make_config()
    outcomes = judge_surges(store, config.rules, config.surges, NOW)
    assert told(outcomes) == {}
    [market] = [o.verdict for o in outcomes if o.rule_id == "market"]
    assert market.usual * 1.8 < 50 and market.ratio < 1.2  # twice its usual count, its usual share
    assert store.surges() == []


# --- calm, and again --------------------------------------------------------------------------


def test_a_second_surge_is_told_only_after_the_first_has_calmed(store):
    first = background(store, NOW - timedelta(hours=30), days=3)
    burst(store, NOW - timedelta(hours=30), 8, 6)
    background(store, NOW, first=first, start=NOW - timedelta(hours=30))
    burst(store, NOW, 10, 7, first=200_000)
    config = make_config()

    def judge(at: datetime) -> dict[str, int]:
        return told(judge_surges(store, config.rules, config.surges, at))

    first_surge = judge(NOW - timedelta(hours=30))["hrw-report"]
    assert store.open_surges() == {"hrw-report": 1}  # /metrics: presswatch_surges_open
    assert judge(NOW - timedelta(hours=29)) == {}  # the same burst, still in the window: no repeat
    assert store.open_surge("hrw-report")["id"] == first_surge
    assert judge(NOW - timedelta(hours=20)) == {}  # the burst left the window: calm
    assert store.open_surge("hrw-report") is None
    assert store.open_surges() == {}
    second = judge(NOW)["hrw-report"]
    assert second != first_surge
    assert [(s["id"], s["calmed_at"] is None) for s in store.surges()] == [(second, True), (first_surge, False)]
    assert len([r for r in store.outbox() if r.kind == "surge"]) == 2


# --- per rule: off, overrides -----------------------------------------------------------------


def test_a_rule_with_surge_off_is_not_judged_and_overrides_apply(tmp_path, store):
    path = tmp_path / "c.yaml"
    path.write_text("""
surges: {baseline: 2d}
rules:
  - {id: hrw-report, query: '"Human Rights Watch"', surge: off}
  - {id: hrw-copy, query: '"Human Rights Watch"', surge: {min_stories: 9, window: 3h}}
  - {id: hrw-twin, query: '"Human Rights Watch"'}
""", encoding="utf-8")
    config = load_config(path, {})
    assert rule_settings(config.surges, config.rules[0]) is None
    assert rule_settings(config.surges, config.rules[1]).min_stories == 9
    assert rule_settings(config.surges, config.rules[1]).window == timedelta(hours=3)
    remember(store, config.rules, NOW - timedelta(days=3))  # rules as old as the background
    background(store, NOW)
    for number, rule in enumerate(("hrw-report", "hrw-copy", "hrw-twin")):
        burst(store, NOW, 8, 6, first=100_000 + 100 * number, rule=rule)
    outcomes = judge_surges(store, config.rules, config.surges, NOW)
    assert told(outcomes).keys() == {"hrw-twin"}
    [copy] = [o.verdict for o in outcomes if o.rule_id == "hrw-copy"]
    assert copy.reason == "8 stories, fewer than 9"
    assert store.open_surges() == {"hrw-twin": 1}
    # Turned off (for every rule here) while open: closed, as nothing would ever calm it.
    off = config.model_copy(update={"surges": Surges(enabled=False, baseline=timedelta(days=2))})
    assert judge_surges(store, off.rules, off.surges, NOW + timedelta(minutes=10)) == []
    assert store.open_surges() == {} and store.surges()[0]["calmed_at"] is not None


# --- pacing: quiet hours and digests hold a surge alert ---------------------------------------


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_quiet_hours_hold_a_surge_alert_until_they_end(store, sink):
    config = make_config(sink, quiet_hours="11:00-13:30", timezone="UTC")
    background(store, NOW)
    burst(store, NOW, 8, 6)
    assert told(judge_surges(store, config.rules, config.surges, NOW)).keys() == {"hrw-report"}
    clock = Clock(NOW + timedelta(minutes=1))
    delivery = Delivery(store, build_channels(config.channels), config.delivery,
                        rules={r.id: r for r in config.rules}, clock=clock)
    assert deliver(delivery) == 0
    assert sink.messages == []
    assert {(r.state, r.pace) for r in store.outbox() if r.kind == "surge"} == {("pending", "quiet")}
    clock.now = datetime.combine(NOW.date(), time(13, 30), tzinfo=UTC)
    assert deliver(delivery) == 2
    assert len(surge_messages(sink)) == 2


def test_a_surge_alert_joins_its_rules_digest(store, sink):
    config = make_config(sink, digest={"every": "1h"})
    background(store, NOW)
    burst(store, NOW, 8, 6)
    judge_surges(store, config.rules, config.surges, NOW)
    clock = Clock(NOW + timedelta(minutes=5))
    delivery = Delivery(store, build_channels(config.channels), config.delivery,
                        rules={r.id: r for r in config.rules}, clock=clock)
    assert deliver(delivery) == 0 and sink.messages == []
    [held] = {r.pace for r in store.outbox() if r.kind == "surge"}
    assert held == "digest"
    clock.now = NOW + timedelta(hours=1)
    assert deliver(delivery) == 2
    # The window also holds the one background story of the rule (9 from 7 outlets); its usual
    # is the baseline's 8 stories over 2 days, per 6 hours.
    assert {m["title"] for m in sink.messages} == {"[presswatch] surge: hrw-report: 9 stories from 7 outlets "
                                                   "in the last 6 h; usual 1.0"}
    rows = [r for r in store.outbox() if r.kind == "surge"]
    digest = render(rows[:1] * 2)  # how a digest of it reads
    assert "surge: 9 stories from 7 outlets in the last 6 h" in digest.body and "rule hrw-report" in digest.body


# --- the daemon: run --once judges after its crawls, before it delivers ----------------------


def test_run_once_tells_a_surge_its_crawl_brought_and_presswatch_surges_lists_it(tmp_path, web, sink,
                                                                              write_config, run_presswatch):
    store = Store(str(tmp_path / "presswatch.db"))
    store.sync_sources([(f"src{i}", "feed", f"https://{o}/feed", o) for i, o in enumerate(OUTLETS)])
    background(store, datetime.now(UTC) - timedelta(hours=2))  # three days of history, as a daemon keeps
    store.close()
    feed = web.add("/wire.xml", rss_feed([{"title": title, "link": f"https://www.{site}/2031/{n}/report",
                                           "description": text} for n, (site, title, text) in enumerate(BURST)]),
                   content_type="application/rss+xml")
    config = write_config({
        "sources": [{"id": "wire", "kind": "feed", "url": feed}],
        "rules": [{"id": "hrw-report", "query": '"Human Rights Watch"', "channels": ["analysts"]}],
        "channels": [{"id": "analysts", "url": sink.apprise_url}],
        "events": {"enabled": False},
        "surges": {"baseline": "2d"},
    })
    result = run_presswatch("run", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr
    [message] = surge_messages(sink)  # delivered in the same run as the stories' alerts
    assert message["title"].startswith("[presswatch] surge: hrw-report: 8 stories from 6 outlets in the last 6 h")
    assert len(sink.messages) == 9

    again = run_presswatch("run", "--once", "--config", str(config))
    assert again.returncode == 0, again.stderr
    assert len(surge_messages(sink)) == 1 and len(sink.messages) == 9

    listed = run_presswatch("surges", "--config", str(config), "--open")
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.splitlines()
    assert "hrw-report" in line and "-> open" in line and "8 stories from 6 outlets in the last 6 h" in line


def test_the_daemon_judges_surges_on_its_schedule(tmp_path, web, sink, write_config):
    """The long-running daemon's `surges` job (APScheduler runs a plain function in a thread,
    where the store may not be used: the job is a coroutine on the loop)."""

    store = Store(str(tmp_path / "presswatch.db"))
    store.sync_sources([(f"src{i}", "feed", f"https://{o}/feed", o) for i, o in enumerate(OUTLETS)])
    background(store, datetime.now(UTC) - timedelta(hours=2))
    store.close()
    feed = web.add("/wire.xml", rss_feed([{"title": title, "link": f"https://www.{site}/2031/{n}/report",
                                           "description": text} for n, (site, title, text) in enumerate(BURST)]),
                   content_type="application/rss+xml")
    config = write_config({
        "delivery": {"every": "1s"},
        "sources": [{"id": "wire", "kind": "feed", "url": feed, "every": "1h"}],
        "rules": [{"id": "hrw-report", "query": '"Human Rights Watch"', "channels": ["analysts"]}],
        "channels": [{"id": "analysts", "url": sink.apprise_url}],
        "events": {"enabled": False},
        "surges": {"baseline": "2d", "every": "1s"},
    })
    daemon = Daemon(config, tmp_path)
    try:
        told = wait_for(lambda: surge_messages(sink))
        assert told, f"no surge was told:\n{daemon.log}"
        assert "surge=1 8 stories from 6 outlets in the last 6 h" in daemon.log
    finally:
        assert daemon.stop() == 0, daemon.log
    assert "judging surges failed" not in daemon.log


# --- config: clear errors ---------------------------------------------------------------------


def test_bad_surge_settings_are_reported_with_their_paths(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("""
surges: {window: 20d, min_ratio: 0.5, p_value: 2, calm_ratio: true, baseline: 14d}
rules:
  - {id: a, query: x, surge: maybe}
  - {id: b, query: x, surge: {window: 30d, min_stories: 0, every: 1m}}
""", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert caught.value.problems == [
        "surges.min_ratio: 0.5 is too small (it must be more than 1)",
        "surges.p_value: 2 is too large (it must be less than 1)",
        "surges.calm_ratio: true is not a number",
        'rules[0] (a).surge: "maybe" is not off, on or keys overriding surges: (window, min_stories, '
        "min_outlets, min_ratio)",
        "rules[1] (b).surge.min_stories: 0 is too small (the minimum is 1)",
        "rules[1] (b).surge.every: unknown key (known keys: enabled, window, min_stories, min_outlets, min_ratio)",
        'rules[1] (b).surge.window: "30d" is not shorter than surges.baseline (14d)',
    ]
    path.write_text("surges: {window: 14d}\nrules: [{id: c, query: x, surge: {min_ratio: 1.2}}]\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert caught.value.problems == [
        "surges: window must be shorter than baseline (the usual share is taken before it)",
        "rules[0] (c).surge.min_ratio: 1.2 is below surges.calm_ratio (1.5): a surge would be calm as it is told",
    ]


def test_a_surge_message_escapes_the_headline_for_the_channels_format(store):
    background(store, NOW - timedelta(hours=2))  # none of the rule's own in the window
    with store.transaction():
        for i in range(8):
            write_story(store, NOW - timedelta(minutes=10 * (8 - i)), 300_000 + i, i % 6,
                        "<b>Human Rights Watch</b> & *the* report", ("hrw-report",))
    config = make_config()
    judge_surges(store, config.rules, config.surges, NOW)
    [row] = [r for r in store.outbox() if r.kind == "surge"]
    html = render([row], Style(format="html"))
    assert "&lt;b&gt;Human Rights Watch&lt;/b&gt; &amp; *the* report" in html.body
    assert "<b>Human Rights Watch</b>" not in html.body
    assert html.title == "[presswatch] surge: hrw-report: 8 stories from 6 outlets in the last 6 h; usual 1.0"
    text = render([row])
    assert "Most of it: <b>Human Rights Watch</b> & *the* report" in text.body
    assert "1 story from 1 outlet so far" in text.body


# --- a new or changed rule learns first --------------------------------------------------------


def test_a_rule_added_or_changed_learns_its_usual_share_before_it_is_judged(store):
    """A rule added to the config while its subject is in the news would otherwise have no
    matches in its baseline, and its first hours look like a surge."""
    background(store, NOW)
    burst(store, NOW, 8, 6, rule="added")
    config = make_config()
    added = (*config.rules, Rule(id="added", query='"Human Rights Watch"'))
    outcomes = judge_surges(store, added, config.surges, NOW)
    assert told(outcomes) == {}
    [verdict] = [o.verdict for o in outcomes if o.rule_id == "added"]
    assert verdict.reason.startswith("not enough history")
    # (Configured from the start, the same rule and burst surge: hrw-twin in
    # test_a_rule_with_surge_off_is_not_judged_and_overrides_apply.)

    # hrw-report's query changes: its stored matches no longer tell its share.
    changed = (Rule(id="hrw-report", query='"Human Rights Watch" OR HRW'), *added[1:])
    later = NOW + timedelta(minutes=10)
    burst(store, later, 8, 6, first=400_000)
    outcomes = judge_surges(store, changed, config.surges, later)
    assert "hrw-report" not in told(outcomes)
    [verdict] = [o.verdict for o in outcomes if o.rule_id == "hrw-report"]
    assert verdict.reason.startswith("not enough history")

    # The next turn, nothing added or changed: the rules' history is read without taking the
    # write lock (another writer holds it here; waiting for it would fail after 0.2 s).
    matching = {rule.id: rule_matching(rule) for rule in changed}
    sinces = store.note_surge_rules(matching, at=later)
    writer = sqlite3.connect(store.path)
    store.db.execute("PRAGMA busy_timeout=200")
    try:
        writer.execute("BEGIN IMMEDIATE")
        assert store.note_surge_rules(matching, at=later + timedelta(hours=1)) == sinces
    finally:
        writer.rollback()
        writer.close()

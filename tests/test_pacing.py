"""Routing and pacing: digests, quiet hours in a time zone, rate limits spilling into a digest,
and the config keys that set them.

The pure functions of `scheduler.pacing` are tested with fixed times; the rest sends
through Apprise to the loopback sink, with the delivery's clock set to fixed times in the
future (rows queued now are due then).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from test_deliver import RULE_ID, RULE_QUERY, SOURCE, STORIES, outbox_row, queue_stories, sink_channel

from presswatch.config import Channel, Config, ConfigError, Rule, load_config
from presswatch.config.alerts import Digest, QuietSpan, tag_problems
from presswatch.crawler.store.records import HealthChange, SourceRun
from presswatch.crawler.store.database import Store
from presswatch.scheduler.delivery.deliver import Delivery
from presswatch.scheduler.delivery.pacing import next_digest, plan, quiet_end, rate_free_at

SEOUL = ZoneInfo("Asia/Seoul")
QUIET = QuietSpan(time(22), time(7))


@pytest.fixture
def store(tmp_path):
    store = Store(str(tmp_path / "t.db"))
    yield store
    store.close()


def at(text: str, tz=UTC) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz).astimezone(UTC)


class Clock:
    """The delivery's time, set by the test."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def run(delivery: Delivery) -> int:
    return asyncio.run(delivery.deliver_due())


# --- pure functions -------------------------------------------------------------------------


@pytest.mark.parametrize("local, end", [
    ("2031-01-15 23:30", "2031-01-16 07:00"),
    ("2031-01-16 00:10", "2031-01-16 07:00"),
    ("2031-01-16 06:59", "2031-01-16 07:00"),
    ("2031-01-16 07:00", None),
    ("2031-01-15 21:59", None),
    ("2031-01-15 12:00", None),
])
def test_quiet_hours_past_midnight_end_the_next_morning(local, end):
    found = quiet_end(QUIET, at(local, SEOUL), SEOUL)

    assert found == (at(end, SEOUL) if end else None)


def test_quiet_hours_within_a_day():
    lunch = QuietSpan(time(12), time(14))

    assert quiet_end(lunch, at("2031-01-15 13:00", SEOUL), SEOUL) == at("2031-01-15 14:00", SEOUL)
    assert quiet_end(lunch, at("2031-01-15 14:00", SEOUL), SEOUL) is None
    assert quiet_end(lunch, at("2031-01-15 11:59", SEOUL), SEOUL) is None


@pytest.mark.parametrize("every, now, slot", [
    ("1h", "2031-01-15 09:10", "2031-01-15 10:00"),
    ("1h", "2031-01-15 10:00", "2031-01-15 10:00"),
    ("30m", "2031-01-15 09:31", "2031-01-15 10:00"),
    ("5h", "2031-01-15 21:00", "2031-01-16 00:00"),  # 20:00 was the last slot of the day
])
def test_a_digest_every_n_counts_from_local_midnight(every, now, slot):
    assert next_digest(Digest(every=every), at(now, SEOUL), SEOUL) == at(slot, SEOUL)


def test_a_digest_at_times_of_day_takes_the_next_one_in_its_zone():
    digest = Digest(at=["08:00", "17:00"])

    assert next_digest(digest, at("2031-01-15 09:00", SEOUL), SEOUL) == at("2031-01-15 17:00", SEOUL)
    assert next_digest(digest, at("2031-01-15 17:01", SEOUL), SEOUL) == at("2031-01-16 08:00", SEOUL)
    assert at("2031-01-16 08:00", SEOUL) == at("2031-01-15 23:00")


def test_a_rate_has_room_until_its_count_is_reached_in_the_window():
    now = at("2031-01-15 10:00")
    hour = timedelta(hours=1)
    sends = [now - timedelta(minutes=50), now - timedelta(minutes=20)]

    assert rate_free_at(3, hour, sends, now) is None
    assert rate_free_at(2, hour, sends, now) == now + timedelta(minutes=10)
    assert rate_free_at(2, hour, [now - timedelta(minutes=70), *sends[1:]], now) is None
    # Digests may go past the count: room comes when enough sends have left the window.
    assert rate_free_at(1, hour, sends, now) == now + timedelta(minutes=40)


def test_health_notices_are_never_held():
    rule = Rule(id="r", query="x", quiet_hours="22:00-07:00", digest={"every": "1h"})

    assert plan("health", rule, None, "UTC", at("2031-01-15 23:00"), []) is None


def test_a_digest_time_in_quiet_hours_moves_to_their_end():
    rule = Rule(id="r", query="x", digest={"at": "23:00"}, quiet_hours="22:00-07:00", timezone="Asia/Seoul")

    hold = plan("alert", rule, None, "UTC", at("2031-01-15 12:00", SEOUL), [])

    assert (hold.until, hold.pace) == (at("2031-01-16 07:00", SEOUL), "digest")


def test_a_rule_without_a_zone_uses_the_delivery_zone():
    rule = Rule(id="r", query="x", quiet_hours="22:00-07:00")

    assert plan("alert", rule, None, "Asia/Seoul", at("2031-01-15 23:30", SEOUL), []).pace == "quiet"
    assert plan("alert", rule, None, "UTC", at("2031-01-15 23:30", SEOUL), []) is None


# --- with real sends ------------------------------------------------------------------------


def paced_config(sink, channel: dict | None = None, **rule) -> Config:
    channel = Channel(id="analysts", url=sink.apprise_url, **(channel or {}))
    return Config(sources=(SOURCE,), channels=(channel,),
                  rules=(Rule(id=RULE_ID, query=RULE_QUERY, channels=("analysts",), **rule),))


def test_a_digest_collects_five_stories_into_one_message(store, sink):
    config = paced_config(sink, digest={"every": "1h"})
    ids = queue_stories(store, config, 5)
    clock = Clock(at("2031-01-15 09:10"))
    delivery = Delivery.from_config(store, config, clock=clock)

    assert run(delivery) == 0
    held = [outbox_row(store, i) for i in ids]
    assert {(r.state, r.pace, r.next_attempt_at, r.tries) for r in held} == {
        ("pending", "digest", "2031-01-15T10:00:00+00:00", 0)}
    clock.now = at("2031-01-15 09:59:59")
    assert run(delivery) == 0 and sink.messages == []

    clock.now = at("2031-01-15 10:00")
    assert run(delivery) == 5
    assert run(delivery) == 0

    [message] = sink.messages
    assert message["title"] == f"[presswatch] 5 alerts: {RULE_ID}"
    body = message["message"]
    assert body.startswith("5 alerts (digest):")
    for number, (title, slug, _) in enumerate(STORIES, 1):
        assert f"{number}) {title}" in body
        assert f"https://www.nknews.org/2018/11/{slug}/" in body
    assert {outbox_row(store, i).state for i in ids} == {"sent"}


def test_alerts_in_quiet_hours_wait_for_their_end_then_go_as_one(store, sink):
    config = paced_config(sink, quiet_hours="22:00-07:00", timezone="Asia/Seoul")
    ids = queue_stories(store, config, 2)
    clock = Clock(at("2031-01-15 23:30", SEOUL))
    delivery = Delivery.from_config(store, config, clock=clock)

    assert run(delivery) == 0
    assert {outbox_row(store, i).next_attempt_at for i in ids} == {"2031-01-15T22:00:00+00:00"}  # 07:00 KST
    clock.now = at("2031-01-16 06:59", SEOUL)
    assert run(delivery) == 0 and sink.messages == []

    clock.now = at("2031-01-16 07:00", SEOUL)
    assert run(delivery) == 2

    [message] = sink.messages
    assert message["title"] == f"[presswatch] 2 alerts: {RULE_ID}"
    assert "2 alerts (held over quiet hours):" in message["message"]


def test_outside_quiet_hours_alerts_go_at_once_and_one_held_alert_is_a_plain_alert(store, sink):
    config = paced_config(sink, quiet_hours="22:00-07:00", timezone="Asia/Seoul")
    clock = Clock(at("2031-01-15 12:00", SEOUL))
    delivery = Delivery.from_config(store, config, clock=clock)
    queue_stories(store, config, 1)
    assert run(delivery) == 1

    clock.now = at("2031-01-15 23:00", SEOUL)
    _, second = queue_stories(store, config, 1, first=1)
    assert run(delivery) == 0
    clock.now = at("2031-01-16 07:00", SEOUL)
    assert run(delivery) == 1

    assert [m["title"] for m in sink.messages] == [
        f"[presswatch] {RULE_ID}: {STORIES[0][0]}", f"[presswatch] {RULE_ID}: {STORIES[1][0]}"]
    assert (outbox_row(store, second).pace, outbox_row(store, second).state) == ("quiet", "sent")


def test_a_rate_limit_spills_the_excess_into_one_digest_and_drops_nothing(store, sink):
    config = paced_config(sink, channel={"rate_limit": "2/1h"})
    ids = queue_stories(store, config, 5)
    clock = Clock(at("2031-01-15 09:00"))
    delivery = Delivery.from_config(store, config, clock=clock)

    assert run(delivery) == 2
    assert len(sink.messages) == 2
    held = [outbox_row(store, i) for i in ids[2:]]
    assert {(r.state, r.pace, r.next_attempt_at) for r in held} == {("pending", "rate", "2031-01-15T10:00:00+00:00")}
    clock.now = at("2031-01-15 09:59")
    assert run(delivery) == 0

    clock.now = at("2031-01-15 10:00")
    assert run(delivery) == 3

    assert len(sink.messages) == 3
    digest = sink.messages[2]
    assert digest["title"] == f"[presswatch] 3 alerts: {RULE_ID}"
    assert "(held by the channel's rate limit)" in digest["message"]
    assert all(title in digest["message"] for title, _, _ in STORIES[2:])
    assert {outbox_row(store, i).state for i in ids} == {"sent"}


def test_a_health_notice_goes_at_once_despite_the_rate_limit(store, sink):
    config = paced_config(sink, channel={"rate_limit": "1/1h"})
    queue_stories(store, config, 1)
    clock = Clock(at("2031-01-15 09:00"))
    delivery = Delivery.from_config(store, config, clock=clock)
    assert run(delivery) == 1

    change = HealthChange(state="failing", last_new_at=None, usual_gap=None, event="nknews failed 3 runs",
                          from_state="ok", channels=("analysts",))
    store.record_source_run(SourceRun(source_id="nknews", ok=False, error="HTTP 500"), change)
    assert run(delivery) == 1

    assert [m["title"].split(":")[0] for m in sink.messages] == [
        f"[presswatch] {RULE_ID}", "[presswatch] source nknews is failing"]


def test_held_alerts_are_listed_with_their_time(store, sink, write_config, run_presswatch, tmp_path):
    config = paced_config(sink, digest={"at": "08:00"})
    [row_id] = queue_stories(store, config, 1)
    run(Delivery.from_config(store, config, clock=Clock(at("2031-01-15 09:00"))))
    path = write_config({"database": str(tmp_path / "t.db"),
                         "sources": [{"id": "nknews", "kind": "feed", "url": SOURCE.url}]})

    listed = run_presswatch("alerts", "--config", str(path))

    assert listed.returncode == 0, listed.stderr
    assert "outbox: 1 pending" in listed.stdout
    assert f"#{row_id:<6} pending" in listed.stdout
    assert "held for the rule's digest: 2031-01-16 08:00 UTC" in listed.stdout


# --- config ---------------------------------------------------------------------------------


PACING_MISTAKES = """
delivery:
  on_timeout: sometimes
  timezone: Mars/Base
sources:
  - {id: s, kind: feed, url: "https://example.org/feed"}
rules:
  - id: r
    query: DPRK
    channels: [a]
    digest: {every: 30s}
    quiet_hours: "22:00"
    timezone: Seoul
    tags: ["bad tag"]
  - id: r2
    query: DPRK
    digest: {at: 17:30}
  - id: r3
    query: DPRK
    digest: {at: "08:00", every: 1h}
    quiet_hours: "7:00-7:00"
channels:
  - id: a
    format: rtf
    title: "{titel}"
    body: "{title.__class__}"
    rate_limit: 20/hour
    urls:
      - {url: "json://127.0.0.1:1/", tags: [team-a], extra: 1}
      - {url: "nope://x"}
"""


def test_every_pacing_mistake_is_reported_with_its_path(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(PACING_MISTAKES, encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load_config(path, {})

    assert caught.value.problems == [
        'delivery.on_timeout: "sometimes" is not allowed; use "uncertain" or "retry"',
        ('delivery.timezone: "Mars/Base" is not a time zone (use an IANA name such as UTC, Asia/Seoul or '
        'Europe/London)'),
        'rules[0] (r).digest.every: "30s" is shorter than the minimum of 1m',
        'rules[0] (r).quiet_hours: "22:00" is not a time range (use "22:00-07:00": from, to, local time)',
        ('rules[0] (r).timezone: "Seoul" is not a time zone (use an IANA name such as UTC, Asia/Seoul or '
        'Europe/London)'),
        'rules[0] (r).tags[0]: "bad tag" is not a tag (use letters, digits, -, _ and ., such as team-a)',
        'rules[0] (r).tags: no URL of channel "a" carries any of these tags',
        ('rules[1] (r2).digest.at[0]: 1050 is not a time of day: write it in quotes, as "07:30" (unquoted, YAML '
        'reads 7:30 as a number)'),
        'rules[2] (r3).digest: give either every (such as 1h) or at (such as "08:00"), not both or neither',
        'rules[2] (r3).quiet_hours: "7:00-7:00" starts and ends at the same time; give a range such as 22:00-07:00',
        'channels[0] (a).urls[0].extra: unknown key (known keys: url, tags)',
        'channels[0] (a).urls[1].url: Apprise cannot parse this URL (scheme "nope://")',
        'channels[0] (a).format: "rtf" is not allowed; use "text", "markdown" or "html"',
        'channels[0] (a).title: "{titel}" uses {titel}, which is not a field; did you mean "title"?',
        ('channels[0] (a).body: "{title.__class__}" uses {title.__class__}, which is not a field (fields: title, '
        'url, outlet, snippet, rule, terms, published, outlets)'),
        ('channels[0] (a).rate_limit: "20/hour" is not a rate limit (use messages/duration, such as "20/1h" or '
        '"100/1d")'),
    ]


def test_pacing_keys_load_from_a_file(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("""
delivery: {timezone: Asia/Seoul, on_timeout: RETRY}
rules:
  - {id: r, query: DPRK, channels: [a], digest: {at: ["08:00", "17:30"]}, quiet_hours: "22:00-07:00",
     tags: [Team-A]}
channels:
  - id: a
    format: markdown
    title: "{rule}: {title}"
    body: "{title}\\n{url}\\n\\n{snippet}"
    rate_limit: 20/1h
    urls: ["json://127.0.0.1:1/", {url: "json://127.0.0.1:2/", tags: [team-a]}]
""", encoding="utf-8")

    config = load_config(path, {})

    assert (config.delivery.timezone, config.delivery.on_timeout) == ("Asia/Seoul", "retry")
    rule = config.rules[0]
    assert rule.digest.at == (time(8), time(17, 30)) and rule.tags == ("team-a",)
    assert str(rule.quiet_hours) == "22:00-07:00"
    channel = config.channels[0]
    assert channel.apprise_urls == ("json://127.0.0.1:1/", "json://127.0.0.1:2/")
    assert [t.tags for t in channel.targets] == [(), ("team-a",)]
    assert (channel.format, str(channel.rate_limit)) == ("markdown", "20/1h")
    assert config.model_dump()["channels"][0]["rate_limit"] == "20/1h"


def test_a_rule_whose_tags_no_url_of_its_channel_carries_is_a_problem():
    data = {
        "rules": [{"id": "r", "channels": ["a", "b"], "tags": ["team-a"]}, {"id": "s", "channels": ["a"]}],
        "channels": [{"id": "a", "urls": [{"url": "json://x/", "tags": ["team-a"]}]},
                     {"id": "b", "urls": ["json://y/"]}],
    }

    assert [p.text() for p in tag_problems(data)] == ['rules[0].tags: no URL of channel "b" carries any of these tags']


def test_a_rule_with_a_digest_and_one_without_share_a_channel(store, sink):
    """Two rules, one with a digest and one without, on one channel: each keeps its pace."""
    channel = sink_channel(sink)
    rules = (Rule(id=RULE_ID, query=RULE_QUERY, channels=("analysts",), digest={"every": "1h"}),
             Rule(id="kcna", query="KCNA", channels=("analysts",)))
    config = Config(sources=(SOURCE,), rules=rules, channels=(channel,))
    queue_stories(store, config, 2)  # the second story names KCNA too
    clock = Clock(at("2031-01-15 09:30"))
    delivery = Delivery.from_config(store, config, clock=clock)

    assert run(delivery) == 1  # the kcna alert at once
    clock.now = at("2031-01-15 10:00")
    assert run(delivery) == 2  # the digest of hrw-report's two

    assert [m["title"] for m in sink.messages] == [f"[presswatch] kcna: {STORIES[1][0]}",
                                                   f"[presswatch] 2 alerts: {RULE_ID}"]


def test_a_digest_falling_due_waits_for_room_under_the_channels_rate(store, sink):
    """A released digest is a message like any other: the channel's rate limit holds it too."""
    channel = sink_channel(sink)
    channel = Channel(id=channel.id, url=sink.apprise_url, rate_limit="1/1h")
    rules = (Rule(id=RULE_ID, query=RULE_QUERY, channels=("analysts",), digest={"every": "1h"}),
             Rule(id="kcna", query="KCNA", channels=("analysts",)))
    config = Config(sources=(SOURCE,), rules=rules, channels=(channel,))
    ids = queue_stories(store, config, 2)
    clock = Clock(at("2031-01-15 09:30"))
    delivery = Delivery.from_config(store, config, clock=clock)

    assert run(delivery) == 1  # the kcna alert at once: the hour's one message
    clock.now = at("2031-01-15 10:00")
    assert run(delivery) == 0  # the digest is due, but the channel had its message at 09:30
    held = [outbox_row(store, i) for i in ids if outbox_row(store, i).rule_id == RULE_ID]
    assert len(held) == 2
    assert {(r.state, r.pace, r.next_attempt_at) for r in held} == {
        ("pending", "digest", "2031-01-15T10:30:00+00:00")}
    clock.now = at("2031-01-15 10:30")
    assert run(delivery) == 2
    assert [m["title"] for m in sink.messages] == [f"[presswatch] kcna: {STORIES[1][0]}",
                                                   f"[presswatch] 2 alerts: {RULE_ID}"]


def test_quiet_hours_in_the_repeated_hour_of_a_clock_change_end_at_their_second_end():
    """New York, 2031-11-02: 01:00-02:00 comes twice. Quiet until 01:30: at the second
    01:15 (06:15 UTC) the quiet hours end at the second 01:30 (06:30 UTC), not the first
    (05:30 UTC, already past), which would let alerts through in quiet hours."""
    new_york = ZoneInfo("America/New_York")
    quiet = QuietSpan(time(0), time(1, 30))
    assert quiet_end(quiet, at("2031-11-02 05:15"), new_york) == at("2031-11-02 05:30")  # first 01:15 (EDT)
    assert quiet_end(quiet, at("2031-11-02 06:15"), new_york) == at("2031-11-02 06:30")  # second 01:15 (EST)
    assert quiet_end(quiet, at("2031-11-02 06:45"), new_york) is None  # the second 01:45: not quiet

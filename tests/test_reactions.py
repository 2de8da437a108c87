"""Reactions: a state-media rebuttal linked to the report's event it answers, told in its own
alert and, once, in the report's thread; unrelated statements, the same side and events
outside the window are not linked.

Real parts throughout: a SQLite file in tmp_path, the real ingest path and embedding model,
Apprise sending to the loopback JSON sink. The report's coverage is tests/events_coverage.py;
the state media's side tests/reactions_coverage.py. The rules are the default config's.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from events_coverage import WRITE_UPS
from reactions_coverage import STATE_MEDIA
from presswatch.config import Channel, Config, Rule, Source
from presswatch.config.loader import default_config_text
from presswatch.crawler.store.database import Store
from presswatch.crawler.stories.ingest import Candidate, Ingest, Outcome
from presswatch.scheduler.delivery.deliver import Delivery

T0 = datetime(2018, 11, 1, 9, 0, tzinfo=UTC)
ALL = {**WRITE_UPS, **STATE_MEDIA}
HRW_COVERAGE = ("reuters", "voa", "yonhap-ko")
BACKGROUND = ("missile", "railway", "kaesong", "un-rapporteur")
NAMES = {key: "KCNA" for key in STATE_MEDIA} | {"rodong-ko-rebuttal": "Rodong Sinmun"}


def default_rules(**changes) -> tuple[Rule, ...]:
    """The default config's report and rebuttal rules, to the analysts' channel."""
    rules = {r["id"]: r for r in yaml.safe_load(default_config_text())["rules"]}
    picked = []
    for rule_id in ("hrw-report", "state-media-response"):
        data = {**rules[rule_id], "channels": ["analysts"], **changes.get(rule_id, {})}
        picked.append(Rule(**data))
    return tuple(picked)


def sources(state_media: tuple[str, ...] = tuple(STATE_MEDIA)) -> tuple[Source, ...]:
    return tuple(Source(id=key, kind="feed", url=f"https://{key}.example/feed", language=w.language,
                        name=NAMES.get(key, key), tags=["state-media"] if key in state_media else [])
                 for key, w in ALL.items())


def config(sink_url: str = "json://127.0.0.1:9/", state_media: tuple[str, ...] = tuple(STATE_MEDIA),
           **rule_changes) -> Config:
    return Config(sources=sources(state_media), channels=(Channel(id="analysts", url=sink_url),),
                  rules=default_rules(**rule_changes))


@pytest.fixture
def store(tmp_path):
    store = Store(str(tmp_path / "presswatch.db"))
    store.sync_sources([(s.id, s.kind, s.url, s.name) for s in sources()])
    yield store
    store.close()


def make_ingest(store: Store, cfg: Config) -> Ingest:
    return Ingest.from_config(store, cfg.rules, cfg.sources, events=cfg.events, channels_config=cfg.channels,
                              reactions=cfg.reactions)


def arrive(ingest: Ingest, key: str):
    w = ALL[key]
    return ingest.ingest(Candidate(source_id=key, url=w.url, title=w.title, text=w.text, extracted_from="page",
                                   published=T0, language=w.language))


def days_ago(store: Store, days: float) -> None:
    """Everything stored so far was first seen `days` ago (the report came days before the rebuttal)."""
    then = (datetime.now(UTC) - timedelta(days=days)).isoformat()
    store.db.execute("UPDATE events SET first_seen_at = ?", (then,))


def report_event(store: Store, ingest: Ingest, days: float = 3) -> int:
    """The report's coverage, first seen `days` ago: one event."""
    events = {arrive(ingest, key).event_id for key in HRW_COVERAGE}
    assert len(events) == 1
    days_ago(store, days)
    return events.pop()


def deliver(store: Store, cfg: Config) -> int:
    return asyncio.run(Delivery.from_config(store, cfg).deliver_due())


def test_the_rebuttal_names_the_reports_event_and_the_thread_gets_one_update(store, sink):
    cfg = config(sink.apprise_url)
    ingest = make_ingest(store, cfg)
    hrw = report_event(store, ingest)
    assert deliver(store, cfg) == 2  # the report's alert and its update 1
    alert_title = sink.messages[0]["title"]
    assert alert_title == f"[presswatch] hrw-report: {WRITE_UPS['reuters'].title}"

    rebuttal = arrive(ingest, "kcna-rebuttal")
    assert rebuttal.answers_event == hrw
    assert rebuttal.event_id != hrw  # an event of its own, which alerts as its own
    link = store.story_reaction(rebuttal.story_id)
    assert (link["rule_id"], link["linked_by"]) == ("state-media-response", "presswatch")
    assert "Human Rights Watch" in link["evidence"]

    assert deliver(store, cfg) == 2
    by_title = {m["title"]: m["message"] for m in sink.messages[2:]}
    assert list(by_title)[0].startswith("[presswatch] state-media-response: ")  # its own alert first
    rebuttal_alert = by_title[f"[presswatch] state-media-response: {STATE_MEDIA['kcna-rebuttal'].title}"]
    # First seen: the outlets' date of the report (T0), earlier than when it was stored.
    assert store.event(hrw)["first_seen_at"][:10] > T0.date().isoformat()
    assert f"In response to: {WRITE_UPS['reuters'].title}, first seen 2018-11-01, 3 outlets" in rebuttal_alert
    thread = by_title[f"Re: {alert_title}"]
    assert (f"Answered by KCNA: {STATE_MEDIA['kcna-rebuttal'].title} {STATE_MEDIA['kcna-rebuttal'].url}"
            in thread)
    assert f"presswatch event {hrw}" in thread

    # Once: not again on the next round, nor when the statement is listed again.
    assert deliver(store, cfg) == 0
    assert arrive(ingest, "kcna-rebuttal").outcome is Outcome.SEEN
    assert deliver(store, cfg) == 0 and len(sink.messages) == 4
    assert store.db.execute("SELECT count(*) FROM outbox WHERE kind = 'reaction'").fetchone()[0] == 1


BROAD = Rule(id="nk", query='"North Korea" OR "North Korean" OR DPRK OR Pyongyang OR 북한 OR 北',
             channels=("analysts",))


@pytest.mark.parametrize("enabled", [False, True])
def test_a_rebuttal_grouped_into_the_event_it_answers_is_taken_out_into_its_own(store, enabled):
    # Every rule of the default config and a broad one: the background is embedded, so the
    # grouping is warm, and the rebuttal (written about the report) joins the report's event.
    every = tuple(Rule(**{**r, "channels": ["analysts"]}) for r in yaml.safe_load(default_config_text())["rules"])
    cfg = config().model_copy(update={"rules": (*every, BROAD)})
    cfg = cfg.model_copy(update={"reactions": cfg.reactions.model_copy(update={"enabled": enabled})})
    ingest = make_ingest(store, cfg)
    for background in BACKGROUND:
        arrive(ingest, background)
    hrw = report_event(store, ingest)
    vectors_before = store.event_vector(hrw)[1]
    rebuttal = arrive(ingest, "kcna-rebuttal")
    if not enabled:
        assert rebuttal.event_id == hrw  # what grouping alone does
        return
    assert (rebuttal.answers_event, store.event_size(hrw), store.event_size(rebuttal.event_id)) == (hrw, 3, 1)
    assert store.event_vector(hrw)[1] == vectors_before and store.event_vector(rebuttal.event_id)[1] == 1
    # Its own event alerts its rules; the report's threads each get one reply.
    own = store.db.execute("SELECT rule_id FROM outbox WHERE kind = 'alert' AND event_id = ? ORDER BY id",
                           (rebuttal.event_id,)).fetchall()
    assert own == [("state-media-response",), ("nk-women-sexual-violence",), ("nk",)]
    replies = store.db.execute("SELECT rule_id FROM outbox WHERE kind = 'reaction' AND event_id = ? ORDER BY id",
                               (hrw,)).fetchall()
    assert replies == [("hrw-report",), ("nk-women-sexual-violence",), ("nk",)]


def test_a_korean_rebuttal_is_linked_across_languages(store):
    ingest = make_ingest(store, config())
    hrw = report_event(store, ingest)
    assert arrive(ingest, "rodong-ko-rebuttal").answers_event == hrw
    assert "휴먼라이츠워치" in store.db.execute("SELECT evidence FROM reactions").fetchone()[0]


def test_a_korean_rebuttal_of_english_only_coverage_is_linked_through_a_rules_synonyms(store):
    """The report covered in English only: the Korean rebuttal's 휴먼라이츠워치 is "Human Rights
    Watch" because the report's rule says so (its synonyms), not because the words look alike."""
    ingest = make_ingest(store, config())
    events = {arrive(ingest, key).event_id for key in ("reuters", "voa")}
    assert len(events) == 1
    days_ago(store, 3)
    rebuttal = arrive(ingest, "rodong-ko-rebuttal")
    assert rebuttal.answers_event == events.pop()
    assert "Human Rights Watch" in store.story_reaction(rebuttal.story_id)["evidence"]

    # Without the set that names them one, the same rebuttal shares no name with that coverage.
    plain = Store(str(store.path) + ".plain.db")
    try:
        plain.sync_sources([(s.id, s.kind, s.url, s.name) for s in sources()])
        no_sets = {"hrw-report": {"synonyms": []}}
        ingest = make_ingest(plain, config(**no_sets))
        for key in ("reuters", "voa"):
            arrive(ingest, key)
        days_ago(plain, 3)
        assert arrive(ingest, "rodong-ko-rebuttal").answers_event is None
    finally:
        plain.close()


@pytest.mark.parametrize("key", ["kcna-un-report", "kcna-eu-resolution", "kcna-envoy"])
def test_an_unrelated_kcna_human_rights_statement_is_not_linked(store, key):
    ingest = make_ingest(store, config())
    for background in BACKGROUND:
        arrive(ingest, background)
    report_event(store, ingest)
    statement = arrive(ingest, key)
    assert statement.alerts_queued == 1  # state-media-response matched it: a statement it alerts
    assert statement.answers_event is None
    assert store.db.execute("SELECT count(*) FROM reactions").fetchone()[0] == 0
    assert store.db.execute("SELECT count(*) FROM outbox WHERE kind = 'reaction'").fetchone()[0] == 0


def test_a_story_from_the_same_side_is_not_linked(store):
    # The report's coverage comes from sources tagged state-media too: no other side.
    ingest = make_ingest(store, config(state_media=(*STATE_MEDIA, *HRW_COVERAGE)))
    report_event(store, ingest)
    assert arrive(ingest, "kcna-rebuttal").answers_event is None


def test_an_event_first_seen_before_the_window_is_not_answered(store):
    ingest = make_ingest(store, config())
    report_event(store, ingest, days=31)  # window: 30 days
    assert arrive(ingest, "kcna-rebuttal").answers_event is None


def test_without_reacts_to_only_strong_evidence_links(store):
    cfg = config(**{"state-media-response": {"reacts_to": []}})
    ingest = make_ingest(store, cfg)
    for background in BACKGROUND:
        arrive(ingest, background)
    hrw = report_event(store, ingest)
    assert arrive(ingest, "kcna-un-report").answers_event is None
    assert arrive(ingest, "kcna-rebuttal").answers_event == hrw
    assert store.db.execute("SELECT rule_id FROM reactions").fetchone() == (None,)


def test_reactions_can_be_switched_off(store):
    cfg = config()
    cfg = cfg.model_copy(update={"reactions": cfg.reactions.model_copy(update={"enabled": False})})
    ingest = make_ingest(store, cfg)
    report_event(store, ingest)
    assert arrive(ingest, "kcna-rebuttal").answers_event is None


def test_event_shows_reactions_both_ways_and_exports_carry_the_link(tmp_path, run_presswatch):
    cfg = config().model_copy(update={"database": tmp_path / "presswatch.db"})
    path = tmp_path / "presswatch.yaml"
    data = cfg.model_dump(mode="json", include={"database", "sources", "rules", "channels"})
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    store = Store(str(cfg.database))
    store.sync_sources([(s.id, s.kind, s.url, s.name) for s in cfg.sources])
    try:
        ingest = make_ingest(store, cfg)
        hrw = report_event(store, ingest)
        rebuttal = arrive(ingest, "kcna-rebuttal")
        [story] = [row for row in store.export("stories") if row["id"] == rebuttal.story_id]
        assert story["answers_event"] == hrw
        events = {row["id"]: row for row in store.export("events")}
        assert events[hrw]["answered_by"] == [rebuttal.story_id]
        assert events[rebuttal.event_id]["answers_events"] == [hrw]
        assert {row["answers_event"] for row in store.export("articles")} == {None, hrw}
        assert sum(day["reactions"] for day in store.stats_by_day()) == 1  # presswatch stats counts it
    finally:
        store.close()

    answered = run_presswatch("event", str(hrw), "--config", str(path))
    assert answered.returncode == 0, answered.stderr
    assert (f"Answered by: event {rebuttal.event_id} / story {rebuttal.story_id} KCNA: "
            f"{STATE_MEDIA['kcna-rebuttal'].title}") in answered.stdout
    answering = run_presswatch("event", str(rebuttal.event_id), "--config", str(path))
    assert answering.returncode == 0, answering.stderr
    assert f"Answers: event {hrw} {WRITE_UPS['reuters'].title} (first seen " in answering.stdout
    assert "3 outlet(s)), through story" in answering.stdout

    listed = run_presswatch("events", "--since", "40d", "--config", str(path))
    assert listed.returncode == 0, listed.stderr
    lines = {int(line.split()[0]): line for line in listed.stdout.splitlines()}
    assert lines[hrw].endswith("  [answered 1x]") and lines[rebuttal.event_id].endswith(f"  [answers {hrw}]")

    # An analyst's corrections: unlink, then link by hand (the thread's reply queued again once).
    unlinked = run_presswatch("events", "unlink", str(rebuttal.story_id), "--config", str(path))
    assert unlinked.returncode == 0 and "answers no event now" in unlinked.stdout, unlinked.stderr
    refused = Store(str(cfg.database))
    try:
        assert refused.reaction_refused(rebuttal.story_id)  # presswatch will not link it again
    finally:
        refused.close()
    again = run_presswatch("events", "unlink", str(rebuttal.story_id), "--config", str(path))
    assert again.returncode == 1 and f"story {rebuttal.story_id} is linked to no event" in again.stderr
    own = run_presswatch("events", "link", str(rebuttal.story_id), str(rebuttal.event_id), "--config", str(path))
    assert own.returncode == 1 and "a story answers another event" in own.stderr
    linked = run_presswatch("events", "link", str(rebuttal.story_id), str(hrw), "--config", str(path))
    assert linked.returncode == 0, linked.stderr
    assert f"story {rebuttal.story_id} answers event {hrw}: 1 reply(ies) queued" in linked.stdout
    store = Store(str(cfg.database))
    try:
        assert store.story_reaction(rebuttal.story_id)["linked_by"] == "analyst"
        assert store.db.execute("SELECT count(*) FROM outbox WHERE kind = 'reaction'").fetchone()[0] == 1
    finally:
        store.close()


def test_an_analysts_unlink_holds_through_revisions_and_a_link_elsewhere_replies_there(store, sink):
    from presswatch.crawler.stories.events import split_story

    # The rebuttal's own alert goes to the console: the analysts' channel holds only the reply.
    cfg = config(sink.apprise_url, **{"state-media-response": {"channels": []}})
    ingest = make_ingest(store, cfg)
    hrw = report_event(store, ingest)
    assert deliver(store, cfg) == 2  # the report's alert and its update
    rebuttal = arrive(ingest, "kcna-rebuttal")
    sink.fail_next = 1  # the reply fails once and waits for its retry
    assert deliver(store, cfg) == 1  # the rebuttal's alert, on the console
    [reply] = [row for row in store.outbox() if row.kind == "reaction"]
    assert (reply.state, reply.tries, reply.event_id) == ("pending", 1, hrw)

    with store.transaction():  # presswatch events unlink
        assert store.remove_reaction(rebuttal.story_id, refuse=True)
    assert [(r.state, r.last_error) for r in store.outbox() if r.kind == "reaction"] == [
        ("dead", "unlinked by an analyst: not sent")]  # the reply waiting for its retry is dropped

    # KCNA edits a sentence: the revision is not linked again, and no reply comes back.
    w = STATE_MEDIA["kcna-rebuttal"]
    revised = ingest.ingest(Candidate(source_id="kcna-rebuttal", url=w.url, title=w.title,
                                      text=w.text + " The DPRK will never tolerate this.", extracted_from="page",
                                      published=T0, language=w.language))
    assert revised.outcome == Outcome.REVISED and revised.answers_event is None
    assert store.story_reaction(rebuttal.story_id) is None and store.reaction_refused(rebuttal.story_id)

    # The analyst links it to another alerted event instead (VOA's story, split into its own):
    # that thread gets the reply; the report's never does.
    voa = next(s["id"] for s in store.event(hrw)["stories"] if s["title"] == WRITE_UPS["voa"].title)
    _, other, _ = split_story(store, voa, {"hrw-report": ("analysts",)})
    with store.transaction():  # presswatch events link
        store.remove_reaction(rebuttal.story_id)
        store.add_reaction(rebuttal.story_id, other, None, [], 0.0, linked_by="analyst")
        assert store.queue_reaction(rebuttal.story_id, other) == 1
    assert not store.reaction_refused(rebuttal.story_id)
    sent_before = len(sink.messages)
    assert deliver(store, cfg) == 2  # VOA's alert, then the reply in its thread
    titles = [m["title"] for m in sink.messages[sent_before:]]
    assert titles.count(f"Re: [presswatch] hrw-report: {WRITE_UPS['voa'].title}") == 1
    assert not [t for t in titles if t == f"Re: [presswatch] hrw-report: {WRITE_UPS['reuters'].title}"]


def test_a_digest_lists_the_reaction_under_the_thread_it_answers(store):
    from presswatch.scheduler.delivery.message import render

    ingest = make_ingest(store, config())
    report_event(store, ingest)
    arrive(ingest, "kcna-rebuttal")
    rows = [row for row in store.outbox() if row.kind in ("alert", "reaction")]
    assert [row.kind for row in rows] == ["alert", "alert", "reaction"]
    assert rows[1].answers_title == rows[2].thread_title == WRITE_UPS["reuters"].title
    body = render(rows).body
    assert (f"3) answered by KCNA: {STATE_MEDIA['kcna-rebuttal'].title} (re: {WRITE_UPS['reuters'].title})"
            in body)


def test_a_reply_to_a_held_thread_waits_with_it_and_holds_nothing_else_on_the_channel(store, sink):
    """The report's rule sends a digest: its alert is held, and so are the thread's update and
    the reaction's reply, until the digest goes (alert first); meanwhile the channel's other
    alerts go out at once. Waiting for the held alert outside pacing held them all."""
    now = datetime.now(UTC)
    digest_at = (now + timedelta(hours=2)).strftime("%H:%M")
    cfg = config(sink.apprise_url, **{"hrw-report": {"digest": {"at": digest_at}}})
    cfg = cfg.model_copy(update={"delivery": cfg.delivery.model_copy(update={"timezone": "UTC"})})
    ingest = make_ingest(store, cfg)
    report_event(store, ingest)
    assert deliver(store, cfg) == 0  # the alert and its update wait for the digest
    arrive(ingest, "kcna-rebuttal")  # its own alert (no digest), then the reply to the held thread
    arrive(ingest, "kcna-un-report")  # another rule's alert, queued after the reply
    assert deliver(store, cfg) == 2
    assert [m["title"] for m in sink.messages] == [
        f"[presswatch] state-media-response: {STATE_MEDIA['kcna-rebuttal'].title}",
        f"[presswatch] state-media-response: {STATE_MEDIA['kcna-un-report'].title}"]
    held = {row.kind: row.pace for row in store.outbox() if row.rule_id == "hrw-report"}
    assert held == {"alert": "digest", "update": "digest", "reaction": "digest"}

    later = Delivery.from_config(store, cfg, clock=lambda: now + timedelta(hours=3))
    assert asyncio.run(later.deliver_due()) == 3  # one digest message of the three
    digest = sink.messages[-1]["message"]
    alert_at = digest.index(WRITE_UPS["reuters"].title)
    assert alert_at < digest.index(f"answered by KCNA: {STATE_MEDIA['kcna-rebuttal'].title}")
    assert {row.state for row in store.outbox()} == {"sent"}


def test_reacts_to_must_name_another_configured_rule(tmp_path):
    from presswatch.config import ConfigError, load_config

    path = tmp_path / "presswatch.yaml"
    path.write_text(yaml.safe_dump({"rules": [
        {"id": "hrw-report", "query": "HRW"},
        {"id": "state-media-response", "query": "KCNA", "reacts_to": ["hrw-reports", "state-media-response"]},
    ], "sources": [{"id": "kcna", "kind": "feed", "url": "https://kcna.example/feed", "tags": ["State-Media"]}]}))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    text = str(raised.value)
    assert ('rules[1] (state-media-response).reacts_to[0]: "hrw-reports" is not a rule; did you mean '
            '"hrw-report"?') in text
    assert ('rules[1] (state-media-response).reacts_to[1]: "state-media-response" is this rule itself; '
            'a rule reacts to other rules') in text
    assert "sources[0].tags" not in text  # tags are lowercased, as a rule's are

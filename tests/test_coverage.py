"""Coverage charts of an event and of a rule: the store's reads (also over a read-only
connection), the counts per bucket they give, and `presswatch event ID --chart` and
`presswatch rules chart`, on a real SQLite file written as tests/charted.py says."""

from __future__ import annotations

import hashlib
import sqlite3
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from charted import HOURLY_OUTLETS, HOURLY_STORIES, REPLY_RULE, RULE, T0, write_coverage
from presswatch.crawler.store.coverage import coverage_reader
from presswatch.crawler.store.database import Store
from presswatch.scheduler.chart import coverage_chart

SVG = "{http://www.w3.org/2000/svg}"
# From 09:00 on 1 November to KCNA's answer at 09:20 on the 3rd: 49 hours.
HOURS_TO_THE_REACTION = 49


@pytest.fixture
def written(tmp_path):
    store = Store(str(tmp_path / "presswatch.db"))
    written = write_coverage(store)
    yield store, written
    store.close()


def series_dots(svg: str) -> list[int]:
    """The points pygal drew in each series, in order (stories, outlets, then one per mark)."""
    counts = {}
    for group in ET.fromstring(svg).iter(f"{SVG}g"):
        classes = group.get("class", "").split()
        serie = next((c for c in classes if c.startswith("serie-")), None)
        dots = [c for c in group.iter(f"{SVG}circle") if "dot" in c.get("class", "").split()]
        if "series" in classes and serie and dots:
            counts[int(serie.removeprefix("serie-"))] = len(dots)
    return [counts[i] for i in sorted(counts)]


def test_an_event_counts_its_stories_and_every_outlet_that_carried_them_per_hour(written):
    store, w = written
    chart = coverage_chart(store.event_coverage(w.event))
    assert chart.per == "hour" and len(chart.series) == HOURS_TO_THE_REACTION
    assert chart.series[0].start == datetime(2018, 11, 1, 9, tzinfo=UTC)
    # Outlets are those that carried anything in the hour, wire copies included (Reuters and
    # AOL carried the report's story): not only the outlets that started a story.
    assert [b.stories for b in chart.series[:6]] == HOURLY_STORIES
    assert [b.outlets for b in chart.series[:6]] == HOURLY_OUTLETS
    assert sum(b.stories for b in chart.series) == 4  # KCNA's answer is its own event's, not this one's


def test_an_event_is_marked_with_its_alert_update_surge_and_the_reaction_to_it(written):
    store, w = written
    marks = coverage_chart(store.event_coverage(w.event)).marks
    assert [(m.kind, m.at - T0) for m in marks] == [
        ("alert", timedelta(0)), ("alert", timedelta(minutes=40)), ("surge", timedelta(minutes=50)),
        ("reaction", timedelta(days=2, minutes=15))]
    assert marks[0].label == f"alert ({RULE}) to analysts, not sent yet"
    assert marks[1].label.startswith(f"update 1 ({RULE})")
    assert marks[2].label == f"surge ({RULE}): 3 stories from 4 outlets in 6 h; usual 0.4"
    assert marks[3].label.startswith("reaction, kcna.kp: KCNA Commentary")
    assert marks[3].label.endswith(f"(answers event {w.event})")
    # From the answering side: KCNA's event is marked with its own answer.
    reply = coverage_chart(store.event_coverage(w.reply_event))
    assert [m.kind for m in reply.marks] == ["reaction", "alert"]


def test_a_merged_event_charts_the_event_it_joined(written):
    store, w = written
    merged = store.db.execute("SELECT id FROM events WHERE merged_into = ? LIMIT 1", (w.event,)).fetchone()[0]
    coverage = store.event_coverage(merged)
    assert coverage.merged_into == w.event and coverage.subject == f"event {w.event}"
    assert coverage.stories == store.event_coverage(w.event).stories
    assert store.event_coverage(999) is None


def test_a_rule_charts_what_it_matched_since_then_with_its_surges_and_the_answers(written):
    store, w = written
    coverage = store.rule_coverage(RULE, T0 - timedelta(hours=1))
    assert len(coverage.stories) == 4 and len(coverage.carried) == 7
    assert [s["rule_id"] for s in coverage.surges] == [RULE]
    assert [(r["outlet"], r["answers"]) for r in coverage.reactions] == [("kcna.kp", w.event)]
    later = store.rule_coverage(RULE, T0 + timedelta(hours=4))  # only the stories first seen since
    assert [outlet for _, outlet in later.stories] == ["dailynk.com"] and later.surges == ()
    assert [outlet for _, outlet in store.rule_coverage(REPLY_RULE, T0).stories] == ["kcna.kp"]
    assert store.rule_ever_matched(RULE) and not store.rule_ever_matched("nobody")


def test_the_reads_work_on_a_read_only_connection_and_write_nothing(written, tmp_path):
    store, w = written
    expected = (store.event_coverage(w.event), store.rule_coverage(RULE, T0))
    store.close()
    path = tmp_path / "presswatch.db"
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        reader = coverage_reader(conn)
        assert (reader.event_coverage(w.event), reader.rule_coverage(RULE, T0)) == expected
    finally:
        conn.close()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_the_chart_draws_a_point_per_hour_and_per_mark_and_lists_the_marks(written):
    store, w = written
    chart = coverage_chart(store.event_coverage(w.event))
    assert series_dots(chart.svg) == [HOURS_TO_THE_REACTION, HOURS_TO_THE_REACTION, 1, 1, 1, 1]
    texts = list(ET.fromstring(chart.svg).iter(f"{SVG}text"))
    # The alert, the update and the surge fall in the first hour: numbered once, not on top of each other.
    assert [t.text for t in texts if t.get("class") == "label"] == ["1-3", "4"]
    legend = " ".join(t.text or "" for t in texts)
    assert "3. 01 Nov 09:55 surge (hrw-report): 3 stories from 4 outlets in 6 h" in legend
    assert "4. 03 Nov 09:20 reaction, kcna.kp" in legend


# --- the commands ---------------------------------------------------------------------------


@pytest.fixture
def config(written, tmp_path, write_config):
    written[0].close()
    return write_config({"database": str(tmp_path / "presswatch.db"),
                         "rules": [{"id": RULE, "query": '"Human Rights Watch"'}]})


def test_event_chart_writes_an_svg_and_says_where_and_how_many_buckets(written, config, tmp_path, run_presswatch):
    out = tmp_path / "event.svg"
    result = run_presswatch("event", str(written[1].event), "--chart", str(out), "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (f"wrote {out}: event {written[1].event}, 4 stories in "
                                     f"{HOURS_TO_THE_REACTION} bucket(s) of one hour, 4 mark(s)")
    assert series_dots(out.read_text(encoding="utf-8"))[:2] == [HOURS_TO_THE_REACTION] * 2


def test_event_chart_refuses_an_unknown_event_and_an_unwritable_file(written, config, tmp_path, run_presswatch):
    result = run_presswatch("event", "999", "--chart", str(tmp_path / "x.svg"), "--config", str(config))
    assert result.returncode == 1 and "no event 999; presswatch events lists them" in result.stderr
    assert not (tmp_path / "x.svg").exists()
    blocked = tmp_path / "a-file.txt"
    blocked.write_text("not a folder")
    result = run_presswatch("event", str(written[1].event), "--chart", str(blocked / "x.svg"),
                            "--config", str(config))
    assert result.returncode == 1 and f"cannot write the chart to {blocked / 'x.svg'}: Not a directory" in result.stderr
    assert "Traceback" not in result.stderr
    # A number past SQLite's integers, a span past what a date reaches: clear answers.
    result = run_presswatch("event", "99999999999999999999", "--config", str(config))
    assert result.returncode == 2 and "is not in the range 1<=x<=9223372036854775807" in result.stderr
    result = run_presswatch("rules", "chart", RULE, "--since", "99999999d", "--chart", str(tmp_path / "all.svg"),
                            "--config", str(config))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr


def test_rules_chart_writes_a_rule_s_chart_and_refuses_an_unknown_rule(written, config, tmp_path, run_presswatch):
    days = (datetime.now(UTC) - T0).days + 2
    out = tmp_path / "rule.svg"
    result = run_presswatch("rules", "chart", RULE, "--since", f"{days}d", "--chart", str(out), "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert f"rule {RULE}, 4 stories in {HOURS_TO_THE_REACTION} bucket(s) of one hour, 2 mark(s)" in result.stdout
    assert series_dots(out.read_text(encoding="utf-8")) == [HOURS_TO_THE_REACTION] * 2 + [1, 1]
    # A rule gone from the config that matched before still charts; one never seen does not.
    result = run_presswatch("rules", "chart", REPLY_RULE, "--since", f"{days}d", "--chart", str(out),
                            "--config", str(config))
    assert result.returncode == 0 and f"rule {REPLY_RULE}, 1 stories" in result.stdout
    result = run_presswatch("rules", "chart", "hrw-reprot", "--chart", str(out), "--config", str(config))
    assert result.returncode == 1 and f'no rule "hrw-reprot" in the config or the archive; the config\'s: {RULE}' in (
        result.stderr)

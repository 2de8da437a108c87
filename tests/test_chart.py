"""Coverage charts: counts per bucket with the empty ones kept, one self-contained SVG."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from presswatch.scheduler.chart import DAY, HOUR, Bucket, Mark, buckets, coverage_svg

REPORT = datetime(2018, 11, 1, 9, 5, tzinfo=UTC)  # Human Rights Watch's report is out


def test_buckets_count_stories_and_distinct_outlets_and_keep_the_quiet_hours():
    seen = [(REPORT, "hrw.org"), (REPORT + timedelta(minutes=20), "reuters.com"),
            (REPORT + timedelta(minutes=40), "reuters.com"), (REPORT + timedelta(hours=3), "yna.co.kr")]
    assert buckets(seen) == [
        Bucket(datetime(2018, 11, 1, 9, tzinfo=UTC), 3, 2),
        Bucket(datetime(2018, 11, 1, 10, tzinfo=UTC), 0, 0),
        Bucket(datetime(2018, 11, 1, 11, tzinfo=UTC), 0, 0),
        Bucket(datetime(2018, 11, 1, 12, tzinfo=UTC), 1, 1),
    ]
    assert buckets([]) == []


def test_outlets_count_every_outlet_that_carried_a_story_and_marks_stretch_the_span():
    seen = [(REPORT, "hrw.org"), (REPORT + timedelta(hours=1), "voa")]
    carried = [*seen, (REPORT + timedelta(minutes=30), "reuters.com"), (REPORT + timedelta(minutes=40), "aol.com")]
    assert [(b.stories, b.outlets) for b in buckets(seen, carried=carried)] == [(1, 3), (1, 1)]
    stretched = buckets(seen, carried=carried, reach=[REPORT + timedelta(hours=3, minutes=10)])
    assert [(b.stories, b.outlets) for b in stretched] == [(1, 3), (1, 1), (0, 0), (0, 0)]


def test_a_long_span_is_counted_by_day():
    seen = [(REPORT, "hrw.org"), (REPORT + timedelta(days=3, hours=20), "kcna.kp"), (REPORT + timedelta(days=9), "voa")]
    series = buckets(seen)
    assert [b.start.date().day for b in series] == list(range(1, 11))
    assert series[1].start - series[0].start == DAY and sum(b.stories for b in series) == 3
    assert buckets(seen, HOUR)[0].start == datetime(2018, 11, 1, 9, tzinfo=UTC)


def test_the_svg_holds_a_point_per_bucket_and_mark_and_loads_nothing():
    seen = [(REPORT + timedelta(minutes=25 * i), f"outlet{i % 6}") for i in range(30)]
    series = buckets(seen)
    marks = [Mark(REPORT + timedelta(hours=2), "surge: 9 stories from 6 outlets in the last 6 h; usual 0.4"),
             Mark(REPORT + timedelta(hours=10), "reaction: KCNA")]
    svg = coverage_svg("hrw-report: stories and outlets", series, marks)
    root = ET.fromstring(svg)  # well-formed, on its own
    assert root.tag.endswith("svg")
    assert len(re.findall(r'class="dot ', svg)) == 2 * len(series) + len(marks)
    assert "surge: 9 stories from 6 outlets" in svg and "hrw-report: stories and outlets" in svg
    assert not re.search(r'(?:href|src)="(?:https?:)?//', svg)  # nothing fetched from anywhere
    assert "<script" not in svg  # nothing run either


def test_an_empty_chart_says_so():
    assert "no stories" in coverage_svg("quiet rule", [])

"""Coverage over time as a picture: stories and outlets per hour or day, with marks.

A chart is drawn from what the store reads (when each story was first seen and by which
outlet, when each outlet carried it) and marks on the time axis (a surge, a reaction, an
alert or update), numbered on the chart and listed in its legend, as one self-contained SVG
(pygal, no script and no link to load): it opens in a browser, a mail, or the archive's
pages as it is. Counting is plain Python here; reading the rows is the
store's, and which rows to chart (a rule's, an event's) is the caller's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pygal
from pygal.etree import etree
from pygal.style import Style

from presswatch.crawler.store.coverage import Coverage

__all__ = ["Bucket", "Chart", "Mark", "bucket_size", "buckets", "coverage_chart", "coverage_marks", "coverage_svg"]

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MAX_HOURLY = 96  # more hours than this are drawn by day
HEADLINE_CHARS = 60  # of a reacting story's headline in its mark's label

LEGEND_LINE = 22  # pixels added to the height for each line of the legend
_STYLE = dict(background="white", plot_background="white", foreground="#333", foreground_strong="#111",
              foreground_subtle="#999", font_family="sans-serif", legend_font_size=13, value_label_font_size=12)
STORIES_COLOUR, OUTLETS_COLOUR = "#1f5fa8", "#e08a1e"
MARK_COLOURS = {"surge": "#c0392b", "reaction": "#8e44ad", "alert": "#2e8b57", "": "#555555"}


@dataclass(frozen=True)
class Bucket:
    start: datetime
    stories: int
    outlets: int


@dataclass(frozen=True)
class Mark:
    at: datetime
    label: str  # what happened, e.g. "surge: 23 stories from 17 outlets in the last 6 h"
    kind: str = ""  # surge, reaction or alert (alerts and updates): its colour


@dataclass(frozen=True)
class Chart:
    """A drawn chart and what it counted."""

    svg: str
    series: list[Bucket]
    marks: list[Mark]

    @property
    def per(self) -> str:
        return "hour" if _hourly(self.series) else "day"


def bucket_size(first: datetime, last: datetime) -> timedelta:
    """Hours for a span of up to four days, else days."""
    return HOUR if last - first <= HOUR * MAX_HOURLY else DAY


def buckets(seen: Iterable[tuple[datetime, str]], size: timedelta | None = None,
            carried: Iterable[tuple[datetime, str]] | None = None, reach: Iterable[datetime] = ()) -> list[Bucket]:
    """Stories (one per `(first seen, outlet)` given) and distinct outlets per bucket, every
    bucket from the first story's to the last's, empty ones included.

    `carried` (when given) are the outlets' appearances, `(first seen, outlet)` for each
    outlet of each story: then a bucket's outlets are those that carried anything in it,
    wire copies included, and the span covers them too. The span also reaches the times in
    `reach` (the marks': a reaction two days on is drawn after two days of quiet).
    """
    seen = sorted((_utc(at), outlet) for at, outlet in seen)
    carried = seen if carried is None else sorted((_utc(at), outlet) for at, outlet in carried)
    if not seen:
        return []
    ends = [seen[0][0], seen[-1][0], *(at for at, _ in carried[:1] + carried[-1:]), *map(_utc, reach)]
    first, last = min(ends), max(ends)
    size = size or bucket_size(first, last)
    stories: dict[datetime, int] = {}
    outlets: dict[datetime, set[str]] = {}
    for at, _ in seen:
        stories[_floor(at, size)] = stories.get(_floor(at, size), 0) + 1
    for at, outlet in carried:
        outlets.setdefault(_floor(at, size), set()).add(outlet)
    series, at = [], _floor(first, size)
    while at <= _floor(last, size):
        series.append(Bucket(at, stories.get(at, 0), len(outlets.get(at, ()))))
        at += size
    return series


def coverage_svg(title: str, series: list[Bucket], marks: Iterable[Mark] = (), *,
                 width: int = 900, height: int = 360) -> str:
    """One SVG: a line of stories and one of outlets per bucket, and each mark as a numbered
    point at its time (on the stories' line), its number, time and label in the legend: the
    picture reads without a script (no tooltips), in a mail or an <img> as well."""
    marks = sorted(marks, key=lambda m: m.at)
    top = max([max(b.stories, b.outlets) for b in series] + [1])
    chart = pygal.DateTimeLine(
        title=title, style=_style(marks), width=width, height=height + LEGEND_LINE * (len(marks) + 2),
        js=[], disable_xml_declaration=True, explicit_size=True, show_legend=True, legend_at_bottom=True,
        legend_at_bottom_columns=1, truncate_legend=-1, x_label_rotation=30, dots_size=3,
        x_value_formatter=lambda at: at.strftime(_time_format(series)), x_labels=_time_labels(series),
        y_labels=list(range(0, top + 1, max(1, -(-top // 8)))), range=(0, top), print_labels=True,
        no_data_text="no stories",
    )
    chart.add("stories", [(b.start, b.stories) for b in series])
    chart.add("outlets", [(b.start, b.outlets) for b in series])
    points = [_bucket_of(series, mark.at) for mark in marks]
    for number, (mark, bucket) in enumerate(zip(marks, points, strict=True), 1):
        # A series each: each in the legend, in its kind's colour. It sits on the stories'
        # point of its bucket (its exact time is in the legend); the marks of one bucket are
        # numbered once there ("1-3"), not on top of each other.
        chart.add(f"{number}. {_utc(mark.at).strftime('%d %b %H:%M')} {mark.label}",
                  [{"value": (bucket.start, bucket.stories) if bucket else (_utc(mark.at), 0),
                    "label": _numbers(points, number)}], stroke=False, dots_size=6)
    return _without_scripts(chart)


def _numbers(points: list[Bucket | None], number: int) -> str:
    """The label the `number`th mark's point shows: the numbers of its bucket's marks, on the first."""
    same = [n for n, bucket in enumerate(points, 1) if bucket == points[number - 1]]
    if points[number - 1] is None or same[0] != number:
        return "" if points[number - 1] is not None else str(number)
    return str(number) if len(same) == 1 else f"{same[0]}-{same[-1]}"


def _without_scripts(chart) -> str:
    """The SVG without the script pygal always writes (its config for its tooltips, which
    are off): the picture then runs nothing wherever it is opened."""
    tree = chart.render_tree()
    for parent in list(tree.iter()):
        for child in [c for c in parent if isinstance(c.tag, str) and c.tag.rsplit("}", 1)[-1] == "script"]:
            parent.remove(child)
    return etree.tostring(tree, encoding="unicode")


def _style(marks: list[Mark]) -> Style:
    return Style(**_STYLE, colors=(STORIES_COLOUR, OUTLETS_COLOUR,
                                   *(MARK_COLOURS.get(m.kind, MARK_COLOURS[""]) for m in marks)))


def _time_format(series: list[Bucket]) -> str:
    return "%d %b %H:%M" if _hourly(series) else "%d %b %Y"


def _time_labels(series: list[Bucket]) -> list[datetime]:
    """At most a dozen bucket starts on the time axis, evenly spaced."""
    step = max(1, -(-len(series) // 12))
    return [b.start for b in series[::step]]


def _hourly(series: list[Bucket]) -> bool:
    return len(series) < 2 or series[1].start - series[0].start < DAY


def _bucket_of(series: list[Bucket], at: datetime) -> Bucket | None:
    """The bucket a time falls in (None before the first, or without buckets)."""
    at = _utc(at)
    before = [b for b in series if b.start <= at]
    return before[-1] if before else None


def _floor(at: datetime, size: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((at - epoch) // size) * size


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def coverage_chart(coverage: Coverage, size: timedelta | None = None) -> Chart:
    """The chart of an event's or a rule's coverage as the store read it."""
    marks = coverage_marks(coverage)
    series = buckets(((_parse(at), outlet) for at, outlet in coverage.stories), size,
                     ((_parse(at), outlet) for at, outlet in coverage.carried), [m.at for m in marks])
    per = "hour" if _hourly(series) else "day"
    title = f"{coverage.subject}: {coverage.title}" if coverage.title else coverage.subject
    return Chart(coverage_svg(f"{_shorten(title, 90)}: stories and outlets per {per}", series, marks),
                 series, marks)


def coverage_marks(coverage: Coverage) -> list[Mark]:
    """A mark for each surge, reaction, and alert or update (its channels together), in time order."""
    marks = [Mark(_parse(s["started_at"]), f"surge ({s['rule_id']}): {s['stories']} stories from "
                  f"{s['outlets']} outlets in {_hours(s['window_seconds'])}; usual {s['usual']:.1f}", "surge")
             for s in coverage.surges]
    marks += [Mark(_parse(r["at"]), f"reaction, {r['outlet'] or '?'}: {_shorten(r['title'] or '', HEADLINE_CHARS)}"
                   f" (answers event {r['answers']})", "reaction") for r in coverage.reactions]
    marks += [Mark(_parse(a["at"]), _alert_label(a), "alert") for a in coverage.alerts]
    return sorted(marks, key=lambda m: m.at)


def _alert_label(alert: dict) -> str:
    what = {"alert": "alert", "update": f"update {alert['milestone']}", "spread": f"at {alert['milestone']} outlets",
            "reaction": "reaction told", "surge": "surge told"}.get(alert["kind"], alert["kind"])
    sent = f"sent {alert['sent_at'][11:16]}" if alert["sent_at"] else "not sent yet"
    return f"{what} ({alert['rule_id']}) to {alert['channels']}, {sent}"


def _hours(seconds: int) -> str:
    return f"{seconds // 3600} h" if seconds % 3600 == 0 else f"{seconds // 60} min"


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _parse(at: str) -> datetime:
    return _utc(datetime.fromisoformat(at))

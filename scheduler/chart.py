"""Coverage over time as a picture: stories and outlets per hour or day, with marks.

A chart is drawn from counts the store gives (when each story was first seen, and by which
outlet) and marks on the time axis (a surge told, a reaction, the first alert), as one
self-contained SVG (pygal, no script and no link to load): it opens in a browser, a mail,
or the archive's pages as it is. Counting is plain Python here; reading the rows is the
store's, and which rows to chart (a rule's, an event's) is the caller's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pygal
from pygal.style import Style

__all__ = ["Bucket", "Mark", "bucket_size", "buckets", "coverage_svg"]

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MAX_HOURLY = 96  # more hours than this are drawn by day

_STYLE = Style(
    background="white", plot_background="white", foreground="#333", foreground_strong="#111",
    foreground_subtle="#999", colors=("#1f5fa8", "#e08a1e", "#c0392b"), font_family="sans-serif",
)


@dataclass(frozen=True)
class Bucket:
    start: datetime
    stories: int
    outlets: int


@dataclass(frozen=True)
class Mark:
    at: datetime
    label: str  # what happened, e.g. "surge: 23 stories from 17 outlets in the last 6 h"


def bucket_size(first: datetime, last: datetime) -> timedelta:
    """Hours for a span of up to four days, else days."""
    return HOUR if last - first <= HOUR * MAX_HOURLY else DAY


def buckets(seen: Iterable[tuple[datetime, str]], size: timedelta | None = None) -> list[Bucket]:
    """Stories (one per `(first seen, outlet)` given) and distinct outlets per bucket, every
    bucket from the first story's to the last's, empty ones included."""
    seen = sorted((_utc(at), outlet) for at, outlet in seen)
    if not seen:
        return []
    size = size or bucket_size(seen[0][0], seen[-1][0])
    start = _floor(seen[0][0], size)
    counts: dict[datetime, list] = {}
    for at, outlet in seen:
        key = _floor(at, size)
        entry = counts.setdefault(key, [0, set()])
        entry[0] += 1
        entry[1].add(outlet)
    series = []
    at = start
    while at <= _floor(seen[-1][0], size):
        stories, outlets = counts.get(at, (0, set()))
        series.append(Bucket(at, stories, len(outlets)))
        at += size
    return series


def coverage_svg(title: str, series: list[Bucket], marks: Iterable[Mark] = (), *,
                 width: int = 900, height: int = 360) -> str:
    """One SVG: a line of stories and one of outlets per bucket, and each mark as a point
    at its time (on the stories' line), labelled."""
    chart = pygal.DateTimeLine(
        title=title, style=_STYLE, width=width, height=height, js=[], disable_xml_declaration=True,
        show_legend=True, legend_at_bottom=True, x_label_rotation=30, dots_size=3, truncate_legend=-1,
        x_value_formatter=lambda at: at.strftime("%d %b %H:%M" if _hourly(series) else "%d %b %Y"),
        no_data_text="no stories", range=(0, max([b.stories for b in series] + [1])),
    )
    chart.add("stories", [(b.start, b.stories) for b in series])
    chart.add("outlets", [(b.start, b.outlets) for b in series])
    marks = sorted(marks, key=lambda m: m.at)
    if marks:
        chart.add("marks", [{"value": (_utc(m.at), _height_at(series, m.at)), "label": m.label} for m in marks],
                  stroke=False, dots_size=6)
    return chart.render(is_unicode=True)


def _hourly(series: list[Bucket]) -> bool:
    return len(series) < 2 or series[1].start - series[0].start < DAY


def _height_at(series: list[Bucket], at: datetime) -> int:
    """The stories of the bucket a mark falls in, so it sits on the line."""
    at = _utc(at)
    before = [b for b in series if b.start <= at]
    return before[-1].stories if before else 0


def _floor(at: datetime, size: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((at - epoch) // size) * size


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)

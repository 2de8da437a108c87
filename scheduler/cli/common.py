"""What every `presswatch` command shares: the --config option, loading the config, opening the store."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import click

from presswatch.config import load_config
from presswatch.config.duration import parse_duration
from presswatch.config.errors import ConfigError

CONFIG_HELP = "Config file (YAML). Default: $PRESSWATCH_CONFIG, else the shipped mission config."


def config_option(func):
    return click.option(
        "--config", "-c", "config_path", envvar="PRESSWATCH_CONFIG",
        type=click.Path(dir_okay=False, path_type=Path), help=CONFIG_HELP,
    )(func)


def load(config_path: Path | None):
    """Load the config or exit 2 listing every problem."""
    try:
        return load_config(config_path)
    except ConfigError as exc:
        where = config_path or "the default config"
        click.echo(f"presswatch: {where} has {len(exc.problems)} problem(s):", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(2)


@contextmanager
def open_store(config):
    """The config's database, for reading; a clear error when presswatch has not run yet."""
    # Imported here to keep `presswatch --help` fast: sqlite-utils (with numpy) takes about 135 ms.
    from presswatch.crawler.store.database import Store

    if not config.database.exists():
        raise click.ClickException(f"no database yet at {config.database}; run presswatch first")
    store = Store(str(config.database))
    try:
        yield store
    finally:
        store.close()


# A story, event or alert number: SQLite's integers stop at 2**63 - 1 (a larger one would
# stop the command with an OverflowError instead of "no story N").
MAX_ID = 2**63 - 1
ID = click.IntRange(min=1, max=MAX_ID)
# Spans back from now longer than this mean "everything": 200 years reach before any
# archive, and a longer one would overflow a datetime (--since 99999999d).
LONGEST_SPAN = timedelta(days=200 * 365)


def within_reach(span: timedelta) -> timedelta:
    """`span`, or LONGEST_SPAN when longer: now minus it is always a datetime."""
    return min(span, LONGEST_SPAN)


def parse_since(text: str):
    try:
        return within_reach(parse_duration(text))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc


def write_chart(coverage, path: Path) -> str:
    """Draw `coverage` (the store's) into the SVG file `path`; the sentence saying where, and what it counts."""
    # Imported here to keep `presswatch --help` fast: pygal is only for charts.
    from presswatch.scheduler.chart import coverage_chart

    chart = coverage_chart(coverage)
    try:
        path.write_text(chart.svg, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot write the chart to {path}: {exc.strerror or exc}") from exc
    stories = sum(b.stories for b in chart.series)
    if not stories:
        return f"wrote {path}: {coverage.subject}, no stories in that time (an empty chart)"
    return (f"wrote {path}: {coverage.subject}, {stories} stories in {len(chart.series)} bucket(s) of one "
            f"{chart.per}, {len(chart.marks)} mark(s)")

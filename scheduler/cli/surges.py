"""`presswatch surges`: the surges of the rules' coverage, open and past, with their figures.

Judging them is the daemon's (crawler/stories/surges.py); this command only reads the store.
"""

from __future__ import annotations

from datetime import timedelta

import click

from presswatch.crawler.rules.surge import figures_text
from presswatch.scheduler.cli.common import config_option, load, open_store
from presswatch.scheduler.delivery.markup import one_line


@click.command("surges")
@config_option
@click.option("--rule", "rule_id", help="Only this rule's surges.")
@click.option("--open", "only_open", is_flag=True, help="Only surges that have not calmed yet.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1), help="At most this many.")
def surges_command(config_path, rule_id, only_open, limit):
    """List surges, newest first: id, rule, when it started and calmed, its figures, its main event.

    \b
    Examples:
      presswatch surges
      presswatch surges --rule hrw-report --open
    """
    config = load(config_path)
    with open_store(config) as store:
        found = store.surges(rule_id, limit, only_open)
    if not found:
        click.echo("no surges" + (f" of rule {rule_id}" if rule_id else "") + (" open" if only_open else ""))
    for surge in found:
        click.echo(surge_line(surge))


def surge_line(surge: dict) -> str:
    """One surge: `12  hrw-report  2018-11-01 09:20 -> open  23 stories from 17 outlets... (event 4: title)`."""
    started = surge["started_at"][:16].replace("T", " ")
    calmed = surge["calmed_at"][:16].replace("T", " ") if surge["calmed_at"] else "open"
    figures = figures_text(surge["stories"], surge["outlets"], timedelta(seconds=surge["window_seconds"]),
                           surge["usual"])
    event = f"  (event {surge['event_id']}: {one_line(surge['event_title'] or '')})" if surge["event_id"] else ""
    return f"{surge['id']:>5}  {surge['rule_id']:<20} {started} -> {calmed:<16}  {figures}{event}"

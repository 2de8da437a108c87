"""The `presswatch` command: a thin shell over the library.

It parses arguments, loads the config once, and turns presswatch's errors into plain
sentences and exit codes (2 for a bad config, 1 for other failures).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from presswatch.config import default_config_text
from presswatch.config.errors import PresswatchError
from presswatch.scheduler.cli.alerts import alerts
from presswatch.scheduler.cli.archive import export, search, stats
from presswatch.scheduler.cli.common import config_option, load
from presswatch.scheduler.cli.db import db
from presswatch.scheduler.cli.doctor import doctor
from presswatch.scheduler.cli.events import event_command, events
from presswatch.scheduler.cli.rules import rules
from presswatch.scheduler.cli.serve import serve
from presswatch.scheduler.cli.sources import sources
from presswatch.scheduler.cli.stories import stories_command, story_command
from presswatch.scheduler.cli.surges import surges_command
from presswatch.scheduler.cli.worker import worker
from presswatch.scheduler.demo import run_demo
from presswatch.scheduler.logs import setup_logging


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="presswatch")
def main():
    """presswatch: watch news sources, fold copies into stories, alert on keyword rules.

    \b
    Quick start:
      presswatch demo                 see it work on a bundled replay, offline
      presswatch init presswatch.yaml write the default config to edit
      presswatch run --once           fetch every source once, send alerts, exit
    """


@main.command()
@config_option
@click.option("--once", is_flag=True, help="Run every source once, deliver alerts, then exit (for cron and tests).")
def run(config_path, once):
    """Run the daemon: fetch sources on their schedules and deliver alerts.

    \b
    Example:
      presswatch run --config /etc/presswatch/presswatch.yaml
      presswatch run --once
    """
    # Imported here to keep `presswatch --help` fast: Scrapy and Twisted take about a second.
    from presswatch.scheduler.daemon import run as run_daemon

    config = load(config_path)
    redact = setup_logging(config.log.level, config.log.format, config.secrets)
    try:
        code = run_daemon(config, redact, once=once)
    except PresswatchError as exc:
        raise click.ClickException(redact(str(exc))) from exc
    sys.exit(code)


@main.command("check-config")
@config_option
def check_config(config_path):
    """Check a config and say what it holds; exit 2 listing every problem if it is wrong.

    \b
    Example:
      presswatch check-config --config presswatch.yaml
    """
    config = load(config_path)
    click.echo(
        f"ok: {len(config.sources)} sources, {len(config.rules)} rules, "
        f"{len(config.channels)} channels; database {config.database}"
    )


@main.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), default="presswatch.yaml")
@click.option("--force", is_flag=True, help="Overwrite the file if it exists.")
def init(path, force):
    """Write the default (mission) config to PATH, to edit.

    \b
    Example:
      presswatch init /etc/presswatch/presswatch.yaml
    """
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; use --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(default_config_text(), encoding="utf-8")
    click.echo(f"wrote {path}; check it with: presswatch check-config --config {path}")


@main.command()
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the demo's database and config in this folder instead of a temporary one.")
def demo(keep):
    """Replay the November 2018 coverage from a loopback server through the real pipeline.

    Needs no network: a bundled, made-up replay of the Human Rights Watch report's
    coverage and KCNA's rebuttal is served on 127.0.0.1, fetched, deduplicated, matched,
    and the alerts are printed as they arrive.

    \b
    Example:
      presswatch demo
    """

    sys.exit(run_demo(keep))


for command in (sources, stories_command, story_command, events, event_command, rules, alerts, serve, doctor,
                search, export, stats, db, worker, surges_command):
    main.add_command(command)

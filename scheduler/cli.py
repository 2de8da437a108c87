"""The `presswatch` command: a thin shell over the library.

It parses arguments, loads the config once, and turns presswatch's errors into plain
sentences and exit codes (2 for a bad config, 1 for other failures).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from presswatch.config.errors import ConfigError, PresswatchError

CONFIG_HELP = "Config file (YAML). Default: $PRESSWATCH_CONFIG, else the shipped mission config."


def config_option(func):
    return click.option(
        "--config", "-c", "config_path", envvar="PRESSWATCH_CONFIG",
        type=click.Path(dir_okay=False, path_type=Path), help=CONFIG_HELP,
    )(func)


def load(config_path: Path | None):
    """Load the config or exit 2 listing every problem."""
    from presswatch.config import load_config

    try:
        return load_config(config_path)
    except ConfigError as exc:
        where = config_path or "the default config"
        click.echo(f"presswatch: {where} has {len(exc.problems)} problem(s):", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(2)


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
    from presswatch.scheduler.daemon import run as run_daemon
    from presswatch.scheduler.logs import setup_logging

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
@config_option
def sources(config_path):
    """List every source, one line each: state, last success, last error, item counts.

    \b
    States: new (never run), ok, quiet (nothing new for much longer than usual),
    failing (several runs in a row failed), recovered (works again).
    Example:
      presswatch sources --config presswatch.yaml
    """
    from presswatch.crawler.store import Store

    config = load(config_path)
    if not config.database.exists():
        raise click.ClickException(f"no database yet at {config.database}; run presswatch first")
    store = Store(str(config.database))
    try:
        states = {state.id: state for state in store.source_states()}
    finally:
        store.close()
    for source in config.sources:
        click.echo(source_line(source, states.get(source.id)))


def source_line(source, state) -> str:
    if state is None or state.runs == 0:
        return f"{source.id:<24} new        never run"
    error = f"  last error: {state.last_error}" if state.last_error else ""
    if state.fallback_since:
        error = f"  on its fallback since {state.fallback_since}" + error
    return (f"{source.id:<24} {state.state:<10} last success: {state.last_success_at or 'never'}"
            f"  runs: {state.runs}  items: {state.items_seen + state.articles_new}"
            f" (new {state.articles_new})  failures in a row: {state.failures}{error}")


@main.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), default="presswatch.yaml")
@click.option("--force", is_flag=True, help="Overwrite the file if it exists.")
def init(path, force):
    """Write the default (mission) config to PATH, to edit.

    \b
    Example:
      presswatch init /etc/presswatch/presswatch.yaml
    """
    from presswatch.config import default_config_text

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
    from presswatch.scheduler.demo import run_demo

    sys.exit(run_demo(keep))

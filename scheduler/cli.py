"""The `presswatch` command: a thin shell over the library.

It parses arguments, loads the config once, and turns presswatch's errors into plain
sentences and exit codes (2 for a bad config, 1 for other failures).
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import click

from presswatch.config.errors import ConfigError, PresswatchError
from presswatch.scheduler.markup import one_line

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


@main.group(invoke_without_command=True)
@config_option
@click.pass_context
def sources(ctx, config_path):
    """List every source, one line each: state, last success, last error, item counts.

    \b
    States: new (never run), ok, quiet (nothing new for much longer than usual),
    failing (several runs in a row failed), layout (layout changed?: its listing
    answers but no link matches follow, or its article pages have no text or look
    like listings), recovered (works again).
    Example:
      presswatch sources --config presswatch.yaml
      presswatch sources test kcna --limit 3
    """
    ctx.obj = {"config_path": config_path}
    if ctx.invoked_subcommand is not None:
        return
    config = load(config_path)
    with open_store(config) as store:
        states = {state.id: state for state in store.source_states()}
    for source in config.sources:
        click.echo(source_line(source, states.get(source.id)))


@contextmanager
def open_store(config):
    """The config's database, for reading; a clear error when presswatch has not run yet."""
    from presswatch.crawler.store import Store

    if not config.database.exists():
        raise click.ClickException(f"no database yet at {config.database}; run presswatch first")
    store = Store(str(config.database))
    try:
        yield store
    finally:
        store.close()


def source_line(source, state) -> str:
    if state is None or state.runs == 0:
        return f"{source.id:<24} new        never run"
    error = f"  last error: {state.last_error}" if state.last_error else ""
    if state.state == "layout":
        error = f"  layout changed?: {state.layout_reason}" + error
    if state.fallback_since:
        error = f"  on its fallback since {state.fallback_since}" + error
    return (f"{source.id:<24} {state.state:<10} last success: {state.last_success_at or 'never'}"
            f"  runs: {state.runs}  items: {state.items_seen + state.articles_new}"
            f" (new {state.articles_new})  failures in a row: {state.failures}{error}")


@main.command("stories")
@config_option
@click.option("--since", default="7d", show_default=True, help="Only stories first seen this recently (e.g. 12h, 30d).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1), help="At most this many.")
@click.option("--min-outlets", default=1, show_default=True, type=click.IntRange(min=1),
              help="Only stories carried by at least this many outlets.")
def stories_command(config_path, since, limit, min_outlets):
    """List recent stories, newest first: id, first seen, outlets, articles, rules, title.

    \b
    Example:
      presswatch stories --since 30d --min-outlets 3
    """
    from datetime import UTC, datetime

    config = load(config_path)
    since_at = datetime.now(UTC) - parse_since(since)
    with open_store(config) as store:
        found = store.stories(since_at, limit, min_outlets)
    if not found:
        click.echo(f"no stories first seen in the last {since}")
    for story in found:
        rules = ",".join(story.rules) or "-"
        click.echo(f"{story.id:>6}  {story.first_seen_at[:16].replace('T', ' ')}  "
                   f"outlets {story.outlet_count:>3}  articles {story.article_count:>3}  "
                   f"{'/'.join(story.languages) or '-':<6} rules {rules:<16} {one_line(story.title)}")


@main.command("story")
@config_option
@click.argument("story_id", type=int)
def story_command(config_path, story_id):
    """Show a story: its articles and URLs, their revisions, the rules it matched, its alerts.

    \b
    Example:
      presswatch story 42
    """
    config = load(config_path)
    with open_store(config) as store:
        story = store.story(story_id)
    if story is None:
        raise click.ClickException(f"no story {story_id}; presswatch stories lists them")
    for line in story_lines(story):
        click.echo(line)


def story_lines(story: dict):
    yield f"story {story['id']}: {one_line(story['title'])}"
    yield (f"first seen {story['first_seen_at']}, {story['outlet_count']} outlet(s), "
           f"{story['article_count']} article(s), languages {story['languages']}")
    yield "articles:"
    for a in story["articles"]:
        yield (f"  #{a['id']} {a['first_seen_at']} {a['outlet']} (source {a['source_id']}, "
               f"{a['language'] or '?'}, from {a['extracted_from']}): {one_line(a['title'])}")
        yield f"      {one_line(a['url'])}"
        for rev in a["revisions"]:
            yield f"      revision: until {rev['replaced_at']} the title was: {one_line(rev['title'])}"
    yield "matches:" if story["matches"] else "matches: none"
    for m in story["matches"]:
        yield f"  {m['rule_id']} on article #{m['article_id']} at {m['matched_at']}: {m['terms']}"
    yield "alerts:" if story["alerts"] else "alerts: none"
    for o in story["alerts"]:
        what = f"update at {o['milestone']} outlets" if o["kind"] == "spread" else f"rule {o['rule_id']}"
        sent = f" sent {o['sent_at']}" if o["sent_at"] else ""
        error = f" last error: {o['last_error']}" if o["last_error"] else ""
        yield f"  #{o['id']} {what} -> {o['channel_id']}: {o['state']} (tries {o['tries']}){sent}{error}"


def parse_since(text: str):
    from presswatch.config.duration import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc


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


from presswatch.scheduler.sources_cli import sources_test  # noqa: E402

sources.add_command(sources_test)

from presswatch.scheduler.rules_cli import rules  # noqa: E402

main.add_command(rules)

from presswatch.scheduler.alerts_cli import alerts  # noqa: E402

main.add_command(alerts)

from presswatch.scheduler.serve_cli import serve  # noqa: E402

main.add_command(serve)

from presswatch.scheduler.doctor_cli import doctor  # noqa: E402

main.add_command(doctor)

from presswatch.scheduler.archive_cli import export, search, stats  # noqa: E402

main.add_command(search)
main.add_command(export)
main.add_command(stats)

from presswatch.scheduler.db_cli import db  # noqa: E402

main.add_command(db)

from presswatch.scheduler.worker_cli import worker  # noqa: E402

main.add_command(worker)

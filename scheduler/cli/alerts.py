"""`presswatch alerts`: the outbox, as people check it; retry an alert; test a channel.

`presswatch alerts` lists the newest alerts with their state and each URL's last
outcome; `presswatch alerts retry ID` queues a dead, uncertain or pending alert to be
sent now (to the URLs that have not confirmed it); `presswatch alerts test CHANNEL`
sends a test message to each URL of a channel and prints each one's result. URLs are
shown as Apprise masks them, with the config's secrets redacted. The commands parse
arguments and print; the outbox is the store's, sending is `target`'s.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from presswatch.config.redact import Redactor
from presswatch.config.schema import CONSOLE
from presswatch.crawler.errors import StoreError
from presswatch.scheduler.cli.common import ID, load, open_store
from presswatch.scheduler.delivery.markup import one_line
from presswatch.scheduler.logs import setup_logging

__all__ = ["alert_lines", "alerts"]

STATES = ("pending", "sending", "uncertain", "dead", "sent")
CONFIG_HELP = "Config file (YAML). Default: $PRESSWATCH_CONFIG, else the shipped mission config."
MAX_ERROR = 300  # characters of an error shown


def _config_option(func):
    return click.option("--config", "-c", "config_path", envvar="PRESSWATCH_CONFIG",
                        type=click.Path(dir_okay=False, path_type=Path), help=CONFIG_HELP)(func)


@click.group(invoke_without_command=True)
@_config_option
@click.option("--state", "states", multiple=True, type=click.Choice(STATES),
              help="Only alerts in this state (repeat for several).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1), help="At most this many.")
@click.pass_context
def alerts(ctx, config_path, states, limit):
    """List the newest alerts: state, rule and channel, tries, each URL's last outcome.

    \b
    States: pending (to send, or held for a digest, quiet hours or a rate limit),
    sending, sent, uncertain (a send timed out: it may have arrived; never sent again
    by itself), dead (gave up after delivery.max_tries; see its last error).
    Examples:
      presswatch alerts
      presswatch alerts --state dead --state uncertain
      presswatch alerts retry 42
      presswatch alerts test analysts
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj = config_path
        return
    config = load(config_path)
    redact = _redactor(config)
    with open_store(config) as store:
        counts = store.outbox_counts()
        rows = store.recent_outbox(tuple(states), limit)
    click.echo("outbox: " + (", ".join(_count(counts, s) for s in STATES if counts.get(s)) or "empty"))
    for row in rows:
        for line in alert_lines(row):
            click.echo(redact(line))


@alerts.command("retry")
@click.argument("alert_ids", nargs=-1, required=True, type=ID, metavar="ID...")
@_config_option
@click.pass_context
def retry(ctx, alert_ids, config_path):
    """Send a dead, uncertain or pending alert again now, to the URLs that have not confirmed it.

    For an uncertain alert, first check that its service did not get it: a retry sends it
    again to the URL whose send timed out. The running daemon sends it at its next
    delivery (every delivery.every); presswatch run --once also does.

    \b
    Example:
      presswatch alerts retry 42
    """
    config = load(config_path or ctx.obj)
    failed = False
    with open_store(config) as store:
        for alert_id in alert_ids:
            try:
                row = store.retry(alert_id)
            except StoreError as exc:
                click.echo(f"presswatch: {exc}", err=True)
                failed = True
                continue
            click.echo(f"alert {row.id} queued again ({row.rule_id} -> {row.channel_id}): "
                       f"{_one_line(row.title)[:80]}")
    if failed:
        sys.exit(1)


@alerts.command("test")
@click.argument("channel_id", metavar="CHANNEL")
@_config_option
@click.pass_context
def test(ctx, channel_id, config_path):
    """Send a test message to each URL of CHANNEL and print each URL's result; exit 1 if one failed.

    The message is a made-up story alert written with the channel's format and
    templates; nothing is stored. Tags are ignored: every URL gets it.

    \b
    Example:
      presswatch alerts test analysts
    """
    # Imported here to keep `presswatch --help` fast: the alert records take about 7 ms.
    from presswatch.scheduler.delivery.message import Style, render, sample_alert
    from presswatch.scheduler.delivery.target import build_channel, send_to

    config = load(config_path or ctx.obj)
    redact = setup_logging("error", config.log.format, config.secrets)
    _keep_apprise_reasons()
    if channel_id == CONSOLE:
        message = render([sample_alert(CONSOLE)], Style())
        click.echo(f"{message.title}\n{message.body}\n\nconsole: printed")
        return
    channels = {channel.id: channel for channel in config.channels}
    if channel_id not in channels:
        known = ", ".join([*channels, CONSOLE])
        raise click.ClickException(f"no channel {channel_id!r} in the config (channels: {known})")
    built = build_channel(channels[channel_id], config.delivery.timeout.total_seconds(), redact)
    message = render([sample_alert(channel_id)], built.style)
    failures = 0
    for target in built.targets:
        outcome = send_to(target, message, config.delivery.timeout)
        tags = f"  tags: {', '.join(sorted(target.tags))}" if target.tags else ""
        error = f": {_short(redact(outcome.error))}" if outcome.error else ""
        state = {"timeout": "timed out"}.get(outcome.state, outcome.state)
        click.echo(f"{state:<9} {target.key}{tags}  ({outcome.elapsed:.1f}s){error}")
        failures += outcome.state != "sent"
    if failures:
        click.echo(f"{failures} of {len(built.targets)} URLs did not confirm the test message", err=True)
        sys.exit(1)


def _keep_apprise_reasons() -> None:
    """Apprise's warnings hold each failure's reason, which its result keeps for us to print:
    let them be recorded, but not logged a second time."""

    logger = logging.getLogger("apprise")
    logger.setLevel(logging.WARNING)
    logger.addHandler(logging.NullHandler())
    logger.propagate = False


def alert_lines(row) -> list[str]:
    """One alert as `presswatch alerts` shows it: a head line, its title, its URLs, its error."""
    what = {"spread": f"update at {row.milestone} outlets",
            "update": f"event {row.event_id} update {row.milestone}",
            "reaction": f"answers event {row.event_id}"}.get(row.kind, row.kind)
    lines = [(f"#{row.id:<6} {row.state:<9} {what:<8} {row.rule_id} -> {row.channel_id}  "
             f"tries {row.tries}  {_when(row)}")]
    if row.title:
        lines.append(f"        {_one_line(row.title)[:100]}")
    for result in sorted(row.url_results, key=lambda r: r.key):
        error = f": {_short(result.error)}" if result.error and result.state != "sent" else ""
        lines.append(f"        {result.key}  {result.state} {result.at[:16].replace('T', ' ')}{error}")
    if row.last_error and row.state != "sent":
        lines.append(f"        last error: {_short(row.last_error)}")
    return lines


def _count(counts: dict[str, int], state: str) -> str:
    held = f" ({counts['held']} held)" if state == "pending" and counts.get("held") else ""
    return f"{counts[state]} {state}{held}"


def _when(row) -> str:
    if row.state == "sent":
        return f"sent {_time(row.sent_at)}"
    if row.state == "pending" and row.pace is not None:
        why = {"digest": "the rule's digest", "quiet": "the end of quiet hours",
               "rate": "room under the channel's rate limit"}.get(row.pace, row.pace)
        return f"held for {why}: {_time(row.next_attempt_at)}"
    if row.state == "pending":
        return f"next try {_time(row.next_attempt_at)}"
    return f"queued {_time(row.created_at)}"


def _time(stamp: str | None) -> str:
    return (stamp or "")[:16].replace("T", " ") + (" UTC" if stamp else "")


def _one_line(text: str | None) -> str:
    return one_line(text)


def _short(text: str | None) -> str:
    text = _one_line(text)
    return text if len(text) <= MAX_ERROR else text[:MAX_ERROR - 1] + "…"


def _redactor(config):
    return Redactor(config.secrets)

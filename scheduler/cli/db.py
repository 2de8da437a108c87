"""`presswatch db`: care for the database: an online backup, retention by hand, VACUUM.

`db backup PATH` copies the live database (the daemon may be writing) with SQLite's
backup API as one consistent snapshot, checks the copy and only then puts it at PATH;
restoring is copying that file back while presswatch is stopped. `db prune` drops the
texts of old articles (retention.article_text, or --older-than), keeping titles, URLs,
stories, matches and alerts; the daemon does the same once a day. `db vacuum` gives the
freed space back to the file system and refuses while a daemon runs. The commands parse
arguments and print; the SQL is the store's.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from presswatch.config.duration import parse_duration
from presswatch.crawler.errors import StoreError
from presswatch.scheduler.cli.common import load, open_store, within_reach

__all__ = ["db", "file_size", "prune_texts"]

CONFIG_HELP = "Config file (YAML). Default: $PRESSWATCH_CONFIG, else the shipped mission config."
MIN_AGE = timedelta(days=1)  # as retention.article_text: younger texts are what rules are tried on


def _config_option(func):
    return click.option("--config", "-c", "config_path", envvar="PRESSWATCH_CONFIG",
                        type=click.Path(dir_okay=False, path_type=Path), help=CONFIG_HELP)(func)


@click.group()
def db():
    """Care for the database: back it up, drop old article texts, vacuum it.

    \b
    Examples:
      presswatch db backup /var/backups/presswatch-$(date +%F).db
      presswatch db prune --older-than 365d --dry-run
      presswatch db vacuum
    """


@db.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@_config_option
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
def backup(path, config_path, force):
    """Copy the database to PATH: one consistent snapshot, safe while the daemon runs.

    SQLite's backup API copies it in one read transaction (the daemon's writes carry on);
    the copy is one self-contained file (no -wal), checked with PRAGMA integrity_check
    before it is put at PATH. To restore: stop presswatch, delete the database's -wal and
    -shm files, and copy the backup over the database file.

    \b
    Example:
      presswatch db backup /var/backups/presswatch-$(date +%F).db
    """
    config = load(config_path)
    if path.resolve() == Path(config.database).resolve():
        raise click.ClickException(f"{path} is the database itself; give another path")
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; use --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_store(config) as store:
        try:
            store.backup(path)
        except StoreError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"backed up {config.database} to {path} ({file_size(path)}); integrity check: ok")


@db.command("prune")
@_config_option
@click.option("--older-than", help="Drop the texts of articles first seen longer ago than this (e.g. 365d; "
                                   "at least 1d). Default: retention.article_text.")
@click.option("--dry-run", is_flag=True, help="Only say how many texts would be dropped.")
def prune(config_path, older_than, dry_run):
    """Drop the texts of old articles now, as retention.article_text does once a day.

    Titles, URLs, stories, outlets, matches (with their snippets) and alerts are kept,
    titles stay searchable, and copies of an old story still join it. Texts of earlier
    versions of those articles go too. Safe while the daemon runs (it works in small
    batches); presswatch db vacuum afterwards gives the space back to the file system.

    \b
    Examples:
      presswatch db prune
      presswatch db prune --older-than 365d --dry-run
    """
    config = load(config_path)
    age = _age(older_than, config.retention.article_text)
    before = datetime.now(UTC) - within_reach(age)
    cutoff = before.isoformat(timespec="seconds")
    with open_store(config) as store:
        if dry_run:
            count = store.texts_to_drop(before)
            click.echo(f"would drop the texts of {count} article(s) first seen before {cutoff}; nothing changed")
            return
        articles, revisions = prune_texts(store, before)
    click.echo(f"dropped the texts of {articles} article(s) and {revisions} earlier version(s) first seen "
               f"before {cutoff}; titles, URLs, stories, matches and alerts are kept")


def _age(older_than: str | None, configured: timedelta | None) -> timedelta:
    if older_than is None:
        if configured is None:
            raise click.UsageError("retention.article_text is not set in the config; give --older-than "
                                   "(e.g. --older-than 365d)")
        return configured
    try:
        age = parse_duration(older_than)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from exc
    if age < MIN_AGE:
        raise click.BadParameter(f'"{older_than}" is shorter than the minimum of 1d', param_hint="--older-than")
    return age


def prune_texts(store, before: datetime) -> tuple[int, int]:
    """Drop every text older than `before`, a batch (one transaction) at a time."""
    articles = revisions = 0
    while True:
        done = store.drop_texts(before)
        if done == (0, 0):
            return articles, revisions
        articles, revisions = articles + done[0], revisions + done[1]


@db.command("vacuum")
@_config_option
def vacuum(config_path):
    """Rewrite the database without its free space (after presswatch db prune, say).

    VACUUM rewrites the whole file and holds up every write meanwhile, so it refuses
    while the daemon runs: stop it first. It needs free disk space about the size of
    the database.

    \b
    Example:
      systemctl stop presswatch && presswatch db vacuum && systemctl start presswatch
    """
    config = load(config_path)
    with open_store(config) as store:
        try:
            store.lock_writer()
        except StoreError as exc:
            raise click.ClickException(
                f"presswatch is running on {config.database}; stop it first: VACUUM rewrites the whole "
                "file and would hold up the daemon's writes meanwhile") from exc
        before = file_size(config.database)
        try:
            store.vacuum()
        except StoreError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"vacuumed {config.database}: {before} -> {file_size(config.database)}")


def file_size(path) -> str:
    """The size of a database file with its -wal, for people: 1.2 MB."""
    size = sum(os.path.getsize(p) for p in (str(path), f"{path}-wal") if os.path.exists(p))
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000

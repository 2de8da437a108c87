"""`presswatch search`, `export` and `stats`: the stored archive, as analysts read it.

`search QUERY` ranks stories by their articles' title and text (SQLite FTS5, bm25 with the
title weighted above the text) and prints each with its date, source, title and a marked
snippet (when more than 10,000 articles match, the store ranks only the 10,000 most recently
stored, and the count says so; `--all-matches` ranks them all); `export
stories|articles|alerts` writes rows as stored, in CSV, JSON or JSON Lines; `stats` counts
articles, stories, matches and alerts per source and per day.

Queries are words, not FTS5 syntax (`presswatch.crawler.store.search` reads them). The commands parse
arguments and print; the SQL is the store's.
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import click

from presswatch.config.duration import parse_duration
from presswatch.config.redact import Redactor
from presswatch.crawler.errors import StoreError
from presswatch.crawler.store.search import QueryError, fts_query
from presswatch.scheduler.cli.common import config_option, load, open_store, within_reach
from presswatch.scheduler.delivery.markup import one_line

__all__ = ["export", "parse_when", "search", "search_lines", "stats",
           "stats_lines", "write_rows"]

EXPORTS = ("stories", "articles", "events", "alerts")
FORMATS = ("csv", "json", "jsonl")



# --- dates --------------------------------------------------------------------------------


def parse_when(text: str | None, option: str, now: datetime | None = None) -> datetime | None:
    """A point in time from a duration back from now (30d, 12h) or a UTC date or time
    (2018-11-01, 2018-11-01T09:00); None stays None."""

    if text is None:
        return None
    now = now or datetime.now(UTC)
    try:
        return now - within_reach(parse_duration(text))
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text) if "T" in text or " " in text.strip() else \
            datetime.combine(date.fromisoformat(text), datetime.min.time())
    except ValueError:
        raise click.BadParameter(f'"{text}" is neither a duration (30d, 12h) nor a date (2018-11-01)',
                                 param_hint=option) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


_SINCE_HELP = "Only what was first seen since: a duration back from now (30d, 12h) or a UTC date (2018-11-01)."
_UNTIL_HELP = "Only what was first seen before: a duration back from now or a UTC date."
_DATED_SINCE = "Only articles dated since (published, else first seen): a duration back from now (30d) or a UTC date."
_DATED_UNTIL = "Only articles dated before (published, else first seen): a duration back from now or a UTC date."


# --- search -------------------------------------------------------------------------------


@click.command()
@click.argument("query")
@config_option
@click.option("--since", help=_DATED_SINCE)
@click.option("--until", help=_DATED_UNTIL)
@click.option("--source", "sources", multiple=True, help="Only articles of this source id (repeat for several).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="Show at most this many stories.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of the hits instead.")
@click.option("--fts", "raw", is_flag=True, help="QUERY is SQLite FTS5 syntax, passed on as it is (NEAR, ^).")
@click.option("--all-matches", is_flag=True,
              help="Rank every match, not only the 10,000 most recently stored (seconds for a word in "
                   "most of a million articles).")
def search(query, config_path, since, until, sources, limit, as_json, raw, all_matches):
    """Search the stored articles' titles and texts; print the best stories first.

    Each story shows once, with its best matching article: story id, date (published,
    else first seen), source, title, URL and a snippet marked «like this». Words are
    ANDed; use "quoted phrases", OR, NOT and parentheses, word* for a prefix, and
    title: or text: to search one of them. Case does not matter. A Hangul word also
    finds it with a particle attached (성폭력 finds 성폭력을).

    When more than 10,000 articles match, only the 10,000 most recently stored are
    ranked, and the count says so: narrow the query, use --since, or --all-matches.

    \b
    Examples:
      presswatch search 'sexual violence' --since 30d
      presswatch search '"Human Rights Watch" (KCNA OR 로동신문)' --source kcna
      presswatch search 'title:성폭력 북한' --json
    """
    # Imported here to keep `presswatch --help` fast: the store's records take about 7 ms.
    from presswatch.crawler.store import archive as stored

    try:
        match = query if raw else fts_query(query)
    except QueryError as exc:
        raise click.BadParameter(str(exc), param_hint="QUERY") from exc
    config = load(config_path)
    with open_store(config) as store:
        try:
            hits = store.search(match, parse_when(since, "--since"), parse_when(until, "--until"),
                                tuple(sources), limit, cap=None if all_matches else stored.SEARCH_CAP)
        except StoreError as exc:
            raise click.ClickException(f"{query!r} cannot be searched: {exc.__cause__ or exc}") from exc
    if as_json:
        click.echo(json.dumps([{k: v for k, v in hit.items() if k not in _PER_QUERY} for hit in hits],
                              ensure_ascii=False, indent=2))
        if hits and hits[0]["capped"]:
            click.echo(f"note: {_matched(hits[0])} articles match; ranked among the {hits[0]['ranked']:,} most "
                       "recently stored only (--all-matches ranks them all)", err=True)
        return
    for line in search_lines(hits, query):
        click.echo(line)


# Fields of every hit that tell of the whole search, not of the hit: --json leaves them out.
_PER_QUERY = ("total", "articles", "ranked", "capped")


def _matched(hit: dict) -> str:
    """How many articles matched: exact, or "10,000+" when the store did not count them all."""
    return f"{hit['ranked']:,}+" if hit["articles"] is None else f"{hit['articles']:,}"


def search_lines(hits: list[dict], query: str):
    """Search hits, for people: a count, then each story's line, URL and snippet.

    When the store ranked only the most recently stored matches (`capped`), the count is
    of articles (exact, or "10,000+"), and the line says what was ranked.
    """
    if not hits:
        yield f"no stored article matches {query!r}"
        return
    total, first = hits[0]["total"], hits[0]
    if first["capped"]:
        yield (f"{_matched(first)} articles match {query!r}; the best {len(hits)} "
               f"{'story' if len(hits) == 1 else 'stories'}, ranked among the {first['ranked']:,} most recent "
               "(narrow the query, use --since, or --all-matches to rank them all):")
    else:
        shown = f"; the best {len(hits)}" if total > len(hits) else ""
        yield f"{total} {'story matches' if total == 1 else 'stories match'} {query!r}{shown}:"
    for hit in hits:
        more = f"  (+{hit['hits'] - 1} more of its articles)" if hit["hits"] > 1 else ""
        yield (f"  story {hit['story_id']:>6}  {_time(hit['date'])}  {hit['source_id']:<20} "
               f"{_one_line(hit['title'])}{more}")
        yield f"      {hit['url']}"
        dropped = "  [text dropped by retention]" if hit["text_dropped_at"] else ""
        yield f"      {_one_line(hit['snippet'])}{dropped}"


# --- export -------------------------------------------------------------------------------


@click.command()
@click.argument("what", type=click.Choice(EXPORTS))
@config_option
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True,
              help="csv (JSON arrays as text), json (one array) or jsonl (one object a line).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of standard output.")
@click.option("--since", help=_SINCE_HELP + " Alerts: queued since.")
@click.option("--until", help=_UNTIL_HELP)
@click.option("--source", "sources", multiple=True,
              help="Only stories carried by, and articles of, this source id (repeat for several).")
@click.option("--rule", "rules", multiple=True, help="Only stories matched by this rule, their articles, "
                                                     "and its alerts (repeat for several).")
def export(what, config_path, fmt, output, since, until, sources, rules):
    """Export stories, articles, events or alerts as stored: CSV, JSON or JSON Lines.

    \b
    stories:  every column, with the rules each matched and the sources that carried it
    articles: every column, text included (empty once dropped by retention), and event_id
    events:   each event with its stories and the rules they matched
    alerts:   the outbox (alerts, spread updates, health notices) with each one's state,
              its story's title and URL, and the match's terms and snippet
    Times are UTC (ISO 8601). Rows come in id order.

    \b
    Examples:
      presswatch export stories --since 30d --rule hrw-report -o stories.csv
      presswatch export articles --format jsonl --source kcna > kcna.jsonl
      presswatch export alerts --format json --since 2018-11-01
    """
    config = load(config_path)
    span = parse_when(since, "--since"), parse_when(until, "--until")
    with open_store(config) as store:
        columns = store.export_columns(what)
        rows = store.export(what, *span, tuple(sources), tuple(rules))
        if what == "alerts":
            rows = _redacted(rows, config)
        if output is None:
            write_rows(sys.stdout, rows, columns, fmt)
            return
        with open(output, "w", encoding="utf-8", newline="") as out:
            count = write_rows(out, rows, columns, fmt)
    click.echo(f"wrote {count} {what} to {output}", err=True)


def _redacted(rows, config):
    """Errors of alerts may quote a URL: the config's secrets never leave in an export."""

    redact = Redactor(config.secrets)
    for row in rows:
        yield {**row, "last_error": redact(row["last_error"]) if row["last_error"] else row["last_error"]}


def write_rows(out, rows, columns: list[str], fmt: str) -> int:
    """Write rows (dicts) to a text stream as csv, json or jsonl; returns how many."""
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        for count, row in enumerate(rows, 1):
            writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, list) else v
                             for k, v in row.items()})
        return count
    if fmt == "json":
        out.write("[")
    for count, row in enumerate(rows, 1):
        if fmt == "json":
            out.write(",\n" if count > 1 else "\n")
        out.write(json.dumps(row, ensure_ascii=False))
        if fmt == "jsonl":
            out.write("\n")
    if fmt == "json":
        out.write("\n]\n" if count else "]\n")
    return count


# --- stats --------------------------------------------------------------------------------


@click.command()
@config_option
@click.option("--since", default="30d", show_default=True, help=_SINCE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: since, sources, days.")
def stats(config_path, since, as_json):
    """Count what the archive holds, per source and per day (UTC).

    \b
    Per source: articles stored, stories it carried, new stories (it was the first to
    carry them), rule matches on its articles, alerts queued for them (one per channel).
    Per day: articles stored, new stories, new events a rule matched, matches, alerts
    queued, event updates queued, stories linked as reactions, surges told and alerts sent.
    A source with nothing in the span still shows, with zeros.
    Example:
      presswatch stats --since 7d
    """
    config = load(config_path)
    since_at = parse_when(since, "--since")
    with open_store(config) as store:
        by_source, by_day = store.stats_by_source(since_at), store.stats_by_day(since_at)
    if as_json:
        click.echo(json.dumps({"since": since_at.isoformat(timespec="seconds"), "sources": by_source,
                               "days": by_day}, ensure_ascii=False, indent=2))
        return
    for line in stats_lines(by_source, by_day, since_at):
        click.echo(line)


def stats_lines(by_source: list[dict], by_day: list[dict], since: datetime):
    """The two tables, for people."""
    yield f"since {_time(since.isoformat())} UTC"
    yield ""
    yield f"{'source':<24} {'articles':>8} {'stories':>8} {'new':>6} {'matches':>8} {'alerts':>7}"
    for row in by_source:
        yield (f"{row['source']:<24} {row['articles']:>8} {row['stories']:>8} {row['new_stories']:>6} "
               f"{row['matches']:>8} {row['alerts']:>7}")
    yield ""
    yield (f"{'day':<10} {'articles':>8} {'stories':>8} {'events':>7} {'matches':>8} {'alerts':>7} "
           f"{'updates':>8} {'reactions':>9} {'surges':>6} {'sent':>6}")
    if not by_day:
        yield "(nothing stored in this span)"
    for row in by_day:
        yield (f"{row['day']:<10} {row['articles']:>8} {row['stories']:>8} {row['events']:>7} "
               f"{row['matches']:>8} {row['alerts']:>7} {row['updates']:>8} {row['reactions']:>9} "
               f"{row['surges']:>6} {row['sent']:>6}")


def _time(stamp: str | None) -> str:
    return (stamp or "")[:16].replace("T", " ")


def _one_line(text: str | None) -> str:
    return one_line(text)


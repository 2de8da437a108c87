"""`presswatch stories` and `story`: the stories the daemon folded, as an analyst reads them."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from presswatch.scheduler.cli.common import ID, config_option, load, open_store, parse_since
from presswatch.scheduler.delivery.markup import one_line


@click.command("stories")
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


@click.command("story")
@config_option
@click.argument("story_id", type=ID)
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

"""`presswatch events`, `event`, `events split`, `events merge`, `events link` and `events
unlink`: events as an analyst reads and corrects them.

An event is the stories of one real-world happening across outlets and languages; the
daemon groups them as they arrive (crawler/stories/events.py). When it grouped wrongly,
`split` takes a story out (it then alerts as its own event) and `merge` joins two events.
A story may answer an earlier event (crawler/stories/reactions.py): `link` links it by hand,
`unlink` removes a link.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from presswatch.config import CONSOLE
from presswatch.scheduler.cli.common import ID, config_option, load, open_store, parse_since, write_chart
from presswatch.scheduler.delivery.markup import one_line


@click.group("events", invoke_without_command=True)
@config_option
@click.option("--since", default="7d", show_default=True, help="Only events first seen this recently (e.g. 12h, 30d).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1), help="At most this many.")
@click.option("--min-stories", default=1, show_default=True, type=click.IntRange(min=1),
              help="Only events of at least this many stories.")
@click.pass_context
def events(ctx, config_path, since, limit, min_stories):
    """List recent events, newest first: id, first seen, outlets, languages, stories, rules, title,
    and what an event answers or how often it was answered ([answers 12], [answered 2x]).

    \b
    Examples:
      presswatch events --since 30d --min-stories 2
      presswatch event 12
      presswatch events split 345
      presswatch events merge 12 15
    """
    if ctx.invoked_subcommand is not None:
        return
    config = load(config_path)
    with open_store(config) as store:
        found = store.events(datetime.now(UTC) - parse_since(since), limit, min_stories)
        marks = {event["id"]: reaction_mark(store.event_reactions(event["id"])) for event in found}
    if not found:
        click.echo(f"no events first seen in the last {since}")
    for event in found:
        click.echo(f"{event['id']:>6}  {event['first_seen_at'][:16].replace('T', ' ')}  "
                   f"outlets {event['outlet_count']:>3}  {'/'.join(event['languages']) or '-':<6} "
                   f"stories {event['story_count']:>3}  rules {','.join(event['rules']) or '-':<16} "
                   f"{one_line(event['title'])}{marks[event['id']]}")


def reaction_mark(reactions: dict) -> str:
    """"  [answers 12]", "  [answered 2x]": what `event ID` shows of an event's reactions."""
    answers = sorted({r["event_id"] for r in reactions["answers"]})
    parts = [f"answers {','.join(map(str, answers))}"] if answers else []
    if reactions["answered_by"]:
        parts.append(f"answered {len(reactions['answered_by'])}x")
    return f"  [{'; '.join(parts)}]" if parts else ""


@click.command("event")
@config_option
@click.argument("event_id", type=ID)
@click.option("--chart", "chart_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Instead, write the event's coverage chart to this SVG file: stories and outlets per "
                   "hour (per day past four days), its surges, reactions and alerts marked.")
def event_command(config_path, event_id, chart_path):
    """Show an event: the timeline of its stories (outlet, language, link, rules) and its alerts.

    \b
    Examples:
      presswatch event 12
      presswatch event 12 --chart event-12.svg
    """
    config = load(config_path)
    if chart_path is not None:
        return chart_event(config, event_id, chart_path)
    with open_store(config) as store:
        event = store.event(event_id)
        if event is not None:
            event["reactions"] = store.event_reactions(event_id)
    if event is None:
        raise click.ClickException(f"no event {event_id}; presswatch events lists them")
    for line in event_lines(event):
        click.echo(line)


def chart_event(config, event_id: int, path: Path) -> None:
    """`event ID --chart FILE`: the event's coverage chart, drawn from the store's reads."""
    with open_store(config) as store:
        coverage = store.event_coverage(event_id)
    if coverage is None:
        raise click.ClickException(f"no event {event_id}; presswatch events lists them")
    if coverage.merged_into is not None:
        click.echo(f"event {event_id} was merged into event {coverage.merged_into}: charting that one")
    click.echo(write_chart(coverage, path))


def event_lines(event: dict):
    if event["merged_into"]:
        yield f"event {event['id']} was merged into event {event['merged_into']}"
    yield f"event {event['id']}: {one_line(event['title'])}"
    yield (f"first seen {event['first_seen_at']}, last {event['last_seen_at']}, {event['story_count']} "
           f"stories, {event['outlet_count']} outlet(s), languages {event['languages']}")
    yield "stories:"
    for s in event["stories"]:
        yield (f"  {s['first_seen_at'][:16].replace('T', ' ')}  story {s['id']}  {s['outlet'] or '?'} "
               f"({s['language'] or '?'}), {s['outlet_count']} outlet(s), rules {','.join(s['rules']) or '-'}: "
               f"{one_line(s['title'])}")
        yield f"      {one_line(s['url'])}"
    yield from reaction_lines(event.get("reactions"))
    yield "alerts:" if event["alerts"] else "alerts: none"
    for o in event["alerts"]:
        what = {"update": f"update {o['milestone']}", "spread": f"spread at {o['milestone']} outlets",
                "reaction": "reaction"}.get(o["kind"], "alert")
        sent = f" sent {o['sent_at']}" if o["sent_at"] else ""
        yield (f"  #{o['id']} {o['created_at'][:16].replace('T', ' ')} {what} (story {o['story_id']}) "
               f"rule {o['rule_id']} -> {o['channel_id']}: {o['state']}{sent}")


def reaction_lines(reactions: dict | None):
    """Both ways: the events this one's stories answer, and the stories answering it."""
    for r in (reactions or {}).get("answers", ()):
        yield (f"Answers: event {r['event_id']} {one_line(r['title'])} (first seen {r['first_seen_at'][:10]}, "
               f"{r['outlet_count']} outlet(s)), through story {r['story_id']}"
               + (" (linked by an analyst)" if r["linked_by"] == "analyst" else ""))
    for r in (reactions or {}).get("answered_by", ()):
        names = f"; shares: {', '.join(r['evidence'])}" if r["evidence"] else ""
        yield (f"Answered by: event {r['event_id']} / story {r['story_id']} {one_line(r['outlet'] or '?')}: "
               f"{one_line(r['title'])}{names}")


@events.command("split")
@config_option
@click.argument("story_id", type=ID)
def split_command(config_path, story_id):
    """Take a story out of its event into an event of its own; it alerts as its own event
    (the channels of the rules it matched).

    \b
    Example:
      presswatch events split 345
    """
    # Imported here to keep `presswatch --help` fast: grouping loads numpy and the model's code.
    from presswatch.crawler.errors import StoreError
    from presswatch.crawler.stories.events import split_story

    config = load(config_path)
    channels = {r.id: tuple(r.channels) or (CONSOLE,) for r in config.rules if r.enabled and r.alert == "event"}
    with open_store(config) as store:
        try:
            old, new, queued = split_story(store, story_id, channels)
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"story {story_id} left event {old}: it is event {new} now, {queued} alert(s) queued")


@events.command("merge")
@config_option
@click.argument("into", type=ID)
@click.argument("other", type=ID)
def merge_command(config_path, into, other):
    """Merge event OTHER into event INTO: its stories join INTO; later stories of either
    go out as updates of INTO. Nothing is alerted again.

    \b
    Example:
      presswatch events merge 12 15
    """
    # Imported here to keep `presswatch --help` fast: grouping loads numpy and the model's code.
    from presswatch.crawler.errors import StoreError
    from presswatch.crawler.stories.events import merge_events

    config = load(config_path)
    with open_store(config) as store:
        try:
            moved = merge_events(store, into, other)
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"event {other} merged into event {into}: {moved} story(ies) moved")


@events.command("link")
@config_option
@click.argument("story_id", type=ID)
@click.argument("event_id", type=ID)
def link_command(config_path, story_id, event_id):
    """Link story STORY as the reaction to event EVENT (replacing any link it had); the
    event's thread gets a reply naming it, as when presswatch links a story.

    \b
    Example:
      presswatch events link 345 12
    """
    config = load(config_path)
    with open_store(config) as store:
        problem = store.link_problem(story_id, event_id)
        if problem:
            raise click.ClickException(problem)
        with store.transaction():
            store.remove_reaction(story_id)
            store.add_reaction(story_id, event_id, None, [], 0.0, linked_by="analyst")
            queued = store.queue_reaction(story_id, event_id)
    click.echo(f"story {story_id} answers event {event_id}: {queued} reply(ies) queued to its thread")


@events.command("unlink")
@config_option
@click.argument("story_id", type=ID)
def unlink_command(config_path, story_id):
    """Remove the link of story STORY to the event it answers (a reply not sent yet is dropped);
    presswatch will not link the story again (its copies and revisions neither), until
    `events link` does.

    \b
    Example:
      presswatch events unlink 345
    """
    config = load(config_path)
    with open_store(config) as store:
        with store.transaction():
            removed = store.remove_reaction(story_id, refuse=True)
    if not removed:
        raise click.ClickException(f"story {story_id} is linked to no event")
    click.echo(f"story {story_id} answers no event now")

"""Writing messages from outbox rows: one alert, an event update, a reaction told in the thread
it answers, a surge alert, a health or spread notice, or a digest.

A message has a plain-text title and a body in the channel's format (text, Markdown or
HTML). Feed-derived text is escaped for that format (`markup`), so a headline holding
`<script>` or `*stars*` reaches the reader as typed. A channel may give templates for a
story alert's title and body (`{title}`, `{url}`...: `config.alerts.TEMPLATE_FIELDS`);
health notices, spread updates and digests keep the built-in layout. A long snippet is
cut at a sentence or word boundary, with a link to the rest.

Titles are plain text, as Apprise hands them to services that show a title apart (a
mail's subject); for services that put the title into the body, `title_markup` is the
same title escaped for the format. Sending is `deliver`'s business.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from presswatch.config.alerts import TEMPLATE_FIELDS
from presswatch.crawler.rules.surge import figures_text
from presswatch.crawler.store.records import OutboxRow
from presswatch.scheduler.delivery.markup import (
    Line,
    Link,
    Raw,
    Strong,
    TEXT,
    Text,
    cut,
    escape,
    link,
    one_line,
    render_lines,
    url_value,
)

MAX_BODY = 1500  # characters of a snippet kept in an alert
MAX_DIGEST = 50  # stories listed in one digest message; more go in the next one
DEFAULT_TITLE = "[presswatch] {rule}: {title}"
_HOLES = re.compile(r"\n{3,}")
_PACE = {"digest": "digest", "quiet": "held over quiet hours", "rate": "held by the channel's rate limit"}

__all__ = ["DEFAULT_TITLE", "MAX_BODY", "MAX_DIGEST", "TEMPLATE_FIELDS", "Message", "Style", "alert_body",
           "alert_title", "render", "sample_alert"]


@dataclass(frozen=True)
class Style:
    """How a channel wants its messages: a format and optional alert templates."""

    format: str = TEXT
    title: str | None = None
    body: str | None = None

    @classmethod
    def of(cls, channel) -> Style:
        """The style of a configured channel (None: the console's)."""
        if channel is None:
            return cls()
        return cls(channel.format, channel.title, channel.body)


@dataclass(frozen=True)
class Message:
    title: str  # plain text, one line
    title_markup: str  # the title escaped for `format`, for services that blend it into the body
    body: str
    format: str


def render(rows: Sequence[OutboxRow], style: Style = Style()) -> Message:
    """The message for one row, or the digest of several."""
    if len(rows) > 1:
        return digest_message(rows, style)
    row = rows[0]
    if row.kind == "alert":
        return alert_message(row, style)
    if row.kind == "update":
        return update_message(row, style)
    if row.kind == "surge":
        return surge_message(row, style)
    if row.kind == "reaction":
        return reaction_message(row, style)
    plain = notice_title(row)
    lines = health_lines(row) if row.kind == "health" else spread_lines(row)
    return Message(plain, escape(plain, style.format), render_lines(lines, style.format), style.format)


# --- story alerts ---------------------------------------------------------------------------


def alert_message(row: OutboxRow, style: Style) -> Message:
    fmt = style.format
    template = style.title or DEFAULT_TITLE
    title = one_line(template.format_map(template_values(row, TEXT)))
    title_markup = one_line(template.format_map(template_values(row, fmt)))
    if style.body is None:
        body = render_lines(alert_lines(row, fmt), fmt)
    else:
        body = _HOLES.sub("\n\n", style.body.format_map(template_values(row, fmt))).strip()
    return Message(title, title_markup, body, fmt)


def template_values(row: OutboxRow, fmt: str) -> dict[str, str]:
    """The fields a template may use, escaped for `fmt`."""
    values = {
        "title": escape(one_line(row.title), fmt),
        "url": url_value(row.url, fmt),
        "outlet": escape(one_line(row.outlet), fmt),
        "snippet": snippet_text(row, fmt),
        "rule": escape(row.rule_id, fmt),
        "terms": escape(", ".join(one_line(t) for t in row.terms), fmt),
        "published": escape(story_date(row), fmt),
        "outlets": escape(", ".join(one_line(o) for o in row.outlets), fmt),
    }
    return values


def snippet_text(row: OutboxRow, fmt: str) -> str:
    """The snippet escaped for `fmt`; a long one is cut cleanly and ends with a link to the rest."""
    kept, was_cut = cut(one_line(row.snippet), MAX_BODY)
    if not was_cut:
        return escape(kept, fmt)
    return f"{escape(kept, fmt)} {link(row.url, '… more', fmt) if fmt != TEXT else '…'}"


def story_date(row: OutboxRow) -> str:
    return (row.published_at or row.first_seen_at or "")[:10]


def alert_lines(row: OutboxRow, fmt: str) -> list[Line]:
    """The built-in alert: headline, outlet and date, link, snippet, rule and terms."""
    lines: list[Line] = [
        (Strong(one_line(row.title)),),
        (Text(" · ".join(p for p in (one_line(row.outlet), story_date(row)) if p)),),
        (Link(row.url),),
    ]
    lines += response_lines(row)
    if row.snippet:
        lines += [(), (Raw(snippet_text(row, fmt)),)]
    terms = ", ".join(one_line(t) for t in row.terms)
    lines += [(), (Text(f"Rule: {row.rule_id}" + (f" (matched: {terms})" if terms else "")),)]
    return lines


def alert_title(row: OutboxRow, style: Style = Style()) -> str:
    """The plain title of a row's message."""
    return render([row], style).title


def alert_body(row: OutboxRow, style: Style = Style()) -> str:
    """The body of a row's message."""
    return render([row], style).body


# --- event updates ----------------------------------------------------------------------------


def update_message(row: OutboxRow, style: Style) -> Message:
    """Later stories of an event that alerted, titled "Re: " and the alert's own title, so
    mail clients that thread by subject, and chat clients that group by title, put it under
    the alert."""
    first = alert_message(replace(row, kind="alert", title=row.thread_title or row.title), style)
    title = one_line(f"Re: {first.title}")
    lines = update_lines(row)
    return Message(title, escape(title, style.format), render_lines(lines, style.format), style.format)


def update_lines(row: OutboxRow) -> list[Line]:
    """Each story the update reports: headline, outlet, language and date, link."""
    entries = row.entries
    outlets = ", ".join(dict.fromkeys(one_line(e["outlet"] or "") for e in entries if e["outlet"]))
    languages = ", ".join(dict.fromkeys(e["language"] for e in entries if e["language"]))
    count = f"{len(entries)} more {'story' if len(entries) == 1 else 'stories'}"
    lines: list[Line] = [
        (Strong(one_line(row.thread_title or row.title)),),
        (Text(f"Update {row.milestone}: {count} of this event"
              + (f" from {outlets}" if outlets else "") + (f" ({languages})" if languages else "")),),
    ]
    for entry in entries:
        # The source's name as alerts show it, and the site it counts as an outlet under.
        name = one_line(entry["source"] or "")
        outlet = one_line(entry["outlet"] or "")
        meta = " · ".join(p for p in (name if name == outlet or not outlet else f"{name} ({outlet})",
                                      entry["language"] or "", (entry["dated"] or "")[:10]) if p)
        lines += [(), (Strong(one_line(entry["title"])),), (Text(meta),), (Link(entry["url"]),)]
    lines += [(), (Text(f"Rule: {row.rule_id}. Every story of the event: presswatch event {row.event_id}"),)]
    return lines


# --- reactions ---------------------------------------------------------------------------------


def response_lines(row: OutboxRow) -> list[Line]:
    """What a story linked as a reaction answers: "In response to: <event title>, first seen
    <date>, <n> outlets"; nothing for other stories."""
    if row.answers_event is None:
        return []
    outlets = f"{row.answers_outlets} outlet{'' if row.answers_outlets == 1 else 's'}"
    return [(Text(f"In response to: {one_line(row.answers_title)}, first seen "
                  f"{row.answers_first_seen[:10]}, {outlets}"),)]


def reaction_message(row: OutboxRow, style: Style) -> Message:
    """A reaction told in the thread of the event it answers: titled "Re: " and that
    thread's alert title, so it lands under the alert, like an event update."""
    thread = row.thread_title or row.answers_title or row.title
    first = alert_message(replace(row, kind="alert", title=thread, answers_event=None), style)
    title = one_line(f"Re: {first.title}")
    return Message(title, escape(title, style.format), render_lines(reaction_lines(row), style.format),
                   style.format)


def reaction_lines(row: OutboxRow) -> list[Line]:
    """Who answered, with what headline and link; where to see both events."""
    return [
        (Strong(one_line(row.thread_title or row.answers_title)),),
        (Text(f"Answered by {one_line(row.outlet)}: {one_line(row.title)} "), Link(row.url)),
        (Text(" · ".join(p for p in (story_date(row),) if p)),),
        (),
        (Text(f"Rule: {row.rule_id}. The event and its reactions: presswatch event {row.event_id}"),),
    ]


# --- health notices and spread updates --------------------------------------------------------


def notice_title(row: OutboxRow) -> str:
    if row.kind == "health" and row.event_to == "layout":
        return f"[presswatch] source {row.event_source}: layout changed?"
    if row.kind == "health":
        return f"[presswatch] source {row.event_source} is {row.event_to}"
    return f"[presswatch] now {row.milestone} outlets: {one_line(row.title)}"


def health_lines(row: OutboxRow) -> list[Line]:
    """A source's change of state: what changed, since when, and where the source is."""
    return [
        (Text(one_line(row.title)),),
        (Text(f"Source: {one_line(row.outlet)} ({row.event_source}), "), Link(row.url)),
        (Text(f"State: {row.event_from} -> {row.event_to} at {row.first_seen_at}"),),
        (),
        (Text("presswatch sources  lists every source with its last success and last error."),),
    ]


def spread_lines(row: OutboxRow) -> list[Line]:
    """A story that alerted has spread: how far, and where."""
    shown = ", ".join(one_line(o) for o in row.outlets)
    more = row.outlet_count - len(row.outlets)
    return [
        (Text(one_line(row.title)),),
        (Text(f"Now carried by {row.milestone} outlets: {shown}" + (f" and {more} more" if more > 0 else "")),),
        (Text(f"First seen {row.first_seen_at[:10]}: "), Link(row.url)),
        (),
        (Text(f"presswatch story {row.story_id}  lists every copy."),),
    ]


# --- digests ------------------------------------------------------------------------------


def digest_message(rows: Sequence[OutboxRow], style: Style) -> Message:
    """Several held alerts (and spread updates) in one message, one entry per story."""
    fmt = style.format
    rules = ", ".join(dict.fromkeys(row.rule_id for row in rows))
    title = f"[presswatch] {len(rows)} alerts: {one_line(rules)}"
    why = ", ".join(dict.fromkeys(_PACE[row.pace] for row in rows if row.pace in _PACE)) or "digest"
    lines: list[Line] = [(Text(f"{len(rows)} alerts ({why}):"),)]
    for number, row in enumerate(rows, 1):
        lines += [()] + digest_entry(number, row)
    return Message(title, escape(title, fmt), render_lines(lines, fmt), fmt)


def digest_entry(number: int, row: OutboxRow) -> list[Line]:
    headline = one_line(row.title)
    if row.kind == "spread":
        headline = f"now {row.milestone} outlets: {headline}"
    elif row.kind == "update":
        headline = f"update {row.milestone} ({len(row.entries)} more): {one_line(row.thread_title or headline)}"
    elif row.kind == "surge":
        return surge_entry(number, row)
    elif row.kind == "reaction":
        headline = f"answered by {one_line(row.outlet)}: {headline} (re: {one_line(row.thread_title)})"
    meta = " · ".join(p for p in (one_line(row.outlet), story_date(row), f"rule {row.rule_id}") if p)
    terms = ", ".join(one_line(t) for t in row.terms)
    return [
        (Text(f"{number}) "), Strong(headline)),
        (Text(meta + (f" (matched: {terms})" if terms else "")),),
        (Link(row.url),),
    ]



# --- surges -----------------------------------------------------------------------------------


def surge_figures(row: OutboxRow) -> str:
    """"23 stories from 17 outlets in the last 6 h; usual 0.4", as the surge was told."""
    facts = row.surge
    if facts is None:
        return "surge"
    return figures_text(facts.stories, facts.outlets, timedelta(seconds=facts.window_seconds), facts.usual)


def surge_message(row: OutboxRow, style: Style) -> Message:
    """A rule's coverage surged: the figures in the title, the main event and hints in the body."""
    title = one_line(f"[presswatch] surge: {row.rule_id}: {surge_figures(row)}")
    body = render_lines(surge_lines(row), style.format)
    return Message(title, escape(title, style.format), body, style.format)


def surge_lines(row: OutboxRow) -> list[Line]:
    """The figures against the usual, the event holding most of the surge, where to read on."""
    facts = row.surge
    lines: list[Line] = [(Strong(f"Surge of rule {row.rule_id}: {surge_figures(row)}"),)]
    if facts is not None:
        ratio = facts.stories / facts.expected if facts.expected > 0 else float("inf")
        lines.append((Text(f"{facts.stories} of the {facts.total} new stories; its usual share would give "
                           f"{facts.expected:.1f} ({ratio:.0f}x, p = {facts.p_value:.1g}). "
                           f"Since {facts.started_at[:16].replace('T', ' ')} UTC."),))
    if facts is not None and facts.event_id is not None and row.title:
        lines += [(), (Text("Most of it: "), Strong(one_line(row.title))),
                  (Text(f"{_count(facts.event_stories, 'story', 'stories')} from "
                        f"{_count(row.outlet_count, 'outlet', 'outlets')} so far"),),
                  (Link(row.url),)]
    hours = max(1, round(facts.window_seconds / 3600)) if facts is not None else 6
    hints = [f"presswatch stories --since {hours}h  lists every recent story."]
    if facts is not None and facts.event_id is not None:
        hints.insert(0, f"presswatch event {facts.event_id}  lists the event's stories;")
    lines += [()] + [(Text(hint),) for hint in hints]
    lines.append((Text(f"No other surge of {row.rule_id} is told until this one has calmed."),))
    return lines


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def surge_entry(number: int, row: OutboxRow) -> list[Line]:
    """A surge in a digest: its figures, the main event's headline and link."""
    lines: list[Line] = [(Text(f"{number}) "), Strong(f"surge: {surge_figures(row)}")),
                         (Text(f"rule {row.rule_id}" + (f" · most of it: {one_line(row.title)}" if row.title else "")),)]
    if row.url:
        lines.append((Link(row.url),))
    return lines


def sample_alert(channel_id: str) -> OutboxRow:
    """A made-up story alert, for `presswatch alerts test`: its title shows escaping at work."""

    now = datetime.now(UTC).isoformat(timespec="seconds")
    return OutboxRow(
        id=0, kind="alert", story_id=None, rule_id="test", channel_id=channel_id, state="sending", tries=1,
        next_attempt_at=now, last_error=None, created_at=now, sent_at=None,
        title="presswatch test: <b>tags</b>, *stars* and _underscores_ arrive as typed",
        url="https://github.com/presswatch/presswatch", outlet="presswatch", published_at=now,
        first_seen_at=now, terms=("test",),
        snippet=f"If you read this, channel {channel_id} reaches this service. Matched terms are "
                "marked «like this».",
    )

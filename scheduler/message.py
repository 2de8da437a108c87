"""Writing an alert's message from an outbox row: a title and a plain-text body.

Bodies are sent with Apprise's TEXT format, so nothing from a feed is interpreted as
markup by a service that renders HTML or Markdown.
"""

from __future__ import annotations

from presswatch.crawler.store import OutboxRow

MAX_BODY = 1500


def alert_title(row: OutboxRow) -> str:
    if row.kind == "health":
        return f"[presswatch] source {row.event_source} is {row.event_to}"
    if row.kind == "spread":
        return f"[presswatch] now {row.milestone} outlets: {_one_line(row.title)}"
    return f"[presswatch] {row.rule_id}: {_one_line(row.title)}"


def alert_body(row: OutboxRow) -> str:
    if row.kind == "health":
        return health_body(row)
    if row.kind == "spread":
        return spread_body(row)
    date = (row.published_at or row.first_seen_at or "")[:10]
    lines = [_one_line(row.title), " · ".join(p for p in (row.outlet, date) if p), row.url]
    if row.snippet:
        lines += ["", _cut(row.snippet, MAX_BODY)]
    terms = ", ".join(row.terms)
    lines += ["", f"Rule: {row.rule_id}" + (f" (matched: {terms})" if terms else "")]
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return " ".join((text or "").split())


def _cut(text: str, limit: int) -> str:
    """Cut at the last word boundary before `limit`, marking the cut."""
    if len(text) <= limit:
        return text
    head = text[:limit].rsplit(" ", 1)[0]
    return head.rstrip(" ,;:") + " …"


def health_body(row: OutboxRow) -> str:
    """A source's change of state: what changed, since when, and where the source is."""
    return "\n".join([
        _one_line(row.title),
        f"Source: {row.outlet} ({row.event_source}), {row.url}",
        f"State: {row.event_from} -> {row.event_to} at {row.first_seen_at}",
        "",
        "presswatch sources  lists every source with its last success and last error.",
    ])


def spread_body(row: OutboxRow) -> str:
    """A story that alerted has spread: how far, and where."""
    shown = ", ".join(row.outlets)
    more = row.outlet_count - len(row.outlets)
    return "\n".join([
        _one_line(row.title),
        f"Now carried by {row.milestone} outlets: {shown}" + (f" and {more} more" if more > 0 else ""),
        f"First seen {row.first_seen_at[:10]}: {row.url}",
        "",
        f"presswatch story {row.story_id}  lists every copy.",
    ])

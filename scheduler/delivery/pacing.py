"""When an alert goes out: now, or held for a digest, the end of quiet hours, or room under a rate.

Pure functions of the rule's and channel's settings, the time and the channel's recent
sends; nothing here reads the database or sends anything (`deliver` does both).

- A rule with a `digest` holds every alert for the next digest time.
- A rule's `quiet_hours` hold alerts until they end; everything held then goes out
  together, as one digest.
- A channel's `rate_limit` counts the messages that reached it in the window; an alert
  over it is held until the window has room, and everything held so goes out together.
- Health notices are never held. A held time that falls in quiet hours moves to their end.

Held alerts are never dropped: they wait in the outbox, visible in `presswatch alerts`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

from presswatch.config.alerts import zone


@dataclass(frozen=True)
class Hold:
    """Hold an alert until `until` (UTC); `pace` says why: digest, quiet or rate."""

    until: datetime
    pace: str


def plan(kind: str, rule, rate, default_zone: str, now: datetime, sends: list[datetime]) -> Hold | None:
    """Whether an alert of `kind` for `rule` (None if gone from the config) waits, and until when.

    `rate` is the channel's rate limit (or None); `sends` the times messages reached the
    channel within the rate's window, oldest first.
    """
    if kind == "health":
        return None
    tz = zone(rule.timezone or default_zone) if rule is not None else zone(default_zone)
    quiet = rule.quiet_hours if rule is not None else None
    hold = None
    if rule is not None and rule.digest is not None:
        hold = Hold(next_digest(rule.digest, now, tz), "digest")
    elif quiet is not None and (end := quiet_end(quiet, now, tz)) is not None:
        return Hold(end, "quiet")
    elif rate is not None and (free := rate_free_at(rate.count, rate.per, sends, now)) is not None:
        hold = Hold(free, "rate")
    if hold is not None and quiet is not None and (end := quiet_end(quiet, hold.until, tz)) is not None:
        hold = Hold(end, hold.pace)
    return hold


def quiet_end(quiet, at: datetime, tz: tzinfo) -> datetime | None:
    """When the quiet hours `at` falls in end (UTC), or None if `at` is not in them."""
    local = at.astimezone(tz)
    now, start, end = local.time(), quiet.start, quiet.end
    if start < end:
        inside, end_day = start <= now < end, local.date()
    else:  # past midnight, as 22:00-07:00
        inside = now >= start or now < end
        end_day = local.date() + timedelta(days=1) if now >= start else local.date()
    if not inside:
        return None
    ends = _utc(end_day, end, tz)
    if ends <= at:
        # In the repeated hour of a change back from summer time, a wall-clock end comes
        # twice: the first has passed when `at` is in the second pass; the end is the second.
        ends = datetime.combine(end_day, end, tzinfo=tz).replace(fold=1).astimezone(UTC)
    return ends if ends > at else None


def next_digest(digest, at: datetime, tz: tzinfo) -> datetime:
    """The first digest time at or after `at` (UTC).

    `every` counts from local midnight each day, so `every: 1h` sends on the hour and an
    interval that does not divide a day starts again at midnight.
    """
    local = at.astimezone(tz)
    if digest.at:
        candidates = [_utc(local.date() + timedelta(days=day), moment, tz)
                      for day in (0, 1) for moment in digest.at]
        return min(c for c in candidates if c >= at)
    midnight = datetime.combine(local.date(), time(0))
    since = local.replace(tzinfo=None) - midnight
    slot = midnight + digest.every * math.ceil(since / digest.every)
    if slot.date() != local.date():
        slot = midnight + timedelta(days=1)
    found = slot.replace(tzinfo=tz).astimezone(UTC)
    return max(found, at)  # a slot skipped into by a clock change is now


def rate_free_at(count: int, per: timedelta, sends: list[datetime], now: datetime) -> datetime | None:
    """When the window next has room for a message, or None if it has room now.

    `sends` are the times messages reached the channel, oldest first.
    """
    recent = sorted(s for s in sends if s > now - per)
    if len(recent) < count:
        return None
    # Room comes when all but count-1 of the recent sends have left the window.
    return recent[len(recent) - count] + per


def _utc(day, moment: time, tz: tzinfo) -> datetime:
    return datetime.combine(day, moment, tzinfo=tz).astimezone(UTC)

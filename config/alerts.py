"""Checked types for how alerts are paced and written: times, zones, digests, limits, templates.

Each type parses or refuses one value and raises `Invalid` with a sentence for people,
so the loader reports it with its path (`rules[2].quiet_hours: "22-7" is not a time
range ...`). The models that hold them are `schema`'s; when a held alert goes out, and
how a template is filled in and escaped, is the scheduler's business.

YAML reads `17:30` unquoted as the number 1050 (base 60): times of day are refused as
numbers, with a hint to quote them, rather than guessed.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import time, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from presswatch.config.checks import AppriseUrl, check_apprise_url, duration_type, lowercase
from presswatch.config.duration import format_duration, parse_duration
from presswatch.config.problems import Invalid, Problem, did_you_mean

TEMPLATE_FIELDS = ("title", "url", "outlet", "snippet", "rule", "terms", "published", "outlets")
"""The named fields a channel's title and body templates may use."""

MessageFormat = Annotated[Literal["text", "markdown", "html"], BeforeValidator(lowercase)]
OnTimeout = Annotated[Literal["uncertain", "retry"], BeforeValidator(lowercase)]

_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_TAG = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_TIME_HINT = 'write it in quotes, as "07:30" (unquoted, YAML reads 7:30 as a number)'


# --- time zones and times of day ----------------------------------------------------------


@lru_cache(maxsize=64)
def zone(name: str) -> tzinfo:
    """The time zone of a checked name; UTC needs no time zone database."""
    return timezone.utc if name == "UTC" else ZoneInfo(name)


def _check_timezone(value: str) -> str:
    try:
        zone(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid("{value} is not a time zone (use an IANA name such as UTC, Asia/Seoul "
                      "or Europe/London)") from None
    return value


Timezone = Annotated[str, AfterValidator(_check_timezone)]


def parse_time(value: Any) -> time:
    """A time of day from "HH:MM"; raises Invalid."""
    if isinstance(value, time):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        raise Invalid(f"{{value}} is not a time of day: {_TIME_HINT}")
    found = _TIME.fullmatch(value.strip())
    if not found:
        raise Invalid('{value} is not a time of day (use 24-hour HH:MM, such as "07:30" or "22:00")')
    return time(int(found[1]), int(found[2]))


def format_time(value: time) -> str:
    return value.strftime("%H:%M")


LocalTime = Annotated[time, BeforeValidator(parse_time), PlainSerializer(format_time, return_type=str)]


@dataclass(frozen=True)
class QuietSpan:
    """Quiet hours, from `start` to `end` local time; past midnight when end <= start."""

    start: time
    end: time

    def __str__(self) -> str:
        return f"{format_time(self.start)}-{format_time(self.end)}"


def _parse_quiet(value: Any) -> QuietSpan:
    if isinstance(value, QuietSpan):
        return value
    if not isinstance(value, str) or value.count("-") != 1:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise Invalid(f'{{value}} is not a time range: {_TIME_HINT.replace("07:30", "22:00-07:00")}')
        raise Invalid('{value} is not a time range (use "22:00-07:00": from, to, local time)')
    start_text, end_text = value.split("-")
    try:
        start, end = parse_time(start_text), parse_time(end_text)
    except Invalid:
        raise Invalid('{value} is not a time range (use "22:00-07:00": from, to, local time)') from None
    if start == end:
        raise Invalid("{value} starts and ends at the same time; give a range such as 22:00-07:00")
    return QuietSpan(start, end)


QuietHours = Annotated[QuietSpan, BeforeValidator(_parse_quiet), PlainSerializer(str, return_type=str)]


# --- rate limits --------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """At most `count` messages per `per`."""

    count: int
    per: timedelta

    def __str__(self) -> str:
        return f"{self.count}/{format_duration(self.per)}"


def _parse_rate(value: Any) -> Rate:
    if isinstance(value, Rate):
        return value
    hint = 'use messages/duration, such as "20/1h" or "100/1d"'
    if not isinstance(value, str) or value.count("/") != 1:
        raise Invalid(f"{{value}} is not a rate limit ({hint})")
    count_text, per_text = (part.strip() for part in value.split("/"))
    try:
        count, per = int(count_text), parse_duration(per_text)
    except ValueError:
        raise Invalid(f"{{value}} is not a rate limit ({hint})") from None
    if count < 1 or per < timedelta(seconds=1):
        raise Invalid("{value} allows nothing: give at least 1 message per at least 1s")
    return Rate(count, per)


RateLimit = Annotated[Rate, BeforeValidator(_parse_rate), PlainSerializer(str, return_type=str)]


# --- digests ------------------------------------------------------------------------------


class Digest(BaseModel):
    """When a rule's held alerts go out together: every N minutes, or at times of day."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    every: duration_type(timedelta(minutes=1)) | None = Field(
        None, description="Send the held alerts every so long (at least 1m), counted from local "
                          "midnight: 1h sends on the hour, 30m on the hour and half hour.")
    at: tuple[LocalTime, ...] = Field(
        (), description='Send them at these local times of day: "08:00" or ["08:00", "17:00"].')

    @field_validator("at", mode="before")
    @classmethod
    def _one_time_is_a_list(cls, value: Any) -> Any:
        return (value,) if isinstance(value, (str, int)) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _every_or_at(self) -> Digest:
        if (self.every is None) == (not self.at):
            raise Invalid('give either every (such as 1h) or at (such as "08:00"), not both or neither')
        return self


# --- tags and channel URLs ----------------------------------------------------------------


def _check_tag(value: str) -> str:
    if not _TAG.fullmatch(value):
        raise Invalid("{value} is not a tag (use letters, digits, -, _ and ., such as team-a)")
    return value


Tag = Annotated[str, BeforeValidator(lowercase), AfterValidator(_check_tag)]


class ChannelUrl(BaseModel):
    """One Apprise URL of a channel, with the tags that route alerts to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: AppriseUrl = Field(repr=False, description="The Apprise URL; write secrets as ${VARIABLE}.")
    tags: tuple[Tag, ...] = Field(
        (), description="Tags of this URL: a rule with tags alerts only the URLs carrying one of them.")


def _plain_url(value: Any) -> Any:
    # A plain string is a URL without tags; its error stays at the list entry's path.
    if isinstance(value, str):
        return ChannelUrl.model_construct(url=check_apprise_url(value), tags=())
    return value


ChannelUrlEntry = Annotated[ChannelUrl, BeforeValidator(_plain_url)]


def tag_problems(data: Mapping) -> list[Problem]:
    """Rules with tags whose channels have no URL carrying any of them (raw config mapping).

    Such a rule's alerts could reach nobody on that channel, so it is a config error.
    """
    channels = {c.get("id"): c for _, c in _entries(data, "channels")}
    problems = []
    for index, rule in _entries(data, "rules"):
        tags = rule.get("tags")
        if not isinstance(tags, (list, tuple)) or not tags:
            continue
        wanted = {str(tag).lower() for tag in tags}
        for name in rule.get("channels") or ():
            channel = channels.get(name)
            if isinstance(channel, Mapping) and not wanted & set(_channel_tags(channel)):
                problems.append(Problem(("rules", index, "tags"),
                                        f'no URL of channel "{name}" carries any of these tags'))
    return problems


def _channel_tags(channel: Mapping) -> Iterator[str]:
    for entry in channel.get("urls") or ():
        if isinstance(entry, Mapping):
            yield from (str(tag).lower() for tag in entry.get("tags") or ())
        elif isinstance(entry, ChannelUrl):
            yield from entry.tags


def _entries(data: Mapping, key: str) -> Iterator[tuple[int, Mapping]]:
    items = data.get(key)
    if isinstance(items, (list, tuple)):
        yield from ((i, item) for i, item in enumerate(items) if isinstance(item, Mapping))


# --- message templates --------------------------------------------------------------------


def _check_template(value: str) -> str:
    """A str.format template using only named fields of TEMPLATE_FIELDS, as they are.

    Attribute and index access (`{title.__class__}`), conversions and format specs are
    refused: a spec could cut an escaped `&amp;` in half, and the rest has no use here.
    """
    try:
        parts = list(string.Formatter().parse(value))
    except ValueError as error:
        raise Invalid("{value} is not a valid template (write {{ and }} for literal braces)",
                      str(error)) from None
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS:
            hint = did_you_mean(name, list(TEMPLATE_FIELDS)) or f" (fields: {', '.join(TEMPLATE_FIELDS)})"
            shown = "{}" if name == "" else "{" + name + "}"
            raise Invalid(f"{{value}} uses {shown}, which is not a field{hint}")
        if spec or conversion:
            raise Invalid(f"{{value}} formats {{{name}}}; write the field plainly, as {{{name}}}")
    return value


Template = Annotated[str, AfterValidator(_check_template)]

__all__ = [
    "TEMPLATE_FIELDS", "ChannelUrl", "ChannelUrlEntry", "Digest", "LocalTime", "MessageFormat",
    "OnTimeout", "QuietHours", "QuietSpan", "Rate", "RateLimit", "Tag", "Template", "Timezone",
    "format_time", "parse_time", "tag_problems", "zone",
]

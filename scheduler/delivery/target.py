"""The channels' Apprise URLs as send targets, and what became of one send to one of them.

Each URL of a channel is its own Apprise object, so each URL's outcome is known and
kept apart: a channel with one failing URL shows which. A target is recognised by its
URL as Apprise shows it with passwords and tokens masked (and the config's secrets
redacted), so outcomes can be stored and printed without a secret in them.

Apprise reports a service that did not answer within the call's timeout as TIMEOUT:
the request was sent and may have arrived. Most plugins also have their own read
timeout (4s by default), after which they report a plain failure; where a URL does not
set its own (`?rto=`), it is raised past `delivery.timeout`, so a slow service is seen as
timed out, not as failed. Deciding what an outcome means for an outbox row is
`deliver`'s business.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

import apprise
from apprise import AppriseResultStatus, NotifyFormat
from apprise.url import URLBase

from presswatch.config.redact import Redactor
from presswatch.scheduler.delivery.message import Message, Style

log = logging.getLogger("presswatch.deliver")

# The plugin's own read timeout is set this far past delivery.timeout, so Apprise's
# deadline comes first and says TIMEOUT.
READ_TIMEOUT_MARGIN = 5.0
_FORMATS = {"text": NotifyFormat.TEXT, "markdown": NotifyFormat.MARKDOWN, "html": NotifyFormat.HTML}


@dataclass(frozen=True)
class Target:
    """One Apprise URL of a channel."""

    key: str  # the URL as shown: Apprise's privacy form, secrets redacted, "#2" on a repeat
    position: int
    tags: frozenset[str]
    notifier: apprise.Apprise
    blends_title: bool  # the service puts the title into the body (so it takes the format too)


@dataclass(frozen=True)
class ChannelTargets:
    """A configured channel's targets, and how its messages are written."""

    id: str
    targets: tuple[Target, ...]
    style: Style
    channel: object = None  # the config's Channel

    def for_tags(self, tags: tuple[str, ...] | frozenset[str]) -> tuple[Target, ...]:
        """The targets carrying one of `tags`; all of them when there are none."""
        if not tags:
            return self.targets
        return tuple(t for t in self.targets if t.tags & set(tags))


@dataclass(frozen=True)
class UrlOutcome:
    """What became of one send to one target."""

    state: str  # sent, failed or timeout
    error: str | None = None
    elapsed: float = 0.0


def build_channels(channels, settings=None, redact: Redactor | None = None) -> dict[str, ChannelTargets]:
    """For each configured channel, its targets: one Apprise object per URL."""
    redact = redact or Redactor()
    timeout = settings.timeout.total_seconds() if settings is not None else None
    return {channel.id: build_channel(channel, timeout, redact) for channel in channels}


def build_channel(channel, timeout: float | None, redact: Redactor) -> ChannelTargets:
    targets, seen = [], {}
    for position, entry in enumerate(channel.targets):
        notifier = apprise.Apprise()
        notifier.add(entry.url)
        service = notifier[0]
        if timeout is not None and service.socket_read_timeout == URLBase.socket_read_timeout:
            service.socket_read_timeout = max(service.socket_read_timeout, timeout + READ_TIMEOUT_MARGIN)
        shown = redact(service.url(privacy=True).split("?", 1)[0])
        seen[shown] = seen.get(shown, 0) + 1
        key = shown if seen[shown] == 1 else f"{shown}#{seen[shown]}"
        targets.append(Target(key, position, frozenset(entry.tags), notifier, service.title_maxlen <= 0))
    return ChannelTargets(channel.id, tuple(targets), Style.of(channel), channel)


def send_to(target: Target, message: Message, timeout: timedelta | float) -> UrlOutcome:
    """Send `message` to one target (blocking); never raises for the service's failures."""
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
    started = time.monotonic()
    result = target.notifier.notify(
        body=message.body, title=message.title_markup if target.blends_title else message.title,
        body_format=_FORMATS[message.format], timeout=seconds)
    elapsed = time.monotonic() - started
    if bool(result):
        return UrlOutcome("sent", None, elapsed)
    services = list(result)
    timed_out = result.status == AppriseResultStatus.TIMEOUT or any(
        _timed_out(service, target, seconds) for service in services)
    failures = [_service_failure(s) for s in services if not bool(s)]
    error = "; ".join(failures) or f"apprise: {result.status.name.lower()}"
    if timed_out:
        return UrlOutcome("timeout", f"timed out after {elapsed:.1f}s, it may have arrived: {error}", elapsed)
    return UrlOutcome("failed", error, elapsed)


def _timed_out(service, target: Target, timeout: float) -> bool:
    """TIMEOUT, or a failure that took as long as the plugin's own read timeout (set in its URL)."""
    if service.status == AppriseResultStatus.TIMEOUT:
        return True
    read_timeout = target.notifier[0].socket_read_timeout
    return read_timeout < timeout and service.elapsed >= read_timeout * 0.95


def _service_failure(service) -> str:
    """`JSON json://127.0.0.1:8080/ failure: Internal Server Error (500)`, say.

    Apprise's `url` here is its privacy form, with passwords and tokens masked.
    """
    problems = [e.message for e in list(service.logs()) if e.level in ("WARNING", "ERROR", "CRITICAL")]
    reason = f": {problems[-1]}" if problems else ""
    shown = service.url.split("?", 1)[0]
    return f"{service.name} {shown} {service.status.name.lower()}{reason}"

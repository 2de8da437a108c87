"""Delivering the outbox: each due row is claimed, sent through Apprise, then marked.

A row is marked sent only after every URL of its channel reported success. A URL that
received the alert is remembered on the row, so a retry goes only to the URLs that
failed and no service gets it twice. A failure puts the row back with exponential
backoff (and jitter); after `delivery.max_tries` it is kept as `dead` with its last
error. Rows of the built-in `console` channel are printed on standard output and logged.

Rows are claimed one at a time, so a stop leaves at most the one in flight. Apprise's
blocking HTTP runs in a worker thread; every database write stays on the caller's
thread (one writer).
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import apprise

from presswatch.config.redact import Redactor
from presswatch.config.schema import CONSOLE
from presswatch.crawler.store import OutboxRow, Store
from presswatch.scheduler.message import alert_body, alert_title

log = logging.getLogger("presswatch.deliver")

# Past this many doublings the delay is the cap anyway; it also keeps 2**n finite.
MAX_DOUBLINGS = 30


@dataclass(frozen=True)
class SendResult:
    """What became of one send: which URLs (by position) have the alert now."""

    done: tuple[int, ...]
    total: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return len(self.done) == self.total


def backoff_delay(tries: int, first: timedelta, cap: timedelta) -> timedelta:
    """first, 2*first, 4*first... with up to 10% jitter so retries don't align; never past cap."""
    delay = first * (2 ** min(MAX_DOUBLINGS, max(0, tries - 1)))
    return min(cap, delay * (1 + random.uniform(0, 0.1)))


def build_channels(channels) -> dict[str, tuple[apprise.Apprise, ...]]:
    """For each configured channel, one Apprise object per URL, so each URL's result counts."""
    built = {}
    for channel in channels:
        targets = []
        for url in channel.apprise_urls:
            target = apprise.Apprise()
            target.add(url)
            targets.append(target)
        built[channel.id] = tuple(targets)
    return built


def send(targets: tuple[apprise.Apprise, ...], done: tuple[int, ...], title: str, body: str,
         timeout: float) -> SendResult:
    """Send to each URL of a channel that does not have the alert yet."""
    done_now, errors = set(done), []
    for index, target in enumerate(targets):
        if index in done_now:
            continue
        result = target.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT,
                               timeout=timeout)
        if bool(result):
            done_now.add(index)
        else:
            failed = [_service_failure(r) for r in result if not bool(r)]
            errors.append("; ".join(failed) or f"apprise: {result.status.name.lower()}")
    return SendResult(tuple(sorted(done_now)), len(targets), "; ".join(errors) or None)


def _service_failure(service) -> str:
    """`JSON json://127.0.0.1:8080/ failure: Internal Server Error (500)`, say.

    Apprise's `url` here is its privacy form, with passwords and tokens masked.
    """
    problems = [e.message for e in list(service.logs()) if e.level in ("WARNING", "ERROR", "CRITICAL")]
    reason = f": {problems[-1]}" if problems else ""
    return f"{service.name} {service.url} {service.status.name.lower()}{reason}"


def print_to_stdout(text: str) -> None:
    print(text, file=sys.stdout, flush=True)


@dataclass
class Delivery:
    """Sends due outbox rows; `print_alert` receives console alerts."""

    store: Store
    channels: dict[str, tuple[apprise.Apprise, ...]]
    settings: object  # the config's `delivery` section
    redact: Redactor = field(default_factory=Redactor)
    print_alert: Callable[[str], None] = print_to_stdout
    stopping: bool = False

    async def deliver_due(self) -> int:
        """Send every row due now, until none is left or a stop is asked; returns how many were sent."""
        sent = 0
        while not self.stopping and (rows := self.store.claim_due()):
            for row in rows:
                sent += await self._deliver(row)
        return sent

    async def _deliver(self, row: OutboxRow) -> bool:
        try:
            result = await self._send(row)
        except Exception as exc:  # whatever broke, the row must not stay claimed
            log.exception("alert=%d could not be sent", row.id)
            result = SendResult(row.done_urls, -1, f"{type(exc).__name__}: {exc}")
        return self._record(row, result)

    async def _send(self, row: OutboxRow) -> SendResult:
        title, body = alert_title(row), alert_body(row)
        if row.channel_id == CONSOLE:
            self.print_alert(f"{title}\n{body}\n")
            log.info("alert=%d console: %s", row.id, title)
            return SendResult((0,), 1)
        targets = self.channels.get(row.channel_id)
        if targets is None:
            return SendResult((), -1, f"channel {row.channel_id!r} is not in the config")
        return await asyncio.to_thread(send, targets, row.done_urls, title, body,
                                       self.settings.timeout.total_seconds())

    def _record(self, row: OutboxRow, result: SendResult) -> bool:
        if result.ok:
            self.store.mark_sent(row.id)
            log.info("alert=%d sent channel=%s rule=%s story=%d", row.id, row.channel_id,
                     row.rule_id, row.story_id or 0)
            return True
        error = self.redact(result.error or "failed")
        retry_at = None
        if row.tries < self.settings.max_tries:
            delay = backoff_delay(row.tries, self.settings.backoff, self.settings.max_backoff)
            retry_at = datetime.now(UTC) + delay
        self.store.mark_failed(row.id, error, retry_at, done_urls=result.done)
        log.warning("alert=%d failed channel=%s try=%d/%d %s: %s", row.id, row.channel_id,
                    row.tries, self.settings.max_tries,
                    "retry at " + retry_at.isoformat(timespec="seconds") if retry_at else "dead", error)
        return False

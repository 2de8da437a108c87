"""Delivering the outbox: each due row is claimed, sent through Apprise, then marked.

A row is marked sent only after Apprise reported success for its channel; a failure
puts it back with exponential backoff (and jitter), and after `delivery.max_tries` it is
kept as `dead` with its last error. Rows of the built-in `console` channel are printed to
standard output. Apprise's blocking HTTP runs in a worker thread; every database write
stays on the caller's thread (one writer).
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

from presswatch.crawler.ingest import CONSOLE_CHANNEL
from presswatch.crawler.store import OutboxRow, Store
from presswatch.scheduler.logs import Redactor
from presswatch.scheduler.message import alert_body, alert_title

log = logging.getLogger("presswatch.deliver")


@dataclass(frozen=True)
class SendResult:
    ok: bool
    error: str | None = None


def backoff_delay(tries: int, first: timedelta, cap: timedelta) -> timedelta:
    """first, 2*first, 4*first... capped, with up to 10% jitter so retries don't align."""
    delay = min(cap, first * (2 ** max(0, tries - 1)))
    return delay * (1 + random.uniform(0, 0.1))


def build_channels(channels) -> dict[str, apprise.Apprise]:
    """One Apprise object per configured channel, holding all of its URLs."""
    built = {}
    for channel in channels:
        apobj = apprise.Apprise()
        for url in channel.apprise_urls:
            apobj.add(url)
        built[channel.id] = apobj
    return built


def send(apobj: apprise.Apprise, title: str, body: str, timeout: float) -> SendResult:
    """Send one message through every URL of a channel; fails if any URL failed."""
    result = apobj.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT,
                          timeout=timeout)
    if bool(result):
        return SendResult(True)
    failed = [_service_failure(r) for r in result if not bool(r)]
    detail = "; ".join(failed) or f"apprise: {result.status.name.lower()}"
    return SendResult(False, detail)


def _service_failure(service) -> str:
    """`JSON json://127.0.0.1:8080/ failure: Internal Server Error (500)`, say.

    Apprise's `url` here is its privacy form, with passwords and tokens masked.
    """
    problems = [e.message for e in list(service.logs()) if e.level in ("WARNING", "ERROR", "CRITICAL")]
    reason = f": {problems[-1]}" if problems else ""
    return f"{service.name} {service.url} {service.status.name.lower()}{reason}"


@dataclass
class Delivery:
    """Sends due outbox rows; `print_alert` receives console alerts."""

    store: Store
    channels: dict[str, apprise.Apprise]
    settings: object  # the config's `delivery` section
    redact: Redactor = field(default_factory=Redactor)
    print_alert: Callable[[str], None] = field(default=lambda text: print(text, file=sys.stdout, flush=True))

    async def deliver_due(self) -> int:
        """Send every row due now; returns how many were sent."""
        sent = 0
        while rows := self.store.claim_due():
            for row in rows:
                sent += await self._deliver(row)
        return sent

    async def _deliver(self, row: OutboxRow) -> bool:
        title, body = alert_title(row), alert_body(row)
        if row.channel_id == CONSOLE_CHANNEL:
            self.print_alert(f"{title}\n{body}\n")
            result = SendResult(True)
        elif row.channel_id not in self.channels:
            result = SendResult(False, f"channel {row.channel_id!r} is not in the config")
        else:
            result = await asyncio.to_thread(
                send, self.channels[row.channel_id], title, body,
                self.settings.timeout.total_seconds())
        return self._record(row, result)

    def _record(self, row: OutboxRow, result: SendResult) -> bool:
        if result.ok:
            self.store.mark_sent(row.id)
            log.info("alert=%d sent channel=%s rule=%s story=%d", row.id, row.channel_id,
                     row.rule_id, row.story_id)
            return True
        error = self.redact(result.error or "failed")
        retry_at = None
        if row.tries < self.settings.max_tries:
            delay = backoff_delay(row.tries, self.settings.backoff, self.settings.max_backoff)
            retry_at = datetime.now(UTC) + delay
        self.store.mark_failed(row.id, error, retry_at)
        log.warning("alert=%d failed channel=%s try=%d/%d %s: %s", row.id, row.channel_id,
                    row.tries, self.settings.max_tries,
                    "retry at " + retry_at.isoformat(timespec="seconds") if retry_at else "dead", error)
        return False

"""Delivering the outbox: each due row is claimed, paced, sent through Apprise, then settled.

Exactly once per (story, rule, channel) as far as the services allow:

- A row is claimed (`sending`, committed) before anything is sent, and each URL is marked
  `sending` before its send and with its outcome after: sent, failed or uncertain. A
  retry goes only to the URLs without the alert, so no service gets it twice.
- A row is `sent` when every URL it is for (its rule's tags pick them) confirmed it.
- A URL that failed gets the row back to `pending` with exponential backoff and jitter;
  after `delivery.max_tries` the row is `dead`, with its last error.
- A send that timed out may have arrived, and Apprise's services offer no idempotency
  key: with `delivery.on_timeout: uncertain` (the default) that URL is `uncertain` and
  never sent again by itself; the row ends `uncertain` once nothing else is left to
  send. `presswatch alerts retry ID` sends it again after someone checked. With
  `retry`, a timeout is a failure like any other (it may then arrive twice).
- A row found `sending` at start was interrupted: the URL in flight is uncertain (or
  failed, with on_timeout: retry); URLs not reached yet are sent as usual.

Before an alert, an update (event, reaction or spread) or a surge alert goes out, `pacing`
decides whether it waits for a digest, the end of quiet hours or room under the channel's
rate limit; held rows of a channel that fall due together go out as one digest message. Health notices never wait.
Rows of the built-in `console` channel are printed on standard output and logged.

Apprise's blocking HTTP runs in a worker thread, one URL at a time; every database
write stays on the caller's thread (one writer).
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from presswatch.config.redact import Redactor
from presswatch.config.schema import CONSOLE
from presswatch.crawler import metrics
from presswatch.crawler.store.database import Store
from presswatch.crawler.store.records import OutboxRow
from presswatch.scheduler.delivery.message import MAX_DIGEST, Style, render
from presswatch.scheduler.delivery.pacing import Hold, plan, rate_free_at
from presswatch.scheduler.delivery.target import ChannelTargets, Target, UrlOutcome, build_channels, send_to

__all__ = ["Delivery", "backoff_delay", "build_channels", "print_to_stdout", "send_to"]

log = logging.getLogger("presswatch.deliver")

# Past this many doublings the delay is the cap anyway; it also keeps 2**n finite.
MAX_DOUBLINGS = 30
RETRY_HINT = "check whether it arrived; if not, run: presswatch alerts retry {id}"


def backoff_delay(tries: int, first: timedelta, cap: timedelta) -> timedelta:
    """first, 2*first, 4*first... with up to 10% jitter so retries don't align; never past cap."""
    delay = first * (2 ** min(MAX_DOUBLINGS, max(0, tries - 1)))
    return min(cap, delay * (1 + random.uniform(0, 0.1)))


def print_to_stdout(text: str) -> None:
    print(text, file=sys.stdout, flush=True)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Delivery:
    """Sends due outbox rows; `print_alert` receives console alerts.

    `rules` (by id) give pacing and tags; without them every row is sent at once to
    every URL of its channel. `clock` is the time pacing and the store see.
    """

    store: Store
    channels: dict[str, ChannelTargets]
    settings: object  # the config's `delivery` section
    redact: Redactor = field(default_factory=Redactor)
    print_alert: Callable[[str], None] = print_to_stdout
    stopping: bool = False
    rules: Mapping[str, object] = field(default_factory=dict)
    clock: Callable[[], datetime] = utc_now
    sending_since: datetime | None = None  # while a URL send is in flight: when it began (health)

    @classmethod
    def from_config(cls, store: Store, config, redact: Redactor | None = None, **kw) -> Delivery:
        redact = redact or Redactor(config.secrets)
        return cls(store, build_channels(config.channels, config.delivery, redact), config.delivery,
                   redact=redact, rules={rule.id: rule for rule in config.rules}, **kw)

    async def deliver_due(self) -> int:
        """Send every row due now, until none is left or a stop is asked; returns how many were sent."""
        sent = 0
        while not self.stopping and (claimed := self.store.claim_due(at=self.clock())):
            row = claimed[0]
            try:
                if self._hold(row):
                    continue
            except Exception as exc:  # a claimed row must never stay claimed
                log.exception("alert %s could not be paced", row.id)
                self._fail(row, f"{type(exc).__name__}: {exc}")
                continue
            rows = [row]
            if row.pace is not None:  # a held row falling due: its channel's other held rows join it
                rows += self.store.claim_digest(row.channel_id, MAX_DIGEST - 1, at=self.clock())
            sent += await self._deliver(rows)
        return sent

    # Pacing ------------------------------------------------------------------

    def _hold(self, row: OutboxRow) -> bool:
        """Hold a row that must wait (digest, quiet hours, rate limit); True if held.

        A row held before and now due goes out with its channel's other held rows as one
        message, unless the channel's rate limit has no room for it yet: then the digest
        waits for that room (a quiet-hours or digest release counts against the rate too).
        """
        now = self.clock()
        channel = self.channels.get(row.channel_id)
        rate = getattr(channel.channel, "rate_limit", None) if channel else None
        sends = [datetime.fromisoformat(s.sent_at) for s in
                 self.store.channel_sends(row.channel_id, now - rate.per)] if rate else []
        if row.pace is not None:
            free = rate_free_at(rate.count, rate.per, sends, now) if rate and row.kind != "health" else None
            if free is None:
                return False
            hold = Hold(free, row.pace)
        else:
            hold = plan(row.kind, self.rules.get(row.rule_id), rate, self.settings.timezone, now, sends)
        if hold is None:
            return False
        self.store.hold(row.id, hold.until, hold.pace, at=now)
        log.info("alert=%d held (%s) until %s channel=%s rule=%s", row.id, hold.pace,
                 hold.until.isoformat(timespec="seconds"), row.channel_id, row.rule_id)
        return True

    # Sending -----------------------------------------------------------------

    async def _deliver(self, rows: list[OutboxRow]) -> int:
        try:
            if rows[0].channel_id == CONSOLE:
                return self._print(rows)
            channel = self.channels.get(rows[0].channel_id)
            if channel is None:
                error = f"channel {rows[0].channel_id!r} is not in the config"
                return sum(self._fail(row, error) for row in rows)
            await self._send_all(rows, channel)
            return sum(self._settle(row, channel) for row in self.store.outbox_rows([r.id for r in rows]))
        except Exception as exc:  # whatever broke, the rows must not stay claimed
            log.exception("alerts %s could not be sent", ",".join(str(r.id) for r in rows))
            return sum(self._fail(row, f"{type(exc).__name__}: {exc}") for row in rows)

    def _print(self, rows: list[OutboxRow]) -> int:
        message = render(rows, Style())
        self.print_alert(f"{message.title}\n{message.body}\n")
        log.info("alert=%s console: %s", ",".join(str(r.id) for r in rows), message.title)
        for row in rows:
            self.store.mark_sent(row.id, at=self.clock())
            self._record_delivered(row)
        self.store.record_send(CONSOLE, len(rows), at=self.clock())
        metrics.record_send(CONSOLE, "sent")
        return len(rows)

    async def _send_all(self, rows: list[OutboxRow], channel: ChannelTargets) -> None:
        """Send to each URL the rows it still lacks (one message, a digest if several)."""
        reached = 0
        for target in channel.targets:
            members = [row for row in rows if self._wants(row, target, channel)]
            if not members:
                continue
            outcome = await self._send_one(members, target, channel)
            reached = max(reached, len(members) if outcome.state == "sent" else 0)
        if reached:
            self.store.record_send(channel.id, reached, at=self.clock())

    async def _send_one(self, rows: list[OutboxRow], target: Target, channel: ChannelTargets) -> UrlOutcome:
        ids = [row.id for row in rows]
        message = render(rows, channel.style)
        self.store.mark_url(ids, target.key, target.key, "sending", at=self.clock())
        self.sending_since = self.clock()
        try:
            outcome = await asyncio.to_thread(send_to, target, message, self.settings.timeout)
        except Exception as exc:  # a plugin that raised: a failure of this URL
            outcome = UrlOutcome("failed", f"{type(exc).__name__}: {exc}")
        finally:
            self.sending_since = None
        state = outcome.state
        if state == "timeout":
            state = "uncertain" if self.settings.on_timeout == "uncertain" else "failed"
        metrics.record_send(channel.id, state)
        self.store.mark_url(ids, target.key, target.key, state, self._redacted(outcome.error), at=self.clock())
        level = logging.INFO if state == "sent" else logging.WARNING
        log.log(level, "alert=%s %s %s (%.1fs)%s", ",".join(map(str, ids)), target.key, state,
                outcome.elapsed, f": {self._redacted(outcome.error)}" if outcome.error else "")
        return outcome

    def _targets(self, row: OutboxRow, channel: ChannelTargets) -> tuple[Target, ...]:
        rule = self.rules.get(row.rule_id)
        tags = getattr(rule, "tags", ()) if row.kind != "health" else ()
        return channel.for_tags(tags)

    def _wants(self, row: OutboxRow, target: Target, channel: ChannelTargets) -> bool:
        return target in self._targets(row, channel) and _state(row, target) not in ("sent", "uncertain")

    # Settling ----------------------------------------------------------------

    def _settle(self, row: OutboxRow, channel: ChannelTargets) -> int:
        """Mark a row after its sends: sent, back to pending (or dead), or uncertain."""
        targets = self._targets(row, channel)
        if not targets:
            tags = ", ".join(getattr(self.rules.get(row.rule_id), "tags", ()))
            return self._fail(row, f"no URL of channel {channel.id!r} carries any of the tags {tags}")
        states = {target.key: _state(row, target) for target in targets}
        if all(state == "sent" for state in states.values()):
            self.store.mark_sent(row.id, at=self.clock())
            self._record_delivered(row)
            log.info("alert=%d sent channel=%s rule=%s story=%d", row.id, row.channel_id,
                     row.rule_id, row.story_id or 0)
            return 1
        failed = [key for key, state in states.items() if state not in ("sent", "uncertain")]
        if failed:
            return self._fail(row, _errors(row, failed))
        unsure = [key for key, state in states.items() if state == "uncertain"]
        error = f"{_errors(row, unsure)}; {RETRY_HINT.format(id=row.id)}"
        self.store.mark_uncertain(row.id, self._redacted(error), at=self.clock())
        log.warning("alert=%d uncertain channel=%s: %s", row.id, row.channel_id, self._redacted(error))
        return 0

    def _fail(self, row: OutboxRow, error: str) -> int:
        error = self._redacted(error or "failed")
        retry_at = None
        if row.tries < self.settings.max_tries:
            delay = backoff_delay(row.tries, self.settings.backoff, self.settings.max_backoff)
            retry_at = self.clock() + delay
        self.store.mark_failed(row.id, error, retry_at, at=self.clock())
        log.warning("alert=%d failed channel=%s try=%d/%d %s: %s", row.id, row.channel_id,
                    row.tries, self.settings.max_tries,
                    "retry at " + retry_at.isoformat(timespec="seconds") if retry_at else "dead", error)
        return 0

    def _redacted(self, text: str | None) -> str | None:
        return None if text is None else self.redact(text)

    def _record_delivered(self, row: OutboxRow) -> None:
        """The alert's delivery latency, from its creation to now, for the metrics."""
        try:
            seconds = (self.clock() - datetime.fromisoformat(row.created_at)).total_seconds()
        except (TypeError, ValueError):  # a metric must never turn a sent alert into a failed one
            log.debug("alert=%d no delivery latency for created_at=%r", row.id, row.created_at)
            return
        metrics.record_delivered(row.channel_id, row.pace is not None, seconds)


def _state(row: OutboxRow, target: Target) -> str | None:
    """The row's last outcome at `target`; rows sent in part before outcomes were kept by
    URL remember the positions that had it."""
    result = row.url_result(target.key)
    if result is not None:
        # A send whose outcome was not recorded (the process failed right after it) may
        # have arrived: it is uncertain, never sent again by itself.
        return "uncertain" if result.state == "sending" else result.state
    return "sent" if target.position in row.done_urls else None


def _errors(row: OutboxRow, keys: list[str]) -> str:
    results = {r.key: r for r in row.url_results}
    return "; ".join(results[k].error or f"{k} {results[k].state}" if k in results else f"{k} not tried"
                     for k in keys)

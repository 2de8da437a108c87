"""The daemon's HTTP endpoint: /healthz for supervisors, /metrics for Prometheus.

It is Twisted's web server on the daemon's own reactor, so a request is handled on the
loop thread that owns the database connection (a SQLite connection must not cross
threads), between two steps of the crawls and deliveries, never in the middle of a write.
A request costs a few small queries and an instant's hold of the write lock (waiting
LOCK_WAIT at most for another process's writer), so it never holds the loop up for long.

/healthz answers 200 when every check passes and 503 naming the checks that fail, with a
small JSON body either way (and 503 "stopping" while the daemon shuts down):
- `scheduler`: running, no job overdue by more than OVERDUE, no alert send in flight for
  much longer than `delivery.timeout`;
- `database`: writable now (`Store.write_problem`);
- `source:ID` for each enabled source: its last success, or the daemon's start when that
  is later, no older than `monitor.stale_factor` times its interval (while it is failing,
  the backoff delay it waits between runs counts as its interval), and not in state
  `layout` (a site that moved still answers: its successes say nothing of its health).

/metrics serves `presswatch.crawler.metrics.REGISTRY` (what crawls and deliveries counted),
this process's CPU, memory and file descriptors, and gauges read from the database at each
scrape (alerts by state, source states, matches by rule, the health checks).

Left to others: what is counted and when (crawler.metrics, the pipeline, the delivery),
how a source's state is judged (crawler.stories.health), when the endpoint starts and stops (the
daemon: only the long-running one has it, never `run --once`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version

from apscheduler.schedulers.base import STATE_RUNNING
from prometheus_client import PlatformCollector, ProcessCollector, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from twisted.internet.defer import maybeDeferred
from twisted.internet.error import CannotListenError
from twisted.web.resource import Resource
from twisted.web.server import Site

from presswatch.config.duration import format_duration
from presswatch.config.errors import PresswatchError
from presswatch.crawler.metrics import REGISTRY
from presswatch.crawler.store.records import SourceState
from presswatch.crawler.stories.health import backoff

__all__ = ["Check", "MonitorServer", "check_scheduler", "check_source", "health_report", "stale_after"]

log = logging.getLogger("presswatch.monitor")

# A job whose run time passed this long ago means the scheduler no longer wakes up.
OVERDUE = timedelta(minutes=1)
# One send may take delivery.timeout for its connection and about as long again to read.
SEND_SLACK = timedelta(minutes=1)
LOCK_WAIT = 0.25  # seconds /healthz waits for another writer before calling the database unwritable
SOURCE_STATES = ("new", "ok", "quiet", "failing", "layout", "recovered")
ALERT_STATES = ("pending", "sending", "sent", "dead", "uncertain")
JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Check:
    """One health check's outcome; `detail` says what was found, for people."""

    name: str
    ok: bool
    detail: str


# The checks (pure but for the scheduler and the store they are given) --------------------------


def check_scheduler(scheduler, now: datetime, sending_since: datetime | None,
                    send_timeout: timedelta) -> Check:
    """The scheduler runs and dispatches its jobs, and no alert send hangs."""

    if scheduler is None or scheduler.state != STATE_RUNNING:
        return Check("scheduler", False, "the scheduler is not running")
    jobs = scheduler.get_jobs()
    late = [job.id for job in jobs if job.next_run_time is not None and now - job.next_run_time > OVERDUE]
    if late:
        return Check("scheduler", False, f"jobs overdue by more than {format_duration(OVERDUE)}: "
                                         f"{', '.join(late)}")
    if sending_since is not None and now - sending_since > 2 * send_timeout + SEND_SLACK:
        return Check("scheduler", False, f"an alert send has been in flight for {_ago(now - sending_since)} "
                                         f"(delivery.timeout is {format_duration(send_timeout)})")
    return Check("scheduler", True, f"running, {len(jobs)} jobs")


def check_database(store) -> Check:
    problem = store.write_problem(LOCK_WAIT)
    return Check("database", problem is None, problem or "writable")


def stale_after(source, state: SourceState, factor: float, health) -> timedelta:
    """How long without a success makes `source` stale: `factor` times its interval, which
    is the backoff delay while it is failing (it is run that seldom then)."""
    interval = source.every
    if state.state == "failing":
        interval = max(interval, backoff(source.every, state.failures, health))
    return interval * factor


def check_source(source, state: SourceState, started_at: datetime, now: datetime, factor: float,
                 health) -> Check:
    """A source is stale when neither its last success nor the daemon's start (if later) is
    recent; it fails too while its layout looks changed."""
    limit = stale_after(source, state, factor, health)
    last = datetime.fromisoformat(state.last_success_at) if state.last_success_at else None
    started_at = started_at.replace(microsecond=0)  # the store keeps times to the second
    if last is not None and last >= started_at:
        since, found = last, f"last success {_ago(now - last)} ago"
    else:
        since = started_at
        found = (f"no success since the daemon started {_ago(now - started_at)} ago "
                 f"(last success: {state.last_success_at or 'never'})")
    ok = now - since <= limit and state.state != "layout"
    detail = f"{found}; stale after {format_duration(limit)}; state {state.state}"
    if state.state == "layout":
        detail += f" (layout changed?: {state.layout_reason})"
    if not ok and state.last_error:
        detail += f"; last error: {state.last_error}"
    return Check(f"source:{source.id}", ok, detail)


def health_report(checks: list[Check]) -> tuple[int, dict]:
    """The HTTP status and JSON body of /healthz for these checks."""
    failing = [check.name for check in checks if not check.ok]
    body = {"status": "failing" if failing else "ok", "failing": failing,
            "checks": {check.name: {"ok": check.ok, "detail": check.detail} for check in checks}}
    return (503 if failing else 200), body


def _ago(age: timedelta) -> str:
    return format_duration(timedelta(seconds=max(0, round(age.total_seconds()))))


# The endpoint ------------------------------------------------------------------------------------


class MonitorServer:
    """The endpoint of one daemon: its checks, its database gauges, its listening port.

    Also a prometheus-client collector: registered on REGISTRY while it listens, it adds
    the gauges read from the database to every scrape.
    """

    def __init__(self, daemon):
        self.daemon = daemon
        self.port = None  # Twisted's listening port, while listening
        self._collectors = []

    # Health ------------------------------------------------------------------

    def checks(self, now: datetime | None = None) -> list[Check]:
        daemon = self.daemon
        now = now or datetime.now(UTC)
        states = {state.id: state for state in daemon.store.source_states()}
        settings = daemon.config
        return [
            check_scheduler(daemon.scheduler, now, daemon.delivery.sending_since, settings.delivery.timeout),
            check_database(daemon.store),
            *(check_source(source, states.get(source.id) or SourceState(source.id), daemon.started_at, now,
                           settings.monitor.stale_factor, settings.health) for source in daemon.sources),
        ]

    def healthz(self) -> tuple[int, str, bytes]:
        if self.daemon.stopping:
            status, body = 503, {"status": "stopping", "failing": [], "checks": {}}
        else:
            try:
                checks = self.checks()
            except sqlite3.Error as exc:  # the store could not even be read
                checks = [Check("database", False, f"cannot read the database: {exc}")]
            status, body = health_report(checks)
        return status, JSON_TYPE, json.dumps(body, ensure_ascii=False, indent=1).encode() + b"\n"

    def metrics(self, accept: str) -> tuple[int, str, bytes]:
        encoder, content_type = choose_encoder(accept)
        return 200, content_type, encoder(REGISTRY)

    # Gauges read at each scrape ----------------------------------------------------

    def collect(self):
        yield _gauge("presswatch_info", "presswatch's version, as a label.", {"version": _version()}, 1)
        if self.daemon.stopping:  # the database may be closed already
            return
        try:
            families = self._database_families()
        except sqlite3.Error as exc:
            log.warning("monitor: the database gauges are left out of this scrape: %s", exc)
            return
        yield from families

    def _database_families(self) -> list[GaugeMetricFamily]:
        daemon = self.daemon
        counts = daemon.store.outbox_counts()
        alerts = GaugeMetricFamily("presswatch_alerts", "Alerts in the outbox by state.", labels=["state"])
        for state in (*ALERT_STATES, *sorted(set(counts) - set(ALERT_STATES) - {"held"})):
            alerts.add_metric([state], counts.get(state, 0))
        held = GaugeMetricFamily("presswatch_alerts_held", "Pending alerts waiting for a digest, the "
                                 "end of quiet hours or room under a rate limit.", value=counts["held"])
        matched = daemon.store.matches_by_rule()
        matches = GaugeMetricFamily("presswatch_matches", "Stories each rule matched, as stored.",
                                    labels=["rule"])
        for rule in sorted({rule.id for rule in daemon.config.rules} | set(matched)):
            matches.add_metric([rule], matched.get(rule, 0))
        events = daemon.store.event_counts()
        grouped = GaugeMetricFamily("presswatch_events_grouped", "Events holding more than one story "
                                    "(write-ups of one happening by several outlets or in several languages).",
                                    value=events["grouped"])
        checks = self.checks()
        return [alerts, held, matches, grouped, self._surge_family(), *self._source_families(checks),
                _health_family(checks)]

    def _surge_family(self) -> GaugeMetricFamily:
        """1 for each rule whose coverage surges now (a surge told and not calmed yet), else 0."""
        opened = self.daemon.store.open_surges()
        family = GaugeMetricFamily("presswatch_surges_open", "1 while a rule's surge is open (told, not "
                                   "calmed yet), 0 for the other rules.", labels=["rule"])
        for rule in sorted({rule.id for rule in self.daemon.config.rules} | set(opened)):
            family.add_metric([rule], opened.get(rule, 0))
        return family

    def _source_families(self, checks: list[Check]) -> list[GaugeMetricFamily]:
        states = {state.id: state for state in self.daemon.store.source_states()}
        fresh = {check.name: check.ok for check in checks}
        state_family = GaugeMetricFamily(
            "presswatch_source_state", "1 for each source's current state (new, ok, quiet, failing, "
            "layout, recovered), 0 for the others.", labels=["source", "state"])
        success = GaugeMetricFamily(
            "presswatch_source_last_success_timestamp_seconds", "When each source last worked (Unix "
            "time); absent if it never did.", labels=["source"])
        failures = GaugeMetricFamily(
            "presswatch_source_failures", "Failed runs in a row of each source.", labels=["source"])
        stale = GaugeMetricFamily(
            "presswatch_source_stale", "1 when a source's last success is too old (see /healthz).",
            labels=["source"])
        for source in self.daemon.sources:
            state = states.get(source.id) or SourceState(source.id)
            for name in SOURCE_STATES:
                state_family.add_metric([source.id, name], 1 if state.state == name else 0)
            if state.last_success_at:
                success.add_metric([source.id], datetime.fromisoformat(state.last_success_at).timestamp())
            failures.add_metric([source.id], state.failures)
            stale.add_metric([source.id], 0 if fresh.get(f"source:{source.id}", True) else 1)
        return [state_family, success, failures, stale]

    # Listening -----------------------------------------------------------------

    def start(self, reactor) -> None:
        """Listen on monitor.listen; a PresswatchError naming the address when that fails."""

        disable_created_metrics()  # no *_created series: they double the output for no use here
        listen = self.daemon.config.monitor.listen
        host, port = self.daemon.config.monitor.address
        try:
            self.port = reactor.listenTCP(port, _site(self), interface=host)
        except CannotListenError as exc:
            raise PresswatchError(
                f"cannot listen on {listen} (monitor.listen): {exc.socketError}; free the port, "
                f"choose another address in monitor.listen, or set it to \"\" to turn the "
                f"endpoint off") from exc
        self._register()
        bound = self.port.getHost()
        shown = f"[{bound.host}]" if ":" in bound.host else bound.host
        log.info("monitor listening on http://%s:%d (/healthz, /metrics)", shown, bound.port)

    def _register(self) -> None:
        for collector in (self, ProcessCollector(registry=None), PlatformCollector(registry=None)):
            REGISTRY.register(collector)
            self._collectors.append(collector)

    async def stop(self) -> None:
        """Stop listening and leave the registry as it was; connections still open are closed
        when the reactor stops."""
        port, self.port = self.port, None
        for collector in self._collectors:
            REGISTRY.unregister(collector)
        self._collectors = []
        if port is not None:
            await maybeDeferred(port.stopListening).asFuture(asyncio.get_running_loop())


def _gauge(name: str, documentation: str, labels: dict[str, str], value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


def _health_family(checks: list[Check]) -> GaugeMetricFamily:
    family = GaugeMetricFamily("presswatch_health_check", "1 when a /healthz check passes: scheduler, "
                               "database, sources (every source fresh).", labels=["check"])
    for name in ("scheduler", "database"):
        family.add_metric([name], int(all(check.ok for check in checks if check.name == name)))
    family.add_metric(["sources"], int(all(check.ok for check in checks if check.name.startswith("source:"))))
    return family


def _version() -> str:
    try:
        return version("presswatch")
    except PackageNotFoundError:
        return "unknown"


def _site(monitor: MonitorServer):
    """A Twisted web site answering GET and HEAD of /healthz and /metrics (405 for other methods)."""

    class Endpoint(Resource):
        isLeaf = True

        def render_GET(self, request):  # noqa: N802 (Twisted's name)
            path = request.path.rstrip(b"/") or b"/"
            try:
                if path == b"/healthz":
                    status, content_type, body = monitor.healthz()
                elif path == b"/metrics":
                    status, content_type, body = monitor.metrics((request.getHeader(b"accept") or b"").decode())
                else:
                    status, content_type, body = 404, TEXT_TYPE, b"not found: try /healthz or /metrics\n"
            except Exception:  # an answer, and the reason in the log, never a hung request
                log.exception("monitor: %s failed", path.decode(errors="replace"))
                status, content_type, body = 500, TEXT_TYPE, b"internal error; the daemon's log says why\n"
            request.setResponseCode(status)
            request.setHeader(b"content-type", content_type.encode())
            request.setHeader(b"cache-control", b"no-store")
            return body

    class QuietSite(Site):
        noisy = False  # no "Starting factory" lines
        displayTracebacks = False

        def log(self, request):  # no access log: Prometheus scrapes every few seconds
            pass

    return QuietSite(Endpoint(), timeout=30)

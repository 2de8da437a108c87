"""One feed cycle at scale: 500 feeds x 50 entries on loopback, cold and warm, beside its floors.

Usage: python bench/feed_cycle.py [--feeds 500] [--entries 50] [--rounds 3] [--seed 1]
       [--timeout 1800] [--no-shape]

Generated feeds (nothing read from the corpus): RSS 2.0, one outlet (site) per feed, entries
with distinct titles and texts of 1-2 KB drawn from a Zipf-weighted pseudo-word vocabulary,
one entry in 100 carrying a sentence the shipped mission rules match (so matching and the
outbox are exercised: each such story queues alerts to the console, delivered by the run).
They are rendered once and served from memory by a threaded stdlib HTTP server on 127.0.0.1
(HTTP/1.1, listen backlog 1024), with an ETag per feed when asked.

Measured, each as the best of --rounds (the machine is shared: wall times move between runs):
- pipeline cold: `presswatch run --once` (subprocess) on a new database: fetch, parse, dedup,
  store, match, enqueue, then deliver the queued alerts to the console;
- pipeline warm, 304: the same again, the server answering If-None-Match with 304;
- pipeline warm, unchanged: the same again, the server ignoring validators (200, the same
  bytes, no ETag): every entry is parsed and found already stored;
- parse floor: `feedparser.parse` on the same 500 bodies (with the headers the pipeline
  gives it), in this process;
- fetch floor: a bare Scrapy crawl of the same 500 URLs (subprocess, one spider that only
  reads the bodies), with the pipeline's reactor and concurrency: CONCURRENT_REQUESTS_PER_DOMAIN
  = crawl.concurrency_per_domain (2), DOWNLOAD_DELAY 0, no robots.txt, no cookies, Scrapy's
  other defaults (CONCURRENT_REQUESTS 16). Every URL is on one host, 127.0.0.1, so the
  per-domain limit is the limit: at most 2 requests in flight;
- for reference (not a floor; --no-shape skips it): the same bare spider, one crawler per
  feed, all started at once, which is how the pipeline runs a pass (`Crawls.crawl_all`: a
  crawl per source, each with its own downloader and its own per-domain limit).

CPU seconds of a subprocess are its user + system time (`getrusage(RUSAGE_CHILDREN)` deltas),
start-up included (Python, imports, the config, the database); the server's CPU (threads of
this process) is shown apart, so it can be seen not to be the bottleneck. Ratios are against
the floors measured in the same run: the pipeline's CPU (and wall time) over the sum of the
parse floor's and the fetch floor's; warm over cold.
Targets: cold pipeline within 2x of the floors; a warm cycle under a tenth of a cold one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parent.parent
CONCURRENCY_PER_DOMAIN = 2  # the config's crawl.concurrency_per_domain (its default), given to both
MISSION_SENTENCE = ("Human Rights Watch said North Korean security officials sexually abuse women "
                    "held in detention, and called on Pyongyang to end the abuse.")

# --- feeds -------------------------------------------------------------------------------------


def vocabulary(rng: random.Random, size: int = 6000) -> tuple[list[str], list[float]]:
    onsets = ["b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "br", "ch", "cl", "dr", "fl", "gr", "pl", "pr", "sh", "st", "th", "tr"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ea", "ee", "io", "ou"]
    codas = ["", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ng"]
    words: set[str] = set()
    while len(words) < size:
        syllables = rng.choice((1, 2, 2, 2, 3, 3, 4))
        words.add("".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas) for _ in range(syllables)))
    ordered = sorted(words)
    rng.shuffle(ordered)
    weights, total = [], 0.0
    for rank in range(1, len(ordered) + 1):  # Zipf: a few words are everywhere, most are rare
        total += 1.0 / rank
        weights.append(total)
    return ordered, weights


def sentence(rng: random.Random, vocab: list[str], cum: list[float], low: int, high: int) -> str:
    words = rng.choices(vocab, cum_weights=cum, k=rng.randint(low, high))
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


def render_feeds(n_feeds: int, n_entries: int, seed: int, now: datetime) -> list[bytes]:
    rng = random.Random(seed)
    vocab, cum = vocabulary(rng)
    feeds = []
    serial = 0
    for f in range(n_feeds):
        site = f"https://www.outlet{f:03d}.example"
        items = []
        for e in range(n_entries):
            serial += 1
            title = " ".join(rng.choices(vocab, cum_weights=cum, k=rng.randint(7, 12))).capitalize()
            paragraphs = []
            size = rng.randint(1000, 2000)
            length = 0
            while length < size:
                p = " ".join(sentence(rng, vocab, cum, 12, 28) for _ in range(rng.randint(2, 4)))
                paragraphs.append(p)
                length += len(p)
            if serial % 100 == 0:
                paragraphs.insert(1, MISSION_SENTENCE)
            summary = "".join(f"<p>{p}</p>" for p in paragraphs)
            slug = "-".join(title.lower().split()[:6])
            link = f"{site}/news/2026/11/{slug}-{serial}.html"
            published = now - timedelta(minutes=rng.randint(1, 36 * 60))
            items.append(
                f"<item><title>{escape(title)}</title><link>{link}</link>"
                f'<guid isPermaLink="true">{link}</guid>'
                f"<description>{escape(summary)}</description>"
                f"<author>desk@outlet{f:03d}.example (Desk {f})</author>"
                f"<pubDate>{format_datetime(published)}</pubDate></item>"
            )
        feeds.append((
            '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>Outlet {f:03d}</title><link>{site}/</link><description>News of outlet {f:03d}"
            f"</description><language>en</language>{''.join(items)}</channel></rss>"
        ).encode())
    return feeds


# --- the loopback server -------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        server = self.server
        route = server.routes.get(self.path)
        if route is None:
            self._send(404, b"not found", {})
            return
        body, etag = route
        if server.etags and self.headers.get("If-None-Match") == etag:
            self._send(304, b"", {"ETag": etag})
            return
        headers = {"Content-Type": "application/rss+xml; charset=utf-8"}
        if server.etags:
            headers["ETag"] = etag
        self._send(200, body, headers)

    def _send(self, status: int, body: bytes, headers: dict) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)
        with self.server.lock:
            self.server.statuses[status] = self.server.statuses.get(status, 0) + 1

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # The stdlib's backlog is 5: a pass opens a connection per source at once, and
    # connections beyond the backlog stall until the client's timeout.
    request_queue_size = 1024

    def __init__(self, bodies: list[bytes]):
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes = {f"/feed/{i:03d}.xml": (body, f'"f{i:03d}-v1"') for i, body in enumerate(bodies)}
        self.etags = True
        self.statuses: dict[int, int] = {}
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def urls(self) -> list[str]:
        port = self.server_address[1]
        return [f"http://127.0.0.1:{port}{path}" for path in self.routes]

    def take_statuses(self) -> dict[int, int]:
        with self.lock:
            statuses, self.statuses = self.statuses, {}
        return statuses


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Figure:
    wall: float
    cpu: float
    server_cpu: float = 0.0
    note: str = ""
    extra: dict = field(default_factory=dict)
    extra_io: tuple[int, int] | None = None  # bytes written: by write calls, and to disk


# Runs a module as `python -m` would, then reports the bytes it wrote (/proc/self/io, Linux).
IO_WRAPPER = """
import atexit, runpy, sys
def _io():
    try:
        io = dict(line.split(": ") for line in open("/proc/self/io").read().splitlines())
        sys.stderr.write(f"\\nPW_IO {io['wchar']} {io['write_bytes']}\\n")
    except OSError:
        pass
atexit.register(_io)
module, sys.argv = sys.argv[1], sys.argv[1:]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def module_argv(module: str, *args: str) -> list[str]:
    return [sys.executable, "-c", IO_WRAPPER, module, *args]


def run_child(argv: list[str], timeout: float, cwd: Path | None = None) -> tuple[Figure, subprocess.CompletedProcess]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    parent_cpu = time.process_time()
    t0 = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if k != "PRESSWATCH_CONFIG"}
    proc = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    wall = time.perf_counter() - t0
    server_cpu = time.process_time() - parent_cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    figure = Figure(wall, cpu, server_cpu)
    for line in proc.stderr.splitlines()[::-1]:
        if line.startswith("PW_IO "):
            wchar, written = line.split()[1:]
            figure.extra_io = (int(wchar), int(written))
            break
    return figure, proc


def write_config(folder: Path, urls: list[str], name: str = "presswatch") -> Path:
    import yaml

    default = yaml.safe_load((REPO / "config" / "default.yaml").read_text(encoding="utf-8"))
    config = {
        "database": str(folder / f"{name}.db"),
        "crawl": {"delay": "0s", "retries": 0, "timeout": "300s", "robots": False,
                  "concurrency_per_domain": CONCURRENCY_PER_DOMAIN},
        "monitor": {"listen": ""},
        "sources": [{"id": f"feed-{i:03d}", "kind": "feed", "url": url, "fetch_articles": False}
                    for i, url in enumerate(urls)],
        "rules": default.get("rules", []),
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def db_counts(db_path: Path) -> dict[str, int]:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        one = lambda sql: db.execute(sql).fetchone()[0]
        return {
            "articles": one("SELECT count(*) FROM articles"),
            "stories": one("SELECT count(*) FROM stories"),
            "outbox": one("SELECT count(*) FROM outbox"),
            "seen": one("SELECT COALESCE(sum(items_seen), 0) FROM sources"),
            "failing_sources": one("SELECT count(*) FROM sources WHERE failures > 0"),
        }
    finally:
        db.close()


def pipeline_round(server: Server, urls: list[str], timeout: float) -> dict[str, Figure]:
    figures = {}
    with tempfile.TemporaryDirectory(prefix="pw-feed-cycle-") as tmp:
        folder = Path(tmp)
        idle, _ = run_child(module_argv("presswatch.scheduler", "run", "--once", "-c",
                                        str(write_config(folder, [], "idle"))), timeout, cwd=folder)
        figures["idle"] = idle
        config = write_config(folder, urls)
        argv = module_argv("presswatch.scheduler", "run", "--once", "-c", str(config))
        before = {"articles": 0, "seen": 0, "outbox": 0}
        for phase, etags in (("cold", True), ("warm304", True), ("unchanged", False)):
            server.etags = etags
            server.take_statuses()
            figure, proc = run_child(argv, timeout, cwd=folder)
            if proc.returncode != 0:
                tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
                raise SystemExit(f"presswatch run --once ({phase}) exited {proc.returncode}:\n{tail}")
            counts = db_counts(folder / "presswatch.db")
            statuses = server.take_statuses()
            database = sum(p.stat().st_size for p in folder.glob("presswatch.db*") if not p.name.endswith("-shm"))
            figure.extra = {"statuses": statuses, **{k: counts[k] - before.get(k, 0) for k in ("articles", "seen", "outbox")},
                            "database": database,
                            "failing": counts["failing_sources"],
                            "tracebacks": (proc.stdout + proc.stderr).count("Traceback (most recent call last)")}
            before = counts
            figures[phase] = figure
    return figures


def parse_floor(bodies: list[bytes], urls: list[str]) -> tuple[Figure, int]:
    import feedparser

    t0, c0 = time.perf_counter(), time.process_time()
    entries = 0
    for body, url in zip(bodies, urls):
        headers = {"content-type": "application/rss+xml; charset=utf-8", "content-location": url}
        entries += len(feedparser.parse(body, response_headers=headers).entries)
    return Figure(time.perf_counter() - t0, time.process_time() - c0), entries


def fetch_floor(urls: list[str], shape: str, timeout: float) -> Figure:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(urls))
        path = handle.name
    try:
        figure, proc = run_child([sys.executable, __file__, "--_floor", path, shape], timeout)
        if proc.returncode == 0:
            figure.extra = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        os.unlink(path)
    if proc.returncode != 0:
        raise SystemExit(f"bare Scrapy crawl ({shape}) exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return figure


# --- the bare Scrapy crawl (runs in a subprocess: python feed_cycle.py --_floor URLS SHAPE) -------


def floor_child(urls_path: str, shape: str) -> None:
    import scrapy
    from presswatch.crawler.fetch.runner import REACTOR
    from scrapy.utils.reactor import install_reactor

    urls = Path(urls_path).read_text().split()  # none: the start-up alone
    counted = {"responses": 0, "bytes": 0, "statuses": {}}

    class BodySpider(scrapy.Spider):
        name = "bodies"

        def __init__(self, urls: list[str], **kw):
            super().__init__(**kw)
            self.urls = urls

        async def start(self):
            for url in self.urls:
                yield scrapy.Request(url, dont_filter=True)

        def parse(self, response):
            counted["responses"] += 1
            counted["bytes"] += len(response.body)
            counted["statuses"][response.status] = counted["statuses"].get(response.status, 0) + 1

    settings = {
        "TWISTED_REACTOR": REACTOR,
        "LOG_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        "ROBOTSTXT_OBEY": False,
        "COOKIES_ENABLED": False,
        "DOWNLOAD_DELAY": 0,
        "CONCURRENT_REQUESTS_PER_DOMAIN": CONCURRENCY_PER_DOMAIN,
    }
    if shape == "one":
        from scrapy.crawler import CrawlerProcess

        process = CrawlerProcess(settings)
        process.crawl(BodySpider, urls=urls)
        process.start()
    else:  # one crawler per URL, all at once, on one AsyncCrawlerRunner: the pipeline's shape
        import asyncio

        install_reactor(REACTOR)
        from scrapy.crawler import AsyncCrawlerRunner
        from twisted.internet import reactor

        runner = AsyncCrawlerRunner(settings)

        async def main():
            try:
                await asyncio.gather(*(runner.crawl(BodySpider, urls=[url]) for url in urls))
            finally:
                reactor.stop()

        reactor.callWhenRunning(lambda: asyncio.ensure_future(main()))
        reactor.run(installSignalHandlers=False)
    print(json.dumps(counted))


# --- report ----------------------------------------------------------------------------------------


def best(figures: list[Figure]) -> Figure:
    """The round with the least CPU, wall time the least of any round (both are only ever raised by noise)."""
    chosen = min(figures, key=lambda f: f.cpu)
    return Figure(min(f.wall for f in figures), chosen.cpu, chosen.server_cpu, chosen.note, chosen.extra,
                  chosen.extra_io)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="best of N (default 3)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per subprocess")
    parser.add_argument("--no-shape", action="store_true", help="skip the bare crawl with a crawler per feed")
    parser.add_argument("--_floor", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._floor:
        floor_child(*args._floor)
        return 0

    import feedparser
    import scrapy
    import twisted

    started = time.strftime("%Y-%m-%d %H:%M")
    bodies = render_feeds(args.feeds, args.entries, args.seed, datetime.now(UTC))
    entries = args.feeds * args.entries
    server = Server(bodies)
    urls = server.urls()
    try:
        rounds: dict[str, list[Figure]] = {}
        parsed_entries = 0
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds} ...", file=sys.stderr, flush=True)
            for phase, figure in pipeline_round(server, urls, args.timeout).items():
                rounds.setdefault(phase, []).append(figure)
            server.etags = False
            server.take_statuses()
            figure = fetch_floor(urls, "one", args.timeout)
            figure.extra["server"] = server.take_statuses()
            rounds.setdefault("fetch", []).append(figure)
            rounds.setdefault("fetch_idle", []).append(fetch_floor([], "one", args.timeout))
            if not args.no_shape:
                rounds.setdefault("shape", []).append(fetch_floor(urls, "per-feed", args.timeout))
                server.take_statuses()
            figure, parsed_entries = parse_floor(bodies, urls)
            rounds.setdefault("parse", []).append(figure)
    finally:
        server.shutdown()
        server.server_close()

    fig = {name: best(figures) for name, figures in rounds.items()}
    floors = Figure(fig["parse"].wall + fig["fetch"].wall, fig["parse"].cpu + fig["fetch"].cpu)
    cold = fig["cold"]

    mb = sum(map(len, bodies)) / 1e6
    print(f"feed cycle: {args.feeds} feeds x {args.entries} entries ({entries:,} entries, {mb:.1f} MB, "
          f"{sum(map(len, bodies)) / entries / 1000:.1f} KB an entry) on loopback, best of {args.rounds} ({started})")
    print(f"machine: {platform.machine()}, nproc {os.cpu_count()}, Python {platform.python_version()}, "
          f"Scrapy {scrapy.__version__}, Twisted {twisted.__version__}, feedparser {feedparser.__version__}, "
          f"SQLite {sqlite3.sqlite_version}; shared with other work: wall times are noisy")
    print(f"pipeline: presswatch run --once, crawl.concurrency_per_domain {CONCURRENCY_PER_DOMAIN}, delay 0, "
          "retries 0, robots off, fetch_articles false, the shipped mission rules (console)")
    print(f"fetch floor: one bare Scrapy spider, CONCURRENT_REQUESTS_PER_DOMAIN {CONCURRENCY_PER_DOMAIN} "
          "(every URL is on 127.0.0.1: at most 2 in flight), DOWNLOAD_DELAY 0, asyncio reactor")
    print()
    rows = [
        ("start-up: bare Scrapy, no URL", fig["fetch_idle"], "Python, Scrapy, reactor: in the fetch floor"),
        ("start-up: presswatch, no source", fig["idle"], "imports, config, database: in every pipeline row"),
        ("parse floor: feedparser alone", fig["parse"], f"{parsed_entries} entries"),
        ("fetch floor: bare Scrapy crawl", fig["fetch"], _statuses(fig["fetch"].extra.get("statuses", {}))),
        ("floors together (parse + fetch)", floors, ""),
        ("pipeline cold (all new)", cold, _outcome(cold)),
        ("pipeline warm, 304 (ETag)", fig["warm304"], _outcome(fig["warm304"])),
        ("pipeline warm, unchanged (200)", fig["unchanged"], _outcome(fig["unchanged"])),
    ]
    if "shape" in fig:
        rows.append(("bare Scrapy, a crawler per feed", fig["shape"], "the pipeline's shape; not a floor"))
    print("(x floors: over the floors together; server CPU s: the loopback server's threads in this process)")
    print(f"{'':<34} {'wall s':>7} {'feeds/s':>8} {'CPU s':>7} {'CPU s/1k':>9} {'CPU x':>6} {'wall x':>6}"
          f" {'server':>7}  notes")
    print(f"{'':<34} {'':>7} {'':>8} {'':>7} {'entries':>9} {'floors':>6} {'floors':>6} {'CPU s':>7}")
    for name, f, note in rows:
        fixed = name.startswith("start-up")
        rate = "-" if fixed else f"{args.feeds / f.wall:.1f}"
        per_1k = "-" if fixed else f"{f.cpu / entries * 1000:.2f}"
        print(f"{name:<34} {f.wall:>7.1f} {rate:>8} {f.cpu:>7.1f} {per_1k:>9}"
              f" {f.cpu / floors.cpu:>6.2f} {f.wall / floors.wall:>6.2f} {f.server_cpu:>7.2f}  {note}")
    print()
    cpu_x, wall_x = cold.cpu / floors.cpu, cold.wall / floors.wall
    print(f"target, cold pipeline within 2x of the floors: CPU {cpu_x:.2f}x, wall {wall_x:.2f}x -> "
          f"{'met' if max(cpu_x, wall_x) <= 2 else 'missed'}")
    for phase, label in (("warm304", "warm 304"), ("unchanged", "warm unchanged")):
        f = fig[phase]
        cpu_r, wall_r = f.cpu / cold.cpu, f.wall / cold.wall
        print(f"target, {label} under a tenth of cold: CPU {cpu_r:.3f}, wall {wall_r:.3f} -> "
              f"{'met' if max(cpu_r, wall_r) < 0.1 else 'missed'}")
    if cold.extra_io and cold.extra.get("database"):
        written = cold.extra_io[0] / cold.extra["database"]
        print(f"target, cold cycle writes within 3x the database it leaves: {written:.1f}x -> "
              f"{'met' if written <= 3 else 'missed'}")
    if "shape" in fig:
        print(f"a crawler per feed costs the bare crawl {fig['shape'].cpu - fig['fetch'].cpu:+.1f} CPU s "
              f"({fig['shape'].cpu / fig['fetch'].cpu:.2f}x the one-spider fetch floor)")
    return 0


def _statuses(statuses: dict) -> str:
    return ", ".join(f"{count} x {status}" for status, count in sorted(statuses.items()))


def _outcome(f: Figure) -> str:
    e = f.extra
    problems = []
    if e.get("failing"):
        problems.append(f"{e['failing']} sources failed")
    if e.get("tracebacks"):
        problems.append(f"{e['tracebacks']} tracebacks")
    if f.extra_io:
        wchar, written = f.extra_io
        problems.append(f"wrote {wchar / 1e6:,.0f} MB ({written / 1e6:,.0f} MB to disk)")
    if e.get("database"):
        problems.append(f"database after {e['database'] / 1e6:,.1f} MB")
    return (f"{_statuses(e.get('statuses', {}))}; new {e.get('articles', 0)}, seen {e.get('seen', 0)}, "
            f"alerts {e.get('outbox', 0)}" + (f"; {', '.join(problems)}" if problems else ""))


if __name__ == "__main__":
    sys.exit(main())

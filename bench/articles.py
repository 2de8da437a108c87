"""Article pages through the whole pipeline, beside trafilatura alone on the same pages.

Usage: python bench/articles.py [CORPUS] [--rounds 3] [--per-feed 50] [--concurrency 2,8]
       [--processes auto,1] [--timeout 900] [--workers 1,2]
(CORPUS: the shared corpus folder, or its ``articles/`` folder; default $PRESSWATCH_CORPUS,
else ../shared/corpus beside the repository. Nothing of the corpus is copied: pages are read
where they are and served from memory.)

The pages are those of ``extract_eval.py`` (its ``load_pages``: ``scrapinghub_aeb``,
``andy_article_extraction_dataset``, ``mozilla_readability``, 418 pages), each served at a
path of its own (``/articles/<dataset>/<name>.html``) by a threaded stdlib HTTP server on
127.0.0.1 (HTTP/1.1, listen backlog 1024) as ``text/html``, without a charset: the corpus
records none, so the page's own declaration (or detection) decides, as for a server that
sends none. Generated RSS 2.0 feeds list them, --per-feed pages a feed, one dataset a feed
(10 feeds by default), an entry's link being its page's URL.

Measured, each as the best of --rounds (the machine is shared: wall times move between runs):
- pipeline: `presswatch run --once` (subprocess) on a new database, a feed source per feed
  with fetch_articles true: fetch the feed, fetch each page, extract it (`extract_page`),
  dedup, store, match the shipped mission rules, queue and deliver alerts (console only),
  with crawl.concurrency_per_domain at each value of --concurrency and crawl.extract_processes
  at each value of --processes (auto: unset, one process per core; 1: extraction in
  presswatch's own process); delay 0, retries 0, robots off, crawl.max_articles above the
  pages of a feed;
- start-up: the same command with a config without sources (imports, config, database),
  subtracted for the "net" rows (a daemon pays it once, not every pass);
- trafilatura alone: `bare_extraction(html, url=..., with_metadata=True)`, default options
  (extract_eval.py's baseline), in this process, on the bytes served, each page with the URL
  the pipeline fetched it from;
- for reference (not in the target): `extract_page` alone, in this process, on the same bytes
  and URLs: the pipeline's extraction step without fetching, storing and matching.

CPU seconds of a subprocess are its user + system time (`getrusage(RUSAGE_CHILDREN)` deltas),
its extraction processes' included (this process adopts them as a subreaper: the pool's fork
server outlives presswatch by a moment and is reaped here); trafilatura's are
`time.process_time()`. trafilatura alone runs on one core; the pipeline on as many as its
extraction processes (the reactor's thread extracts with extract_processes 1). Pages counted
for the pipeline are rows of `articles` with extracted_from 'page'; every page not stored so is
accounted for (stored from its feed entry with the page's error, folded into another article,
never requested, or a problem the run logged).
Targets: the pipeline's pages/s at least 0.8 of trafilatura alone's in one process, and at
least 1.5x trafilatura alone's (wall) with its extraction processes on the machine's cores.

With --workers N[,M...], the pipeline also runs with remote workers (docs/scaling.md): a
redis-server on a free loopback port, N `presswatch worker` processes, and `run --once` as the
writer with workers.redis set (at the first --concurrency value). Its CPU is the writer's and
the workers' together (each job's forked process included), its wall time the writer's run.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parent))
from extract_eval import Page, articles_folder, load_pages  # the same pages, found the same way

REPO = Path(__file__).resolve().parent.parent
TARGET = 0.8
POOL_TARGET = 1.5  # pages/s (wall) over trafilatura alone's, extraction in a pool on the machine's cores
_PROBLEM = re.compile(r"source=(\S+) problem: (.*?)(?: \((https?://[^)]*)\))?$")
_RUN = re.compile(r"source=(\S+) run (ok|failed) new=(\d+) copies=(\d+) filled=(\d+) revised=(\d+) seen=(\d+)"
                  r" alerts=(\d+) errors=(\d+)")


# --- the loopback server -------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        route = self.server.routes.get(self.path)
        if route is None:
            self._send(404, b"not found", "text/plain")
            return
        body, content_type = route
        self._send(200, body, content_type)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with self.server.lock:
            path = self.path
            kind = "page" if path.startswith("/articles/") else "feed" if path.startswith("/feeds/") else "other"
            self.server.served[(kind, status)] += 1

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the stdlib's 5 stalls connections opened together

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict[str, tuple[bytes, str]] = {}
        self.served: Counter = Counter()
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def take_served(self) -> Counter:
        with self.lock:
            served, self.served = self.served, Counter()
        return served


def page_path(page: Page) -> str:
    return f"/articles/{page.dataset}/{page.name}.html"


def render_feed(title: str, pages: list[Page], server: Server, now: datetime) -> bytes:
    items = []
    for i, page in enumerate(pages):
        link = server.url(page_path(page))
        summary = " ".join(page.text.split()[:40])  # a summary-only feed: the page has the rest
        items.append(
            f"<item><title>{escape(page.title or page.name)}</title><link>{escape(link)}</link>"
            f'<guid isPermaLink="true">{escape(link)}</guid><description>{escape(summary)}</description>'
            f"<pubDate>{format_datetime(now - timedelta(minutes=i + 1))}</pubDate></item>"
        )
    return ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>{escape(title)}</title><link>{server.url('/')}</link><description>{escape(title)}"
            f"</description>{''.join(items)}</channel></rss>").encode()


def serve(server: Server, pages: list[Page], per_feed: int) -> list[str]:
    """Routes for every page and for the feeds listing them; returns the feeds' URLs."""
    now = datetime.now(UTC)
    for page in pages:
        server.routes[page_path(page)] = (page.html, "text/html")
    feeds = []
    for dataset in dict.fromkeys(page.dataset for page in pages):
        of_set = [page for page in pages if page.dataset == dataset]
        for k in range(0, len(of_set), per_feed):
            path = f"/feeds/{dataset}-{k // per_feed + 1}.xml"
            chunk = of_set[k:k + per_feed]
            server.routes[path] = (render_feed(f"{dataset} {k // per_feed + 1}", chunk, server, now),
                                   "application/rss+xml; charset=utf-8")
            feeds.append(server.url(path))
    return feeds


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Figure:
    wall: float
    cpu: float
    pages: int = 0
    server_cpu: float = 0.0
    extra: dict = field(default_factory=dict)


def run_child(argv: list[str], timeout: float, cwd: Path) -> tuple[Figure, subprocess.CompletedProcess]:
    """A subprocess's wall and CPU seconds (and this process's, the server's), as feed_cycle
    measures; CPU with its orphaned descendants' (the extraction pool's fork server)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    running = frozenset(_children(os.getpid()))  # redis-server and workers of a remote pass
    parent_cpu = time.process_time()
    t0 = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if k != "PRESSWATCH_CONFIG"}
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
    own = _OwnCpu(child.pid)
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    finally:
        own.stop()
        if child.poll() is None:
            child.kill()
            child.wait()
    wall = time.perf_counter() - t0
    server_cpu = time.process_time() - parent_cpu - own.cost
    reap_orphans(keep=running)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    proc = subprocess.CompletedProcess(argv, child.returncode, stdout, stderr)
    return Figure(wall, cpu, server_cpu=server_cpu, extra={"own_cpu": own.seconds}), proc


class _OwnCpu:
    """The CPU seconds of one process alone (not its children), read from /proc every 20 ms
    until it ends: presswatch's own process beside its extraction processes."""

    def __init__(self, pid: int):
        self.path = f"/proc/{pid}/stat"
        self.seconds = 0.0
        self.cost = 0.0  # this sampler's own CPU, not the server's
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        ticks = os.sysconf("SC_CLK_TCK")
        start = time.thread_time()
        while not self.done.wait(0.02):
            try:
                with open(self.path) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                break
            self.seconds = (int(fields[11]) + int(fields[12])) / ticks
        self.cost = time.thread_time() - start

    def stop(self) -> None:
        self.done.set()
        self.thread.join()


PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def adopt_orphans() -> bool:
    """Become the subreaper of our descendants (Linux): a process that outlives its parent
    comes to us, and its CPU time (with its own children's) is counted when we reap it."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def reap_orphans(grace: float = 30.0, keep: frozenset[int] = frozenset()) -> None:
    """Wait for the descendants adopted by `adopt_orphans` (not `keep`) to end, and reap them."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        orphans = [pid for pid in _children(os.getpid()) if pid not in keep]
        if not orphans:
            return
        for pid in orphans:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        time.sleep(0.02)


def _children(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent:
            found.append(int(entry))
    return found


def write_config(folder: Path, feeds: list[str], concurrency: int, max_articles: int, name: str,
                 redis_url: str = "", processes: int | None = None) -> Path:
    import yaml

    default = yaml.safe_load((REPO / "config" / "default.yaml").read_text(encoding="utf-8"))
    config = {
        "database": str(folder / f"{name}.db"),
        "crawl": {"delay": "0s", "retries": 0, "timeout": "300s", "robots": False,
                  "concurrency_per_domain": concurrency, "max_articles": max_articles,
                  "extract_processes": processes},
        "monitor": {"listen": ""},
        "workers": {"redis": redis_url},
        "sources": [{"id": f"articles-{i:02d}", "kind": "feed", "url": url, "fetch_articles": True}
                    for i, url in enumerate(feeds)],
        "rules": default.get("rules", []),
        "channels": [],
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def presswatch_once(config: Path) -> list[str]:
    return [sys.executable, "-m", "presswatch.scheduler", "run", "--once", "-c", str(config)]


def db_facts(db_path: Path) -> dict:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        def rows(sql):
            return db.execute(sql).fetchall()

        return {
            "from": dict(rows("SELECT extracted_from, count(*) FROM articles GROUP BY 1")),
            "page_errors": dict(rows("SELECT page_error, count(*) FROM articles "
                                     "WHERE extracted_from = 'feed' GROUP BY 1")),
            "source_errors": rows("SELECT id, state, last_error FROM sources WHERE last_error IS NOT NULL"),
            "stories": rows("SELECT count(*) FROM stories")[0][0],
            "outbox": rows("SELECT count(*) FROM outbox")[0][0],
        }
    finally:
        db.close()


def pipeline_pass(server: Server, feeds: list[str], concurrency: int, max_articles: int,
                  timeout: float, processes: int | None = None) -> tuple[Figure, Figure]:
    """One start-up run and one pipeline run, each on a new database."""
    with tempfile.TemporaryDirectory(prefix="pw-articles-") as tmp:
        folder = Path(tmp)
        idle, proc = run_child(presswatch_once(write_config(folder, [], concurrency, max_articles, "idle")),
                               timeout, folder)
        _check(proc, "start-up")
        server.take_served()
        config = write_config(folder, feeds, concurrency, max_articles, "pw", processes=processes)
        figure, proc = run_child(presswatch_once(config), timeout, folder)
        _check(proc, f"concurrency {concurrency}, extract_processes {processes}")
        facts = db_facts(folder / "pw.db")
        log = (proc.stdout + proc.stderr).splitlines()
        figure.pages = facts["from"].get("page", 0)
        figure.extra = {**figure.extra,
            **facts, "served": server.take_served(),
            "problems": Counter(m[2] for line in log if (m := _PROBLEM.search(line))),
            "outcomes": _outcomes(log),
            "tracebacks": sum("Traceback (most recent call last)" in line for line in log),
        }
    return idle, figure


class Redis:
    """A redis-server on a free loopback port, no persistence, for the --workers passes."""

    def __init__(self, folder: Path):
        import socket

        from redis import Redis as Client

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{port}/0"
        self.client = Client.from_url(self.url)
        for _ in range(100):
            try:
                self.client.ping()
                return
            except Exception:
                time.sleep(0.05)
        raise SystemExit("redis-server did not answer")

    def close(self) -> None:
        self.client.close()
        self.process.terminate()
        self.process.wait(10)


def remote_pass(server: Server, feeds: list[str], workers: int, concurrency: int, max_articles: int,
                timeout: float, redis: Redis) -> Figure:
    """The writer (`run --once` with workers.redis) and N `presswatch worker` processes; CPU is
    theirs together (each worker's forked job processes included), wall the writer's run."""
    from rq import Worker

    redis.client.flushall()
    with tempfile.TemporaryDirectory(prefix="pw-articles-") as tmp:
        folder = Path(tmp)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = [subprocess.Popen([sys.executable, "-m", "presswatch.scheduler", "worker", "--redis", redis.url],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(workers)]
        while len(Worker.all(connection=redis.client)) < workers:
            time.sleep(0.05)
        server.take_served()
        config = write_config(folder, feeds, concurrency, max_articles, "remote", redis.url)
        figure, proc = run_child(presswatch_once(config), timeout, folder)
        for process in started:
            process.terminate()
        for process in started:
            process.wait(30)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        _check(proc, f"{workers} workers")
        figure.extra = {"writer_cpu": figure.cpu}
        figure.cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        figure.pages = db_facts(folder / "remote.db")["from"].get("page", 0)
    return figure


def _check(proc: subprocess.CompletedProcess, what: str) -> None:
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
        raise SystemExit(f"presswatch run --once ({what}) exited {proc.returncode}:\n{tail}")


def _outcomes(log: list[str]) -> Counter:
    keys = ("new", "copies", "filled", "revised", "seen", "alerts", "errors")
    total: Counter = Counter()
    for line in log:
        if m := _RUN.search(line):
            total["runs"] += 1
            total["failed"] += m[2] == "failed"
            total.update(dict(zip(keys, map(int, m.groups()[2:]))))
    return total


def trafilatura_round(pages: list[Page], urls: list[str]) -> Figure:
    from trafilatura import bare_extraction

    found = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for page, url in zip(pages, urls):
        document = bare_extraction(page.html, url=url, with_metadata=True)
        found += document is not None and bool(document.text)
    return Figure(time.perf_counter() - t0, time.process_time() - c0, len(pages), extra={"found": found})


def extract_page_round(pages: list[Page], urls: list[str]) -> Figure:
    """For reference: our extraction step alone, in process, on the same bytes."""
    from presswatch.crawler.errors import FetchError
    from presswatch.crawler.parse.extract import extract_page

    found = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for page, url in zip(pages, urls):
        try:
            found += bool(extract_page(page.html, url).text)
        except FetchError:
            pass
    return Figure(time.perf_counter() - t0, time.process_time() - c0, len(pages), extra={"found": found})


def best(figures: list[Figure]) -> Figure:
    """The round with the least CPU, wall time the least of any round (both are only ever raised by noise)."""
    chosen = min(figures, key=lambda f: f.cpu)
    return Figure(min(f.wall for f in figures), chosen.cpu, chosen.pages, chosen.server_cpu, chosen.extra)


# --- report ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", default=os.environ.get("PRESSWATCH_CORPUS")
                        or str(REPO.parent / "shared" / "corpus"))
    parser.add_argument("--rounds", type=int, default=3, help="best of N, each pass on a new database (default 3)")
    parser.add_argument("--per-feed", type=int, default=50, help="pages listed by one feed (default 50)")
    parser.add_argument("--concurrency", default="2,8",
                        help="crawl.concurrency_per_domain values, comma-separated (default 2,8; 2 is the default)")
    parser.add_argument("--processes", default="auto,1",
                        help="crawl.extract_processes values, comma-separated; auto leaves it unset, one "
                             "process per core (default auto,1; 1 is extraction in presswatch's process)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per subprocess")
    parser.add_argument("--workers", default="",
                        help="also run the pipeline with N remote workers (presswatch worker, Redis), for each N "
                             "of a comma-separated list, e.g. 1,2 (needs redis-server)")
    args = parser.parse_args(argv)
    articles = articles_folder(args.corpus)
    if articles is None:
        return 2
    concurrencies = [int(value) for value in args.concurrency.split(",") if value.strip()]
    pools = [None if value.strip() == "auto" else int(value) for value in args.processes.split(",") if value.strip()]
    variants = [(c, p) for c in concurrencies for p in pools]
    adopt_orphans()
    worker_counts = [int(value) for value in args.workers.split(",") if value.strip()]
    warnings.filterwarnings("ignore")

    import scrapy
    import trafilatura

    started = datetime.now()
    pages = load_pages(articles)
    server = Server()
    feeds = serve(server, pages, args.per_feed)
    urls = [server.url(page_path(page)) for page in pages]
    max_articles = args.per_feed + 50
    rounds: dict[str, list[Figure]] = {}
    redis_dir = tempfile.TemporaryDirectory(prefix="pw-redis-") if worker_counts else None
    redis = Redis(Path(redis_dir.name)) if redis_dir else None
    try:
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds} ...", file=sys.stderr, flush=True)
            rounds.setdefault("trafilatura", []).append(trafilatura_round(pages, urls))
            rounds.setdefault("extract_page", []).append(extract_page_round(pages, urls))
            for c, p in variants:
                idle, figure = pipeline_pass(server, feeds, c, max_articles, args.timeout, p)
                rounds.setdefault("idle", []).append(idle)
                rounds.setdefault(f"pipeline {c} {p}", []).append(figure)
            for w in worker_counts:
                figure = remote_pass(server, feeds, w, concurrencies[0], max_articles, args.timeout, redis)
                rounds.setdefault(f"workers {w}", []).append(figure)
    finally:
        server.shutdown()
        server.server_close()
        if redis is not None:
            redis.close()
            redis_dir.cleanup()

    fig = {name: best(figures) for name, figures in rounds.items()}
    idle, base = fig["idle"], fig["trafilatura"]
    n = len(pages)
    mb = sum(len(page.html) for page in pages) / 1e6
    print(f"article pages through the pipeline: {n} pages of {articles} ({mb:.1f} MB of HTML), "
          f"{len(feeds)} feeds of up to {args.per_feed} on loopback, best of {args.rounds} ({started:%Y-%m-%d %H:%M})")
    print(f"machine: {platform.machine()}, nproc {os.cpu_count()}, Python {platform.python_version()}, "
          f"Scrapy {scrapy.__version__}, trafilatura {trafilatura.__version__}, SQLite {sqlite3.sqlite_version}; "
          "shared with other work: wall times are noisy")
    print("pipeline: presswatch run --once, fetch_articles true, delay 0, retries 0, robots off, "
          f"max_articles {max_articles}, the shipped mission rules (console); extract_processes auto: "
          f"unset, one extraction process per core ({os.cpu_count()} here), 1: in presswatch's process")
    print("trafilatura alone: bare_extraction(html, url=..., with_metadata=True), default options, "
          "in process, on the bytes served; one core")
    print()
    print("(net: the start-up subtracted; x traf.: pages/s over trafilatura alone's; server CPU s: the "
          "loopback server's threads, in this process)")
    print(f"{'':<44} {'pages':>5} {'wall s':>7} {'CPU s':>7} {'pages/s':>8} {'pages/s':>8} {'x traf.':>7}"
          f" {'x traf.':>7} {'server':>7}")
    print(f"{'':<44} {'':>5} {'':>7} {'':>7} {'(wall)':>8} {'(CPU)':>8} {'(CPU)':>7} {'(wall)':>7} {'CPU s':>7}")
    def rate(pages_, seconds):
        return pages_ / seconds if seconds > 0 else float("inf")

    base_wall, base_cpu = rate(base.pages, base.wall), rate(base.pages, base.cpu)

    def row(label: str, pages_: int, wall: float, cpu: float, server_cpu: float | None = None,
            fixed: bool = False) -> tuple[float, float]:
        if fixed:
            print(f"{label:<44} {'-':>5} {wall:>7.2f} {cpu:>7.2f} {'-':>8} {'-':>8} {'-':>7} {'-':>7}"
                  f" {server_cpu or 0:>7.2f}")
            return 0.0, 0.0
        r_wall, r_cpu = rate(pages_, wall), rate(pages_, cpu)
        server = f"{server_cpu:>7.2f}" if server_cpu is not None else f"{'-':>7}"
        print(f"{label:<44} {pages_:>5} {wall:>7.2f} {cpu:>7.2f} {r_wall:>8.1f} {r_cpu:>8.1f}"
              f" {r_cpu / base_cpu:>7.2f} {r_wall / base_wall:>7.2f} {server}")
        return r_cpu / base_cpu, r_wall / base_wall

    row("start-up: presswatch, no source", 0, idle.wall, idle.cpu, idle.server_cpu, fixed=True)
    row("trafilatura alone", base.pages, base.wall, base.cpu)
    ours = fig["extract_page"]
    row("for reference: extract_page alone", ours.pages, ours.wall, ours.cpu)
    ratios = {}
    for c, p in variants:
        f = fig[f"pipeline {c} {p}"]
        raw = row(f"pipeline, concurrency {c}, extract_processes {p or 'auto'}", f.pages, f.wall, f.cpu,
                  f.server_cpu)
        net = row("  net of start-up", f.pages, f.wall - idle.wall, f.cpu - idle.cpu)
        print(f"{'  of the CPU: presswatch (its own process)':<44} {'':>5} {'':>7} {f.extra['own_cpu']:>7.2f}")
        ratios[c, p] = raw, net
    for w in worker_counts:
        f = fig[f"workers {w}"]
        row(f"remote: {w} worker{'s' if w > 1 else ''} + the writer", f.pages, f.wall, f.cpu)
        print(f"{'  of the CPU: the writer':<44} {'':>5} {'':>7} {f.extra['writer_cpu']:>7.2f}")
    print()
    for (c, p), (raw, net) in ratios.items():
        if p == 1:
            print(f"target, pipeline in one process at least {TARGET} of trafilatura alone's rate: CPU "
                  f"{net[0]:.2f}, wall {net[1]:.2f} -> {'met' if min(net) >= TARGET else 'missed'} (net of "
                  f"start-up, concurrency_per_domain {c}; raw: CPU {raw[0]:.2f}, wall {raw[1]:.2f} -> "
                  f"{'met' if min(raw) >= TARGET else 'missed'})")
        else:
            print(f"target, pipeline with extract_processes {p or 'auto'} at least {POOL_TARGET}x trafilatura "
                  f"alone's rate (wall): {net[1]:.2f} -> {'met' if net[1] >= POOL_TARGET else 'missed'} (net of "
                  f"start-up, concurrency_per_domain {c}; raw: {raw[1]:.2f} -> "
                  f"{'met' if raw[1] >= POOL_TARGET else 'missed'})")
    print()
    print(f"trafilatura alone returned a text for {base.extra['found']} of {n} pages, "
          f"extract_page alone for {ours.extra['found']}")
    for c, p in variants:
        print(f"concurrency_per_domain {c}, extract_processes {p or 'auto'}: "
              + _accounting(n, fig[f"pipeline {c} {p}"]))
    for w in worker_counts:
        print(f"{w} remote workers: {fig[f'workers {w}'].pages} of {n} pages stored from their page")
    return 0


def _accounting(n: int, f: Figure) -> str:
    """Where every page went, so that none silently disappears."""
    e = f.extra
    served, outcomes = e["served"], e["outcomes"]
    page_gets = sum(count for (kind, _), count in served.items() if kind == "page")
    page_ok = served.get(("page", 200), 0)
    from_feed = e["from"].get("feed", 0)
    lines = [f"{f.pages} of {n} pages stored from their page; {n - f.pages} not"]
    lines.append(f"  served: {page_gets} page GETs ({page_ok} x 200), "
                 f"{sum(c for (k, _), c in served.items() if k == 'feed')} feed GETs; "
                 f"never requested: {max(n - page_gets, 0)}")
    lines.append(f"  runs {outcomes['runs']} ({outcomes['failed']} failed); new {outcomes['new']}, copies "
                 f"{outcomes['copies']}, filled {outcomes['filled']}, revised {outcomes['revised']}, seen "
                 f"{outcomes['seen']} (folded into an article already stored); stories {e['stories']}, "
                 f"alerts {e['outbox']}; tracebacks {e['tracebacks']}")
    if from_feed:
        reasons = "; ".join(f"{count}x {reason or 'no error recorded'}" for reason, count
                            in sorted(e["page_errors"].items(), key=lambda kv: -kv[1]))
        lines.append(f"  stored from the feed entry instead (page failed): {from_feed}: {reasons}")
    if e["problems"]:
        lines.append("  problems logged: " + "; ".join(f"{count}x {reason}" for reason, count
                                                       in e["problems"].most_common()))
    for source, state, error in e["source_errors"]:
        lines.append(f"  source {source} ({state}): last_error {error}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

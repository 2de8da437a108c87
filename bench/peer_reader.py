"""presswatch beside lemon24/reader on the same real feeds, in one run: CPU, wall time, disk writes, database size.

Usage: python bench/peer_reader.py [CORPUS] [--reader-python PATH] [--cycles N] [--profile N] [--keep DIR]

CORPUS: the shared corpus (default $PRESSWATCH_CORPUS, else ../shared/corpus beside the
repository); its feeds/real/ files (198 real feeds) are read where they are and served from
memory on a loopback HTTP server (bench/corpus_feeds.py's content types) that answers with an
ETag and a Last-Modified, and with 304 Not Modified to a request that sends them back.

reader is not a dependency of presswatch: it runs from a venv of its own, made once with

    python -m venv bench/.venv-reader && bench/.venv-reader/bin/pip install 'reader==3.26' sgmllib3k

and given with --reader-python (default $PRESSWATCH_READER_PYTHON, else
bench/.venv-reader/bin/python). sgmllib3k: reader 3.26's vendored feedparser imports
`sgmllib`, which the feedparser release pip picks beside it no longer installs.

Each step runs in its own process, one after the other, and is measured from outside:
CPU is the child's user+sys (RUSAGE_CHILDREN, so interpreter start and imports count),
disk writes are the write_bytes of /proc/self/io that the child (and anything it started)
added to this process once reaped; the database's size (with its -wal) is taken after.

- reader cold: a new database, every feed added, `update_feeds(workers=4, scheduled=False)`
  (scheduled=False: reader otherwise skips a feed until its update interval, an hour, has
  passed, and the warm cycle would fetch nothing).
- reader warm: the same again on that database: every feed answers 304.
- presswatch cold: `presswatch run --once` on a new database; one feed source per file,
  fetch_articles false, robots off, crawl.delay 0s, the shipped mission rules (the config
  bench/corpus_feeds.py writes).
- presswatch warm: `run --once` again: every feed answers 304.
- warm cycles in a long-running process: for reader, `update_feeds` --cycles times in one
  process; for presswatch, the daemon (scheduler.daemon.run with a body) runs
  `crawls.crawl_all` over every source --cycles times; the last cycle's time.process_time
  delta is reported, what the daemon pays every cycle once it is up.

With --profile N, the daemon runs one more warm cycle under cProfile, after the measured
ones, and its N costliest parts are printed, with the CPU a process spends importing the
CLI and the daemon.

The server counts the 200 and 304 answers of each step, so a warm step that fetched nothing
(or fetched bodies again) shows. The goals of issue 15 are printed met or missed at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus_feeds import Feed, Server, content_type, feed_files, source_id_for, write_config  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
LAST_MODIFIED = formatdate(1_700_000_000, usegmt=True)

READER_CHILD = """
import json, sys, time
from reader import make_reader
db, urls, cycles = sys.argv[1], sys.argv[2], int(sys.argv[3])
reader = make_reader(db)
for url in open(urls).read().split():
    reader.add_feed(url, exist_ok=True)
last = None
for _ in range(cycles):
    t0, w0 = time.process_time(), time.perf_counter()
    reader.update_feeds(workers=4, scheduled=False)
    last = (time.process_time() - t0, time.perf_counter() - w0)
errors = sum(1 for feed in reader.get_feeds() if feed.last_exception)
print(json.dumps({"entries": reader.get_entry_counts().total, "errors": errors, "cycle": last}))
reader.close()
"""

DAEMON_CHILD = """
import cProfile, json, sys, time
from presswatch.config import load_config
from presswatch.scheduler.daemon import run
from presswatch.scheduler.logs import setup_logging
config = load_config(sys.argv[1])
cycles, profile_out = int(sys.argv[2]), sys.argv[3]
redact = setup_logging(config.log.level, config.log.format, config.secrets)
profile = cProfile.Profile()
times = []
async def body(daemon):
    for i in range(cycles):
        last = profile_out and i == cycles - 1
        t0, w0 = time.process_time(), time.perf_counter()
        profile.enable() if last else None
        await daemon.crawls.crawl_all(daemon.sources)
        profile.disable() if last else None
        times.append((time.process_time() - t0, time.perf_counter() - w0))
code = run(config, redact, body=body)
if profile_out:
    profile.dump_stats(profile_out)
print(json.dumps({"code": code, "cycles": times}))
"""

IMPORTS_CHILD = """
import time
t0 = time.process_time()
import presswatch.scheduler.cli, presswatch.scheduler.daemon
print(time.process_time() - t0)
"""


# --- the loopback server, with ETag and Last-Modified ----------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        route = self.server.routes.get(self.path)
        if route is None:
            self._answer(404, b"not found", "text/plain", {})
            return
        body, ctype, etag = route
        headers = {"ETag": etag, "Last-Modified": LAST_MODIFIED}
        sent_etag = self.headers.get("If-None-Match")
        if (sent_etag is not None and etag in sent_etag) or (
                sent_etag is None and self.headers.get("If-Modified-Since") == LAST_MODIFIED):
            self.server.count(304)
            self._answer(304, b"", None, headers)
            return
        self.server.count(200)
        self._answer(200, body, ctype, headers)

    def _answer(self, status: int, body: bytes, ctype: str | None, headers: dict[str, str]):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def log_message(self, *args):
        pass


class CountingServer(Server):
    def count(self, status: int) -> None:
        with self.lock:
            self.answers[status] = self.answers.get(status, 0) + 1

    def take_counts(self) -> dict[int, int]:
        with self.lock:
            counts, self.answers = self.answers, {}
        return counts


def serve(routes: dict[str, tuple[bytes, str, str]]) -> CountingServer:
    httpd = CountingServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.routes, httpd.answers, httpd.lock = routes, {}, threading.Lock()
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


# --- measuring a child ---------------------------------------------------------------------


@dataclass
class Step:
    name: str
    cpu: float = 0.0
    wall: float = 0.0
    written: int = 0
    db_size: int = 0
    entries: int = 0
    answers: dict[int, int] = field(default_factory=dict)
    cycle: tuple[float, float] | None = None  # in-process cycle: (cpu, wall)
    first_cycle: tuple[float, float] | None = None
    failed: str = ""


def written_bytes() -> int:
    """write_bytes of this process, which includes its reaped children's."""
    with open("/proc/self/io", encoding="ascii") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("write_bytes"))


def measure(step: Step, cmd: list[str], cwd: Path, env: dict[str, str], timeout: int) -> str:
    """Run `cmd` to its end; fill the step's CPU, wall and disk writes; return its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    written = written_bytes()
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        step.failed = f"timed out after {timeout} s"
        return ""
    step.wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    step.cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    step.written = written_bytes() - written
    (cwd / f"{step.name.replace(' ', '-')}.log").write_text(
        f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}", encoding="utf-8")
    if proc.returncode != 0:
        step.failed = f"exit {proc.returncode}: {(proc.stderr.strip().splitlines() or ['?'])[-1][:200]}"
    return proc.stdout


def db_size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def count_rows(path: Path, table: str) -> int:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        db.close()


def last_json(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


# --- the steps -------------------------------------------------------------------------------


def run_reader(python: str, folder: Path, urls: Path, httpd, env, cycles: int, timeout: int) -> list[Step]:
    db = folder / "reader.sqlite"
    steps = []
    for name, n in (("reader cold", 1), ("reader warm", 1), ("reader in-process", cycles)):
        step = Step(name)
        httpd.take_counts()
        out = last_json(measure(step, [python, "-c", READER_CHILD, str(db), str(urls), str(n)], folder, env, timeout))
        step.answers = httpd.take_counts()
        step.db_size, step.entries = db_size(db), out.get("entries", 0)
        step.cycle = tuple(out["cycle"]) if out.get("cycle") else None
        steps.append(step)
    return steps


def run_presswatch(folder: Path, config: Path, httpd, env, cycles: int, timeout: int,
                   profile: Path | None) -> list[Step]:
    db = folder / "presswatch.db"
    steps = []
    command = [sys.executable, "-m", "presswatch.scheduler", "run", "--once", "-c", str(config)]
    for name in ("presswatch cold", "presswatch warm"):
        step = Step(name)
        httpd.take_counts()
        measure(step, command, folder, env, timeout)
        step.answers = httpd.take_counts()
        step.db_size, step.entries = db_size(db), count_rows(db, "articles") if db.exists() else 0
        steps.append(step)
    step = Step("presswatch in-process")
    httpd.take_counts()
    # With a profile, one more cycle runs under cProfile after the measured ones.
    child = [sys.executable, "-c", DAEMON_CHILD, str(config), str(cycles + bool(profile)), str(profile or "")]
    out = last_json(measure(step, child, folder, env, timeout))
    step.answers = httpd.take_counts()
    step.db_size, step.entries = db_size(db), count_rows(db, "articles") if db.exists() else 0
    step.cycle = tuple(out["cycles"][cycles - 1]) if len(out.get("cycles", [])) >= cycles else None
    step.first_cycle = tuple(out["cycles"][0]) if out.get("cycles") else None
    steps.append(step)
    return steps


# --- the table -------------------------------------------------------------------------------


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.1f}x" if theirs else "-"


def print_table(steps: dict[str, Step], cycles: int) -> None:
    rc, rw, ri = steps["reader cold"], steps["reader warm"], steps["reader in-process"]
    pc, pw, pi = steps["presswatch cold"], steps["presswatch warm"], steps["presswatch in-process"]
    rows = [
        ("cold cycle (all new), CPU s", rc.cpu, pc.cpu, "{:.2f}"),
        ("cold cycle, wall s", rc.wall, pc.wall, "{:.2f}"),
        ("cold cycle, disk writes MB", rc.written / 1e6, pc.written / 1e6, "{:.1f}"),
        ("database after the cycle MB", rc.db_size / 1e6, pc.db_size / 1e6, "{:.1f}"),
        ("entries stored", rc.entries, pc.entries, "{:.0f}"),
        ("warm cycle (304s), whole process, CPU s", rw.cpu, pw.cpu, "{:.2f}"),
        ("warm cycle, whole process, wall s", rw.wall, pw.wall, "{:.2f}"),
        ("warm cycle, disk writes MB", rw.written / 1e6, pw.written / 1e6, "{:.1f}"),
        (f"warm cycle in a running process (cycle {cycles} of {cycles}), CPU s",
         ri.cycle[0] if ri.cycle else float("nan"), pi.cycle[0] if pi.cycle else float("nan"), "{:.2f}"),
        ("  the same, wall s", ri.cycle[1] if ri.cycle else float("nan"),
         pi.cycle[1] if pi.cycle else float("nan"), "{:.2f}"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'':<{width}}  {'reader':>8}  {'presswatch':>10}  {'ratio':>6}")
    for label, theirs, ours, fmt in rows:
        print(f"{label:<{width}}  {fmt.format(theirs):>8}  {fmt.format(ours):>10}  {ratio(ours, theirs):>6}")
    print()
    print("answers served (200 / 304) per step: " + "; ".join(
        f"{s.name} {s.answers.get(200, 0)} / {s.answers.get(304, 0)}" for s in steps.values()))
    for s in steps.values():
        if s.failed:
            print(f"FAILED {s.name}: {s.failed}")
    print()
    daemon_cpu = pi.cycle[0] if pi.cycle else float("inf")
    goals = [
        ("cold cycle CPU at most reader's", pc.cpu <= rc.cpu, f"{pc.cpu:.2f} s vs {rc.cpu:.2f} s"),
        ("warm whole-process run --once under 5x reader's (CPU)", pw.cpu < 5 * rw.cpu,
         f"{ratio(pw.cpu, rw.cpu)}"),
        ("daemon's warm cycle under 1 s of CPU", daemon_cpu < 1.0, f"{daemon_cpu:.2f} s"),
        ("cold disk writes within 3x the database left", pc.written <= 3 * pc.db_size,
         f"{ratio(pc.written, pc.db_size)}"),
    ]
    for label, met, figure in goals:
        print(f"goal: {label}: {'met' if met else 'MISSED'} ({figure})")


def import_cpu(env) -> float:
    """CPU seconds `run --once` spends importing the CLI and the daemon (best of 3)."""
    runs = [subprocess.run([sys.executable, "-c", IMPORTS_CHILD], capture_output=True, text=True, env=env,
                           check=True).stdout for _ in range(3)]
    return min(float(out.strip()) for out in runs)


def package_of(path: str, function: str) -> str:
    if "site-packages/" in path:
        return path.split("site-packages/")[1].split("/")[0].removesuffix(".py")
    if path.startswith(str(REPO)):
        return "presswatch " + "/".join(Path(path).relative_to(REPO).parts[:2])
    if path.startswith(("~", "<")):
        return function.strip("<>")[:48]
    return f"stdlib {Path(path).name}"


def short_path(path: str) -> str:
    if "site-packages/" in path:
        return path.split("site-packages/")[1]
    if path.startswith(str(REPO)):
        return str(Path(path).relative_to(REPO))
    return Path(path).name


def print_profile(path: Path, top: int, steps: dict[str, Step], imports: float) -> None:
    import pstats

    stats = pstats.Stats(str(path))
    own: dict[str, float] = {}
    for (file, _, function), (_, _, tottime, _, _) in stats.stats.items():
        own[package_of(file, function)] = own.get(package_of(file, function), 0.0) + tottime
    total = sum(own.values())
    warm, daemon = steps["presswatch warm"], steps["presswatch in-process"]
    print()
    print(f"where a warm run --once's {warm.cpu:.2f} s of CPU go: importing the CLI and the daemon "
          f"{imports:.2f} s; one cycle {daemon.cycle[0] if daemon.cycle else float('nan'):.2f} s "
          f"(the first cycle in a process: {daemon.first_cycle[0] if daemon.first_cycle else float('nan'):.2f} s, "
          f"with Scrapy's lazy imports); the rest is the interpreter, config, database open and shutdown")
    print(f"profile of one more warm cycle in the daemon (cProfile, {total:.2f} s under the profiler), "
          f"own time by package:")
    for name, seconds in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {seconds:6.2f} s {100 * seconds / total:5.1f}%  {name}")
    print("  the costliest calls, cumulative:")
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][3])
    shown = 0
    for (file, line, function), (_, calls, _, cumulative, _) in rows:
        if shown == top:
            break
        if "asyncio" in file or function.startswith("<"):
            continue
        print(f"  {cumulative:6.2f} s {100 * cumulative / total:5.1f}%  {calls:>7} calls  "
              f"{short_path(file)}:{line} {function}")
        shown += 1


def default_reader_python() -> str:
    return os.environ.get("PRESSWATCH_READER_PYTHON") or str(REPO / "bench" / ".venv-reader" / "bin" / "python")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Make reader's venv once: python -m venv bench/.venv-reader && "
               "bench/.venv-reader/bin/pip install 'reader==3.26' sgmllib3k",
    )
    parser.add_argument("corpus", nargs="?", type=Path,
                        default=Path(os.environ.get("PRESSWATCH_CORPUS") or REPO.parent / "shared" / "corpus"),
                        help="the corpus (its feeds/real/ is served); default $PRESSWATCH_CORPUS or ../shared/corpus")
    parser.add_argument("--reader-python", default=default_reader_python(),
                        help="python of a venv with reader installed (default $PRESSWATCH_READER_PYTHON, "
                             "else bench/.venv-reader/bin/python)")
    parser.add_argument("--cycles", type=int, default=2, help="warm cycles run in one process (default 2)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="after the table, profile one more warm daemon cycle and print its N costliest parts")
    parser.add_argument("--keep", type=Path, help="keep databases, configs and logs in this folder")
    parser.add_argument("--timeout", type=int, default=900, help="seconds for each step (default 900)")
    args = parser.parse_args(argv)

    feeds_dir = args.corpus / "feeds" / "real" if (args.corpus / "feeds" / "real").is_dir() else args.corpus
    files = feed_files([feeds_dir])
    if not files:
        print(f"no feed files under {feeds_dir}", file=sys.stderr)
        return 2
    if not Path(args.reader_python).exists():
        print(f"no reader python at {args.reader_python}; make it with: python -m venv bench/.venv-reader && "
              "bench/.venv-reader/bin/pip install 'reader==3.26' sgmllib3k", file=sys.stderr)
        return 2
    reader_version = subprocess.run([args.reader_python, "-c", "import reader; print(reader.__version__)"],
                                    capture_output=True, text=True, check=True).stdout.strip()

    routes: dict[str, tuple[bytes, str, str]] = {}
    httpd = serve(routes)
    port = httpd.server_address[1]
    feeds = []
    for i, file in enumerate(files, 1):
        body, path = file.read_bytes(), f"/{i:03d}/{quote(file.name)}"
        ctype = content_type(body, malformed=False)
        routes[path] = (body, ctype, '"' + hashlib.sha1(body).hexdigest()[:20] + '"')
        feeds.append(Feed(source_id_for(i, file), file, str(file.relative_to(feeds_dir)),
                          f"http://127.0.0.1:{port}{path}", body, ctype))

    folder_cm = tempfile.TemporaryDirectory(prefix="pw-peer-") if args.keep is None else None
    folder = Path(folder_cm.name) if folder_cm else args.keep.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    for stale in [*folder.glob("presswatch.db*"), *folder.glob("reader.sqlite*")]:
        stale.unlink()
    env = {**os.environ}
    env.pop("PRESSWATCH_CONFIG", None)
    started, load = time.strftime("%Y-%m-%d %H:%M"), os.getloadavg()
    profile_text = None
    try:
        urls = folder / "urls.txt"
        urls.write_text("\n".join(f.url for f in feeds), encoding="utf-8")
        config = write_config(folder, feeds, timeout=60)
        steps = run_reader(args.reader_python, folder, urls, httpd, env, args.cycles, args.timeout)
        profile = folder / "cycle.prof" if args.profile else None
        steps += run_presswatch(folder, config, httpd, env, args.cycles, args.timeout, profile)
        imports = import_cpu(env) if args.profile else 0.0
        if profile and profile.exists():
            profile_text = io.StringIO()
            with redirect_stdout(profile_text):
                print_profile(profile, args.profile, {s.name: s for s in steps}, imports)
    finally:
        httpd.shutdown()
        httpd.server_close()
        if folder_cm:
            folder_cm.cleanup()

    print(f"presswatch beside reader {reader_version} on {len(feeds)} feeds of {feeds_dir} "
          f"({sum(len(f.body) for f in feeds) / 1e6:.1f} MB), {started}")
    print(f"machine: {platform.machine()}, nproc {os.cpu_count()}, Python {platform.python_version()}; "
          f"load average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    print("each step a process of its own; CPU = user+sys of the whole process; reader: update_feeds(workers=4)")
    print()
    print_table({s.name: s for s in steps}, args.cycles)
    if args.profile:
        print(profile_text.getvalue() if profile_text else "\nno profile: the daemon's cycles did not finish", end="")
    return 1 if any(s.failed for s in steps) else 0


if __name__ == "__main__":
    sys.exit(main())

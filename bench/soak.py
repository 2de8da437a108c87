"""Soak: the daemon over a loopback farm of feeds that change over time; its memory and fds.

A real daemon (`presswatch run` in a subprocess, a database in a temporary folder) polls
`--feeds` loopback RSS feeds (one threaded server, one path each) every `--every`; each
feed gains a new entry every `--change` seconds (feeds out of phase), keeps its last 10,
and answers conditional GETs (ETag) with 304 while unchanged. One entry in `--match-every`
carries a word the rules match (alerts go to a loopback json:// sink); one in 7 is the
same text on the five feeds of a group (wire copies: folded into one story). Every
`--sample` seconds it prints the daemon's resident memory (VmRSS of /proc/PID/status),
open fds (/proc/PID/fd), threads, crawls so far (/metrics), stored articles and alerts
received; at the end a summary: RSS at the end of the warm-up vs at the end, the slope of
RSS after the warm-up (least squares, MB an hour), fds min/max. Target: flat after warm-up.

    /tmp/pwvenv/bin/python bench/soak.py                      # an hour, 500 feeds every 5m
    /tmp/pwvenv/bin/python bench/soak.py --duration 900       # a shorter check

Ctrl-C (or SIGTERM) stops early and still prints the summary of what was reached.
"""

from __future__ import annotations

import argparse
import random
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from latency import Daemon, Loopback, machine, random_words, rss, write_config

PROBE = "soakprobe"
SHOWN = 10
GROUP = 5
COPY_EVERY = 7


class Farm:
    """Feed i at time t shows entries k-SHOWN+1..k, k = entries appeared so far."""

    def __init__(self, feeds: int, change: float, match_every: int, start: float):
        self.feeds, self.change, self.match_every, self.start = feeds, change, match_every, start
        self.cache: dict[tuple[int, int], bytes] = {}
        self.lock = threading.Lock()
        self.server: Loopback | None = None

    def entries_so_far(self, i: int, now: float) -> int:
        phase = self.change * i / self.feeds
        return SHOWN + max(0, int((now - self.start + phase) // self.change))

    def entry(self, i: int, k: int) -> dict:
        copy = k % COPY_EVERY == 0
        rng = random.Random(f"{i // GROUP}/{k}" if copy else f"{i}/{k}")
        title = random_words(rng, 6)
        text = random_words(rng, 40)
        if rng.randrange(self.match_every) == 0:
            title = f"{PROBE} {title}"
        link = f"http://outlet{i}.example/{'wire' if copy else 'own'}/{i // GROUP if copy else i}/{k}"
        return {"title": title, "link": link, "description": text, "date": self.start + k * self.change}

    def feed(self, path: str, now: float):
        if not (path.startswith("/f/") and path.endswith(".xml")):
            return None
        try:
            i = int(path[3:-4])
        except ValueError:
            return None
        if not 0 <= i < self.feeds:
            return None
        k = self.entries_so_far(i, now)
        with self.lock:
            body = self.cache.get((i, k))
        if body is None:
            body = rss([self.entry(i, j) for j in range(k, k - SHOWN, -1)], title=f"Outlet {i}")
            with self.lock:
                self.cache.pop((i, k - 1), None)
                self.cache[(i, k)] = body
        return f'"{k}"', body


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    if not var:
        return None
    return sum((t - mx) * (v - my) for t, v in points) / var * 3600


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=3600, help="seconds to run (default 3600)")
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--every", default="5m", help="each source's interval (default 5m)")
    parser.add_argument("--change", type=float, default=180, help="s between new entries of a feed (default 180)")
    parser.add_argument("--match-every", type=int, default=40, help="1 entry in N matches a rule (default 40)")
    parser.add_argument("--sample", type=float, default=30, help="s between samples (default 30)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="s of warm-up (default 600, or a third of a shorter run)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    warmup = args.warmup if args.warmup is not None else min(600.0, args.duration / 3)

    start = time.time()
    farm = Farm(args.feeds, args.change, args.match_every, start)
    server = Loopback(farm.feed)
    farm.server = server
    folder = Path(tempfile.mkdtemp(prefix="pw-soak-"))
    config = write_config(
        folder,
        sources=[{"id": f"f{i}", "kind": "feed", "url": server.url(f"/f/{i}.xml"), "every": args.every}
                 for i in range(args.feeds)],
        rules=[{"id": "probe", "query": PROBE, "channels": ["sink"]}],
        channels=[{"id": "sink", "url": server.apprise_url}],
        every_delivery="5s", jitter=0.05)
    db_path = folder / "presswatch.db"
    daemon = Daemon(config, folder / "daemon.log")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    print(f"soak: {args.feeds} loopback feeds every {args.every} (jitter 0.05), a new entry per feed every "
          f"{args.change:.0f} s, 1 in {args.match_every} entries alerting; {args.duration:.0f} s, a sample every "
          f"{args.sample:.0f} s, warm-up {warmup:.0f} s ({time.strftime('%Y-%m-%d %H:%M')})")
    print(machine())
    print("   t s  RSS MB  fds  threads  crawls  articles  alerts  feed GETs  (304)  db MB", flush=True)
    samples: list[tuple[float, float, int, int]] = []  # t, rss MB, fds, threads
    try:
        daemon.wait_ready()
        next_at = time.time()
        while not stop.is_set():
            now = time.time()
            t = now - daemon.started
            if t > args.duration or not daemon.alive():
                break
            if now < next_at:
                stop.wait(min(1.0, next_at - now))
                continue
            next_at += args.sample
            rss_kb, fds, threads = daemon.rss_kb(), daemon.fds(), daemon.threads()
            try:
                crawls = int(daemon.metrics().get("presswatch_crawls_total", 0))
            except OSError:
                crawls = -1
            try:
                with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as conn:
                    articles = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
                conn.close()
            except sqlite3.Error:
                articles = -1
            size = sum(p.stat().st_size for p in folder.glob("presswatch.db*")) / 1e6
            if rss_kb is None:
                break
            samples.append((t, rss_kb / 1024, fds, threads))
            print(f"{t:6.0f}  {rss_kb / 1024:6.1f}  {fds:3d}  {threads:7d}  {crawls:6d}  {articles:8d}  "
                  f"{len(server.messages):6d}  {server.hits:9d}  {server.not_modified:5d}  {size:5.1f}", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        alive = daemon.alive()
        code = daemon.stop()
        server.close()

    print(f"daemon {'ran to the end' if alive else 'had EXITED early'}; exit code after SIGTERM {code}")
    if not alive:
        print(daemon.log_tail())
    errors = [line for line in (folder / "daemon.log").read_text(errors="replace").splitlines()
              if " ERROR " in line or "Traceback" in line]
    print(f"log lines at ERROR or tracebacks: {len(errors)}" + (f" (first: {errors[0][:200]})" if errors else ""))
    if samples:
        after = [(t, r) for t, r, _, _ in samples if t >= warmup]
        at_warm = after[0] if after else samples[-1][:2]
        end = samples[-1]
        peak = max(samples, key=lambda s: s[1])
        print(f"summary over {end[0]:.0f} s, {len(samples)} samples:")
        print(f"  RSS: first {samples[0][1]:.1f} MB, at the end of the warm-up ({at_warm[0]:.0f} s) {at_warm[1]:.1f} MB, "
              f"at the end ({end[0]:.0f} s) {end[1]:.1f} MB ({end[1] - at_warm[1]:+.1f} MB), peak {peak[1]:.1f} MB "
              f"at {peak[0]:.0f} s")
        slope = slope_per_hour(after)
        print(f"  RSS slope after the warm-up: {'n/a (too few samples)' if slope is None else f'{slope:+.1f} MB an hour'} "
              f"({len(after)} samples)")
        fds = [s[2] for s in samples]
        fds_after = [s[2] for s in samples if s[0] >= warmup] or fds
        print(f"  open fds: min {min(fds)}, max {max(fds)} (after the warm-up: {min(fds_after)}..{max(fds_after)}); "
              f"threads {min(s[3] for s in samples)}..{max(s[3] for s in samples)}")
    if args.keep:
        print(f"kept {folder}")
    else:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

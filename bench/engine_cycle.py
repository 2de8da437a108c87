"""Warm feed cycles in one process (the daemon's) and whole-process `run --once`, on loopback.

Usage: python bench/engine_cycle.py [--feeds 198] [--entries 50] [--cycles 3] [--rounds 3]

The feeds are feed_cycle.py's (generated, served from memory by its threaded server on
127.0.0.1, an ETag per feed, 304 when it is sent back). Measured:
- daemon: one child process runs the daemon's `crawl_all` over every feed --cycles times
  (the first cold, the others warm: every feed answers 304); for each cycle its wall time
  and the process's CPU time (`time.process_time`: this process only, the server is apart);
- run --once, warm 304: `presswatch run --once` on the same database afterwards, whole
  process (start-up included), CPU as user + system of the child, best of --rounds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feed_cycle import Server, module_argv, render_feeds, run_child, write_config  # noqa: E402

CHILD = textwrap.dedent("""
    import json, sys, time
    from presswatch.config import load_config
    from presswatch.scheduler.daemon import run

    cycles = []

    async def passes(daemon):
        for _ in range(int(sys.argv[2])):
            cpu, wall = time.process_time(), time.perf_counter()
            await daemon.crawls.crawl_all(daemon.sources)
            cycles.append((time.perf_counter() - wall, time.process_time() - cpu))

    code = run(load_config(sys.argv[1], {}), lambda text: text, body=passes)
    print(json.dumps({"code": code, "cycles": cycles}))
""")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=198)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args(argv)

    server = Server(render_feeds(args.feeds, args.entries, args.seed, datetime.now(UTC)))
    with tempfile.TemporaryDirectory(prefix="pw-engine-cycle-") as tmp:
        folder = Path(tmp)
        config = write_config(folder, server.urls())
        figure, proc = run_child([sys.executable, "-c", CHILD, str(config), str(args.cycles)], args.timeout, cwd=folder)
        if proc.returncode != 0:
            raise SystemExit(f"the daemon's cycles failed:\n{proc.stderr[-3000:]}")
        cycles = json.loads(proc.stdout.strip().splitlines()[-1])["cycles"]
        print(f"{args.feeds} feeds x {args.entries} entries on loopback ({datetime.now(UTC):%Y-%m-%d %H:%M})")
        print(f"daemon, one process: {args.cycles} cycles of crawl_all (the first cold, then 304s); "
              f"the whole child {figure.wall:.2f} s wall, {figure.cpu:.2f} s CPU")
        for n, (wall, cpu) in enumerate(cycles, 1):
            print(f"  cycle {n} ({'cold' if n == 1 else 'warm, 304'}): {wall:6.2f} s wall  {cpu:6.2f} s CPU")
        statuses = server.take_statuses()
        once = []
        for _ in range(args.rounds):
            figure, proc = run_child(module_argv("presswatch.scheduler", "run", "--once", "-c", str(config)),
                                     args.timeout, cwd=folder)
            if proc.returncode != 0:
                raise SystemExit(f"run --once failed:\n{proc.stderr[-3000:]}")
            once.append(figure)
            time.sleep(0)
        statuses = server.take_statuses()
        best = min(once, key=lambda f: f.cpu)
        print(f"run --once, warm 304, whole process (best of {args.rounds} by CPU): "
              f"{best.wall:.2f} s wall  {best.cpu:.2f} s CPU  (statuses {statuses})")
    server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

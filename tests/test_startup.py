"""Read-only commands start without the crawl's libraries: what `presswatch` imports, command by command.

Each command runs in a fresh interpreter against a real (fresh) database; what is in
sys.modules when it exits is what it cost to start. Scrapy, Twisted and trafilatura are
the crawl's; Apprise only sends alerts (and checks channel URLs, of which this config
has none); APScheduler only schedules the long-running daemon; feedparser only serves
ingest (datasketch, only the tests and benchmarks); pygal only draws charts (`event
--chart`, `rules chart`). Timings are bench/startup.py's, never asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from presswatch.crawler.store.database import Store

NOT_FOR_READING = {"scrapy", "twisted", "trafilatura", "apprise", "apscheduler", "datasketch", "feedparser", "pygal"}

# Runs `presswatch ARGS...` in this interpreter, then writes its exit code and the
# top-level packages imported to the file named by PW_MODULES_OUT.
RUN_AND_LIST = """
import json, os, sys
sys.argv = ["presswatch"] + sys.argv[1:]
from presswatch.scheduler.cli import main
try:
    main(prog_name="presswatch")
    code = 0
except SystemExit as exc:
    code = exc.code
with open(os.environ["PW_MODULES_OUT"], "w") as out:
    json.dump({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}, out)
"""

READ_ONLY = [
    ["--help"],
    ["check-config"],
    ["sources"],
    ["search", "rights"],
    ["stats"],
    ["stories"],
    ["alerts"],
    ["export", "stories"],
]


@pytest.fixture
def config_with_database(tmp_path, write_config):
    database = tmp_path / "presswatch.db"
    Store(str(database)).close()  # a fresh database, migrated, as the first run leaves it
    return write_config({
        "database": str(database),
        "sources": [{"id": "outlet", "kind": "feed", "url": "http://127.0.0.1:9/feed.xml"}],
        "rules": [{"id": "hrw", "query": '"Human Rights Watch"'}],
    })


@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_a_read_only_command_imports_no_crawl_library(args, config_with_database, tmp_path):
    out = tmp_path / "modules.json"
    config = [] if args == ["--help"] else ["--config", str(config_with_database)]
    env = {**os.environ, "PW_MODULES_OUT": str(out)}
    env.pop("PRESSWATCH_CONFIG", None)
    proc = subprocess.run([sys.executable, "-c", RUN_AND_LIST, *args, *config], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(out.read_text())
    assert seen["code"] in (0, None), proc.stderr
    assert not NOT_FOR_READING & set(seen["modules"]), (
        f"`presswatch {' '.join(args)}` imported {sorted(NOT_FOR_READING & set(seen['modules']))}")


def test_run_once_imports_the_crawl_but_not_the_schedule(config_with_database, tmp_path):
    # The probe sees the crawl's libraries where they are needed; `run --once` schedules
    # nothing, serves no /metrics and has no remote workers, so APScheduler and RQ stay out.
    out = tmp_path / "modules.json"
    env = {**os.environ, "PW_MODULES_OUT": str(out)}
    env.pop("PRESSWATCH_CONFIG", None)
    proc = subprocess.run([sys.executable, "-c", RUN_AND_LIST, "run", "--once", "--config",
                           str(config_with_database)], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    modules = set(json.loads(out.read_text())["modules"])
    assert {"scrapy", "twisted", "trafilatura", "feedparser"} <= modules
    assert not {"apscheduler", "rq"} & modules
    # Nor what only costs a start: datasketch (with scipy and redis; dedup computes its
    # MinHash with numpy) and aiohttp (Scrapy's remote control, which is off).
    assert not {"datasketch", "scipy", "redis", "aiohttp"} & modules, sorted(modules)

"""Article pages extracted in a pool of processes (crawl.extract_processes).

Most tests run `presswatch run` against the loopback server and watch its processes in
/proc while it runs: a pool's processes are the children of the multiprocessing fork server,
itself a child of presswatch. A process is killed from the test (SIGKILL) when it has spent
the CPU of a page no small page needs: it is then certainly reading the big page. The order
of hand-over is tested in this process, on a real pool and a real SQLite store.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import pytest

from conftest import article_page, rss_feed
from presswatch.config.errors import ConfigError
from presswatch.config.loader import load_config
from presswatch.config.schema import Source
from presswatch.crawler.items import EntryItem, FeedEntry, PageItem
from presswatch.crawler.parse.layout import LISTING
from presswatch.crawler.store.database import Store
from presswatch.crawler.stories.extracting import KILLED, PagePool, machine_processes, pool_size
from presswatch.crawler.stories.ingest import Ingest
from presswatch.crawler.stories.run import SourceIngest

POOL_STARTED = "extracting article pages in 2 processes"
READ_AGAIN = "the page is read again alone"
TICKS = os.sysconf("SC_CLK_TCK")
BUSY = 0.25  # CPU seconds: far more than a small page takes, far less than the big page


WORDS = ("harbour council budget rainfall bridge school election vaccine factory railway museum court "
         "harvest drought festival minister protest tariff satellite hospital reservoir orchestra fishing "
         "airport library mining wildfire census pension treaty volcano vineyard stadium ferry glacier "
         "bakery parliament typhoon archive refinery monastery").split()


def text(topic: str) -> list[str]:
    """Six sentences of words drawn for `topic`: pages of different topics are different stories."""
    draw = random.Random(topic)
    return [" ".join(draw.choice(WORDS) for _ in range(30)).capitalize() + f" flood {topic}." for _ in range(6)]


def small_pages(web, count: int = 3) -> list[dict]:
    items = []
    for n in range(count):
        title = f"Report {n} on the flood relief"
        link = web.add(f"/news/{n}", article_page(title, text(f"flood relief effort {n}")))
        items.append({"title": title, "link": link, "description": f"teaser {n}"})
    return items


def big_page(web) -> dict:
    """About 2 MB of paragraphs: most of a second of CPU to extract."""
    paragraphs = [f"Paragraph {n} of the full transcript of the hearing, as the committee published "
                  f"it, with every speaker's words {n}." for n in range(20000)]
    link = web.add("/news/transcript", article_page("The full transcript", paragraphs))
    return {"title": "The full transcript", "link": link, "description": "the hearing, in full"}


@dataclass
class Watched:
    """What a run's processes did: every descendant seen, and the pool processes killed."""

    seen: dict[int, int] = field(default_factory=dict)  # pid: depth under presswatch
    killed: list[int] = field(default_factory=list)


def run_watched(config, kills: int = 0, timeout: float = 180) -> tuple[subprocess.CompletedProcess, Watched]:
    """`presswatch run --once`, its processes watched; up to `kills` pool processes busy with
    a page of more than BUSY CPU seconds are killed, each as soon as it gets there."""
    argv = [sys.executable, "-m", "presswatch.scheduler", "run", "--once", "--config", str(config)]
    env = {key: value for key, value in os.environ.items() if key != "PRESSWATCH_CONFIG"}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    watched = Watched()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            tree = descendants(proc.pid)
            watched.seen.update(tree)
            for pid, depth in tree.items():
                if depth >= 2 and len(watched.killed) < kills and pid not in watched.killed \
                        and cpu_seconds(pid) > BUSY:
                    os.kill(pid, signal.SIGKILL)
                    watched.killed.append(pid)
            done.wait(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        done.set()
        watcher.join()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr), watched


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None  # gone meanwhile


def descendants(root: int) -> dict[int, int]:
    """The processes under `root` now, with their depth (1: its children)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            parents[int(entry)] = int(fields[1])
    depth, frontier = {}, {root: 0}
    while frontier:
        frontier = {pid: frontier[parent] + 1 for pid, parent in parents.items() if parent in frontier}
        depth.update(frontier)
    return depth


def cpu_seconds(pid: int) -> float:
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICKS if fields else 0.0


def feed_config(web, write_config, items: list[dict], processes: int | None, name: str = "presswatch",
                sources: int = 1) -> object:
    """A config of `sources` feed sources sharing out `items`, their pages fetched."""
    listed = []
    for n in range(sources):
        url = web.add(f"/{name}-{n}.xml", rss_feed(items[n::sources]), content_type="application/rss+xml")
        listed.append({"id": f"outlet-{n}", "kind": "feed", "url": url, "fetch_articles": True})
    return write_config({
        "database": f"{name}.db",
        "crawl": {"extract_processes": processes, "max_articles": 100},
        "sources": listed,
        "rules": [{"id": "floods", "query": "flood"}],
    }, name=f"{name}.yaml")


def db_rows(path, sql: str) -> list[dict]:
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql)]


ARTICLE_COLUMNS = ("url", "extracted_from", "title", "text", "page_error", "canonical_url", "published_at", "date_source", "authors",
                   "language", "story_id")


def articles(db) -> list[tuple]:
    """The articles by URL; a story as the URLs of its articles (ids follow the order pages
    arrived in, which concurrent requests leave open)."""
    columns = ", ".join(ARTICLE_COLUMNS)
    rows = db_rows(db, f"SELECT {columns} FROM articles ORDER BY url")
    stories: dict[int, list[str]] = {}
    for row in rows:
        stories.setdefault(row["story_id"], []).append(row["url"])
    return [tuple({**row, "story_id": tuple(stories[row["story_id"]])}.values()) for row in rows]


# --- the same articles, in the pool or not ---------------------------------------------------


def test_pages_read_in_the_pool_end_as_the_same_articles_as_in_process(web, write_config, tmp_path):
    items = small_pages(web, 6)
    # A second outlet's copy of report 0, under its own URL: the first page read is the story.
    items.append({**items[0], "link": web.add("/copy/0", article_page("Copy", text("flood relief effort 0")))})
    # Two pages whose extraction fails, each for its own reason.
    menu = "".join(f'<li><a href="/section/{n}">Section {n} of the site</a></li>' for n in range(80))
    items.append({"title": "Sections", "link": web.add("/sections", f"<html><body><ul>{menu}</ul></body></html>"),
                  "description": "flood news by section"})
    items.append({"title": "Empty", "link": web.add("/empty", "<html><body></body></html>"),
                  "description": "flood page without text"})
    results = {}
    for processes in (1, 2):
        config = feed_config(web, write_config, items, processes, name=f"p{processes}", sources=2)
        result, watched = run_watched(config)
        assert result.returncode == 0, result.stderr
        assert result.stderr.count("run ok") == 2
        results[processes] = result, watched, articles(tmp_path / f"p{processes}.db")

    (in_process, none, stored), (pooled, pool, from_pool) = results[1], results[2]
    assert POOL_STARTED not in in_process.stderr and not none.seen  # key 1: no other process
    # One pool for both sources' runs: started once, at most its 2 processes ever.
    assert pooled.stderr.count(POOL_STARTED) == 1
    assert 1 <= sum(depth == 2 for depth in pool.seen.values()) <= 2
    assert from_pool == stored
    by_url = {row[0]: dict(zip(ARTICLE_COLUMNS, row)) for row in from_pool}
    assert [by_url[item["link"]]["extracted_from"] for item in items[:7]] == ["page"] * 7
    assert by_url[items[6]["link"]]["story_id"] == (items[6]["link"], items[0]["link"])  # one story
    # The failed pages: stored from their feed entry, with the reason, and noted in the run.
    sections, empty = by_url[items[7]["link"]], by_url[items[8]["link"]]
    assert sections["extracted_from"] == "feed" and sections["page_error"].startswith(LISTING)
    assert empty["extracted_from"] == "feed" and empty["page_error"]
    for row in (sections, empty):
        assert f"problem: {row['page_error']} ({row['url']})" in pooled.stderr


def test_a_feed_only_run_starts_no_pool(web, write_config, tmp_path):
    url = web.add("/feed.xml", rss_feed(small_pages(web)), content_type="application/rss+xml")
    config = write_config({"crawl": {"extract_processes": 2},
                           "sources": [{"id": "outlet", "kind": "feed", "url": url}]})
    result, watched = run_watched(config)
    assert result.returncode == 0, result.stderr
    assert POOL_STARTED not in result.stderr and not watched.seen
    assert len(db_rows(tmp_path / "presswatch.db", "SELECT id FROM articles")) == 3


# --- a pool process that dies ---------------------------------------------------------------


def test_a_pool_process_killed_mid_page_loses_no_page(web, write_config, tmp_path):
    items = [big_page(web), *small_pages(web)]
    result, watched = run_watched(feed_config(web, write_config, items, 2), kills=1)
    assert result.returncode == 0, result.stderr
    assert len(watched.killed) == 1, "the big page's process was never seen busy"
    rows = {row[0]: row for row in articles(tmp_path / "presswatch.db")}
    assert [rows[item["link"]][1] if item["link"] in rows else None for item in items] == ["page"] * 4
    assert "transcript of the hearing" in rows[items[0]["link"]][3]
    assert READ_AGAIN in result.stderr and "run ok" in result.stderr


def test_a_page_that_kills_its_process_twice_is_recorded_and_not_read_again(web, write_config, tmp_path):
    items = [big_page(web), *small_pages(web)]
    config = feed_config(web, write_config, items, 2)
    result, watched = run_watched(config, kills=3)
    assert result.returncode == 0, result.stderr
    assert len(watched.killed) == 2  # in the pool, then alone: never a third time
    assert READ_AGAIN in result.stderr and KILLED in result.stderr
    rows = {row[0]: dict(zip(ARTICLE_COLUMNS, row)) for row in articles(tmp_path / "presswatch.db")}
    big = rows[items[0]["link"]]
    assert (big["extracted_from"], big["page_error"]) == ("feed", KILLED)
    assert [rows[item["link"]]["extracted_from"] for item in items[1:]] == ["page"] * 3

    asked = [path for path, _ in web.requests]
    again, _ = run_watched(config)
    assert again.returncode == 0, again.stderr
    assert "/news/transcript" not in [path for path, _ in web.requests[len(asked):]]


# --- the key --------------------------------------------------------------------------------


def test_extract_processes_unset_is_the_cores_and_0_or_1_is_in_process(tmp_path):
    assert pool_size(None) == machine_processes() >= 1
    assert pool_size(0) == pool_size(1) == 1 and pool_size(3) == 3


@pytest.mark.parametrize("value", [-1, "two", True])
def test_extract_processes_refuses_what_is_not_a_count(tmp_path, value):
    path = tmp_path / "c.yaml"
    path.write_text(f"crawl:\n  extract_processes: {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="extract_processes"):
        load_config(path, {})


# --- the order pages are handed over in -----------------------------------------------------


def test_candidates_reach_the_writer_in_the_order_they_were_collected(tmp_path):
    """A big page first, then a small page, a feed entry and another small page: the big one's
    extraction ends last, yet it is stored first, as it would be in process."""
    source = Source(id="outlet", kind="feed", url="http://127.0.0.1/feed.xml")
    store = Store(str(tmp_path / "order.db"))
    store.sync_sources([(source.id, source.kind, source.url, source.name)])
    pool = PagePool(2)

    def page(path: str, title: str, paragraphs: list[str]) -> PageItem:
        return PageItem(source.id, f"http://127.0.0.1{path}", article_page(title, paragraphs).encode(), "utf-8")

    big = [f"Paragraph {n} of the full transcript of the hearing, with every speaker's words {n}."
           for n in range(20000)]
    entry = FeedEntry(guid="entry-b", link="http://127.0.0.1/b", title="B from the feed",
                      summary=" ".join(text("entry b")))
    items = [page("/big", "The transcript", big), page("/a", "A", text("page a")),
             EntryItem(source.id, entry), page("/c", "C", text("page c"))]

    async def crawl() -> SourceIngest:
        run = SourceIngest(Ingest.from_config(store, (), (source,)), source.id, pool=pool)
        await asyncio.gather(*(run.take(item) for item in items))  # as Scrapy: each item a task
        await run.settle()
        run.finish()
        return run

    try:
        run = asyncio.run(crawl())
        stored = [row["url"] for row in store.db["articles"].rows_where(order_by="id")]
    finally:
        pids = pool.pids()
        asyncio.run(pool.close())
        store.close()
    assert pool.started == 1 and run.pages["read"] == 3
    assert stored == ["http://127.0.0.1/big", "http://127.0.0.1/a", "http://127.0.0.1/b", "http://127.0.0.1/c"]
    assert pids and all(gone(pid) for pid in pids)  # closed: none of its processes is left


def gone(pid: int, within: float = 30.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


# --- stopping -------------------------------------------------------------------------------


def test_sigterm_while_a_page_is_in_the_pool_stores_it_and_exits(web, write_config, tmp_path):
    items = [big_page(web), *small_pages(web)]
    config = feed_config(web, write_config, items, 2)
    argv = [sys.executable, "-m", "presswatch.scheduler", "run", "--config", str(config)]
    env = {key: value for key, value in os.environ.items() if key != "PRESSWATCH_CONFIG"}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while not any(depth == 2 and cpu_seconds(pid) > BUSY for pid, depth in descendants(proc.pid).items()):
            assert proc.poll() is None and time.monotonic() < deadline, "no pool process got busy"
            time.sleep(0.005)
        proc.send_signal(signal.SIGTERM)  # the big page is being read in the pool
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert "stopped" in stderr
    rows = {row[0]: row for row in articles(tmp_path / "presswatch.db")}
    assert rows[items[0]["link"]][1] == "page"  # read to the end before the pool was closed

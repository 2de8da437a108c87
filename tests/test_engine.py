"""One crawl engine per process: cycles of many sources share one Scrapy crawler, and each
source's own delay and timeout still hold for its requests only."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap

from conftest import article_page

# Runs in a process of its own (it installs the asyncio reactor): two cycles of every
# source in one daemon, counting the Scrapy crawlers made (by their spider class).
CYCLES = textwrap.dedent("""
    import json, sys
    from scrapy import crawler as scrapy_crawler

    made = []
    _init = scrapy_crawler.Crawler.__init__

    def counted(self, spidercls, *args, **kwargs):
        made.append(spidercls.__name__)
        _init(self, spidercls, *args, **kwargs)

    scrapy_crawler.Crawler.__init__ = counted

    from presswatch.config import load_config
    from presswatch.scheduler.daemon import run

    async def two_cycles(daemon):
        for _ in range(2):
            await daemon.crawls.crawl_all(daemon.sources)

    code = run(load_config(sys.argv[1], {}), lambda text: text, body=two_cycles)
    print(json.dumps({"code": code, "crawlers": made}))
""")


def _listing(web, prefix: str, host: str) -> str:
    links = "".join(f'<a href="/{prefix}/a{n}">Story {n}</a>' for n in range(3))
    for n in range(3):
        web.add(f"/{prefix}/a{n}", article_page(f"{prefix} story {n}", [
            f"Paragraph of {prefix} story {n}, long enough to be kept as the text of the page."] * 3))
    web.add(f"/{prefix}/list", f"<html><body>{links}</body></html>")
    return f"http://{host}:{web.port}/{prefix}/list"


def _gaps(web, prefix: str) -> list[float]:
    times = sorted(t for t, path in web.request_times if path.startswith(f"/{prefix}/"))
    return [later - earlier for earlier, later in zip(times, times[1:])]


def test_cycles_of_many_sources_share_one_crawler_and_keep_each_sources_delay_and_timeout(
        web, write_config, tmp_path):
    feed = '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item><title>One</title>' \
           '<link>http://127.0.0.1/one</link><description>Text of one.</description></item></channel></rss>'
    slow = web.add("/slow.xml", feed, content_type="application/rss+xml", delay=2)
    patient = web.add("/patient.xml", feed, content_type="application/rss+xml", delay=2)
    config = write_config({
        "crawl": {"delay": "0s", "timeout": "10s"},
        "sources": [
            {"id": "paced", "kind": "site", "url": _listing(web, "paced", "127.0.0.1"), "follow": "/paced/a",
             "delay": "1.5s"},
            # Another host name for the same server: its pace is its own.
            {"id": "quick", "kind": "site", "url": _listing(web, "quick", "localhost"), "follow": "/quick/a"},
            {"id": "slow", "kind": "feed", "url": slow, "timeout": "1s"},
            {"id": "patient", "kind": "feed", "url": patient},
        ],
    })

    result = subprocess.run([sys.executable, "-c", CYCLES, str(config)], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])

    assert outcome == {"code": 0, "crawlers": ["EngineSpider"]}, outcome  # not one per source run
    with sqlite3.connect(tmp_path / "presswatch.db") as db:
        states = {row[0]: row[1:] for row in db.execute("SELECT id, runs, failures, last_error FROM sources")}
    assert {key: runs for key, (runs, _, _) in states.items()} == dict.fromkeys(states, 2), states
    assert "timed out after 1s" in states["slow"][2], states  # its own timeout
    assert states["patient"][1:] == (0, None), states  # the crawl's: the same slow answer is waited for
    assert states["paced"][1] == states["quick"][1] == 0, states
    # Each listing twice (a page stored is not asked for again) and each page once.
    paths = [path for path, _ in web.requests]
    assert sorted(p for p in paths if p.startswith("/paced/")) == ["/paced/a0", "/paced/a1", "/paced/a2",
                                                                   "/paced/list", "/paced/list"], paths
    # 1.5 s between sends; arrivals may come closer when a busy machine delays one send's
    # connection more than the next's, so the slack is wide. Without the source's own delay,
    # its pages would arrive together (gaps near 0), as the other source's do.
    assert min(_gaps(web, "paced")) >= 0.9, _gaps(web, "paced")
    assert min(_gaps(web, "quick")) < 0.9, _gaps(web, "quick")  # the other source's delay is not its own


# Counts this machine's established TCP connections to a port (/proc/net/tcp: IPv4, hex
# ports; state 01 is ESTABLISHED) from inside the daemon, after a cycle, until none is left.
IDLE = textwrap.dedent("""
    import asyncio, json, sys, time
    from presswatch.config import load_config
    from presswatch.scheduler.daemon import run

    def connections(port):
        with open("/proc/net/tcp") as table:
            rows = [line.split() for line in table.read().splitlines()[1:]]
        return sum(1 for row in rows if int(row[2].split(":")[1], 16) == port and row[3] == "01")

    seen = {}

    async def body(daemon):
        port = int(sys.argv[2])
        await daemon.crawls.crawl_all(daemon.sources)
        seen["after_cycle"] = connections(port)
        start = time.monotonic()
        while connections(port) and time.monotonic() - start < 120:
            await asyncio.sleep(0.2)
        seen["closed_after"] = round(time.monotonic() - start, 1)
        seen["left"] = connections(port)

    code = run(load_config(sys.argv[1], {}), lambda text: text, body=body)
    print(json.dumps({"code": code, **seen}))
""")


def test_the_engine_does_not_keep_idle_connections_open_for_long(web, write_config, tmp_path):
    """The one crawler lives as long as the daemon: its kept-alive connections to a host
    close soon after they fall idle, not after Twisted's four minutes (a socket per host)."""
    feed = web.add("/feed.xml", '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
                   '<item><title>One</title><link>http://127.0.0.1/one</link></item></channel></rss>',
                   content_type="application/rss+xml")
    config = write_config({"sources": [{"id": "wire", "kind": "feed", "url": feed}]})

    result = subprocess.run([sys.executable, "-c", IDLE, str(config), str(web.port)], capture_output=True,
                            text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])

    assert outcome["code"] == 0 and outcome["after_cycle"] >= 1, outcome  # kept alive after the run
    assert outcome["left"] == 0 and outcome["closed_after"] < 60, outcome  # Twisted's default: 240 s


def test_a_hosts_robots_txt_is_read_again_once_its_copy_is_old(web, write_config, tmp_path):
    """The engine's robots.txt copies live as long as the daemon: one older than
    robots.MAX_AGE is read again (here the age is 0 s: every cycle reads it)."""
    web.add("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    feed = web.add("/feed.xml", '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
                   '<item><title>One</title><link>http://127.0.0.1/one</link></item></channel></rss>',
                   content_type="application/rss+xml")
    config = write_config({"crawl": {"robots": True}, "sources": [{"id": "wire", "kind": "feed", "url": feed}]})
    script = "from presswatch.crawler.fetch.downloadermiddlewares import robots\n" \
             "robots.MAX_AGE = float(sys.argv.pop())\n"

    for max_age, reads in (("3600", 1), ("0", 2)):
        web.requests.clear()
        result = subprocess.run([sys.executable, "-c", CYCLES.replace("import json, sys\n", f"import json, sys\n{script}"),
                                 str(config), max_age], capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        paths = [path for path, _ in web.requests]
        assert paths.count("/robots.txt") == reads and paths.count("/feed.xml") == 2, (max_age, paths)


def test_a_run_stopped_mid_crawl_is_not_recorded_so_its_unread_entries_come_next_time(web, write_config, tmp_path):
    """SIGTERM while a feed's pages are being fetched: what was read is stored, but the run is
    not recorded with the feed's ETag, which would make the next run's 304 hide the rest."""
    import os
    import signal
    import time

    from conftest import Route, rss_feed

    items = []
    for n in range(6):
        title = f"Report {n} on the flood relief"
        # One page at a time, the first at once, the others slowly: the stop finds one in
        # flight (it is read to its end) and the rest still queued (they are dropped).
        link = web.add(f"/news/{n}", article_page(title, [f"Flood relief effort {n} in the north. " * 12]),
                       delay=0 if n == 0 else 3)
        items.append({"title": title, "link": link, "description": f"teaser {n}"})
    feed = web.add("/flood.xml", rss_feed(items), content_type="application/rss+xml", etag='"v1"')
    config = write_config({"crawl": {"max_articles": 100, "concurrency_per_domain": 1},
                           "sources": [{"id": "outlet", "kind": "feed", "url": feed, "fetch_articles": True,
                                        "timeout": "120s"}],
                           "rules": [{"id": "floods", "query": "flood"}]})
    database = tmp_path / "presswatch.db"
    env = {key: value for key, value in os.environ.items() if key != "PRESSWATCH_CONFIG"}
    daemon = subprocess.Popen([sys.executable, "-m", "presswatch.scheduler", "run", "--config", str(config)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def stored() -> int:
        if not database.exists():
            return 0
        try:
            with sqlite3.connect(database, timeout=30) as db:
                return db.execute("SELECT count(*) FROM articles").fetchone()[0]
        except sqlite3.OperationalError:  # not created yet
            return 0

    try:
        deadline = time.monotonic() + 120
        while not (stored() >= 1 and any(path == "/news/1" for path, _ in web.requests)):
            assert daemon.poll() is None and time.monotonic() < deadline, "the first page was not stored"
            time.sleep(0.1)
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=120)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert daemon.returncode == 0, stderr
    assert "stopped before the run ended" in stderr
    with sqlite3.connect(database) as db:
        (etag, last_success) = db.execute("SELECT etag, last_success_at FROM sources WHERE id = 'outlet'").fetchone()
    assert etag is None and last_success is None  # not recorded: the feed is read in full next time
    assert 1 <= stored() < 6

    for n in range(1, 6):  # the pages answer at once now
        web.routes[f"/news/{n}"] = Route(web.routes[f"/news/{n}"].body)
    before = len(web.requests)
    once = subprocess.run([sys.executable, "-m", "presswatch.scheduler", "run", "--once", "--config", str(config)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert once.returncode == 0, once.stderr
    feed_request = next(headers for path, headers in web.requests[before:] if path == "/flood.xml")
    assert "If-None-Match" not in feed_request
    assert stored() == 6


# Runs in a process of its own: one cycle of every source in the daemon, counting the
# commits of the store's connection while it runs.
COMMITS = textwrap.dedent("""
    import json, sqlite3, sys, time
    from pathlib import Path
    from presswatch.config import load_config
    from presswatch.scheduler.daemon import run

    commits, in_file = [], []

    async def one_cycle(daemon):
        daemon.store.db.conn.set_trace_callback(
            lambda sql: commits.append(time.monotonic()) if sql.strip().upper() == "COMMIT" else None)
        await daemon.crawls.crawl_all(daemon.sources)
        daemon.store.db.conn.set_trace_callback(None)
        # The database file alone, without its WAL (immutable: SQLite reads no WAL).
        main = sqlite3.connect(f"{Path(daemon.store.path).resolve().as_uri()}?immutable=1", uri=True)
        try:
            in_file.append(main.execute("SELECT count(*) FROM articles").fetchone()[0])
        except sqlite3.OperationalError as exc:  # no such table: the schema too is in the WAL
            in_file.append(str(exc))
        main.close()

    if len(sys.argv) > 2:  # the batch's timer, in seconds
        import presswatch.crawler.fetch.runner as runner
        runner.FLUSH_AFTER = float(sys.argv[2])
    code = run(load_config(sys.argv[1], {}), lambda text: text, body=one_cycle)
    print(json.dumps({"code": code, "commits": len(commits), "commit_times": commits, "in_file": in_file}))
""")


def test_runs_that_end_together_are_recorded_in_one_commit_and_the_cycle_checkpointed(web, write_config, tmp_path):
    """A run's end waits for the batch's next commit (at most half a second, or until as
    many runs wait as crawl at once), its slot already free for the next source: 16 feeds,
    4 at a time, take far fewer commits than one each, and every run is recorded with all
    its entries; the cycle's end copies the WAL into the database."""
    from conftest import rss_feed

    sources = []
    for n in range(16):
        items = [{"title": f"Feed {n} item {i}", "link": f"http://127.0.0.1/{n}/{i}",
                  "description": f"Item {i} of feed {n}, about the harvest in province {n}."} for i in range(3)]
        url = web.add(f"/{n}.xml", rss_feed(items), content_type="application/rss+xml", etag=f'"{n}"')
        sources.append({"id": f"feed{n}", "kind": "feed", "url": url})
    config = write_config({"crawl": {"max_parallel_sources": 4}, "sources": sources})

    result = subprocess.run([sys.executable, "-c", COMMITS, str(config)], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["code"] == 0
    # One commit a run (or two: its last entries, then its record) before; about one for
    # every four runs now, more only when a busy machine spreads their ends apart.
    assert outcome["commits"] <= 8, outcome
    # Copied from the WAL into the database file once the cycle ended, not left waiting
    # for the WAL to fill up.
    assert outcome["in_file"] == [48], outcome
    with sqlite3.connect(tmp_path / "presswatch.db") as db:
        runs = db.execute("SELECT count(*) FROM sources WHERE runs = 1 AND failures = 0 AND etag IS NOT NULL")
        assert runs.fetchone()[0] == 16
        assert db.execute("SELECT count(*) FROM articles").fetchone()[0] == 48


def test_a_run_waiting_to_be_recorded_leaves_its_crawl_slot_to_the_next_source(web, write_config, tmp_path):
    """Two sources crawl at once; when the first ends, its record waits for the batch's
    commit, but its slot goes to the third source at once: the third's feed is asked for
    before anything is committed (while the second is still being answered). The batch's
    timer is set out of reach, so the first commit comes when the two runs' ends wait
    together, however slow the machine: were the first's slot held until its record is
    committed, nothing would commit until the slow source ended, and the third after it."""
    from conftest import rss_feed

    sources = []
    for name, delay in (("first", 0), ("slow", 3), ("third", 0)):
        items = [{"title": f"{name} item", "link": f"http://127.0.0.1/{name}/1", "description": f"About {name}."}]
        url = web.add(f"/{name}.xml", rss_feed(items), content_type="application/rss+xml", delay=delay)
        sources.append({"id": name, "kind": "feed", "url": url})
    config = write_config({"crawl": {"max_parallel_sources": 2}, "sources": sources})

    result = subprocess.run([sys.executable, "-c", COMMITS, str(config), "600"], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    third_asked = next(t for t, path in web.request_times if path == "/third.xml")
    assert third_asked < outcome["commit_times"][0], outcome
    with sqlite3.connect(tmp_path / "presswatch.db") as db:
        assert db.execute("SELECT count(*) FROM sources WHERE runs = 1 AND failures = 0").fetchone()[0] == 3

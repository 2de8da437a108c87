"""Remote workers: `presswatch worker` processes fetch and extract through a real Redis server
(RQ); `presswatch run` stays the one writer that stores, folds stories, matches and alerts.

The Redis server is Debian's `redis-server`, started here on a free loopback port with no
persistence. Without it these tests are skipped, saying why, unless
PRESSWATCH_REQUIRE_REDIS is set (CI installs it and sets it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from conftest import article_page, free_port, rss_feed

# Bounds of the waits below: far above what a busy 2-core machine needs (a worker is ready
# in a few seconds, a run of these sources takes under ten), so only a hang reaches them.
READY = 60    # a server or worker process up and answering
EXIT = 60     # a worker out after its queue is empty, or after SIGTERM
RUN = 300     # a `run --once` whose crawls go through workers

RULE = '"Human Rights Watch" AND ("North Korea" OR DPRK)'
PARAGRAPHS = [
    "Human Rights Watch said on Thursday that officials in North Korea sexually abuse women "
    "with impunity, in a report based on interviews with more than a hundred people who fled.",
    "The report describes guards, police and market officials who demand sex from women "
    "traders, and says victims have no way to seek justice.",
    "Pyongyang has not responded to the findings, which the group will present at the United "
    "Nations in New York next week.",
]
OTHER = ["Heavy rain flooded farms along the coast on Thursday; officials reported no casualties "
         "and said the harvest would be delayed by about two weeks in the worst hit provinces."]


def wait_until(predicate, within: float, what: str):
    """Poll `predicate` until it is true; fail saying `what` did not happen within the bound."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {within:.0f} s")
        time.sleep(0.05)


@pytest.fixture
def redis_url(tmp_path):
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("PRESSWATCH_REQUIRE_REDIS"):
            pytest.fail("redis-server is not installed (Debian: apt-get install redis-server)")
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    from redis import Redis
    from redis.exceptions import ConnectionError as NotUp

    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = Redis.from_url(url)

    def answers() -> bool:
        assert server.poll() is None, f"redis-server exited with {server.returncode}"
        try:
            return client.ping()
        except NotUp:
            return False

    try:
        wait_until(answers, READY, "redis-server did not answer")
        yield url
    finally:
        client.close()
        server.terminate()
        server.wait(EXIT)


class WorkerProcess:
    """`presswatch worker` in a subprocess, its log in a file (a pipe nobody reads would fill
    up with Scrapy's log and stop the worker)."""

    def __init__(self, redis_url: str, log_path, burst: bool = False):
        self.log_path = log_path
        args = [sys.executable, "-m", "presswatch.scheduler", "worker", "--redis", redis_url]
        with open(log_path, "w") as log:
            self.process = subprocess.Popen(args + (["--burst"] if burst else []),
                                            stdout=subprocess.DEVNULL, stderr=log)

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_or_kill(self, within: float = EXIT) -> int | None:
        """Its exit code, or None if it was still running after `within` seconds (then killed)."""
        try:
            return self.process.wait(within)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None

    def exit_code(self, within: float = EXIT) -> int:
        code = self.wait_or_kill(within)
        if code is None:
            pytest.fail(f"the worker had not exited after {within:.0f} s; its log:\n{self.log}")
        return code


def worker_ready(redis_url: str, count: int = 1) -> bool:
    """`count` workers have registered with Redis, so they take jobs as soon as they are queued."""
    from redis import Redis
    from rq import Worker

    with Redis.from_url(redis_url) as connection:
        return Worker.count(connection=connection) >= count


@pytest.fixture
def start_worker(redis_url, tmp_path):
    """Start `presswatch worker` processes; those still running at the end are stopped with
    SIGTERM, as a service manager would, and must exit cleanly."""
    started: list[WorkerProcess] = []

    def start(burst: bool = False) -> WorkerProcess:
        started.append(WorkerProcess(redis_url, tmp_path / f"worker-{len(started) + 1}.log", burst))
        return started[-1]

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
    codes = [worker.wait_or_kill() for worker in started]
    assert codes == [0] * len(started), (f"exit codes {codes} (None: still running {EXIT} s after "
                                         "SIGTERM); logs:\n" + "\n".join(w.log for w in started))


@pytest.fixture
def workers(start_worker):
    """Two worker processes taking jobs, as two machines would."""
    return [start_worker() for _ in range(2)]


def rows(path, sql, *params):
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql, params)]


def serve_outlets(web):
    """An outlet whose feed links to its pages, an agency feed carrying the same story under
    another URL (its own text only), and a feed that fails."""
    release = web.add("/news/hrw-report", article_page("North Korea: Officials Abuse Women", PARAGRAPHS))
    floods = web.add("/news/floods", article_page("Floods Hit Coastal Farms", OTHER))
    outlet = web.add("/outlet.xml", rss_feed([
        {"title": "North Korea: Officials Abuse Women", "link": release, "description": PARAGRAPHS[0]},
        {"title": "Floods Hit Coastal Farms", "link": floods, "description": OTHER[0]},
    ]), content_type="application/rss+xml", etag='"v1"')
    agency = web.add("/agency.xml", rss_feed([
        {"title": "North Korea: Officials Abuse Women", "link": "http://agency.example/hrw",
         "description": " ".join(PARAGRAPHS)},
    ], title="Agency"), content_type="application/rss+xml")
    broken = web.add("/broken.xml", "server error", status=500)
    return outlet, agency, broken


def remote_config(write_config, redis_url, web, sink, **workers):
    outlet, agency, broken = serve_outlets(web)
    return write_config({
        "workers": {"redis": redis_url, **workers},
        "sources": [
            {"id": "outlet", "kind": "feed", "url": outlet, "fetch_articles": True},
            {"id": "agency", "kind": "feed", "url": agency, "fetch_articles": False},
            {"id": "broken", "kind": "feed", "url": broken},
        ],
        "rules": [{"id": "hrw-report", "query": RULE, "channels": ["analysts"]}],
        "channels": [{"id": "analysts", "url": sink.apprise_url}],
    })


def page_requests(web) -> list[str]:
    return [path for path, _ in web.requests if path.startswith("/news/")]


def run_once(run_presswatch, config) -> subprocess.CompletedProcess:
    result = run_presswatch("run", "--once", "--config", str(config), timeout=RUN)
    assert result.returncode == 0, result.stderr
    return result


def test_workers_fetch_and_extract_the_writer_stores_and_alerts_once(
        web, sink, redis_url, workers, write_config, run_presswatch, tmp_path):
    from redis import Redis
    from rq import Queue

    config = remote_config(write_config, redis_url, web, sink)
    first = run_presswatch("run", "--once", "--config", str(config), timeout=RUN)
    assert first.returncode == 0, first.stderr

    db = tmp_path / "presswatch.db"
    stored = rows(db, "SELECT source_id, url, extracted_from, story_id FROM articles ORDER BY id")
    by_url = {r["url"]: r for r in stored}
    assert by_url[web.url("/news/hrw-report")]["extracted_from"] == "page"  # extracted on a worker
    assert by_url[web.url("/news/floods")]["extracted_from"] == "page"
    assert by_url["http://agency.example/hrw"]["extracted_from"] == "feed"
    # The agency's copy folded into the outlet's story: one story, one alert.
    assert by_url["http://agency.example/hrw"]["story_id"] == by_url[web.url("/news/hrw-report")]["story_id"]
    assert len(sink.messages) == 1 and "Officials Abuse Women" in sink.messages[0]["title"]

    sources = {r["id"]: r for r in rows(db, "SELECT id, runs, failures, last_error FROM sources")}
    assert sources["outlet"]["runs"] == 1 and sources["outlet"]["failures"] == 0
    assert sources["broken"]["failures"] == 1 and "HTTP 500" in sources["broken"]["last_error"]

    # Every crawl was a job a worker finished; none is left waiting.
    connection = Redis.from_url(redis_url)
    queue = Queue("presswatch", connection=connection)
    assert queue.count == 0 and queue.finished_job_registry.count == 3
    assert connection.xlen("presswatch:results") == 0  # every record acknowledged and deleted

    # Second run: the outlet's feed answers 304 (its ETag went with the job); the agency's
    # entry is seen again; no page is fetched twice and nothing is sent twice.
    fetched_pages = page_requests(web)
    assert sorted(fetched_pages) == ["/news/floods", "/news/hrw-report"]
    second = run_presswatch("run", "--once", "--config", str(config), timeout=RUN)
    assert second.returncode == 0, second.stderr
    assert page_requests(web) == fetched_pages
    outlet_requests = [headers for path, headers in web.requests if path == "/outlet.xml"]
    assert outlet_requests[-1].get("If-None-Match") == '"v1"'
    assert len(sink.messages) == 1
    assert len(rows(db, "SELECT id FROM articles")) == 3


def test_known_pages_are_told_to_the_worker(web, sink, redis_url, workers, write_config, run_presswatch):
    """A feed without validators is read again; its stored pages are not fetched again."""
    config = remote_config(write_config, redis_url, web, sink)
    web.routes["/outlet.xml"].etag = None  # no ETag: the feed is fetched and parsed every run
    web.routes["/news/floods"].etag = '"floods-v1"'
    run_once(run_presswatch, config)
    before = page_requests(web)
    # The outlet edits one entry's summary: only that page is fetched again (a revision?),
    # conditionally (its ETag went with the job), and its 304 leaves the article as it was.
    body = web.routes["/outlet.xml"].body.replace(b"Heavy rain flooded", b"Heavy rains flooded")
    web.routes["/outlet.xml"].body = body
    run_once(run_presswatch, config)
    assert page_requests(web)[len(before):] == ["/news/floods"]
    last = [headers for path, headers in web.requests if path == "/news/floods"][-1]
    assert last.get("If-None-Match") == '"floods-v1"'
    # Noted with the 304: the third run asks for no page.
    run_once(run_presswatch, config)
    assert page_requests(web)[len(before):] == ["/news/floods"]


def test_no_worker_ends_the_run_as_failed_without_fetching(web, sink, redis_url, write_config, run_presswatch,
                                                           start_worker, tmp_path):
    config = remote_config(write_config, redis_url, web, sink, timeout="3s")
    result = run_presswatch("run", "--once", "--config", str(config), timeout=RUN)
    assert result.returncode == 0, result.stderr
    assert web.requests == []  # the writer itself fetches nothing
    errors = {r["id"]: r["last_error"] for r in rows(tmp_path / "presswatch.db", "SELECT id, last_error FROM sources")}
    assert all("no worker finished the crawl within workers.timeout" in errors[s] for s in ("outlet", "agency")), errors
    # The jobs were cancelled: a worker started now finds nothing to do.
    late = start_worker(burst=True)
    assert late.exit_code() == 0, late.log
    assert web.requests == []


def test_a_worker_exits_at_once_when_its_command_listener_read_the_unsubscribe_first(redis_url):
    """A worker listens for commands (stop a job, shut down) in a thread, which it stops at
    exit after unsubscribing. When that thread reads the reply to the unsubscribe before it is
    told to stop (a race a busy machine often loses), it waits for a subscription again; the
    worker's exit must not wait that out (RQ 3 waits a minute: `worker --burst` lingered after
    "done, quitting", and SIGTERM as long). The race is set up here, not left to chance."""
    from redis import Redis
    from rq import Queue

    from presswatch.crawler.fetch.worker import CrawlWorker

    connection = Redis.from_url(redis_url)
    worker = CrawlWorker([Queue("presswatch", connection=connection)], connection=connection)
    worker.subscribe()
    wait_until(lambda: connection.pubsub_numsub(worker.pubsub_channel_name)[0][1] == 1, READY,
               "the command listener did not subscribe")
    worker.pubsub.unsubscribe()
    # The listener thread read the reply: it now waits for a subscription, not yet told to stop.
    wait_until(lambda: not worker.pubsub.subscribed, READY, "the listener did not read the unsubscribe")
    exiting = threading.Thread(target=worker.unsubscribe, daemon=True)  # what the worker does at exit
    exiting.start()
    exiting.join(30)  # RQ's listener held the exit a minute; ours looks at its stop flag every LISTEN_POLL s
    try:
        assert not exiting.is_alive(), "the worker's exit still waits for its command listener after 30 s"
        assert not worker.pubsub_thread.is_alive()
    finally:
        connection.close()


def test_results_of_a_writer_that_died_are_ingested_by_the_next(web, sink, redis_url, write_config,
                                                                 run_presswatch, start_worker, tmp_path):
    """The writer is killed while its jobs wait; a worker runs them afterwards; the next
    writer ingests those results (once) along with its own run's."""
    from redis import Redis
    from rq import Queue

    config = remote_config(write_config, redis_url, web, sink)
    writer = subprocess.Popen([sys.executable, "-m", "presswatch.scheduler", "run", "--once", "--config",
                               str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    queue = Queue("presswatch", connection=Redis.from_url(redis_url))
    try:
        wait_until(lambda: queue.count == 3 or writer.poll() is not None, RUN, "the writer did not queue its 3 jobs")
        assert queue.count == 3, f"the writer exited with {writer.returncode} before queuing its jobs"
    finally:
        writer.kill()
        writer.wait()

    late = start_worker(burst=True)
    assert late.exit_code(RUN) == 0, late.log  # it runs the 3 jobs, then finds the queue empty
    assert Redis.from_url(redis_url).xlen("presswatch:results") > 0  # results nobody read yet
    assert sorted(page_requests(web)) == ["/news/floods", "/news/hrw-report"]

    start_worker()
    next_writer = run_presswatch("run", "--once", "--config", str(config), timeout=RUN)
    assert next_writer.returncode == 0, next_writer.stderr
    db = tmp_path / "presswatch.db"
    urls = [r["url"] for r in rows(db, "SELECT url FROM articles")]
    assert sorted(urls) == sorted([web.url("/news/hrw-report"), web.url("/news/floods"), "http://agency.example/hrw"])
    assert len(sink.messages) == 1
    assert Redis.from_url(redis_url).xlen("presswatch:results") == 0


def test_results_redis_refuses_make_the_run_fail_so_they_are_fetched_again(redis_url):
    """A worker whose records Redis refuses (out of memory here: a real refusal) does not end
    its run as a success: the run fails, its ETag is not kept, the entries come again."""
    from redis import Redis
    from redis.exceptions import RedisError

    from presswatch.config import Source
    from presswatch.crawler.items import EntryItem, FeedEntry
    from presswatch.crawler.fetch.worker import ResultSink

    client = Redis.from_url(redis_url)
    source = Source(id="outlet", kind="feed", url="http://127.0.0.1:9/feed.xml")
    sink = ResultSink(client, "presswatch:results", "run-1", source)
    entry = FeedEntry(guid="g1", link="http://127.0.0.1:9/a1", title="A title", summary="A summary")
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", "1")
    try:
        sink.item(EntryItem("outlet", entry))  # refused: counted, not raised into Scrapy
        assert sink.lost == 1 and "OutOfMemoryError" in sink.lost_reason
        with pytest.raises(RedisError):
            sink.end(0)  # the end record refused too: the job fails, the writer ends the run
        assert not sink.ended
    finally:
        client.config_set("maxmemory", "0")
    sink.end(0)
    (_, fields), = client.xrange("presswatch:results")
    record = json.loads(fields[b"r"])
    assert record["type"] == "end" and "1 results could not be sent to Redis" in record["error"]


def test_the_writer_survives_redis_losing_its_data(web, redis_url, start_worker, tmp_path):
    """Redis restarts without its data while the writer waits (the consumer group and a
    queued job are gone): the lost job's run ends as failed after workers.timeout, and the
    next run's results are read (the group is made again), all in one writer."""
    import asyncio

    from redis import Redis

    from presswatch.config import Config
    from presswatch.crawler.stories.ingest import Ingest
    from presswatch.crawler.fetch.remote import RemoteCrawls
    from presswatch.crawler.store.database import Store

    outlet, agency, _ = serve_outlets(web)
    config = Config.model_validate({
        "workers": {"redis": redis_url, "timeout": "20s"},
        "crawl": {"delay": "0s", "retries": 0, "timeout": "5s", "robots": False},
        "sources": [{"id": "lost", "kind": "feed", "url": agency},
                    {"id": "outlet", "kind": "feed", "url": outlet}],
    })
    store = Store(str(tmp_path / "presswatch.db"))
    store.sync_sources([(s.id, s.kind, str(s.url), s.id) for s in config.sources])
    ingest = Ingest.from_config(store, config.rules, config.sources, None, config.health, config.stories)
    client = Redis.from_url(redis_url)

    async def until(predicate, within: float, what: str):
        deadline = time.monotonic() + within
        while not predicate():
            if time.monotonic() > deadline:
                pytest.fail(f"{what} within {within:.0f} s")
            await asyncio.sleep(0.05)

    async def scenario():
        crawls = RemoteCrawls(config, ingest)
        lost = asyncio.ensure_future(crawls.crawl(config.sources[0]))  # queued; no worker yet
        await until(lambda: client.exists("presswatch:results"), READY, "the reader made no consumer group")
        client.flushall()  # Redis comes back empty: the job and the group are gone
        start_worker()
        # Queued once a worker takes jobs, so the crawl's 20 s are its own, not the worker's start.
        await until(lambda: worker_ready(redis_url), READY, "the worker did not register")
        await asyncio.wait_for(crawls.crawl(config.sources[1]), RUN)
        await asyncio.wait_for(lost, RUN)
        await crawls.stop()

    try:
        asyncio.run(scenario())
        states = {s.id: s for s in store.source_states()}
        assert states["outlet"].failures == 0 and states["outlet"].articles_new == 2
        assert states["lost"].failures == 1 and "workers.timeout (20s)" in states["lost"].last_error
    finally:
        store.close()


def test_the_long_running_daemon_crawls_through_workers_and_stops_cleanly(
        web, sink, redis_url, workers, write_config, tmp_path):
    """`presswatch run` (the daemon, not --once) with workers: sources on their schedule as
    jobs, the alert delivered once, /healthz green, and SIGTERM ends it with exit 0."""
    from test_monitor import Daemon, health, wait_for

    outlet, agency, _ = serve_outlets(web)
    config = write_config({
        "workers": {"redis": redis_url},
        "monitor": {"listen": "127.0.0.1:0"},
        "delivery": {"every": "1s"},
        "sources": [{"id": "outlet", "kind": "feed", "url": outlet, "fetch_articles": True, "every": "10s"},
                    {"id": "agency", "kind": "feed", "url": agency, "every": "10s"}],
        "rules": [{"id": "hrw-report", "query": RULE, "channels": ["analysts"]}],
        "channels": [{"id": "analysts", "url": sink.apprise_url}],
    })
    daemon = Daemon(config, tmp_path)
    try:
        base = daemon.endpoint()
        assert wait_for(lambda: sink.messages, timeout=RUN), daemon.log
        # A second round of runs (every 10s): the outlet answers 304, nothing is sent again.
        assert wait_for(lambda: sum(path == "/outlet.xml" for path, _ in web.requests) >= 2, timeout=RUN)
        assert wait_for(lambda: health(base)[0] == 200, timeout=READY), health(base)
    finally:
        code = daemon.stop()
    assert code == 0, daemon.log
    assert len(sink.messages) == 1
    assert sorted(page_requests(web)) == ["/news/floods", "/news/hrw-report"]
    assert "Traceback" not in daemon.log, daemon.log


def test_a_page_another_source_stored_is_not_fetched_again_by_a_site_worker(
        web, sink, redis_url, workers, write_config, run_presswatch, tmp_path):
    """An outlet watched as a feed and as its home page: the site's worker is told the pages
    the feed stored once it has seen them, and does not fetch them every run."""
    outlet, _, _ = serve_outlets(web)
    home = web.add("/", '<html><body><a href="/news/hrw-report">Report</a> '
                        '<a href="/news/floods">Floods</a></body></html>')
    config = write_config({
        "workers": {"redis": redis_url},
        "sources": [{"id": "outlet", "kind": "feed", "url": outlet, "fetch_articles": True}],
    })
    run_once(run_presswatch, config)
    assert sorted(page_requests(web)) == ["/news/floods", "/news/hrw-report"]
    # The home page is added as a site source after the feed stored both pages.
    config = write_config({
        "workers": {"redis": redis_url},
        "sources": [{"id": "outlet", "kind": "feed", "url": outlet, "fetch_articles": True},
                    {"id": "home", "kind": "site", "url": home, "follow": "/news/"}],
    })
    for _ in range(2):
        run_once(run_presswatch, config)
    # The first site run fetched them once (a worker knows only its own source's pages);
    # the second knew them from the first.
    assert sorted(page_requests(web)) == ["/news/floods", "/news/floods", "/news/hrw-report", "/news/hrw-report"]
    assert len(rows(tmp_path / "presswatch.db", "SELECT id FROM articles")) == 2


def test_two_workers_keep_one_pace_per_site(web, redis_url, workers, write_config, run_presswatch):
    """Two sources on one site, crawled at once by two workers: crawl.delay still holds
    between any two of the site's requests (the booking is kept in Redis)."""
    from conftest import edition_sources, one_site_two_feeds, request_gaps

    config = write_config({"workers": {"redis": redis_url}, "crawl": {"delay": "1s"},
                           "sources": edition_sources(one_site_two_feeds(web))})
    run_once(run_presswatch, config)
    gaps = request_gaps(web)
    assert len(gaps) == 5  # two feeds, four pages
    # Each request is booked a full second after the last; it then still goes through Scrapy in
    # its own worker, which a busy machine can hold back (a gap of 0.32 s was seen at a 0.4 s
    # delay). Half the delay tells a kept pace from none: unbooked, the two workers' requests
    # come together (gaps under 0.1 s).
    assert min(gaps) >= 0.5, gaps


def test_a_worker_refuses_internal_links_but_not_other_sources_hosts(web, redis_url, workers, write_config,
                                                                     run_presswatch, tmp_path):
    """A job's config holds its own source only; the hosts of the writer's other sources
    travel with it, so a link to one of them is fetched and a link elsewhere internal is not."""
    from test_guard import InternalServer

    newsroom, lan = InternalServer(), f"http://10.0.0.5:{web.port}/admin"
    try:
        own = newsroom.add("/news/hrw", article_page("North Korea: Officials Abuse Women", PARAGRAPHS))
        feed = web.add("/wire.xml", rss_feed([{"title": "Report", "link": own}, {"title": "Admin", "link": lan}]),
                       content_type="application/rss+xml")
        config = write_config({"workers": {"redis": redis_url}, "sources": [
            {"id": "wire", "kind": "feed", "url": feed, "fetch_articles": True},
            {"id": "newsroom", "kind": "site", "url": newsroom.url("/"), "follow": "/news/", "enabled": False},
        ]})
        run_once(run_presswatch, config)
        articles = {r["url"]: r for r in rows(tmp_path / "presswatch.db", "SELECT url, extracted_from, page_error FROM articles")}
        assert articles[own]["extracted_from"] == "page"  # on 127.0.0.2, a configured source's host
        assert "10.0.0.5 is an internal address (private)" in articles[lan]["page_error"]
    finally:
        newsroom.close()

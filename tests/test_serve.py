"""`presswatch serve`: the archive in Datasette, read-only, checked in a real headless browser.

The database is written by presswatch's own store and ingest (real dedup, matching and
outbox); the archive runs as the `presswatch serve` command on a free loopback port; a
headless Chromium (Debian's `chromium` and `chromium-driver`, driven by Selenium) reads
it as an analyst would. Without those packages the browser test is skipped, saying so.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import sqlite_utils
import yaml
from presswatch.config import Channel, Config, Rule, Source
from presswatch.crawler.stories.ingest import Candidate, Ingest
from presswatch.crawler.store.migrations import migrations
from presswatch.crawler.store.database import Store
from presswatch.crawler.store.records import SourceRun
from presswatch.scheduler.cli.serve import DB_NAME, archive_metadata, build_archive, read_only_app

from charted import RULE, write_coverage

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
NO_BROWSER = (f"no headless browser: {CHROMIUM} and {CHROMEDRIVER} are not both installed "
              "(Debian: apt-get install chromium chromium-driver)")

SOURCES = (
    Source(id="hrw", kind="feed", url="https://www.hrw.example/rss", name="Human Rights Watch"),
    Source(id="wire", kind="feed", url="https://wire.example/rss", name="Wire Service"),
    Source(id="nkdaily", kind="feed", url="https://nkdaily.example/rss", name="NK Daily"),
    Source(id="kcna", kind="site", url="http://kcna.example/en", follow="/article/", name="KCNA"),
    Source(id="rodong", kind="site", url="http://rodong.example/en", follow="/article/", name="Rodong Sinmun"),
)
RULES = (
    Rule(id="hrw-report", query='"Human Rights Watch" AND women', channels=("analysts",)),
    Rule(id="state-media", query='"human scum"', channels=("analysts",)),
)
CHANNELS = (Channel(id="analysts", url="json://127.0.0.1:9/analysts"),)

REPORT_TITLE = "North Korean officials abuse women with impunity, Human Rights Watch says"
REPORT = (
    "North Korean officials routinely abuse women with impunity, Human Rights Watch said in a report "
    "published on Thursday, describing sexual violence by police officers, prison guards, market "
    "inspectors and soldiers as so common that victims consider it part of ordinary life. The 86-page "
    "report draws on interviews with 54 North Koreans who left the country after 2011, and with eight "
    "former officials who described how the abuse goes unpunished. None of the women interviewed had "
    "reported the abuse to the authorities, fearing reprisals and doubting that anyone would act."
)
REPLY_TITLE = "KCNA: rights report is a smear cooked up with human scum"
REPLY = (
    "The Korea Association for Human Rights Studies on Saturday denounced the so-called report as a "
    "dangerous provocation and a smear campaign cooked up with human scum and their sycophants who "
    "betrayed their country. A spokesman said its fabrications would never be tolerated and that the "
    "report was timed to the vote on a resolution at the United Nations."
)
KOREAN_TITLE = "북한 여성 성폭력 보고서 발표"
KOREAN = ("국제 인권단체 휴먼라이츠워치는 북한 관리들이 여성들에게 성폭력을 일삼고 있다는 보고서를 발표했다. "
          "보고서는 탈북자 54명의 증언을 바탕으로 작성됐다.")


def build_database(path: Path) -> dict:
    """A small archive written by presswatch itself: a story carried by three outlets, a reply,
    a Korean article, a failing source; returns the story ids."""
    store = Store(str(path))
    try:
        store.sync_sources([(s.id, s.kind, s.url, s.name) for s in SOURCES])
        config = Config(sources=SOURCES, rules=RULES, channels=CHANNELS)
        ingest = Ingest.from_config(store, config.rules, config.sources, health=config.health)
        report = [ingest.ingest(Candidate(
            source_id=source, url=f"https://{host}/news/report", title=REPORT_TITLE,
            text=f"SEOUL ({source}) - {REPORT}", extracted_from="page", language="en"))
            for source, host in (("hrw", "www.hrw.example"), ("wire", "wire.example"),
                                 ("nkdaily", "nkdaily.example"))]
        reply = ingest.ingest(Candidate(source_id="kcna", url="http://kcna.example/article/77", title=REPLY_TITLE,
                                        text=REPLY, extracted_from="page", language="en"))
        korean = ingest.ingest(Candidate(source_id="wire", url="https://wire.example/ko/news/9", title=KOREAN_TITLE,
                                         text=KOREAN, extracted_from="page", language="ko"))
        for source in ("hrw", "wire", "nkdaily", "kcna"):
            ingest.record_run(SourceRun(source_id=source, ok=True, items_seen=2, articles_new=1))
        for _ in range(config.health.failing_after):
            ingest.record_run(SourceRun(source_id="rodong", ok=False, error="HTTP 503 Service Unavailable"))
    finally:
        store.close()
    assert len({r.story_id for r in report}) == 1, report
    return {"report": report[0].story_id, "reply": reply.story_id, "korean": korean.story_id}


def fingerprint(path: Path) -> tuple[str, dict]:
    """The database file's bytes and its row counts: what serving must leave as they are."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        counts = {t: conn.execute(f"select count(*) from [{t}]").fetchone()[0]
                  for t in ("articles", "stories", "matches", "outbox", "sources")}
    finally:
        conn.close()
    return digest, counts


class Archive:
    """`presswatch serve` running in a subprocess on a free loopback port."""

    stderr = ""

    def __init__(self, config: Path):
        env = {k: v for k, v in os.environ.items() if k != "PRESSWATCH_CONFIG"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "presswatch.scheduler", "serve", "--config", str(config), "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        ready, _, _ = select.select([self.process.stdout], [], [], 60)
        self.banner = self.process.stdout.readline() if ready else ""
        if "http://" not in self.banner:
            self.stop()
            raise AssertionError(f"presswatch serve did not start: {self.banner!r} {self.stderr!r}")
        self.url = re.search(r"http://\S+", self.banner).group()  # "serving PATH read-only at URL (...)"

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            _, self.stderr = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, self.stderr = self.process.communicate()
        return self.process.returncode


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("archive")
    database = folder / "presswatch.db"
    stories = build_database(database)
    config = folder / "presswatch.yaml"
    config.write_text(yaml.safe_dump({"database": str(database)}), encoding="utf-8")
    before = fingerprint(database)
    archive = Archive(config)
    archive.database, archive.stories, archive.before = database, stories, before
    yield archive
    assert archive.stop() == 0, archive.stderr  # Ctrl-C stops it cleanly
    assert "Traceback" not in archive.stderr, archive.stderr
    assert fingerprint(database) == before  # served for a whole module, never written


# --- the metadata matches the schema ---------------------------------------------------------


@pytest.fixture
def fresh_db(tmp_path):
    Store(str(tmp_path / "fresh.db")).close()
    conn = sqlite3.connect(tmp_path / "fresh.db")
    yield conn
    conn.close()


def test_the_archive_describes_every_table_and_column(fresh_db):
    tables = archive_metadata()["databases"][DB_NAME]["tables"]
    schema = {name: [c[1] for c in fresh_db.execute(f"pragma table_info([{name}])")]
              for (name,) in fresh_db.execute("select name from sqlite_master where type = 'table'")
              if not name.startswith(("sqlite_", "articles_fts"))}
    assert not set(tables) - set(schema), "serve/metadata.yaml names tables the schema lacks"
    assert not set(schema) - set(tables), "tables neither described nor hidden in scheduler/serve/metadata.yaml"
    for name, meta in tables.items():
        if meta.get("hidden"):
            continue
        described = set(meta.get("columns", {}))
        assert described == set(schema[name]), (
            f"{name}: describe {sorted(set(schema[name]) - described)} and drop "
            f"{sorted(described - set(schema[name]))} in scheduler/serve/metadata.yaml")
        for key in ("label_column", "sort_desc", "sort"):
            assert meta.get(key) in (None, *schema[name]), (name, key)
        assert set(meta.get("facets", ())) <= set(schema[name]), name


def test_every_canned_query_runs_and_reads_only(tmp_path):
    database = tmp_path / "presswatch.db"
    build_database(database)
    queries = archive_metadata()["databases"][DB_NAME]["queries"]
    assert {"latest_stories_by_rule", "story_spread", "alerts_by_state", "source_health"} <= set(queries)
    conn = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)
    try:
        for name, query in queries.items():
            assert not query.get("write"), name
            params = {p: "" for p in ("rule", "story_id", "state", "event_id") if f":{p}" in query["sql"]}
            conn.execute(query["sql"], params).fetchall()  # no error: tables and columns exist
        (title, outlets), = conn.execute(
            "select title, outlets from (" + queries["latest_stories_by_rule"]["sql"] + ")",
            {"rule": "hrw-report"}).fetchall()
    finally:
        conn.close()
    assert (title, outlets) == (REPORT_TITLE, 3)


def test_serving_cannot_write_even_through_datasette(tmp_path):
    database = tmp_path / "presswatch.db"
    build_database(database)
    before = fingerprint(database)
    datasette = build_archive(database)
    db = datasette.get_database(DB_NAME)

    async def attempts():
        with pytest.raises(sqlite3.OperationalError, match="read-only|readonly"):
            await db.execute_write("delete from articles")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await db.execute_fn(lambda conn: conn.execute("delete from articles"))
        return (await db.execute("select count(*) from articles")).single_value()

    assert asyncio.run(attempts()) == 5
    assert set(datasette.databases) == {DB_NAME, "_internal"}  # no SQL playground database
    from datasette.plugins import DEFAULT_PLUGINS, pm
    assert {name for name, _ in pm.list_name_plugin()} == {
        *DEFAULT_PLUGINS, "presswatch.story_links", "presswatch.coverage_charts"}
    db.close()
    assert fingerprint(database) == before


def test_behind_a_proxy_under_a_path_links_carry_the_path(tmp_path):
    import httpx

    database = tmp_path / "presswatch.db"
    stories = build_database(database)
    datasette = build_archive(database, base_url="/archive/")

    async def pages():
        await datasette.invoke_startup()
        transport = httpx.ASGITransport(app=read_only_app(datasette.app()))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8001") as client:
            # The proxy strips its /archive/ and passes the rest on, with the Host it was asked for.
            latest = await client.get("/presswatch/latest_stories_by_rule", params={"rule": "hrw-report"},
                                      headers={"Host": "news.example.org"})
            refused = await client.post("/presswatch/latest_stories_by_rule", data={"rule": "x"})
        return latest, refused

    latest, refused = asyncio.run(pages())
    assert latest.status_code == 200 and refused.status_code == 405
    assert f'href="/archive/presswatch/story_spread?story_id={stories["report"]}"' in latest.text
    assert 'href="/archive/-/static/app.css' in latest.text and "/archive/archive/" not in latest.text
    datasette.get_database(DB_NAME).close()


def write_charted(path: Path):
    store = Store(str(path))
    try:
        return write_coverage(store)
    finally:
        store.close()


def test_the_charts_are_svg_that_loads_nothing_and_their_links_carry_the_proxy_path(tmp_path):
    import httpx

    database = tmp_path / "presswatch.db"
    written = write_charted(database)
    before = fingerprint(database)
    datasette = build_archive(database, base_url="/archive/")

    async def pages():
        await datasette.invoke_startup()
        transport = httpx.ASGITransport(app=read_only_app(datasette.app()))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8001") as client:
            paths = (f"/-/chart/event/{written.event}.svg", "/-/chart/event/999.svg",
                     "/-/chart/event/99999999999999999999.svg", f"/-/chart/rule/{RULE}.svg?since=99999999d",
                     f"/-/chart/rule/{RULE}.svg?since=9000d", f"/-/chart/rule/{RULE}.svg?since=lately",
                     f"/presswatch/event_timeline?event_id={written.event}",
                     f"/presswatch/latest_stories_by_rule?rule={RULE}",
                     "/presswatch/events", "/presswatch/rules_summary")
            return [await client.get(path) for path in paths]

    event, missing, huge, forever, rule, bad_since, timeline, latest, events, summary = asyncio.run(pages())
    # Past SQLite's integers, past what a date can reach back: a plain answer, not a traceback.
    assert (huge.status_code, huge.text) == (404, "no event 99999999999999999999\n")
    assert forever.status_code == 200 and f"rule {RULE}: stories and outlets per" in forever.text
    assert event.status_code == 200 and event.headers["content-type"] == "image/svg+xml; charset=utf-8"
    assert event.headers["content-security-policy"].startswith("default-src 'none'")  # opened alone, it runs nothing
    assert f"event {written.event}: North Korea: Sexual Abuse of Women by Officials" in event.text
    assert "<script" not in event.text and not re.search(r'(?:href|src)="(?:https?:)?//', event.text)
    assert (missing.status_code, missing.text) == (404, "no event 999\n")
    assert rule.status_code == 200 and f"rule {RULE}: stories and outlets per hour" in rule.text
    assert bad_since.status_code == 400 and "is not a duration" in bad_since.text
    # The pages link the charts under the proxy's path.
    assert f'<img src="/archive/-/chart/event/{written.event}.svg"' in timeline.text
    assert f'<img src="/archive/-/chart/rule/{RULE}.svg?since=30d"' in latest.text
    assert f'href="/archive/presswatch/event_timeline?event_id={written.event}">(timeline, chart)</a>' in events.text
    assert f'href="/archive/presswatch/latest_stories_by_rule?rule={RULE}">{RULE}</a>' in summary.text
    datasette.get_database(DB_NAME).close()
    assert fingerprint(database) == before


def test_what_the_daemon_writes_meanwhile_shows_at_once(tmp_path):
    """Read-only, not immutable: the archive reads the live database beside its writer."""
    import httpx

    database = tmp_path / "presswatch.db"
    build_database(database)
    datasette = build_archive(database)

    async def count(client) -> int:
        response = await client.get("/presswatch/articles.json", params={"_search": "greenhouse", "_size": 0})
        return response.json()["filtered_table_rows_count"]

    async def read_write_read():
        await datasette.invoke_startup()
        transport = httpx.ASGITransport(app=read_only_app(datasette.app()))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8001") as client:
            before = await count(client)
            store = Store(str(database))  # the daemon, writing while the archive is open
            try:
                Ingest.from_config(store, RULES, SOURCES).ingest(Candidate(
                    source_id="kcna", url="http://kcna.example/article/78", title="Kim Jong Un visits a greenhouse",
                    text="Kim Jong Un inspected a newly built greenhouse farm.", extracted_from="page"))
            finally:
                store.close()
            return before, await count(client)

    assert asyncio.run(read_write_read()) == (0, 1)
    datasette.get_database(DB_NAME).close()


# --- the command refuses what it cannot serve --------------------------------------------------


def test_serve_refuses_a_missing_or_foreign_database(tmp_path, write_config, run_presswatch):
    missing = run_presswatch("serve", "--config", str(write_config({"database": "nothing.db"})))
    assert missing.returncode == 1
    assert "no database yet at" in missing.stderr and "presswatch run --once" in missing.stderr

    sqlite_utils.Database(tmp_path / "other.db")["notes"].insert({"text": "not presswatch"})
    foreign = run_presswatch("serve", "--config", str(write_config({"database": "other.db"})))
    assert foreign.returncode == 1 and "is not a presswatch database" in foreign.stderr
    assert not (tmp_path / "nothing.db").exists()


def test_serve_refuses_an_older_schema_and_does_not_upgrade_it(tmp_path, write_config, run_presswatch):
    db = sqlite_utils.Database(tmp_path / "old.db")
    migrations.apply(db, stop_before="m003_delivery")
    pending = [m.name for m in migrations.pending(db)]
    db.close()
    result = run_presswatch("serve", "--config", str(write_config({"database": "old.db"})))
    assert result.returncode == 1
    assert "older presswatch" in result.stderr and "m003_delivery" in result.stderr
    assert [m.name for m in migrations.pending(sqlite_utils.Database(tmp_path / "old.db"))] == pending


# --- the running archive ---------------------------------------------------------------------


def test_it_listens_on_loopback_and_refuses_writes_over_http(served):
    assert served.url.startswith("http://127.0.0.1:") and served.url.endswith(f"/{DB_NAME}")
    with urllib.request.urlopen(served.url + ".json", timeout=30) as response:
        assert response.status == 200
    for path in ("/latest_stories_by_rule", "?sql=select+1"):
        request = urllib.request.Request(served.url + path, data=b"rule=x", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 405
    assert fingerprint(served.database) == served.before


@pytest.fixture(scope="module")
def charted(tmp_path_factory):
    """`presswatch serve` over a day of coverage written at known times (tests/charted.py)."""
    folder = tmp_path_factory.mktemp("charted")
    database = folder / "presswatch.db"
    written = write_charted(database)
    config = folder / "presswatch.yaml"
    config.write_text(yaml.safe_dump({"database": str(database)}), encoding="utf-8")
    archive = Archive(config)
    archive.written = written
    yield archive
    assert archive.stop() == 0, archive.stderr
    assert "Traceback" not in archive.stderr, archive.stderr


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        if os.environ.get("PRESSWATCH_REQUIRE_BROWSER"):  # CI installs one: missing is a failure there
            pytest.fail(NO_BROWSER)
        pytest.skip(NO_BROWSER)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)  # with the driver's path given too, Selenium Manager never runs
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1280,1024",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def run_query(browser, **params):
    """Fill a canned query's form as a person would, run it, and read its results."""
    from selenium.webdriver.common.by import By

    for name, value in params.items():
        field = browser.find_element(By.NAME, name)
        field.clear()
        field.send_keys(str(value))
    return submitted(browser, lambda: browser.find_element(By.CSS_SELECTOR, "form.sql input[type=submit]").click())


def submitted(browser, action) -> list[dict]:
    """Do `action` (a click, a key), wait for the page it leads to, and read its results."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    page = browser.find_element(By.TAG_NAME, "html")
    action()
    WebDriverWait(browser, 30).until(expected_conditions.staleness_of(page))
    WebDriverWait(browser, 30).until(lambda b: b.execute_script("return document.readyState") == "complete")
    return result_rows(browser)


def result_rows(browser) -> list[dict]:
    """The page's result table as dicts: column name -> the text shown."""
    from selenium.webdriver.common.by import By

    columns = [th.get_attribute("data-column") or th.text
               for th in browser.find_elements(By.CSS_SELECTOR, "table.rows-and-columns th")]
    return [dict(zip(columns, (td.text for td in tr.find_elements(By.TAG_NAME, "td")), strict=True))
            for tr in browser.find_elements(By.CSS_SELECTOR, "table.rows-and-columns tbody tr")]


def test_the_archive_in_a_browser(browser, served):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(served.url)
    assert browser.find_element(By.TAG_NAME, "h1").text == "presswatch archive"
    queries = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "h2#queries + ul a")]
    assert queries[:4] == ["Latest stories by rule", "A story's spread over outlets and time",
                           "Alerts by state", "Source health"]
    assert all(browser.find_elements(By.LINK_TEXT, t) for t in ("articles", "stories", "outbox", "sources"))
    assert not browser.find_elements(By.LINK_TEXT, "lsh_buckets")  # the near-duplicate index is hidden

    # Latest stories by rule: the HRW story, carried by three outlets; not the state media's reply.
    submitted(browser, browser.find_element(By.LINK_TEXT, "Latest stories by rule").click)
    rows = run_query(browser, rule="hrw-report")
    assert [(r["story"], r["title"], r["outlets"]) for r in rows] == [
        (str(served.stories["report"]), REPORT_TITLE, "3")]

    # Its number links to its spread: each outlet in turn, with the running count.
    link = browser.find_element(By.LINK_TEXT, str(served.stories["report"]))
    rows = submitted(browser, link.click)
    assert browser.find_element(By.NAME, "story_id").get_attribute("value") == str(served.stories["report"])
    assert [(r["outlet"], r["outlets_so_far"]) for r in rows] == [
        ("hrw.example", "1"), ("wire.example", "2"), ("nkdaily.example", "3")]
    assert all(r["title"] == REPORT_TITLE for r in rows)

    # Alerts by state: the story alerts and the failing source's notice are pending.
    browser.get(f"{served.url}/alerts_by_state")
    rows = run_query(browser, state="pending")
    assert {(r["kind"], r["rule"]) for r in rows} == {
        ("alert", "hrw-report"), ("alert", "state-media"), ("health", "source:rodong")}
    assert any(r["about"] == "rodong: new -> failing" for r in rows), rows

    # Source health: the failing source first, with its error.
    browser.get(f"{served.url}/source_health")
    first = result_rows(browser)[0]
    assert (first["source"], first["state"], first["failures_in_a_row"]) == ("rodong", "failing", "3")
    assert first["last_error"] == "HTTP 503 Service Unavailable"

    # Event timeline: the report's event, its story first, then its alert.
    with sqlite3.connect(f"{served.database.as_uri()}?mode=ro", uri=True) as conn:
        (event_id,) = conn.execute("SELECT event_id FROM stories WHERE id = ?", (served.stories["report"],)).fetchone()
    browser.get(f"{served.url}/event_timeline")
    rows = run_query(browser, event_id=event_id)
    assert (rows[0]["what"], rows[0]["title"]) == ("story", REPORT_TITLE)
    assert ("alert", "hrw-report", "pending") in {(r["what"], r["rules"], r["state"]) for r in rows}

    # The articles' search box finds a word, and the facets count the results.
    browser.get(f"{served.url}/articles")
    folded = browser.find_element(By.CSS_SELECTOR, "details.column-descriptions")  # the rows come first
    assert folded.get_attribute("open") is None and "What the columns mean" in folded.text
    search = browser.find_element(By.NAME, "_search")
    rows = submitted(browser, lambda: search.send_keys("sycophants", Keys.ENTER))
    assert [r["title"] for r in rows] == [REPLY_TITLE]
    assert "1 row where search matches" in browser.find_element(By.TAG_NAME, "h3").text
    facets = {f.get_attribute("data-column"): f.text for f in browser.find_elements(By.CSS_SELECTOR, ".facet-info")}
    assert set(facets) == {"source_id", "language"}
    assert "KCNA 1" in facets["source_id"] and "en 1" in facets["language"]

    # Hangul words carry particles (성폭력을): a prefix search finds them, in raw mode.
    browser.get(f"{served.url}/articles?_search=성폭력*&_searchmode=raw")
    assert [r["title"] for r in result_rows(browser)] == [KOREAN_TITLE]
    assert "ko 1" in browser.find_element(By.ID, "facet-language").text

    # Writing through the SQL box is refused, and nothing changed.
    browser.get(f"{served.url}?sql=delete+from+articles")
    assert "Statement must be a SELECT" in browser.find_element(By.TAG_NAME, "body").text
    assert fingerprint(served.database) == served.before


# From 09:00 on 1 November to KCNA's answer at 09:20 on the 3rd: 49 hours; marked are the
# alert, its update, the surge and the reaction.
CHART_HOURS, CHART_MARKS = 49, 4


def test_an_event_s_coverage_chart_in_a_browser(browser, charted):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    # From the events table, the event's title leads to its timeline, the chart above it.
    browser.get(f"{charted.url}/events")
    link = browser.find_element(By.CSS_SELECTOR, f'a.coverage[href$="event_timeline?event_id={charted.written.event}"]')
    rows = submitted(browser, link.click)
    assert rows[0]["what"] == "story" and len(rows) == 4 + 2  # four stories, the alert and its update
    image = browser.find_element(By.CSS_SELECTOR, "figure.coverage-chart img")
    WebDriverWait(browser, 30).until(lambda b: b.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth", image))
    assert browser.execute_script("return arguments[0].naturalWidth", image) == 900  # the SVG loaded and drew

    # The chart on its own: a point per hour on each line, one per mark, the marks listed.
    browser.get(image.get_attribute("src"))
    WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.CSS_SELECTOR, "svg.pygal-chart"))
    title = browser.find_element(By.CSS_SELECTOR, "text.title").text
    assert title.startswith(f"event {charted.written.event}: North Korea: Sexual Abuse of Women")
    for serie in (0, 1):  # stories, outlets
        assert len(browser.find_elements(By.CSS_SELECTOR, f"g.series.serie-{serie} circle.dot")) == CHART_HOURS
    assert len(browser.find_elements(By.CSS_SELECTOR, "g.series circle.dot")) == 2 * CHART_HOURS + CHART_MARKS
    legend = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "g.legend text")]
    assert any(t.startswith("3. 01 Nov 09:55 surge (hrw-report): 3 stories from 4 outlets") for t in legend), legend
    assert any(t.startswith("4. 03 Nov 09:20 reaction, kcna.kp:") for t in legend), legend
    dot = browser.find_element(By.CSS_SELECTOR, "g.series.serie-2 circle.dot")
    assert dot.rect["width"] > 0  # drawn, not only in the markup

    # A rule's latest stories show its chart too.
    browser.get(f"{charted.url}/latest_stories_by_rule?rule={RULE}")
    image = browser.find_element(By.CSS_SELECTOR, "figure.coverage-chart img")
    WebDriverWait(browser, 30).until(lambda b: b.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth", image))

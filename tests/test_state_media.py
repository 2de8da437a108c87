"""KCNA and Rodong Sinmun as they are today, and in the layouts their archives still serve.

The pages are in tests/fixtures/state_media, each modelled on the real site (the file says
which public scraper or saved page it follows). Links, titles, texts and dates are read from
them; a loopback KCNA-shaped site checks the crawl: articles followed, menus and listings
not, one story and one alert for a statement filed under two menus.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from scrapy.http import HtmlResponse
from w3lib.url import canonicalize_url

from presswatch.config.errors import ConfigError
from presswatch.config.loader import load_config
from presswatch.config.schema import Source
from presswatch.crawler.parse.extract import extract_page
from presswatch.crawler.parse.readers import rodong_url_date
from presswatch.crawler.items import FeedEntry, PageItem
from presswatch.crawler.stories.candidates import extract_candidate, page_candidate
from presswatch.crawler.fetch.spiders.site import SiteSpider, listed_dates
from test_remote import redis_url, start_worker, workers  # noqa: F401 (fixtures: a Redis server and two workers)

FIXTURES = Path(__file__).parent / "fixtures" / "state_media"
KCNA = "http://www.kcna.kp"
RODONG = "http://www.rodong.rep.kp/en/"
STATEMENT_TITLE = "Press Statement of Spokesperson of Korean Association for Human Rights Studies"
STATEMENT_OPENING = ("Pyongyang, November 4 (KCNA) -- A spokesperson of the Korean Association for Human "
                     "Rights Studies issued the following press statement on Sunday:")
STATEMENT_URL = f"{KCNA}/en/article/detail/3e5f0a1c9b7d2e4f6a8c0b1d3e5f7a9c"
TWIN_URL = f"{KCNA}/en/article/detail/9a7b5c3d1e0f2a4b6c8d0e2f4a6b8c0d"
RODONG_2026_URL = RODONG + "index.php?MTJAMjAyNi0wMi0xOS1IMDAxQDNAMUBAMEAx"  # 12@2026-02-19-H001@3@1@@0@1
RODONG_2023_URL = RODONG + "index.php?MTJAMjAyMy0wMy0xMy1IMDA0QDE1QDFAQDBAMQ=="  # 12@2023-03-13-H004@15@1@@0@1


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def twin_page() -> str:
    """The statement as KCNA files it under Latest News: its own menu highlight, breadcrumb
    and list of other headlines around the same body."""
    html = fixture("kcna-2026-statement.html")
    html = html.replace('<li class="nav-item active"><a class="nav-link" href="/en/article/list/6a47',
                        '<li class="nav-item"><a class="nav-link" href="/en/article/list/6a47')
    html = html.replace('<li class="active">Top News</li>', '<li class="active">Latest News</li>')
    return html.replace("<h5>Top News</h5>", "<h5>Latest News</h5><div class=\"article\"><h5 class=\"block\">"
                        "<a href=\"/en/article/detail/c2e4a6b8d0f1e3c5a7b9d1f3e5a7c9b1\">Greenhouse Farm</a>"
                        "<span><nobr>[2018.10.30.]</nobr></span></h5></div>")


# -- KCNA: the layout of mid-2026 ---------------------------------------------------------------


def test_kcna_2026_article_title_and_text_without_menus_or_end_mark():
    page = extract_page(fixture("kcna-2026-statement.html"), STATEMENT_URL)

    assert page.title == STATEMENT_TITLE
    assert page.text.startswith(STATEMENT_OPENING)
    for phrase in ("a totally preposterous \"Report\"", "the most despicable false document on earth",
                   "a handful of human scums", "an extremely dangerous provocation",
                   "anti-DPRK \"human rights\" racket"):
        assert phrase in page.text
    assert page.text.endswith("held responsible for the consequences.")  # "-0-" dropped
    for boilerplate in ("Top News", "Latest News", "Woollen Fabric", "[2018.11.1.]", "Copyright", STATEMENT_TITLE):
        assert boilerplate not in page.text


def test_kcna_2026_article_has_no_page_date_only_its_dateline_day():
    page = extract_page(fixture("kcna-2026-statement.html"), STATEMENT_URL,
                        fetched_at=datetime(2026, 12, 4, tzinfo=UTC))

    assert page.dateline is not None and (page.dateline.month, page.dateline.day, page.dateline.year) == (11, 4, None)
    assert page.date_source == "dateline"  # the year is a guess until the listing's date is known


def test_kcna_2026_twins_under_two_menus_read_the_same():
    top = extract_page(fixture("kcna-2026-statement.html"), STATEMENT_URL)
    latest = extract_page(twin_page(), TWIN_URL)

    assert (top.title, top.text) == (latest.title, latest.text)


def test_kcna_2026_caption_and_photo_link_are_not_text():
    page = extract_page(fixture("kcna-2026-textile-mill.html"),
                        f"{KCNA}/en/article/detail/8c1d4e7f0a2b5c8d1e4f7a0b3c6d9e2f")

    assert page.title == "Woollen Fabric Mill Raises Output of Winter Cloth"
    assert page.text.startswith("Pyongyang, November 1 (KCNA) -- The Pyongyang Woollen Fabric Mill")
    assert "at the looms" not in page.text and "Photos" not in page.text


def test_kcna_layout_before_2026_is_still_read():
    page = extract_page(fixture("kcna-2025-article.html"), f"{KCNA}/en/article/q/{'ab' * 16}.kcmsf")

    assert page.title == 'DPRK Foreign Ministry Spokesman Slams Anti-DPRK "Human Rights" Resolution'
    assert page.text.startswith("Pyongyang, December 14 (KCNA) -- A spokesman for the DPRK Foreign Ministry")
    assert page.text.endswith("defend its sovereignty.")
    assert (page.published, page.date_source) == (datetime(2025, 12, 14, tzinfo=UTC), "page")
    assert "Munitions Factory" not in page.text and "Top News" not in page.text


# -- Rodong Sinmun: 2025 on, 2022-2024 ----------------------------------------------------------


def test_rodong_2025_layout_title_text_and_the_token_date():
    page = extract_page(fixture("rodong-2026-article.html"), RODONG_2026_URL)

    assert page.title == 'Anti-DPRK "Human Rights" Racket Will Never Work'
    # full-width digits ("１７", "２００５") are plain digits
    assert page.text.startswith("The U.S. and its vassal forces convened a meeting")
    assert "on February 17, the 20th such farce since 2005." in page.text
    assert page.text.endswith("slander their socialist system.")
    for boilerplate in ("A view of Pyongyang", "Previous", "Spring Preparations", "Copyright", "Feb."):
        assert boilerplate not in page.text
    assert (page.published, page.date_source) == (datetime(2026, 2, 19, tzinfo=UTC), "url")


def test_rodong_2025_layout_on_a_mirror_is_dated_by_its_page():
    page = extract_page(fixture("rodong-2026-article.html"), "http://127.0.0.1:8080/rodong/1", reader="rodong")

    assert page.title == 'Anti-DPRK "Human Rights" Racket Will Never Work'
    assert (page.published, page.date_source) == (datetime(2026, 2, 19, tzinfo=UTC), "page")  # "Feb. １９, ２０２６"


def test_rodong_2022_layout_title_text_and_date():
    page = extract_page(fixture("rodong-2023-article.html"), RODONG_2023_URL)

    assert page.title == 'Meeting Held to Denounce U.S. "Human Rights" Smear Campaign'
    assert page.text.splitlines() == [
        'A meeting was held in Pyongyang on March 12 to denounce the U.S. "human rights" smear campaign against the DPRK.',
        "Speakers said the campaign was a grave provocation against the dignity of the country.",
    ]
    assert (page.published, page.date_source) == (datetime(2023, 3, 13, tzinfo=UTC), "url")
    mirrored = extract_page(fixture("rodong-2023-article.html"), "http://127.0.0.1:8080/r", reader="rodong")
    assert (mirrored.published, mirrored.date_source) == (datetime(2023, 3, 13, tzinfo=UTC), "page")  # NewsDate


@pytest.mark.parametrize(("url", "expected"), [
    (RODONG_2026_URL, datetime(2026, 2, 19, tzinfo=UTC)),
    (RODONG + "index.php?MTJAMjAyNC0wOC0wMS1IMDAzQDE1QDFAQDBAMQ==", datetime(2024, 8, 1, tzinfo=UTC)),
    (RODONG + "index.php?MTJAMjAyNC0wOC0wMS1IMDAzQDE1QDFAQDBAMQ", datetime(2024, 8, 1, tzinfo=UTC)),  # padding cut
    (RODONG + "index.php?strPageID=SF01_02_01&newsID=2021-06-17-0001", datetime(2021, 6, 17, tzinfo=UTC)),
    (RODONG + "index.php?MkBAMkAxQA==", None),  # the news list: "2@@2@1@"
    (RODONG + "index.php?!!notbase64!!", None),
    (RODONG + "index.php?MTJAMjAyNC0xMy0wMS1IMDAzQDE1", None),  # "12@2024-13-01-H003@15": no 13th month
])
def test_rodong_url_date(url, expected):
    assert rodong_url_date(url) == expected


# -- the listing's date, carried to the article ---------------------------------------------------


def _listing(name: str, url: str) -> HtmlResponse:
    return HtmlResponse(url=url, body=fixture(name).encode(), encoding="utf-8")


def test_listing_dates_go_to_their_own_links():
    response = _listing("kcna-2026-list-top.html", f"{KCNA}/en/article/list/6a47505ba5268fd7749c0fe11e4b24b4")

    dates = listed_dates(response)

    assert dates[STATEMENT_URL] == datetime(2018, 11, 4, tzinfo=UTC)
    assert dates[f"{KCNA}/en/article/detail/8c1d4e7f0a2b5c8d1e4f7a0b3c6d9e2f"] == datetime(2018, 11, 1, tzinfo=UTC)
    assert dates[f"{KCNA}/en/article/detail/c2e4a6b8d0f1e3c5a7b9d1f3e5a7c9b1"] == datetime(2018, 10, 30, tzinfo=UTC)  # Juche 107
    assert not any("/list/" in url for url in dates)  # menu links carry no date


def test_rodong_list_rows_date_their_links():
    dates = listed_dates(_listing("rodong-2026-list.html", RODONG + "index.php?MkBAMkAxQA=="))

    # keyed as the spider looks links up (w3lib's canonical form: "?token" reads "?token=")
    assert dates == {canonicalize_url(RODONG_2026_URL): datetime(2026, 2, 19, tzinfo=UTC),
                     canonicalize_url(RODONG + "index.php?MTJAMjAyNi0wMi0xOC1BMDA3QDNAM0BAMEAx"):
                         datetime(2026, 2, 18, tzinfo=UTC)}


def _candidate(html: str, url: str, listed: datetime | None, entry: FeedEntry | None = None):
    item = PageItem(source_id="kcna", url=url, body=html.encode(), encoding="utf-8", entry=entry, listed=listed)
    return page_candidate(item, extract_page(html, url, fetched_at=datetime(2026, 12, 4, tzinfo=UTC)))


def test_kcna_article_dated_by_its_dateline_day_and_the_listing_year():
    candidate = _candidate(fixture("kcna-2026-statement.html"), STATEMENT_URL, datetime(2018, 11, 4, tzinfo=UTC))

    assert (candidate.published, candidate.date_source) == (datetime(2018, 11, 4, tzinfo=UTC), "dateline+listing")


def test_dateline_a_day_before_the_listing_keeps_its_own_day():
    html = fixture("kcna-2026-statement.html").replace("November 4 (KCNA)", "December 31 (KCNA)")

    candidate = _candidate(html, STATEMENT_URL, datetime(2019, 1, 1, tzinfo=UTC))  # listed on New Year's Day

    assert (candidate.published, candidate.date_source) == (datetime(2018, 12, 31, tzinfo=UTC), "dateline+listing")


def test_the_listing_date_stands_in_when_the_page_gives_none():
    html = fixture("kcna-2026-statement.html").replace("Pyongyang, November 4 (KCNA) -- ", "")

    candidate = _candidate(html, STATEMENT_URL, datetime(2018, 11, 4, tzinfo=UTC))

    assert (candidate.published, candidate.date_source) == (datetime(2018, 11, 4, tzinfo=UTC), "listing")


def test_a_feed_date_is_still_preferred_to_the_listing_date():
    entry = FeedEntry(guid="g", link=STATEMENT_URL, title="t", summary="s", published=datetime(2019, 11, 5, tzinfo=UTC))

    candidate = _candidate(fixture("kcna-2026-statement.html"), STATEMENT_URL, datetime(2018, 11, 4, tzinfo=UTC), entry)

    assert (candidate.published, candidate.date_source) == (datetime(2019, 11, 4, tzinfo=UTC), "dateline")


# -- the default sources' follow patterns on the real layouts ----------------------------------------


def _default_source(source_id: str) -> Source:
    return next(source for source in load_config(None, {}).sources if source.id == source_id)


def _followed(source: Source, response: HtmlResponse) -> list[str]:
    spider = SiteSpider(source=source)
    return spider.article_links(response)


def test_default_kcna_follows_articles_not_menus_or_listings(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    source = _default_source("kcna")
    top = _listing("kcna-2026-list-top.html", source.urls[0])

    followed = _followed(source, top)

    assert followed == [STATEMENT_URL, f"{KCNA}/en/article/detail/8c1d4e7f0a2b5c8d1e4f7a0b3c6d9e2f",
                        f"{KCNA}/en/article/detail/c2e4a6b8d0f1e3c5a7b9d1f3e5a7c9b1"]
    assert source.http_only and source.url.startswith("http://") and source.timeout.total_seconds() >= 80
    assert all(re.search(source.follow, url) is None for url in source.urls)  # listings are not articles


def test_default_rodong_follows_article_tokens_only(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    source = _default_source("rodong-sinmun")

    followed = _followed(source, _listing("rodong-2026-list.html", source.url))

    assert followed == [RODONG_2026_URL, RODONG + "index.php?MTJAMjAyNi0wMi0xOC1BMDA3QDNAM0BAMEAx"]


def test_default_hrw_site_follows_reports_and_news(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    source = _default_source("hrw-north-korea")
    html = ('<html><body><a href="/report/2018/11/01/you-cry-night-dont-know-why/sexual-violence-against-women-north-korea">'
            'Report</a><a href="/news/2018/11/01/north-korea-sexual-abuse-rampant">News</a>'
            '<a href="/asia/north-korea">North Korea</a><a href="/sitemap">Sitemap</a></body></html>')
    response = HtmlResponse(url=source.url, body=html.encode(), encoding="utf-8")

    followed = _followed(source, response)

    assert [url.split("hrw.org")[1].split("/")[1] for url in followed] == ["report", "news"]


def test_default_yonhap_reads_each_page(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert _default_source("yonhap-en").fetch_articles


# -- http only ------------------------------------------------------------------------------------------


def test_http_only_source_must_have_http_urls(write_config):
    config = write_config({"sources": [{"id": "kcna", "kind": "site", "url": "https://www.kcna.kp/en",
                                        "follow": "/detail/", "http_only": True}]})

    with pytest.raises(ConfigError, match=r"sources\[0\] \(kcna\).http_only: an http_only source's url and urls must start with http://"):
        load_config(config, {})


def test_http_only_keeps_a_https_canonical_on_http():
    html = fixture("kcna-2026-statement.html").replace(
        "<title>KCNA</title>", f'<title>KCNA</title><link rel="canonical" href="{STATEMENT_URL.replace("http:", "https:")}">')
    item = PageItem(source_id="kcna", url=STATEMENT_URL, body=html.encode(), encoding="utf-8")

    assert extract_candidate(item, http_only=True).page_canonical == STATEMENT_URL
    assert extract_candidate(item).page_canonical == STATEMENT_URL.replace("http:", "https:")


# -- a loopback site in KCNA's current layout -------------------------------------------------------------


def kcna_site(web) -> list[str]:
    """Top News and Latest News listings, the statement under each, the mill under both."""
    web.add("/en/article/detail/3e5f0a1c9b7d2e4f6a8c0b1d3e5f7a9c", fixture("kcna-2026-statement.html"))
    web.add("/en/article/detail/9a7b5c3d1e0f2a4b6c8d0e2f4a6b8c0d", twin_page())
    web.add("/en/article/detail/8c1d4e7f0a2b5c8d1e4f7a0b3c6d9e2f", fixture("kcna-2026-textile-mill.html"))
    web.add("/en/article/detail/c2e4a6b8d0f1e3c5a7b9d1f3e5a7c9b1", fixture("kcna-2026-textile-mill.html")
            .replace("Woollen Fabric Mill Raises Output of Winter Cloth", "Kim Jong Un Inspects Greenhouse Farm")
            .replace("November 1 (KCNA) -- The Pyongyang Woollen", "October 30 (KCNA) -- The Jagang Greenhouse"))
    return [web.add("/en/article/list/6a47505ba5268fd7749c0fe11e4b24b4", fixture("kcna-2026-list-top.html")),
            web.add("/en/article/list/a666dda1282180e0ee1b4427b0574ae7", fixture("kcna-2026-list-latest.html"))]


def test_statement_under_two_menus_is_one_story_and_one_alert(web, sink, write_config, run_presswatch, tmp_path,
                                                               monkeypatch):
    monkeypatch.chdir(tmp_path)
    listings = kcna_site(web)
    follow = _default_source("kcna").follow  # the default config's pattern, on the loopback copy
    config = write_config({
        "sources": [{"id": "kcna", "kind": "site", "urls": listings, "follow": follow, "reader": "kcna"}],
        "rules": [{"id": "kahrs", "query": '"Korean Association for Human Rights Studies" AND provocation',
                   "channels": ["analysts"]}],
        "channels": [{"id": "analysts", "url": sink.apprise_url}],
    })

    run = run_presswatch("run", "--once", "--config", str(config))
    assert run.returncode == 0, run.stderr

    with sqlite3.connect(tmp_path / "presswatch.db") as db:
        urls = sorted(url.split("/en/")[1] for (url,) in db.execute("SELECT url FROM articles"))
        statement = db.execute(
            "SELECT title, text, published_at, date_source FROM articles WHERE url LIKE '%3e5f0a1c%'").fetchone()
        stories = db.execute("SELECT count(*), max(article_count) FROM stories").fetchone()
    assert all(url.startswith("article/detail/") for url in urls) and len(urls) == 4, urls  # no listing stored
    assert statement[0] == STATEMENT_TITLE and statement[1].startswith(STATEMENT_OPENING)
    assert "-0-" not in statement[1] and "Top News" not in statement[1]
    assert statement[2:] == ("2018-11-04T00:00:00+00:00", "dateline+listing")
    assert stories == (3, 2)  # the statement's two copies are one story
    assert [m["title"] for m in sink.messages] == [f"[presswatch] kahrs: {STATEMENT_TITLE}"]
    assert not [path for path, _ in web.requests if "/list/" in path and path not in
                ("/en/article/list/6a47505ba5268fd7749c0fe11e4b24b4", "/en/article/list/a666dda1282180e0ee1b4427b0574ae7")]


# -- a slow site's own timeout and delay --------------------------------------------------------------------


def test_a_source_timeout_overrides_the_crawl_timeout(web, write_config, run_presswatch, tmp_path):
    listing = web.add("/slow/list", '<html><body><a href="/slow/a1">One</a></body></html>', delay=3)
    config = write_config({
        "crawl": {"timeout": "60s"},
        "sources": [{"id": "slow", "kind": "site", "url": listing, "follow": "/slow/a", "timeout": "1s"}],
    })

    run_presswatch("run", "--once", "--config", str(config))

    with sqlite3.connect(tmp_path / "presswatch.db") as db:
        [(error,)] = db.execute("SELECT last_error FROM sources WHERE id = 'slow'").fetchall()
    assert error is not None and "timed out" in error


def test_a_source_delay_paces_its_requests_beyond_the_crawl_delay(web, write_config, run_presswatch):
    from conftest import article_page, request_gaps

    links = "".join(f'<a href="/paced/a{n}">Story {n}</a>' for n in range(3))
    listing = web.add("/paced/list", f"<html><body>{links}</body></html>")
    for n in range(3):
        web.add(f"/paced/a{n}", article_page(f"Story {n}", [f"Paragraph of story {n}, long enough to be kept "
                                                             "as the text of the page by the extraction."] * 3))
    config = write_config({
        "crawl": {"delay": "0s"},
        "sources": [{"id": "paced", "kind": "site", "url": listing, "follow": "/paced/a", "delay": "1s"}],
    })

    result = run_presswatch("run", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr

    gaps = request_gaps(web)
    assert len(gaps) == 3  # the listing, then three pages
    # 1 s between sends; a busy machine can bring arrivals closer (one send's connection held
    # back more than the next's), so the slack is wide: with no pace they come together.
    assert min(gaps) >= 0.6, gaps


def test_a_source_delay_holds_on_a_site_another_source_also_crawls(web, write_config, run_presswatch):
    """The host's pace is booked for every crawl at once: after a request of the slow source
    the site rests for that source's delay, whichever source asks next."""
    from conftest import edition_sources, one_site_two_feeds

    feeds = one_site_two_feeds(web)  # /en/... and /ko/...: a feed and two pages each
    slow, other = edition_sources(feeds)
    config = write_config({"crawl": {"delay": "0.2s"}, "sources": [{**slow, "delay": "0.8s"}, other]})

    result = run_presswatch("run", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr

    times = sorted(web.request_times)
    after_slow = [later - earlier for (earlier, path), (later, _) in zip(times, times[1:]) if path.startswith("/en/")]
    assert len(times) == 6 and len(after_slow) >= 2, times
    assert min(after_slow) >= 0.75, after_slow  # 0.8 s, less the server's own timing slack


# -- the same on remote workers -----------------------------------------------------------------------------


def test_workers_read_kcna_with_the_listing_dates_and_the_source_pace(
        web, sink, redis_url, workers, write_config, run_presswatch, tmp_path, monkeypatch):
    """A worker's crawl is the source's own too: its reader, its listing's dates, its delay."""
    from conftest import request_gaps

    monkeypatch.chdir(tmp_path)
    listings = kcna_site(web)
    config = write_config({
        "workers": {"redis": redis_url},
        "sources": [{"id": "kcna", "kind": "site", "urls": listings, "follow": _default_source("kcna").follow,
                     "reader": "kcna", "delay": "1s"}],
        "rules": [{"id": "kahrs", "query": '"Korean Association for Human Rights Studies"', "channels": ["analysts"]}],
        "channels": [{"id": "analysts", "url": sink.apprise_url}],
    })

    result = run_presswatch("run", "--once", "--config", str(config), timeout=120)
    assert result.returncode == 0, result.stderr

    with sqlite3.connect(tmp_path / "presswatch.db") as db:
        dates = set(db.execute("SELECT published_at, date_source FROM articles WHERE title = ?", (STATEMENT_TITLE,)))
        texts = {text for (text,) in db.execute("SELECT text FROM articles WHERE title = ?", (STATEMENT_TITLE,))}
    assert dates == {("2018-11-04T00:00:00+00:00", "dateline+listing")}
    assert len(texts) == 1 and "-0-" not in texts.pop()
    assert [m["title"] for m in sink.messages] == [f"[presswatch] kahrs: {STATEMENT_TITLE}"]
    assert min(request_gaps(web)) >= 0.5, request_gaps(web)  # 1 s, less a busy machine's slack

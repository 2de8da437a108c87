"""Politeness and limits: retries that honour Retry-After, redirects, size limits, timeouts,
robots.txt, the User-Agent, and charsets, all against loopback sites the tests serve."""

from __future__ import annotations

import gzip
import sqlite3
import time
from datetime import datetime, timedelta, timezone

from conftest import WebServer, _Server, _WebHandler, article_page, rss_feed
import pytest

from presswatch.crawler.fetch.downloadermiddlewares.charset import corrected_encoding
from presswatch.crawler.fetch.downloadermiddlewares.retry import retry_after_seconds

LIMIT = 100_000


class _PoliteHandler(_WebHandler):
    """The conftest server, plus answers that change from one request to the next and
    bodies sent without a Content-Length."""

    def do_GET(self):  # noqa: N802
        web = self.server.owner
        path = self.path.split("#")[0]
        web.times.setdefault(path, []).append(time.monotonic())
        if path in web.sequences and web.sequences[path]:
            web.requests.append((path, dict(self.headers)))
            status, headers, body = web.sequences[path].pop(0)
            self._send(status, body, "application/rss+xml" if status == 200 else "text/plain", headers)
        elif path in web.unannounced:
            web.requests.append((path, dict(self.headers)))
            self._unannounced(web.unannounced[path])
        else:
            super().do_GET()

    def _unannounced(self, body: bytes):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for start in range(0, len(body), 16_384):
                self.wfile.write(body[start:start + 16_384])
        except OSError:
            pass


class PoliteWeb(WebServer):
    def __init__(self):
        self.routes = {}
        self.requests = []
        self.sequences: dict[str, list[tuple[int, dict, bytes]]] = {}
        self.unannounced: dict[str, bytes] = {}
        self.times: dict[str, list[float]] = {}
        self.request_times: list[tuple[float, str]] = []
        _Server.__init__(self, _PoliteHandler)

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]


@pytest.fixture
def site():
    server = PoliteWeb()
    yield server
    server.close()


def sources_by_id(db_path):
    with sqlite3.connect(db_path) as conn:
        conn.row_factory = sqlite3.Row
        return {r["id"]: dict(r) for r in conn.execute("SELECT * FROM sources")}


def articles(db_path):
    with sqlite3.connect(db_path) as conn:
        return {r[0]: r[1] for r in conn.execute("SELECT title, text FROM articles")}


STORY = {"title": "Rights group details abuse of women in North Korea", "link": "/story",
         "description": "Human Rights Watch said officials in North Korea abuse women."}


def test_retry_after_is_honoured_and_the_user_agent_names_the_contact(site, write_config, run_presswatch, tmp_path):
    feed = rss_feed([{**STORY, "link": site.url("/story")}]).encode()
    site.sequences["/busy.xml"] = [(429, {"Retry-After": "1"}, b"slow down"), (200, {}, feed)]
    config = write_config({
        "contact": "mailto:desk@example.org",
        "crawl": {"retries": 2},
        "sources": [{"id": "busy", "kind": "feed", "url": site.url("/busy.xml")}],
    })
    result = run_presswatch("run", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr

    assert site.paths().count("/busy.xml") == 2
    first, second = site.times["/busy.xml"]
    assert second - first >= 0.9  # waited as the server asked
    assert STORY["title"] in articles(tmp_path / "presswatch.db")
    state = sources_by_id(tmp_path / "presswatch.db")["busy"]
    assert state["last_error"] is None and state["failures"] == 0
    agents = {headers.get("User-Agent", "") for _, headers in site.requests}
    assert agents and all("presswatch" in a and "mailto:desk@example.org" in a for a in agents), agents


def test_each_bad_page_ends_with_its_reason_and_the_run_goes_on(site, write_config, run_presswatch, tmp_path):
    good = site.add("/good.xml", rss_feed([{**STORY, "link": site.url("/story")}]),
                    content_type="application/rss+xml")
    site.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    site.add("/private/feed.xml", rss_feed([]), content_type="application/rss+xml")
    site.add("/capped.xml", "busy", status=503, content_type="text/plain", headers={"Retry-After": "3600"})
    far = (datetime.now(timezone.utc) + timedelta(days=2)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    site.add("/capped-date.xml", "busy", status=429, content_type="text/plain", headers={"Retry-After": far})
    site.add("/loop/a", "", status=302, headers={"Location": "/loop/b"})
    site.add("/loop/b", "", status=302, headers={"Location": "/loop/a"})
    for hop in range(12):
        site.add(f"/hop/{hop}", "", status=302, headers={"Location": f"/hop/{hop + 1}"})
    site.add("/moved.xml", "", status=301, headers={"Location": f"http://localhost:{site.port}/elsewhere.xml"})
    site.add("/elsewhere.xml", rss_feed([]), content_type="application/rss+xml")
    site.add("/big", b"<html><body>" + b"x" * (2 * LIMIT) + b"</body></html>")
    site.unannounced["/big-unannounced"] = b"<html><body>" + b"y" * (3 * LIMIT) + b"</body></html>"
    site.add("/bomb", gzip.compress(b"<html><body>" + b"\0" * (50 * LIMIT)),
             headers={"Content-Encoding": "gzip"})
    site.add("/trickle", b"<html><body>" + b"z" * 40 + b"</body></html>", trickle=0.1)

    pages = {"capped": "/capped.xml", "capped-date": "/capped-date.xml", "loop": "/loop/a",
             "hops": "/hop/0",
             "cross-host": "/moved.xml", "oversize": "/big", "oversize-unannounced": "/big-unannounced",
             "gzip-bomb": "/bomb", "trickle": "/trickle", "robots": "/private/feed.xml"}
    sources = [{"id": sid, "kind": "feed", "url": site.url(path)} for sid, path in pages.items()]
    sources.append({"id": "good", "kind": "feed", "url": good})
    config = write_config({
        "crawl": {"timeout": "1s", "robots": True, "retries": 1, "max_response_size": LIMIT},
        "sources": sources,
    })
    started = time.monotonic()
    result = run_presswatch("run", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 60  # nobody waited out a Retry-After of an hour

    state = sources_by_id(tmp_path / "presswatch.db")
    assert state["good"]["last_error"] is None and state["good"]["failures"] == 0
    expected = {
        "capped": "HTTP 503: the server asks to wait 3600 s (Retry-After), more than the 600 s limit",
        "capped-date": "HTTP 429: the server asks to wait",
        "loop": "redirect loop: ",
        "hops": "too many redirects: more than 10",
        "cross-host": "redirected to another host: localhost",
        "oversize": f"response larger than the size limit of {LIMIT} bytes",
        "oversize-unannounced": f"response larger than the size limit of {LIMIT} bytes",
        "gzip-bomb": f"response larger than the size limit of {LIMIT} bytes once decompressed",
        "trickle": "timed out",
        "robots": "Forbidden by robots.txt",
    }
    for source_id, fragment in expected.items():
        assert fragment in (state[source_id]["last_error"] or ""), (source_id, state[source_id])
        assert state[source_id]["failures"] == 1, source_id
    paths = site.paths()
    assert "/elsewhere.xml" not in paths  # the other host was never asked
    assert "/private/feed.xml" not in paths
    assert paths.count("/loop/a") == 1 and paths.count("/loop/b") == 1
    assert paths.count("/capped.xml") == 1  # given up at once, not retried


KOREAN_TITLE = "휴먼라이츠워치, 북한 여성 성폭력 보고서 발표"
KOREAN = [
    "국제 인권단체 휴먼라이츠워치는 북한에서 여성들이 관리들로부터 성폭력을 당하고 있다는 보고서를 발표했다.",
    "보고서는 탈북 여성들의 증언을 바탕으로 작성되었으며, 가해자들이 처벌받지 않는 현실을 지적했다.",
    "단체는 북한 당국에 이러한 범죄를 인정하고 피해자를 보호할 것을 촉구했다고 밝혔다.",
]


def euc_kr_page(title: str) -> bytes:
    html = article_page(title, KOREAN, lang="ko").replace('<meta charset="utf-8">', "")
    return html.encode("euc-kr")


@pytest.mark.parametrize("declared", ["utf_8", "cp1252"])
def test_a_wrong_charset_header_is_corrected_from_the_body(declared):
    assert corrected_encoding(euc_kr_page(KOREAN_TITLE), declared) in ("cp949", "euc_kr")


def test_a_right_charset_header_is_kept():
    assert corrected_encoding("Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e".encode("cp1252"), "cp1252") is None
    assert corrected_encoding(euc_kr_page(KOREAN_TITLE).decode("euc-kr").encode("utf-8"), "utf_8") is None


def test_korean_pages_in_euc_kr_are_extracted_right(site, write_config, run_presswatch, tmp_path):
    titles = {"/ko/undeclared": KOREAN_TITLE, "/ko/wrong-utf8": KOREAN_TITLE + " (2)",
              "/ko/wrong-latin1": KOREAN_TITLE + " (3)"}
    site.add("/ko/undeclared", euc_kr_page(titles["/ko/undeclared"]), content_type="text/html")
    site.add("/ko/wrong-utf8", euc_kr_page(titles["/ko/wrong-utf8"]), content_type="text/html; charset=utf-8")
    site.add("/ko/wrong-latin1", euc_kr_page(titles["/ko/wrong-latin1"]),
             content_type="text/html; charset=iso-8859-1")
    links = "".join(f'<a href="{path}">{path}</a> ' for path in titles)
    site.add("/ko/", f"<html><body>{links}</body></html>")
    config = write_config({"sources": [{"id": "ko", "kind": "site", "url": site.url("/ko/"), "follow": "/ko/."}]})
    result = run_presswatch("run", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr
    stored = articles(tmp_path / "presswatch.db")
    for title in titles.values():
        assert title in stored, (title, list(stored))
        assert KOREAN[0] in stored[title] and "\ufffd" not in stored[title]


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2026, 11, 26, 8, 0, tzinfo=timezone.utc)
    assert retry_after_seconds(b"120") == 120
    assert retry_after_seconds("Thu, 26 Nov 2026 08:05:00 GMT", now=now) == 300
    assert retry_after_seconds("Wed, 25 Nov 2026 08:05:00 GMT", now=now) == 0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_two_sources_on_one_site_share_its_pace(web, write_config, run_presswatch):
    """Each source is its own crawl; crawl.delay still holds between any two requests to
    the site, whichever source makes them."""
    from conftest import edition_sources, one_site_two_feeds, request_gaps

    config = write_config({"crawl": {"delay": "1s"}, "sources": edition_sources(one_site_two_feeds(web))})
    result = run_presswatch("run", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr
    gaps = request_gaps(web)
    assert len(gaps) == 5  # two feeds, four pages
    # 1 s between sends; arrivals may come closer when a busy machine delays one send's
    # connection more than the next's, so the slack is wide. A shared pace that failed
    # would let two requests arrive together (gaps near 0).
    assert min(gaps) >= 0.6, gaps


RUSSIAN = ("<html><head><title>Правозащитники о докладе</title></head><body><p>"
           + "Женщины в КНДР подвергаются насилию со стороны чиновников, говорится в докладе. " * 3
           + "</p></body></html>")
GREEK = ("<html><body><p>" + "Η έκθεση περιγράφει τη βία κατά των γυναικών στη Βόρεια Κορέα. " * 3
         + "</p></body></html>")
FRENCH = ("<html><body><p>" + "Le rapport décrit les violences subies par les femmes en Corée du Nord, "
          "à la frontière. " * 3 + "</p></body></html>")


@pytest.mark.parametrize(("text", "encoding", "expected"), [
    (RUSSIAN, "utf-8", "utf_8"),      # UTF-8 sent as Latin-1: Ð\x9fÑ\x80Ð°...
    (FRENCH, "utf-8", "utf_8"),       # UTF-8 sent as Latin-1: Ã©
    (RUSSIAN, "cp1251", "cp1251"),    # Cyrillic sent as Latin-1: Ïðàâîçàùèòíèêè
    (RUSSIAN, "koi8_r", "koi8_r"),
    (GREEK, "cp1253", "cp1253"),
    (FRENCH, "cp1252", None),         # right as declared: a few accented letters are not mojibake
])
@pytest.mark.parametrize("declared", ["cp1252", "latin_1"])
def test_other_scripts_and_utf8_sent_as_latin1_are_read_right(text, encoding, expected, declared):
    assert corrected_encoding(text.encode(encoding), declared) == expected

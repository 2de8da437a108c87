"""No requests to internal addresses, and logs that do not cry wolf.

The "internal" host of these tests is a server bound on 127.0.0.2; the sources are on
127.0.0.1 (their own host, trusted). Links to 10.x, 169.254.x and [::1] addresses are
refused before any connection is tried: nothing is sent outside 127.0.0.0/8. The log test's
unreachable host is a name under .invalid (RFC 6761), which never resolves.
"""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
from ipaddress import ip_address, ip_network

import pytest
from conftest import WebServer, _Backlogged, _WebHandler, article_page, free_port, rss_feed
from scrapy.http import HtmlResponse, Request
from scrapy.settings import Settings

from presswatch.config.errors import ConfigError
from presswatch.config.loader import load_config
from presswatch.crawler.fetch.downloadermiddlewares import AddressRefused
from presswatch.crawler.fetch.downloadermiddlewares.address import (
    AddressPolicy,
    ConnectedAddressMiddleware,
    internal_kind,
)

SECRET = "ami-id instance-id local-hostname internal admin console credentials"
PARAGRAPH = ("Human Rights Watch said officials in North Korea abuse women, in a report of "
             "interviews with more than fifty people who left the country since 2011.")


class InternalServer(WebServer):
    """The conftest web server, bound on 127.0.0.2: a host of the "internal network"."""

    def __init__(self):
        self.routes, self.requests, self.request_times = {}, [], []
        self.httpd = _Backlogged(("127.0.0.2", 0), _WebHandler)
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.2:{self.port}{path}"


@pytest.fixture
def internal():
    server = InternalServer()
    server.add("/latest/meta-data/", article_page("Instance metadata", [SECRET] * 3))
    server.add("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    yield server
    server.close()


def story_page(title: str) -> str:
    return article_page(title, [PARAGRAPH] * 3)


def stored(db_path) -> dict[str, dict]:
    with sqlite3.connect(db_path) as conn:
        conn.row_factory = sqlite3.Row
        return {r["url"]: dict(r) for r in conn.execute(
            "SELECT url, title, text, extracted_from, page_error FROM articles")}


def source_state(db_path, source_id: str) -> dict:
    with sqlite3.connect(db_path) as conn:
        conn.row_factory = sqlite3.Row
        return dict(conn.execute("SELECT * FROM sources WHERE id = ?", (source_id,)).fetchone())


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if " ERROR " in line or "Traceback" in line]


# Addresses and the policy ---------------------------------------------------------------


@pytest.mark.parametrize("address, kind", [
    ("127.0.0.2", "loopback"), ("::1", "loopback"), ("10.0.0.5", "private"),
    ("192.168.1.20", "private"), ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("224.0.0.1", "multicast"), ("0.0.0.0", "unspecified"), ("240.0.0.1", "reserved"),
    ("100.64.0.1", "not public"), ("::ffff:10.0.0.5", "private"), ("fd00::1", "private"),
    ("93.184.215.14", None), ("2606:4700::1111", None),
])
def test_internal_addresses_are_told_by_kind(address, kind):
    assert internal_kind(address) == kind


def test_allowed_networks_and_trusted_hosts_pass():
    policy = AddressPolicy(frozenset({"intranet.example", "127.0.0.1"}),
                           (ip_network("10.0.0.0/8"), ip_network("192.168.1.20/32")))
    assert policy.refusal("10.1.2.3") is None
    assert policy.refusal("::ffff:10.1.2.3") is None
    assert policy.refusal("192.168.1.20") is None
    assert policy.refusal("192.168.1.21") == "private"
    assert policy.refusal("169.254.169.254") == "link-local"
    assert policy.trusts("www.intranet.example") and policy.trusts("127.0.0.1")
    assert not policy.trusts("127.0.0.2")


def test_a_response_from_an_internal_address_is_refused():
    """The address actually connected to is checked, whatever the lookup before said."""

    class Crawler:
        settings = Settings({"PRESSWATCH_TRUSTED_HOSTS": ["127.0.0.1"]})
        spider = None

    middleware = ConnectedAddressMiddleware.from_crawler(Crawler)

    request = Request("http://news.example/story")
    response = HtmlResponse(request.url, body=b"<p>x</p>", request=request, ip_address=ip_address("10.0.0.5"))
    with pytest.raises(AddressRefused, match=r"news.example \(10.0.0.5\) is an internal address \(private\)"):
        middleware.process_response(request, response)
    public = HtmlResponse(request.url, body=b"<p>x</p>", request=request, ip_address=ip_address("93.184.215.14"))
    assert middleware.process_response(request, public) is public
    own = Request("http://127.0.0.1:8080/story")
    from_own = HtmlResponse(own.url, body=b"", request=own, ip_address=ip_address("127.0.0.1"))
    assert middleware.process_response(own, from_own) is from_own


def test_a_network_that_is_not_one_is_a_config_error(write_config):
    path = write_config({"crawl": {"allow_private_networks": ["10.0.0.0/8", "intranet"]}, "sources": []})
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    message = str(caught.value)
    assert "crawl.allow_private_networks[1]" in message and '"intranet" is not a network' in message, message


# Crawls ---------------------------------------------------------------------------------


def test_links_to_internal_addresses_are_refused_and_recorded(web, internal, write_config, run_presswatch, tmp_path):
    web.add("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    good = web.add("/story", story_page("Rights group details abuse of women in North Korea"))
    web.add("/local", story_page("Served to a name that resolves to loopback"))
    links = {
        "metadata": internal.url("/latest/meta-data/"),              # an address, listening
        "name": f"http://localhost:{web.port}/local",                 # a name resolving to loopback
        "cloud": "http://169.254.169.254/latest/meta-data/",          # never connected to
        "lan": "http://10.0.0.5/admin",
        "good": good,
    }
    feed = rss_feed([{"title": f"Entry {key}", "link": url, "description": f"Feed text of {key}."}
                     for key, url in links.items()])
    config = write_config({
        "crawl": {"robots": True},
        "sources": [{"id": "wire", "kind": "feed", "url": web.add("/feed.xml", feed, content_type="application/rss+xml"),
                     "fetch_articles": True}],
    })
    result = run_presswatch("run", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr

    assert internal.requests == []  # not even its robots.txt
    assert [path for path, _ in web.requests if path == "/local"] == []
    articles = stored(tmp_path / "presswatch.db")
    assert articles[good]["extracted_from"] == "page"
    for key in ("metadata", "name", "cloud", "lan"):
        article = articles[links[key]]
        assert article["extracted_from"] == "feed" and article["text"] == f"Feed text of {key}."
        assert "is an internal address" in article["page_error"], article
    assert all(SECRET not in (a["text"] or "") for a in articles.values())
    assert "169.254.169.254 is an internal address (link-local)" in articles[links["cloud"]]["page_error"]
    assert "10.0.0.5 is an internal address (private)" in articles[links["lan"]]["page_error"]
    assert "localhost (127.0.0.1) is an internal address (loopback)" in articles[links["name"]]["page_error"] \
        or "localhost (::1) is an internal address (loopback)" in articles[links["name"]]["page_error"]
    assert "is an internal address" in (source_state(tmp_path / "presswatch.db", "wire")["last_error"] or "")
    refused = [line for line in result.stderr.splitlines() if "link refused" in line]
    assert len(refused) == 4 and all(" WARNING " in line and "source=wire" in line for line in refused), refused
    assert error_lines(result.stderr) == []


def test_a_redirect_from_a_sources_host_to_an_internal_one_is_refused(web, internal, write_config,
                                                                     run_presswatch, tmp_path):
    web.add("/go", "", status=302, headers={"Location": internal.url("/latest/meta-data/")})
    web.add("/listing", '<html><body><a href="/go">Rights group report</a></body></html>')
    config = write_config({
        "crawl": {"redirect_other_hosts": True},
        "sources": [
            {"id": "wire", "kind": "feed", "fetch_articles": True,
             "url": web.add("/feed.xml", rss_feed([{"title": "Moved", "link": web.url("/go")}]),
                            content_type="application/rss+xml")},
            {"id": "moved", "kind": "feed", "url": web.add("/moved.xml", "", status=301,
                                                           headers={"Location": internal.url("/feed.xml")})},
            {"id": "listing", "kind": "site", "url": web.url("/listing"), "follow": "/go"},
        ],
    })
    result = run_presswatch("run", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr

    assert internal.requests == []
    db = tmp_path / "presswatch.db"
    assert "is an internal address (loopback)" in stored(db)[web.url("/go")]["page_error"]
    assert "127.0.0.2 is an internal address (loopback)" in source_state(db, "moved")["last_error"]
    assert "127.0.0.2 is an internal address (loopback)" in source_state(db, "listing")["last_error"]
    assert error_lines(result.stderr) == []


def test_allowed_networks_and_sources_own_hosts_are_fetched(web, internal, write_config, run_presswatch, tmp_path):
    internal.add("/story", story_page("A story on the newsroom's own server"))
    internal.add("/feed.xml", rss_feed([{"title": "Own", "link": internal.url("/story")}]),
                 content_type="application/rss+xml")
    feed = web.add("/feed.xml", rss_feed([{"title": "Metadata", "link": internal.url("/latest/meta-data/")}]),
                   content_type="application/rss+xml")
    allowed = write_config({
        "crawl": {"allow_private_networks": ["127.0.0.2/32"]},
        "sources": [{"id": "wire", "kind": "feed", "url": feed, "fetch_articles": True}],
    }, name="allowed.yaml")
    result = run_presswatch("run", "--once", "--config", str(allowed))
    assert result.returncode == 0, result.stderr
    assert stored(tmp_path / "presswatch.db")[internal.url("/latest/meta-data/")]["extracted_from"] == "page"

    own = write_config({"database": "own.db", "sources": [
        {"id": "newsroom", "kind": "feed", "url": internal.url("/feed.xml"), "fetch_articles": True}]},
        name="own.yaml")
    result = run_presswatch("run", "--once", "--config", str(own))
    assert result.returncode == 0, result.stderr
    assert stored(tmp_path / "own.db")[internal.url("/story")]["extracted_from"] == "page"
    assert error_lines(result.stderr) == []


def test_listing_and_sitemap_links_to_internal_addresses_are_refused(web, internal, write_config,
                                                                     run_presswatch, tmp_path):
    own = web.add("/news/1", story_page("Rights group details abuse of women in North Korea"))
    secret = internal.url("/latest/meta-data/")
    web.add("/listing", f'<html><body><a href="/news/1">Report</a> <a href="{secret}">Metadata</a>'
                        '<a href="http://[::1]:9/news/2">Loopback</a></body></html>')
    sitemap = ('<?xml version="1.0" encoding="UTF-8"?>'
               '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
               f"<url><loc>{own}</loc></url><url><loc>{secret}</loc></url></urlset>")
    index = ('<?xml version="1.0" encoding="UTF-8"?>'
             '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
             "<sitemap><loc>http://10.0.0.5/sitemap.xml</loc></sitemap></sitemapindex>")
    config = write_config({"sources": [
        {"id": "listing", "kind": "site", "url": web.url("/listing"), "follow": "news|meta-data"},
        {"id": "sitemap", "kind": "sitemap", "url": web.add("/sitemap.xml", sitemap, content_type="application/xml")},
        {"id": "index", "kind": "sitemap", "url": web.add("/index.xml", index, content_type="application/xml")},
    ]})
    result = run_presswatch("run", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr

    assert internal.requests == []
    db = tmp_path / "presswatch.db"
    assert set(stored(db)) == {own}
    assert "127.0.0.2 is an internal address (loopback)" in source_state(db, "sitemap")["last_error"]
    assert "10.0.0.5 is an internal address (private)" in source_state(db, "index")["last_error"]
    refused = [line for line in result.stderr.splitlines() if "link refused" in line]
    assert any("source=listing" in line and "::1 is an internal address (loopback)" in line for line in refused)
    assert any("source=listing" in line and "127.0.0.2 is an internal address" in line for line in refused)
    assert error_lines(result.stderr) == []


REBINDING = textwrap.dedent("""
    # A name that answers an allowed address to its first lookup and an internal one after
    # (DNS rebinding), as the reactor's resolver: the crawl's own check passes, its
    # connection must find nothing to connect to.
    import sys
    from scrapy.utils.reactor import install_reactor
    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    from twisted.internet import reactor
    from twisted.internet.address import IPv4Address
    from presswatch.scheduler.cli import main

    class Rebinding:
        def __init__(self, system):
            self.system, self.answers = system, 0

        def resolveHostName(self, receiver, name, port=0, types=None, semantics="TCP"):
            if name != "rebind.test":
                return self.system.resolveHostName(receiver, name, port, types, semantics)
            self.answers += 1
            receiver.resolutionBegan(None)
            receiver.addressResolved(IPv4Address("TCP", "127.0.0.1" if self.answers == 1 else "127.0.0.2", port))
            receiver.resolutionComplete()

    reactor.installNameResolver(Rebinding(reactor.nameResolver))
    main(["run", "--once", "--config", sys.argv[1]])
""")


def test_a_name_rebound_to_an_internal_address_is_not_connected_to(web, internal, write_config, tmp_path):
    link = f"http://rebind.test:{internal.port}/latest/meta-data/"
    feed = web.add("/feed.xml", rss_feed([{"title": "Rebound", "link": link}]), content_type="application/rss+xml")
    config = write_config({
        "crawl": {"allow_private_networks": ["127.0.0.1/32"]},  # the first answer passes
        "sources": [{"id": "wire", "kind": "feed", "url": feed, "fetch_articles": True}],
    })
    script = tmp_path / "rebinding.py"
    script.write_text(REBINDING, encoding="utf-8")
    result = subprocess.run([sys.executable, str(script), str(config)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr

    assert internal.requests == []
    assert "rebind.test (127.0.0.2) is an internal address (loopback)" in stored(tmp_path / "presswatch.db")[link]["page_error"]
    assert error_lines(result.stderr) == []


# Logs ------------------------------------------------------------------------------------


@pytest.fixture
def silent_port():
    """A port on 127.0.0.1 that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def test_network_failures_are_one_warning_line_and_no_error(write_config, run_presswatch, tmp_path, silent_port):
    closed = free_port()
    sources = {
        "unknown-host": "http://news.presswatch-test.invalid/feed.xml",  # RFC 6761: never resolves
        "refusing": f"http://127.0.0.1:{closed}/feed.xml",
        "hanging": f"http://127.0.0.1:{silent_port}/feed.xml",
    }
    config = write_config({
        "crawl": {"robots": True, "timeout": "1s", "retries": 1},
        "sources": [{"id": key, "kind": "feed", "url": url} for key, url in sources.items()],
    })
    result = run_presswatch("run", "--once", "--config", str(config))

    lines = result.stderr.splitlines()
    assert error_lines(result.stderr) == [], result.stderr
    reasons = {"unknown-host": "host not found", "refusing": "connection refused", "hanging": "timed out"}
    for source_id, reason in reasons.items():
        warnings = [line for line in lines if " WARNING " in line and f"source={source_id} " in line]
        assert len(warnings) == 1 and reason in warnings[0], (source_id, warnings)
        assert reason in source_state(tmp_path / "presswatch.db", source_id)["last_error"]

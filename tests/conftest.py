"""Shared fixtures: a loopback web server, a notification sink, an SMTP server, configs.

Everything is real: servers listen on 127.0.0.1 on random ports, presswatch runs as its
own command in a subprocess (a Twisted reactor cannot be restarted in one process), and
the database is a real SQLite file in tmp_path.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    etag: str | None = None
    trickle: float = 0.0  # seconds between bytes: a server that sends one byte at a time


class _Backlogged(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # hundreds of crawls may connect at once; the default backlog is 5


class _Server:
    def __init__(self, handler_cls):
        self.httpd = _Backlogged(("127.0.0.1", 0), handler_cls)
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _WebHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802
        web = self.server.owner
        path = self.path.split("#")[0]
        web.requests.append((path, dict(self.headers)))
        web.request_times.append((time.monotonic(), path))
        route = web.routes.get(path) or web.routes.get(path.split("?")[0])
        if route is None:
            self._send(404, b"not found", "text/plain")
            return
        if route.delay:
            time.sleep(route.delay)
        if route.etag and self.headers.get("If-None-Match") == route.etag:
            self._send(304, b"", None, {"ETag": route.etag})
            return
        headers = dict(route.headers)
        if route.etag:
            headers["ETag"] = route.etag
        self._send(route.status, route.body, route.content_type, headers, route.trickle)

    def _send(self, status, body, ctype, headers=None, trickle: float = 0.0):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not trickle:
            if body:
                self.wfile.write(body)
            return
        try:
            for i in range(len(body)):
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
                time.sleep(trickle)
        except OSError:
            pass  # the client gave up, as it should

    def handle(self):
        try:
            super().handle()
        except ConnectionError:
            pass  # a client that hung up on an oversize or slow answer, as it should

    def log_message(self, *args):
        pass


class WebServer(_Server):
    """Serves `routes` (path -> Route); tests change them between runs."""

    def __init__(self):
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict]] = []
        self.request_times: list[tuple[float, str]] = []  # (monotonic time, path) of each request
        super().__init__(_WebHandler)

    def add(self, path: str, body: str | bytes, **kw) -> str:
        self.routes[path] = Route(body.encode() if isinstance(body, str) else body, **kw)
        return self.url(path)


class _SinkHandler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        sink = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        payload = self.rfile.read(length)
        with sink.lock:
            if sink.fail_next > 0:
                sink.fail_next -= 1
                sink.refused += 1
                status = 500
            else:
                sink.messages.append(json.loads(payload or b"{}"))
                status = 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


class Sink(_Server):
    """A JSON notification sink for Apprise's json:// URLs; can refuse the next N posts."""

    def __init__(self):
        self.messages: list[dict] = []
        self.fail_next = 0
        self.refused = 0
        self.lock = threading.Lock()
        super().__init__(_SinkHandler)

    @property
    def apprise_url(self) -> str:
        return f"json://127.0.0.1:{self.port}/"


@pytest.fixture(scope="session", autouse=True)
def cache_home(tmp_path_factory):
    """$XDG_CACHE_HOME of the session, for this process and the commands it starts: the
    embedding model's cache (crawler/stories/model_cache.py) is written once a session and
    never into the user's ~/.cache."""
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("cache-home")
        patch.setenv("XDG_CACHE_HOME", str(folder))
        yield folder


@pytest.fixture
def web():
    server = WebServer()
    yield server
    server.close()


@pytest.fixture
def sink():
    server = Sink()
    yield server
    server.close()


@pytest.fixture
def smtp():
    """A loopback SMTP server collecting messages (aiosmtpd)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    class Collect(Message):
        def __init__(self):
            super().__init__()
            self.messages = []

        def handle_message(self, message):
            self.messages.append(message)

    handler = Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    controller.messages = handler.messages
    yield controller
    controller.stop()


def free_port() -> int:
    """A port free on 127.0.0.1 now (aiosmtpd needs one named before it starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


FAST_CRAWL = {"delay": "0s", "retries": 0, "timeout": "5s", "robots": False}


@pytest.fixture
def write_config(tmp_path):
    """Write a config dict as YAML in tmp_path; fast crawl settings unless given, and no
    /healthz and /metrics endpoint unless given (daemons of tests running at once would
    fight over its port)."""

    def write(config: dict, name: str = "presswatch.yaml") -> Path:
        config = dict(config)
        config.setdefault("database", "presswatch.db")
        config["crawl"] = {**FAST_CRAWL, **config.get("crawl", {})}
        config["monitor"] = {"listen": "", **config.get("monitor", {})}
        path = tmp_path / name
        path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return path

    return write


def presswatch(*args: str, env: dict | None = None, timeout: float = 120,
               cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the installed `presswatch` command as a user would."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PRESSWATCH_CONFIG", None) if env is None or "PRESSWATCH_CONFIG" not in env else None
    return subprocess.run(
        [sys.executable, "-m", "presswatch.scheduler", *args], capture_output=True, text=True,
        timeout=timeout, env=full_env, cwd=cwd,
    )


@pytest.fixture
def run_presswatch():
    return presswatch


def rss_feed(items: list[dict], title: str = "Test outlet") -> str:
    """An RSS 2.0 feed; each item has title, link, and optionally guid, description, date."""
    parts = []
    for item in items:
        guid = item.get("guid", item["link"])
        parts.append(
            "<item>"
            f"<title>{_xml(item['title'])}</title>"
            f"<link>{_xml(item['link'])}</link>"
            f"<guid isPermaLink=\"false\">{_xml(guid)}</guid>"
            f"<description>{_xml(item.get('description', ''))}</description>"
            f"<pubDate>{item.get('date', 'Thu, 01 Nov 2018 09:00:00 +0000')}</pubDate>"
            "</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{_xml(title)}</title><link>http://example.org/</link>"
        f"<description>test</description>{''.join(parts)}</channel></rss>"
    )


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def article_page(title: str, paragraphs: list[str], canonical: str | None = None,
                 published: str = "2018-11-01T09:00:00Z", lang: str = "en") -> str:
    """A news article page with boilerplate around the body, as real outlets serve."""
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>{link}'
        f'<meta property="article:published_time" content="{published}"></head><body>'
        '<header><nav><a href="/">Home</a> <a href="/world">World</a> <a href="/asia">Asia</a></nav></header>'
        f'<main><article><h1>{title}</h1>{body}</article></main>'
        '<footer><p>Copyright Test Outlet. All rights reserved.</p></footer></body></html>'
    )


def one_site_two_feeds(web) -> list[str]:
    """An outlet's English and Korean feeds on one site, two pages each: two sources, one pace."""
    feeds = []
    for edition in ("en", "ko"):
        links = [web.add(f"/{edition}/{n}", article_page(f"Story {edition} {n}", [
            f"Paragraph {n} of the {edition} edition, long enough to be kept as the article text "
            "of this page by the extraction, with a few more words to be sure."] * 3)) for n in (1, 2)]
        feeds.append(web.add(f"/{edition}/feed.xml", rss_feed([
            {"title": f"Story {edition} {n}", "link": link} for n, link in zip((1, 2), links)]),
            content_type="application/rss+xml"))
    return feeds


def edition_sources(feeds: list[str]) -> list[dict]:
    return [{"id": f"outlet-{e}", "kind": "feed", "url": url, "fetch_articles": True}
            for e, url in zip(("en", "ko"), feeds)]


def request_gaps(web) -> list[float]:
    """Seconds between the server's requests, in the order they came."""
    times = sorted(t for t, _ in web.request_times)
    return [later - earlier for earlier, later in zip(times, times[1:])]

"""`presswatch demo`: the real pipeline over a bundled, made-up replay of the 2018 coverage.

The files beside this module are the replay (see `replay.yaml` and README.md here). A
loopback HTTP server serves them stage by stage; between stages the daemon runs every
source once and delivers, so the alerts print as the story unfolds: the HRW release and
its wire story (one event: one alert and an update), a variant URL of that copy (no new
alert), the Korean daily's report (an update of that event), and KCNA's press statement
of 4 November filed under two menus (one alert, an event of its own).
"""

from __future__ import annotations

import mimetypes
import shutil
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path

import yaml

from presswatch.config import load_config
from presswatch.scheduler.logs import setup_logging

DATA = files(__package__)


def load_replay() -> dict:
    return yaml.safe_load(DATA.joinpath("replay.yaml").read_text(encoding="utf-8"))


class ReplayServer:
    """Serves the replay's files on 127.0.0.1, as they stand at the current stage.

    Each outlet (the first segment of a path: /hrw/, /wire/, /hanbit/, /kcna/) has a port of
    its own, so that its pages have a site of their own: outlets are counted by site, and
    an event's update names the new outlets it reports. "{base}" in a file is the address
    of the outlet serving it.
    """

    def __init__(self, replay: dict):
        self.replay = replay
        self.stage = 0
        self.outlets = {}
        for source in replay["sources"]:
            for url in [source.get("url"), *(source.get("urls") or [])]:
                if url and (outlet := _outlet_of(url)) not in self.outlets:
                    self.outlets[outlet] = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.threads = [threading.Thread(target=h.serve_forever, daemon=True) for h in self.outlets.values()]

    def base(self, outlet: str) -> str:
        return f"http://127.0.0.1:{self.outlets[outlet].server_address[1]}"

    @property
    def addresses(self) -> str:
        return ", ".join(f"{outlet} {self.base(outlet)}" for outlet in self.outlets)

    def __enter__(self) -> ReplayServer:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        for httpd in self.outlets.values():
            httpd.shutdown()
            httpd.server_close()

    def files_now(self) -> dict[str, str]:
        served: dict[str, str] = {}
        for stage in self.replay["stages"][: self.stage + 1]:
            served.update(stage.get("files") or {})
        return served

    def body(self, path: str) -> tuple[bytes, str] | None:
        name = self.files_now().get(path)
        if name is None or _outlet_of(path) not in self.outlets:
            return None
        text = DATA.joinpath(name).read_text(encoding="utf-8").replace("{base}", self.base(_outlet_of(path)))
        return text.encode("utf-8"), content_type(name)

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                found = server.body(self.path.split("?")[0].split("#")[0])
                if found is None:
                    self.send_error(404)
                    return
                body, ctype = found
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler


def _outlet_of(url: str) -> str:
    """The outlet of a replay URL or path: its first path segment ("{base}/hrw/rss.xml": hrw)."""
    path = url.replace("{base}", "", 1)
    return path.lstrip("/").split("/", 1)[0]


def content_type(name: str) -> str:
    if name.endswith(".xml"):
        return "application/xml; charset=utf-8"
    if name.endswith((".html", ".kcmsf")):
        return "text/html; charset=utf-8"
    return (mimetypes.guess_type(name)[0] or "application/octet-stream") + "; charset=utf-8"


def demo_config(replay: dict, server: ReplayServer, folder: Path) -> Path:
    """Write the demo's config (the replay's sources and rules, console alerts) to `folder`."""
    sources = [_at(s, server) for s in replay["sources"]]
    config = {
        "database": "demo.db",
        "crawl": {"delay": "0s", "retries": 0, "timeout": "10s", "robots": False},
        "log": {"level": "warning"},
        "sources": sources,
        "rules": replay["rules"],
    }
    path = folder / "presswatch-demo.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _at(source: dict, server: ReplayServer) -> dict:
    """A replay source with "{base}" in its url and urls made its outlet's address."""
    placed = {**source, "every": "1m"}
    if "url" in source:
        placed["url"] = source["url"].replace("{base}", server.base(_outlet_of(source["url"])))
    if "urls" in source:
        placed["urls"] = [url.replace("{base}", server.base(_outlet_of(url))) for url in source["urls"]]
    return placed


def print_alert(text: str) -> None:
    title, _, body = text.partition("\n")
    print(f"  ALERT {title}")
    for line in body.rstrip().splitlines():
        print(f"  | {line}")
    print(flush=True)


def run_demo(keep: Path | None = None) -> int:
    # Imported here to keep `presswatch --help` fast: Scrapy and Twisted take about a second.
    from presswatch.scheduler.daemon import run

    replay = load_replay()
    folder = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="presswatch-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with ReplayServer(replay) as server:
            config = load_config(demo_config(replay, server, folder))
            redact = setup_logging(config.log.level, config.log.format, config.secrets)
            print(f"presswatch demo: replay served at {server.addresses}; database {config.database}\n")

            async def passes(daemon) -> None:
                for number, stage in enumerate(replay["stages"]):
                    server.stage = number
                    print(f"== stage {number + 1}/{len(replay['stages'])}: {stage['name']}: "
                          f"{stage['description']}", flush=True)
                    await daemon.run_once()
                    if daemon.stopping:
                        return
                counts = daemon.store.counts()
                reactions = counts.get("outbox reaction", 0)
                print(f"== done: {counts['articles']} articles in {counts['stories']} stories and "
                      f"{counts['events']} events; {counts.get('outbox alert', 0)} alerts, "
                      f"{counts.get('outbox update', 0)} event updates and {reactions} "
                      f"{'reaction' if reactions == 1 else 'reactions'} in the threads they answer", flush=True)

            return run(config, redact, print_alert=print_alert, body=passes)
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)
        sys.stdout.flush()

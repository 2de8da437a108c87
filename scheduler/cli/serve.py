"""`presswatch serve`: the archive in a browser, read-only, through Datasette.

Datasette serves the config's database with presswatch's metadata (`serve/metadata.yaml`
beside this module): titles, descriptions of every table and column, facets, full-text
search over the articles, and canned queries (latest stories by rule, a story's spread,
alerts by state, source health). A story's number in a query's results links to its
spread; table pages fold their column descriptions away (`serve/templates`).

Coverage charts: `/-/chart/event/ID.svg` and `/-/chart/rule/RULE.svg?since=30d` are an
event's or a rule's stories and outlets per hour or day with its surges, reactions and
alerts marked, drawn (`scheduler.chart`) from the store's coverage reads run on Datasette's
own read-only connection. The event timeline and "Latest stories by rule" show them above
their rows; an event's title in the events table and a rule in a query's results lead
there.

Nothing served can write: reads use SQLite's read-only mode (not `immutable`, so the
running daemon's new rows keep showing), Datasette's write connection is refused, every
HTTP method but GET and HEAD is refused, no canned query writes, and Datasette plugins
installed in the environment are not loaded (a write plugin would be served too). It
listens on 127.0.0.1 unless told otherwise and has no login: sharing it is a reverse
proxy's job. The SQL lives in `serve/metadata.yaml` as data for Datasette; this module
runs none itself, and never upgrades the schema (`presswatch run` does).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import sqlite3
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from urllib.parse import unquote

import click
import yaml
from markupsafe import Markup, escape

from presswatch.crawler.errors import StoreError
from presswatch.scheduler.cli.common import MAX_ID, load, within_reach

__all__ = ["SETTINGS", "archive_metadata", "build_archive", "check_archive", "listen", "read_only_app", "serve"]

DB_NAME = "presswatch"  # the database's path in URLs: /presswatch, whatever the file is called
SERVE_FILES = resources.files("presswatch.scheduler") / "serve"
CONFIG_HELP = "Config file (YAML). Default: $PRESSWATCH_CONFIG, else the shipped mission config."
SETTINGS = {
    "allow_download": False,  # the whole file is not the archive's to hand out
    "suggest_facets": False,  # the useful facets are declared; suggesting costs queries on every page
    "default_page_size": 50,
    "truncate_cells_html": 300,  # article texts would fill the table pages
    "facet_time_limit_ms": 500,
    "sql_time_limit_ms": 2000,
}


def archive_metadata() -> dict:
    """The Datasette metadata shipped with presswatch (titles, descriptions, facets, queries)."""

    text = (SERVE_FILES / "metadata.yaml").read_text(encoding="utf-8")
    metadata = yaml.safe_load(text)
    for name, query in metadata["databases"][DB_NAME].get("queries", {}).items():
        if query.get("write"):  # a guard for later edits: writing queries are never served
            raise ValueError(f"serve/metadata.yaml: canned query {name} writes; the archive is read-only")
    return metadata


def check_archive(path: Path) -> None:
    """Raise StoreError unless `path` is a presswatch database with the schema this version knows.

    Only reads: the schema is upgraded by `presswatch run`, never by serving it.
    """
    # Imported here to keep `presswatch --help` fast: sqlite-utils (with numpy) takes about 135 ms.
    from presswatch.crawler.store.database import inspect_database

    if not path.exists():
        raise StoreError(f"no database yet at {path}; run presswatch first (presswatch run --once)")
    try:
        facts = inspect_database(path)
        applied, pending = facts.applied, facts.pending
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot read {path} as a presswatch database: {exc}") from exc
    if not applied:
        raise StoreError(f"{path} is not a presswatch database (it has none of presswatch's tables)")
    if pending:
        raise StoreError(f"{path} was written by an older presswatch (not yet applied: {', '.join(pending)}); "
                         "run presswatch run --once (or restart the daemon) to upgrade it, then serve it")


def build_archive(path: Path, base_url: str = "/"):
    """A Datasette over `path` alone, read-only, with presswatch's metadata and settings."""
    # Imported here to keep `presswatch --help` fast: Datasette takes about 360 ms.
    from datasette.app import Datasette

    _use_own_plugins()
    datasette = Datasette(metadata=archive_metadata(), settings={**SETTINGS, "base_url": base_url},
                          template_dir=str(SERVE_FILES / "templates"))
    datasette.remove_database("_memory")  # added when no file is given: an empty SQL playground
    datasette.add_database(_read_only_database()(datasette, str(path.resolve()), is_mutable=True), name=DB_NAME)
    return datasette


@cache
def _read_only_database():
    """Datasette's Database without its write connection: reads are mode=ro, writes refused."""
    # Imported here to keep `presswatch --help` fast: Datasette takes about 360 ms.
    from datasette.database import Database

    class ReadOnlyDatabase(Database):
        def connect(self, write=False):
            if write:
                raise sqlite3.OperationalError("the presswatch archive is read-only")
            return super().connect(write=False)

    return ReadOnlyDatabase


def _use_own_plugins() -> None:
    """Unload Datasette plugins found in the environment; keep Datasette's own, add ours."""
    # Imported here to keep `presswatch --help` fast: Datasette takes about 360 ms.
    from datasette.plugins import DEFAULT_PLUGINS, pm

    for name, plugin in list(pm.list_name_plugin()):
        if name not in DEFAULT_PLUGINS:
            pm.unregister(plugin)
    for plugin in (_story_links(), _coverage_charts()):
        pm.register(plugin, name=plugin.__name__)


def _story_links():
    """A Datasette plugin: a story's number in a canned query's results links to its spread."""
    # Imported here to keep `presswatch --help` fast: Datasette takes about 360 ms.
    from datasette import hookimpl

    class StoryLinks:
        __name__ = "presswatch.story_links"  # Datasette lists plugins by their module's name

        @hookimpl
        def render_cell(self, value, column, table, database, datasette):
            if database != DB_NAME or table is not None or column != "story" or type(value) is not int:
                return None
            href = f"{datasette.urls.query(DB_NAME, 'story_spread')}?story_id={value}"
            return Markup(f'<a href="{escape(href)}">{value}</a>')

    return StoryLinks()


RULE_ID = re.compile(r"[a-z0-9-]+")  # the config's rule ids; other values of a `rule` column are not rules
# An SVG opened on its own is a document of the archive's origin: it may not run or load anything.
SVG_HEADERS = {"content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
               "x-content-type-options": "nosniff"}


def _coverage_charts():
    """A Datasette plugin: the coverage charts' routes, and links to the pages showing them."""
    # Imported here to keep `presswatch --help` fast: Datasette takes about 360 ms.
    from datasette import hookimpl

    class CoverageCharts:
        __name__ = "presswatch.coverage_charts"

        @hookimpl
        def register_routes(self, datasette):
            return [(r"^/-/chart/event/(?P<event_id>[0-9]+)\.svg$", _event_chart),
                    (r"^/-/chart/rule/(?P<rule_id>[^/]+)\.svg$", _rule_chart)]

        @hookimpl
        def render_cell(self, row, value, column, table, database, datasette):
            if database != DB_NAME or type(value) is not str:
                return None
            if table == "events" and column == "title":  # the event's timeline, with its chart
                href = f"{datasette.urls.query(DB_NAME, 'event_timeline')}?event_id={row['id']}"
                return Markup(f'{escape(value)} <a class="coverage" href="{escape(href)}">(timeline, chart)</a>')
            if table is None and column == "rule" and RULE_ID.fullmatch(value):
                href = f"{datasette.urls.query(DB_NAME, 'latest_stories_by_rule')}?rule={value}"
                return Markup(f'<a href="{escape(href)}">{escape(value)}</a>')
            return None

    return CoverageCharts()


async def _event_chart(datasette, request):
    # Imported here to keep `presswatch --help` fast: sqlite-utils loads for the store's reads only.
    from presswatch.crawler.store.coverage import coverage_reader

    event_id = int(request.url_vars["event_id"])
    if event_id > MAX_ID:  # past SQLite's integers: no such event (not an OverflowError)
        return _plain(404, f"no event {event_id}")
    coverage = await datasette.get_database(DB_NAME).execute_fn(
        lambda conn: coverage_reader(conn).event_coverage(event_id))
    if coverage is None:  # a plain answer: Datasette would print a traceback for a raised NotFound
        return _plain(404, f"no event {event_id}")
    return _svg(coverage)


async def _rule_chart(datasette, request):
    # Imported here to keep `presswatch --help` fast: sqlite-utils loads for the store's reads only.
    from presswatch.config.duration import parse_duration
    from presswatch.crawler.store.coverage import coverage_reader

    rule_id = unquote(request.url_vars["rule_id"])
    try:
        since = datetime.now(UTC) - within_reach(parse_duration(request.args.get("since") or "30d"))
    except ValueError as exc:
        return _plain(400, f"since: {exc}")
    coverage = await datasette.get_database(DB_NAME).execute_fn(
        lambda conn: coverage_reader(conn).rule_coverage(rule_id, since))
    return _svg(coverage)


def _svg(coverage):
    # Imported here to keep `presswatch --help` fast: Datasette takes about 360 ms, pygal is for charts only.
    from datasette.utils.asgi import Response

    from presswatch.scheduler.chart import coverage_chart

    return Response(coverage_chart(coverage).svg, headers=SVG_HEADERS, content_type="image/svg+xml; charset=utf-8")


def _plain(status: int, text: str):
    # Imported here to keep `presswatch --help` fast: Datasette takes about 360 ms.
    from datasette.utils.asgi import Response

    return Response.text(text + "\n", status=status)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: a free one); OSError if it cannot be had."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def is_loopback(sock: socket.socket) -> bool:
    return ipaddress.ip_address(sock.getsockname()[0]).is_loopback


def read_only_app(app):
    """Wrap an ASGI app so that every HTTP request but GET and HEAD is refused (405).

    Datasette takes POSTs only for writing queries and its debug forms; none is wanted here.
    """
    async def guarded(scope, receive, send):
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD"):
            await send({"type": "http.response.start", "status": 405,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"allow", b"GET, HEAD")]})
            await send({"type": "http.response.body", "body": b"The presswatch archive is read-only.\n"})
            return
        await app(scope, receive, send)

    return guarded


async def _run(datasette, sock: socket.socket, ready: str) -> None:
    # Imported here to keep `presswatch --help` fast: uvicorn takes about 10 ms.
    import uvicorn

    await datasette.invoke_startup()
    await datasette.get_database(DB_NAME).execute("select count(*) from sqlite_master")  # fails early if unreadable
    app = read_only_app(datasette.app())
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    click.echo(ready)  # the socket listens already: a browser opened now waits, it is not refused
    await server.serve(sockets=[sock])


@click.command()
@click.option("--config", "-c", "config_path", envvar="PRESSWATCH_CONFIG",
              type=click.Path(dir_okay=False, path_type=Path), help=CONFIG_HELP)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback shows the archive to whoever can reach it.")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--base-url", default="/", show_default=True,
              help="The path a reverse proxy serves it under, such as /archive/ (the proxy strips it).")
def serve(config_path, host, port, base_url):
    """Browse the archive in a web browser (Datasette), read-only; Ctrl-C stops it.

    Stories, articles with full-text search and facets, alerts and source health, with
    canned queries: latest stories by rule, a story's spread over outlets and time,
    alerts by state, source health, an event's timeline; an event's and a rule's coverage
    charts (also at /-/chart/event/ID.svg and /-/chart/rule/RULE.svg). Serving never writes to the database, and it can
    run beside the daemon. It has no login: keep it on 127.0.0.1 and share it through a
    reverse proxy that authenticates.

    \b
    Examples:
      presswatch serve --config /etc/presswatch/presswatch.yaml
      presswatch serve --port 8080 --base-url /archive/
    """
    config = load(config_path)
    try:
        check_archive(config.database)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        sock = listen(host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    if not is_loopback(sock):
        click.echo(f"presswatch: warning: listening on {host or 'every address'}, not loopback: anyone who "
                   "can reach it can read the whole archive, and there is no login. Prefer 127.0.0.1 "
                   "behind a reverse proxy that authenticates.", err=True)
    base_url = "/" + base_url.strip("/") + "/" if base_url.strip("/") else "/"
    shown = sock.getsockname()
    where = f"[{shown[0]}]" if ":" in shown[0] else shown[0]
    # Under a proxy's path the proxy strips it (Datasette only writes it into links), so the
    # address here has no prefix.
    behind = f", its links made for a proxy serving it under {base_url}" if base_url != "/" else ""
    ready = f"serving {config.database} read-only at http://{where}:{shown[1]}/{DB_NAME}{behind} (Ctrl-C stops)"
    try:
        asyncio.run(_run(build_archive(config.database, base_url), sock, ready))
    except KeyboardInterrupt:  # Ctrl-C before the server took over its handling
        pass
    finally:
        sock.close()

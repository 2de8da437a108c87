"""Every real and malformed feed of the corpus through the whole pipeline, beside feedparser alone.

Usage: python bench/corpus_feeds.py [PATH ...] [--timeout 600] [--keep DIR] [--all]
(PATH: feed files or folders searched recursively; default $PRESSWATCH_CORPUS/feeds, else
../shared/corpus/feeds beside the repository. Nothing of the corpus is copied: files are read
where they are and served from memory.)

Each file (*.xml, *.rss, *.atom, *.rdf, *.json but not *.expected.json) is served on a loopback
HTTP server (stdlib, threaded) with a content type sniffed from its first bytes (RSS, Atom,
RDF, JSON Feed); files under a `malformed` folder go out as text/html when they start like an
HTML page and as application/octet-stream otherwise, as a broken server would send them. A
temporary config has one feed source per file (fetch_articles false, robots false, delay 0,
retries 0, the shipped mission rules, a database in a temporary folder), and `presswatch run
--once` runs once in a subprocess (a Twisted reactor cannot be restarted in one process).

Then, per feed, from the database: the articles stored for its source (rows of `articles`
with its source_id, plus articles first stored by another feed that this one listed too,
which the store notes in `entry_fingerprints`), the source's state and last_error; beside
- feedparser alone: `len(feedparser.parse(bytes).entries)` on the same bytes, no headers;
- distinct: those entries once entries with the same link (as the store keys it:
  `canonical_url`, relative links resolved against the feed's URL) or the same GUID are
  taken as one article, which is what the store does (an article is its URL, or its GUID
  within a source). `ours < feedparser` is explained when `ours == distinct`.

A crash is: the command exiting non-zero, a Python traceback in its output, a source whose
last_error says "crawl crashed", or a source never recorded (no run). The last lines list
every feed where we store fewer articles than feedparser finds entries, and why.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, urljoin

import feedparser
import yaml
from presswatch.crawler.parse.canonical import canonical_url
from feed_cycle import IO_WRAPPER  # the same accounting of bytes written (bench/ is on sys.path when run)

REPO = Path(__file__).resolve().parent.parent
FEED_SUFFIXES = (".xml", ".rss", ".atom", ".rdf", ".json")


def default_paths() -> list[Path]:
    corpus = os.environ.get("PRESSWATCH_CORPUS")
    base = Path(corpus) if corpus else REPO.parent / "shared" / "corpus"
    return [base / "feeds" if (base / "feeds").is_dir() else base]


def feed_files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        candidates = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in candidates:
            name = file.name.lower()
            if file.is_file() and name.endswith(FEED_SUFFIXES) and not name.endswith(".expected.json"):
                found.append(file)
    return list(dict.fromkeys(found))


def content_type(body: bytes, malformed: bool) -> str:
    head = body[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html")) or (b"<html" in head and b"<rss" not in head
                                                         and b"<feed" not in head):
        return "text/html; charset=utf-8"
    if malformed:
        return "application/octet-stream"
    if head.startswith((b"{", b"[")):
        return "application/feed+json"
    if b"<feed" in head:
        return "application/atom+xml"
    if b"<rdf:rdf" in head:
        return "application/rdf+xml"
    if b"<rss" in head:
        return "application/rss+xml"
    return "application/xml"


# --- the loopback server -------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        route = self.server.routes.get(self.path)
        if route is None:
            body, ctype, status = b"not found", "text/plain", 404
        else:
            (body, ctype), status = route, 200
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    # The stdlib's listen backlog is 5: a run opens a connection per source at once, and
    # connections beyond the backlog stall until the client's timeout.
    request_queue_size = 1024


def serve(routes: dict[str, tuple[bytes, str]]) -> ThreadingHTTPServer:
    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.routes = routes
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


# --- per feed --------------------------------------------------------------------------------


@dataclass
class Feed:
    source_id: str
    file: Path
    label: str
    url: str
    body: bytes
    ctype: str
    fp_entries: int = 0
    fp_distinct: int = 0
    fp_canonical: int = 0
    fp_bozo: str = ""
    ours: int | None = None
    ours_own: int = 0
    state: str = ""
    runs: int = 0
    last_error: str = ""


def distinct(entries, feed_url: str, canonical: bool) -> int:
    """Entries once those sharing a link or a GUID are one (union-find).

    Links are resolved against the feed's URL; with `canonical`, keyed as the store keys
    them (`canonical_url`: no fragment, no tracking parameters, no www., ...)."""
    parent = list(range(len(entries)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for i, entry in enumerate(entries):
        keys = []
        link = entry.get("link")
        if link:
            link = urljoin(feed_url, link)
            if canonical and link.startswith(("http://", "https://")):
                try:
                    link = canonical_url(link)
                except ValueError:
                    pass
            keys.append("u:" + link)
        guid = entry.get("id")
        if guid:
            keys.append("g:" + guid)
        if not keys:  # stored under a hash of its title and text: count it as its own
            keys.append(f"e:{i}")
        for key in keys:
            if key in first:
                parent[find(i)] = find(first[key])
            else:
                first[key] = i
    return len({find(i) for i in range(len(entries))})


def feedparser_alone(feed: Feed) -> None:
    parsed = feedparser.parse(feed.body)
    feed.fp_entries = len(parsed.entries)
    feed.fp_distinct = distinct(parsed.entries, feed.url, canonical=False)
    feed.fp_canonical = distinct(parsed.entries, feed.url, canonical=True)
    if parsed.get("bozo"):
        feed.fp_bozo = type(parsed.get("bozo_exception")).__name__


def source_id_for(index: int, file: Path) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", file.stem.lower()).strip("-")[:40].strip("-")
    return f"f{index:03d}-{slug}" if slug else f"f{index:03d}"


def label_for(file: Path, roots: list[Path]) -> str:
    for root in roots:
        try:
            return str(file.relative_to(root if root.is_dir() else root.parent))
        except ValueError:
            continue
    return str(file)


def write_config(folder: Path, feeds: list[Feed], timeout: int) -> Path:
    default = yaml.safe_load((REPO / "config" / "default.yaml").read_text(encoding="utf-8"))
    config = {
        "database": str(folder / "presswatch.db"),
        "crawl": {"delay": "0s", "retries": 0, "timeout": f"{timeout}s", "robots": False,
                  "max_response_size": "50MB"},
        "log": {"level": "info"},
        "monitor": {"listen": ""},
        "sources": [{"id": f.source_id, "kind": "feed", "url": f.url, "name": f.label,
                     "fetch_articles": False, "robots": False} for f in feeds],
        "rules": default.get("rules", []),
    }
    path = folder / "presswatch.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def read_store(db_path: Path, feeds: list[Feed]) -> None:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        own = dict(db.execute("SELECT source_id, count(*) FROM articles GROUP BY source_id"))
        listed = dict(db.execute(
            """SELECT source_id, count(DISTINCT article_id) FROM (
                   SELECT source_id, article_id FROM entry_fingerprints
                   UNION SELECT source_id, id FROM articles) GROUP BY source_id"""))
        states = {row[0]: row[1:] for row in db.execute(
            "SELECT id, state, runs, COALESCE(last_error, '') FROM sources")}
    finally:
        db.close()
    for feed in feeds:
        feed.ours = listed.get(feed.source_id, 0)
        feed.ours_own = own.get(feed.source_id, 0)
        feed.state, feed.runs, feed.last_error = states.get(feed.source_id, ("missing", 0, ""))


def explain(feed: Feed) -> str:
    if feed.ours is None or feed.ours >= feed.fp_entries:
        return ""
    if feed.ours == feed.fp_distinct:
        return (f"{feed.fp_entries - feed.fp_distinct} entries repeat another entry's link or GUID: "
                "one article each (dedup)")
    if feed.ours == feed.fp_canonical:
        return (f"LOST {feed.fp_distinct - feed.ours}: entries with their own links and GUIDs merged "
                "because canonical_url makes their links one key (fragment or parameters dropped)")
    return f"LOST {feed.fp_distinct - feed.ours} distinct entries" + (
        f": {feed.last_error}" if feed.last_error else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="feed files or folders (default: the corpus's feeds/)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds for the whole run (default 900)")
    parser.add_argument("--keep", type=Path, help="keep the config, database and log in this folder")
    parser.add_argument("--all", action="store_true", help="print every feed (default: only those worth a look)")
    args = parser.parse_args(argv)

    roots = [p.resolve() for p in (args.paths or default_paths())]
    files = feed_files(roots)
    if not files:
        print(f"no feed files under {', '.join(map(str, roots))}", file=sys.stderr)
        return 2

    routes: dict[str, tuple[bytes, str]] = {}
    httpd = serve(routes)
    port = httpd.server_address[1]
    feeds: list[Feed] = []
    for i, file in enumerate(files, 1):
        body = file.read_bytes()
        malformed = "malformed" in file.parts
        path = f"/{i:03d}/{quote(file.name)}"
        ctype = content_type(body, malformed)
        routes[path] = (body, ctype)
        feeds.append(Feed(source_id_for(i, file), file, label_for(file, roots),
                          f"http://127.0.0.1:{port}{path}", body, ctype))

    started = time.strftime("%Y-%m-%d %H:%M")
    t0 = time.perf_counter()
    for feed in feeds:
        feedparser_alone(feed)
    fp_seconds = time.perf_counter() - t0

    folder_cm = tempfile.TemporaryDirectory(prefix="pw-corpus-feeds-") if args.keep is None else None
    folder = Path(folder_cm.name) if folder_cm else args.keep.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("presswatch.db*"):  # a kept folder used before: start afresh
        stale.unlink()
    try:
        config = write_config(folder, feeds, timeout=60)
        env = {**os.environ}
        env.pop("PRESSWATCH_CONFIG", None)
        t0 = time.perf_counter()
        try:
            # feed_cycle's wrapper: `python -m presswatch.scheduler ...`, then the bytes it wrote
            proc = subprocess.run([sys.executable, "-c", IO_WRAPPER, "presswatch.scheduler", "run", "--once", "-c", str(config)],
                                  check=False, capture_output=True, text=True, timeout=args.timeout, env=env,
                                  cwd=folder)
            code, out, err = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as exc:
            code = "timeout"
            out = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            err = (exc.stderr or b"").decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        run_seconds = time.perf_counter() - t0
        (folder / "run.log").write_text(f"exit {code}\n--- stdout\n{out}\n--- stderr\n{err}", encoding="utf-8")
        database = sum(p.stat().st_size for p in folder.glob("presswatch.db*") if not p.name.endswith("-shm"))
        if (folder / "presswatch.db").exists():
            read_store(folder / "presswatch.db", feeds)
    finally:
        httpd.shutdown()
        httpd.server_close()
        if folder_cm:
            folder_cm.cleanup()

    output = out + err
    tracebacks = traceback_kinds(output)
    scrapy_race = tracebacks.pop(SCRAPY_CLOSE_RACE, 0)
    error_lines = [line for line in output.splitlines() if re.search(r"\bERROR\b|CRITICAL", line)]
    crashed = [f for f in feeds if "crawl crashed" in f.last_error or f.runs == 0]
    bad_exit = code != 0

    print(f"corpus feeds through `presswatch run --once` on {', '.join(map(str, roots))} ({started})")
    print(f"machine: {platform.machine()}, nproc {os.cpu_count()}, Python {platform.python_version()}, "
          f"feedparser {feedparser.__version__}")
    print(f"{len(feeds)} feeds ({sum(len(f.body) for f in feeds) / 1e6:.1f} MB); run --once took "
          f"{run_seconds:.1f} s (exit {code}); feedparser alone {fp_seconds:.1f} s")
    written = next((line.split()[1:] for line in err.splitlines()[::-1] if line.startswith("PW_IO ")), None)
    if written:
        print(f"run --once wrote {int(written[0]) / 1e6:,.1f} MB ({int(written[1]) / 1e6:,.1f} MB to disk); "
              f"database after {database / 1e6:,.1f} MB ({int(written[0]) / max(database, 1):.1f}x)")
    print("columns: fp = feedparser alone's entries; dist = those with their own link and GUID; "
          "canon = the same with links keyed by canonical_url; ours = articles stored for the source")
    print()
    worth = [f for f in feeds if args.all or f.ours is None or f.ours != f.fp_entries or f.last_error
             or f.fp_entries == 0]
    width = min(max((len(f.label) for f in worth), default=10), 56)
    print(f"{'feed':<{width}}  {'type':<12} {'fp':>4} {'dist':>4} {'canon':>5} {'ours':>4}  {'state':<6} note")
    for f in worth:
        ctype = f.ctype.split(";")[0].replace("application/", "").replace("text/", "")
        note = explain(f) or f.last_error or (f"feedparser bozo: {f.fp_bozo}" if f.fp_bozo else "")
        label = f.label if len(f.label) <= width else "…" + f.label[-(width - 1):]
        ours = f.ours if f.ours is not None else "-"
        print(f"{label:<{width}}  {ctype:<12} {f.fp_entries:>4} {f.fp_distinct:>4} {f.fp_canonical:>5} {ours:>4}"
              f"  {f.state:<6} {note[:150]}")
    if not args.all:
        print(f"({len(feeds) - len(worth)} more feeds where ours = feedparser's entries and no error; --all lists them)")
    print()

    fewer = [f for f in feeds if f.ours is not None and f.ours < f.fp_entries]
    lost = [f for f in fewer if f.ours < f.fp_distinct]
    more = [f for f in feeds if f.ours is not None and f.ours > f.fp_entries]
    no_articles = [f for f in feeds if f.last_error and not f.ours]
    print(f"entries: feedparser alone {sum(f.fp_entries for f in feeds)}, with their own link/GUID "
          f"{sum(f.fp_distinct for f in feeds)}, keyed by canonical_url {sum(f.fp_canonical for f in feeds)}, "
          f"stored by us {sum(f.ours or 0 for f in feeds)}")
    crashes = len(crashed) + bad_exit + sum(tracebacks.values())
    print(f"crashes: {crashes} (exit {code}; sources crashed or never run: {len(crashed)}"
          f"{' ' + ', '.join(f.label for f in crashed) if crashed else ''}; other tracebacks: "
          f"{dict(tracebacks) or 0}); ERROR log lines {len(error_lines)}")
    if scrapy_race:
        print(f"  not counted: {scrapy_race} Twisted 'Unhandled error' tracebacks (AlreadyCalledError in a timed "
              "call) from Scrapy's HTTP handler close (scrapy/core/downloader/handlers/http11.py:161): its "
              "1 s timer fires before the awaiting coroutine resumes when the loop is busy; nothing is lost")
    print(f"feeds where we find fewer entries than feedparser alone: {len(fewer)} "
          f"({len(fewer) - len(lost)} only repeated links/GUIDs, {len(lost)} losing "
          f"{sum(f.fp_distinct - f.ours for f in lost)} entries of their own)")
    for f in fewer:
        print(f"  {f.label}: feedparser {f.fp_entries}, own link/GUID {f.fp_distinct}, ours {f.ours}: {explain(f)}")
    if more:
        print(f"feeds where we find more than feedparser alone: {len(more)}")
        for f in more:
            print(f"  {f.label}: feedparser {f.fp_entries}, ours {f.ours} ({f.ctype.split(';')[0]})")
    print(f"feeds with an error and no article (not a feed, failed): {len(no_articles)}; "
          f"feeds with no entry for feedparser either: {sum(1 for f in feeds if not f.fp_entries)}")
    for line in error_lines[:10]:
        print(f"  log: {line[:200]}")
    return 1 if crashes or lost else 0


SCRAPY_CLOSE_RACE = "twisted.internet.defer.AlreadyCalledError (timed call)"


def traceback_kinds(output: str) -> dict[str, int]:
    """Tracebacks in the output, counted by their exception line."""
    kinds: dict[str, int] = {}
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("Traceback (most recent call last)"):
            continue
        j = i + 1
        while j < len(lines) and (lines[j].startswith(" ") or not lines[j].strip()):
            j += 1
        last = lines[j] if j < len(lines) else "?"
        timed = i > 0 and lines[i - 1].startswith("while handling timed call")
        kind = last.split(":")[0].strip()
        if kind == "twisted.internet.defer.AlreadyCalledError" and timed:
            kind = SCRAPY_CLOSE_RACE
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds

if __name__ == "__main__":
    sys.exit(main())

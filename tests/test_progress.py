"""Progress of `presswatch run --once`: plain lines into a pipe, a bar on a terminal.

The command runs as a user runs it, against loopback sources: a feed, a sitemap read
back over years (a backfill) and a feed that is gone. The terminal is a real
pseudo-terminal; nothing here asserts a duration.
"""

from __future__ import annotations

import fcntl
import io
import logging
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

from conftest import article_page, rss_feed

from presswatch.scheduler.progress import BarProgress, LineProgress, PassProgress, progress_for

RULE = '"Human Rights Watch" AND "North Korea"'


def site_with_three_kinds_of_source(web) -> list[dict]:
    """A feed of two entries (one matches), a sitemap of three older articles, a feed that is gone."""
    items = [
        {"title": "Rights group on abuse in North Korea", "link": web.url("/news/1"),
         "description": "Human Rights Watch said officials in North Korea abuse women with impunity."},
        {"title": "Floods hit coastal farms", "link": web.url("/news/2"),
         "description": "Heavy rain flooded farms along the coast; no casualties were reported."},
    ]
    web.add("/feed.xml", rss_feed(items), content_type="application/rss+xml")
    locs = []
    for n in (1, 2, 3):
        locs.append(web.add(f"/archive/{n}", article_page(f"Archived story {n}",
                                                          [f"An older story number {n} about farm prices. " * 5],
                                                          published=f"2019-03-0{n}T09:00:00Z")))
    urls = "".join(f"<url><loc>{loc}</loc><lastmod>2019-03-0{i + 1}</lastmod></url>" for i, loc in enumerate(locs))
    web.add("/sitemap.xml", '<?xml version="1.0" encoding="UTF-8"?>'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>',
            content_type="application/xml")
    return [
        {"id": "outlet", "kind": "feed", "url": web.url("/feed.xml")},
        {"id": "archive", "kind": "sitemap", "url": web.url("/sitemap.xml"), "since": "3650d"},
        {"id": "gone", "kind": "feed", "url": web.url("/gone.xml")},
    ]


def config_for(web, sink, write_config):
    return write_config({
        "sources": site_with_three_kinds_of_source(web),
        "rules": [{"id": "hrw", "query": RULE, "channels": ["desk"]}],
        "channels": [{"id": "desk", "url": sink.apprise_url}],
    })


def test_without_a_terminal_each_source_done_is_one_line_and_the_pass_one_summary(
        web, sink, write_config, run_presswatch):
    result = run_presswatch("run", "--once", "--config", str(config_for(web, sink, write_config)))
    assert result.returncode == 0, result.stderr
    lines = [line.split(" presswatch.progress ", 1)[1] for line in result.stderr.splitlines()
             if " presswatch.progress " in line]
    done = lines[:-1]
    assert [line.split(":")[0] for line in done] == ["1/3 sources done", "2/3 sources done", "3/3 sources done"]
    assert sorted(line.split(": ", 1)[1] for line in done) == ["archive ok", "gone failed", "outlet ok"]
    # Two feed entries and three pages from the sitemap's backfill, each a new story.
    assert lines[-1].startswith("pass done: 3/3 sources (2 ok, 1 failed), 5 articles read, 5 new, "
                                "1 alerts delivered, in "), lines[-1]
    assert len(sink.messages) == 1
    # No bar, and the pipeline's own per-source lines are still there, not repeated by ours.
    assert "\x1b[" not in result.stderr and "━" not in result.stderr
    assert result.stderr.count("source=gone run failed") == 1


def test_on_a_terminal_a_bar_counts_sources_articles_and_alerts(web, sink, write_config):
    config = config_for(web, sink, write_config)
    code, output = run_in_terminal([sys.executable, "-m", "presswatch.scheduler", "run", "--once",
                                    "--config", str(config)])
    assert code == 0, output
    assert "\x1b[" in output  # drawn with terminal control sequences
    bar = bar_lines(output)
    assert bar, output
    final = bar[-1]
    assert "3/3" in final and "5 articles" in final and "1 alerts delivered" in final, final
    assert "━" in final
    # Log lines print above the bar, whole (not wrapped at the terminal's width).
    assert any("source=gone run failed" in line and "duration=" in line for line in output.splitlines())
    assert "pass done: 3/3 sources (2 ok, 1 failed)" in output
    assert "sources done:" not in output  # the plain lines are for logs only
    assert len(sink.messages) == 1


def test_the_daemon_shows_no_bar(web, sink, write_config):
    config = config_for(web, sink, write_config)
    code, output = run_in_terminal(
        [sys.executable, "-m", "presswatch.scheduler", "run", "--config", str(config)],
        stop_after="source=gone run failed")
    assert code == 0, output
    assert "daemon started" in output
    assert bar_lines(output) == []
    assert "━" not in output and "pass done" not in output and "sources done" not in output


# The classes themselves ---------------------------------------------------------------


def test_progress_for_a_pipe_is_lines_for_a_terminal_a_bar():
    assert isinstance(progress_for(io.StringIO()), LineProgress)
    leader, follower = pty.openpty()
    try:
        with os.fdopen(follower, "w", closefd=True) as terminal:
            assert isinstance(progress_for(terminal), BarProgress)
    finally:
        os.close(leader)


def test_the_summary_counts_what_it_was_told(caplog):
    progress = LineProgress()
    with caplog.at_level(logging.INFO, logger="presswatch.progress"):
        progress.start(2)
        for _ in range(4):
            progress.article("kcna")
        progress.source_done("kcna", True, 3)
        progress.source_done("hrw", False)
        progress.delivered(2)
        progress.close()
    messages = [r.getMessage() for r in caplog.records]
    assert messages[:2] == ["1/2 sources done: kcna ok", "2/2 sources done: hrw failed"]
    assert messages[2].startswith("pass done: 2/2 sources (1 ok, 1 failed), 4 articles read, 3 new, "
                                  "2 alerts delivered, in ")
    assert isinstance(progress, PassProgress)


# A pseudo-terminal ------------------------------------------------------------------------


def bar_lines(output: str) -> list[str]:
    """The bar as it was drawn, each time, without its colours."""
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output)
    return [line for line in re.split(r"[\r\n]+", plain) if line.startswith("sources ")]


def run_in_terminal(args: list[str], stop_after: str | None = None, timeout: float = 120) -> tuple[int, str]:
    """Run `args` with stdout and stderr on a pseudo-terminal 160 columns wide; its exit code
    and everything it wrote. With `stop_after`, SIGTERM is sent once that text appeared."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color"}
    for name in ("PRESSWATCH_CONFIG", "NO_COLOR", "COLUMNS", "LINES"):
        env.pop(name, None)
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    output, stopped = b"", False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # EIO: every writer has closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
            if stop_after and not stopped and stop_after.encode() in output:
                process.send_signal(signal.SIGTERM)
                stopped = True
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(leader)
    return code, output.decode("utf-8", "replace")

"""How far a pass over every source has got (`presswatch run --once`): a bar or plain lines.

The daemon and the crawl runner report what happens (the pass starts, an article is
fetched, a source is done, alerts were delivered); this module decides how it shows.
On a terminal (stderr is a TTY) it is a rich progress bar: sources done of the total,
articles read so far (a sitemap's backfill moves this while the source count stands
still) and, at the end, the alerts delivered; log lines keep printing above it.
Elsewhere (cron, systemd, a pipe) it is plain log lines: one per finished source with
the count so far, and one summary at the end. The writer's own per-source line
(`source=... run ok new=...`) already carries the details, so ours only adds the count.

The long-running daemon shows neither: its sources run on their own schedules, and
there is no "done" to count towards.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

log = logging.getLogger("presswatch.progress")

__all__ = ["BarProgress", "LineProgress", "PassProgress", "SourceDone", "progress_for"]


@dataclass(frozen=True)
class SourceDone:
    """One source's run as a pass counts it: whether it worked, and how many new articles."""

    source_id: str
    ok: bool
    new: int = 0


class PassProgress:
    """Counts a pass and logs its summary at the end; shows nothing while it runs."""

    def __init__(self) -> None:
        self.total = 0
        self.done: list[SourceDone] = []
        self.articles = 0
        self.sent: int | None = None
        self.started = time.monotonic()

    def start(self, total: int) -> None:
        self.total = total
        self.started = time.monotonic()

    def article(self, source_id: str) -> None:
        """An article was read for `source_id`: a page fetched, or a feed entry (new or known)."""
        self.articles += 1

    def source_done(self, source_id: str, ok: bool, new: int = 0) -> None:
        """`source_id` finished its run: whether it worked, how many new articles it brought."""
        self.done.append(SourceDone(source_id, ok, new))

    def delivered(self, sent: int) -> None:
        self.sent = sent

    def close(self) -> None:
        log.info("%s", self.summary())

    def summary(self) -> str:
        failed = sum(not d.ok for d in self.done)
        new = sum(d.new for d in self.done)
        sent = "" if self.sent is None else f", {self.sent} alerts delivered"
        return (f"pass done: {len(self.done)}/{self.total} sources ({len(self.done) - failed} ok, "
                f"{failed} failed), {self.articles} articles read, {new} new{sent}, "
                f"in {time.monotonic() - self.started:.1f}s")


class LineProgress(PassProgress):
    """Plain lines for logs: `3/15 sources done: kcna failed`, then the summary."""

    def source_done(self, source_id: str, ok: bool, new: int = 0) -> None:
        super().source_done(source_id, ok, new)
        log.info("%d/%d sources done: %s %s", len(self.done), self.total, source_id, "ok" if ok else "failed")


class BarProgress(PassProgress):
    """A rich progress bar on the terminal, with the log printed above it."""

    def __init__(self, console) -> None:
        super().__init__()
        # stdout goes through the bar only when it shares the terminal; a redirected stdout
        # (console alerts into a file) is left alone.
        self.bar = Progress(
            TextColumn("sources"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[articles]} articles"), TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=console, redirect_stderr=True, redirect_stdout=_is_tty(sys.stdout),
        )
        self.task = None
        self._restore_logging = None

    def start(self, total: int) -> None:
        super().start(total)
        self.task = self.bar.add_task("sources", total=total, articles=0, status="")
        self.bar.start()
        self._restore_logging = _log_above_bar(self.bar.console)

    def article(self, source_id: str) -> None:
        super().article(source_id)
        self.bar.update(self.task, articles=self.articles)

    def source_done(self, source_id: str, ok: bool, new: int = 0) -> None:
        super().source_done(source_id, ok, new)
        self.bar.update(self.task, advance=1, status=f"last: {source_id} {'ok' if ok else 'failed'}")

    def delivered(self, sent: int) -> None:
        super().delivered(sent)
        self.bar.update(self.task, status=f"{sent} alerts delivered")

    def close(self) -> None:
        if self.task is not None:
            self.bar.refresh()
            self.bar.stop()
        if self._restore_logging is not None:
            self._restore_logging()
        super().close()


def progress_for(stream=None) -> PassProgress:
    """A bar when `stream` (stderr by default) is a terminal rich can draw on, else plain lines."""

    console = Console(file=stream or sys.stderr)
    if console.is_terminal and not console.is_dumb_terminal:
        return BarProgress(console)
    return LineProgress()


def _is_tty(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _log_above_bar(console):
    """Point the root logger's handlers on the bar's stream at the bar's console, so each
    line prints above the bar instead of through it; returns what puts them back."""
    moved = []
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is console.file:
            moved.append((handler, handler.setStream(_AboveBar(console))))

    def restore() -> None:
        for handler, old in moved:
            handler.setStream(old)

    return restore


class _AboveBar:
    """A stream for logging that prints through a rich console: above its live bar,
    unwrapped (the terminal wraps long lines), without markup or highlighting."""

    def __init__(self, console) -> None:
        self.console = console

    def write(self, text: str) -> int:
        self.console.print(text, end="", markup=False, highlight=False, emoji=False, soft_wrap=True)
        return len(text)

    def flush(self) -> None:
        pass

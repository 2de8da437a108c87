"""Judging a source's health after each run: ok, quiet, failing, layout, recovered.

Pure: it reads the source's stored state and the run's outcome and returns the new
state, with a sentence when the state changed, so "no alerts" can be told apart from
"no coverage". The usual gap between runs that bring something new is learned (an
exponentially weighted mean); a source is quiet when nothing new came for much longer
than that. A source whose site moved still answers, so it is judged on what its run
read: a listing with no link `follow` keeps, or article pages that all came without
text or looked like listings, for `health.layout_after` runs in a row, put it in state
`layout` ("layout changed?"). Storing the result and queuing its alert is the store's
job, in the same transaction as the run.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from presswatch.config.duration import format_duration
from presswatch.crawler.store.records import HealthChange, SourceRun, SourceState, now_iso

# Weight of the newest gap in the learned usual gap.
GAP_WEIGHT = 0.3


# The states a change into is alerted.
ALERTED = ("failing", "quiet", "layout", "recovered")
# What a run read, for layout: a sign of a changed layout, a sign of a sound one, or nothing.
CLEAN = ""


def judge(before: SourceState, run: SourceRun, now: datetime, settings) -> HealthChange:
    """The source's health after `run`; `settings` is the config's `health` section."""
    failures = 0 if run.ok else before.failures + 1
    last_new, gap = _learn(before, run, now)
    layout = layout_sign(run)
    layout_runs = _layout_runs(before, layout)
    if layout and layout_runs >= settings.layout_after:
        state = "layout"
    elif layout is None and before.state == "layout" and run.ok:
        state = "layout"  # nothing read tells either way (a 304, every link known)
    else:
        state = _state(before, run, failures, last_new, gap, now, settings)
    event = None
    if state != before.state and state in ALERTED:
        event = _sentence(before, run, state, failures, last_new, gap, now, layout, layout_runs)
    reason = layout if layout else (before.layout_reason if layout is None else None)
    return HealthChange(state, now_iso(last_new) if last_new else None, gap, event, before.state,
                        layout_runs=layout_runs, layout_reason=reason)


def layout_sign(run: SourceRun) -> str | None:
    """What a run read says of the source's layout.

    A sentence when it looks changed (the listing answered with no link `follow` keeps;
    article pages were read and none had text, or all looked like listings); CLEAN when
    links or article text were found; None when the run tells nothing (it failed, a 304,
    no listing and no page read).
    """
    if not run.ok or run.not_modified:
        return None
    if run.links == 0:
        return "its listing answers but no link on it matches follow"
    refused = run.pages_without_text + run.pages_like_listings
    if refused and not run.pages_read:
        if run.pages_like_listings >= run.pages_without_text:
            return (f"its {refused} article page(s) look like listings (many links, little text) "
                    "and were not stored")
        return f"the reader found no article text on its {refused} article page(s)"
    if run.pages_read or run.links:
        return CLEAN
    return None


def _layout_runs(before: SourceState, layout: str | None) -> int:
    if layout is None:
        return before.layout_runs
    return before.layout_runs + 1 if layout else 0


def _learn(before: SourceState, run: SourceRun, now: datetime) -> tuple[datetime | None, float | None]:
    last_new = datetime.fromisoformat(before.last_new_at) if before.last_new_at else None
    gap = before.usual_gap
    if run.ok and run.articles_new:
        # The silence that made a source quiet is the anomaly, not its usual rhythm.
        if last_new is not None and before.state != "quiet":
            seconds = (now - last_new).total_seconds()
            gap = seconds if gap is None else GAP_WEIGHT * seconds + (1 - GAP_WEIGHT) * gap
        return now, gap
    if run.ok and last_new is None:
        # Silence is counted from the first run that worked, even if it brought nothing.
        return now, gap
    return last_new, gap


def _state(before, run, failures, last_new, gap, now, settings) -> str:
    if not run.ok:
        return "failing" if failures >= settings.failing_after else _settled(before.state)
    if last_new is not None and now - last_new > quiet_after(gap, settings):
        return "quiet"
    if before.state in ("failing", "quiet", "layout"):
        return "recovered"
    return "ok"


def _settled(state: str) -> str:
    # A failure or two does not change a source's state; "new" becomes "ok" only by working.
    return state


def quiet_after(gap: float | None, settings) -> timedelta:
    """How long without anything new makes a source quiet."""
    learned = timedelta(seconds=(gap or 0) * settings.quiet_factor)
    return max(learned, settings.min_quiet)


def _sentence(before, run, state, failures, last_new, gap, now, layout=None, layout_runs=0) -> str:
    name = before.name or before.id
    if state == "failing":
        return f"{name} is failing: {failures} runs in a row failed; last error: {run.error}"
    if state == "quiet":
        usual = f"; usually something new every {format_duration(_round(gap))}" if gap else ""
        return f"{name} is quiet: nothing new for {format_duration(_round((now - last_new).total_seconds()))}{usual}"
    if state == "layout":
        return (f"{name} layout changed?: {layout} ({layout_runs} runs in a row); "
                f"presswatch sources test {before.id} shows what it reads now")
    if before.state == "layout":
        return f"{name} recovered: links and article text are found again after its layout changed"
    was = "failing" if before.state == "failing" else "quiet"
    return f"{name} recovered: it works again after being {was}"


def _round(seconds: float) -> timedelta:
    return timedelta(minutes=max(1, round(seconds / 60)))


def backoff(source_every: timedelta, failures: int, settings) -> timedelta:
    """How long a failing source waits before its next run: doubling, capped, never given up."""
    doublings = min(20, max(0, failures - settings.failing_after))
    return min(settings.max_backoff, source_every * (2 ** doublings))


# --- a feed and its fallback ---------------------------------------------------------------

# A feed answering so is gone now, not having a bad moment: its fallback is used at once.
GONE_NOW = ("HTTP 404", "HTTP 410", "not a feed")
EMPTY_FEED = "feed has no entries"


def feed_gone(before: SourceState, run: SourceRun, now: datetime, settings) -> str | None:
    """Why a feed source's run says its feed is gone, or None while it serves.

    Gone: a 404 or 410 or something that is not a feed; failures for as long as make a
    source failing (`health.failing_after` runs in a row, this one included); or a feed
    with no entries for longer than health calls a source quiet.
    """
    if not run.ok:
        error = run.error or "failed"
        if error.startswith(GONE_NOW):
            return error
        failures = before.failures + 1
        if failures >= settings.failing_after:
            return f"{failures} runs in a row failed; last error: {error}"
        return None
    if not is_empty(run):
        return None
    last_new = datetime.fromisoformat(before.last_new_at) if before.last_new_at else None
    if last_new is not None and now - last_new > quiet_after(before.usual_gap, settings):
        silent = format_duration(_round((now - last_new).total_seconds()))
        return f"{EMPTY_FEED} and nothing new for {silent}"
    return None


def is_empty(run: SourceRun) -> bool:
    """A run whose feed answered, with no entries at all."""
    return run.ok and not run.not_modified and EMPTY_FEED in (run.error or "")


def feed_back(run: SourceRun) -> bool:
    """Whether a feed left for its fallback serves again: it answered with entries.

    A 304 says nothing new about it, so the fallback stays.
    """
    return run.ok and not run.not_modified and not is_empty(run)

"""Article pages extracted in a pool of processes, so that a crawl in one process uses every core.

Extraction (trafilatura, tens of milliseconds a page) is the CPU of the article path; on the
loop's thread it holds up fetching and the writer alike. A `PagePool` sends a page's bytes to
one of `crawl.extract_processes` processes and hands the `Candidate` back to the waiting run
(`stories.run`), which keeps the order the pages came in and stays the one writer. What a
page becomes (new, copy, revision) is `ingest`'s; the pages of remote workers are extracted
on their side (`crawler.fetch.worker`).

The pool starts at the first page (a feed-only run never pays for it), serves every run of
the process after that, and is closed when the process stops (`close_shared_pool`). A pool
process that dies takes the pages it held with it: each is read again alone, in a process
of its own, so that a page that kills its reader is known for certain and recorded as
unreadable after that second try instead of being read forever.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from presswatch.crawler.errors import FetchError
from presswatch.crawler.items import PageItem
from presswatch.crawler.stories.candidates import Candidate, extract_candidate

log = logging.getLogger("presswatch.crawl")

# What a page that killed the process reading it twice is recorded with (see `unreadable`).
KILLED = "its extraction killed the process reading it twice"
CLOSE_GRACE = 5.0  # seconds pool processes get to exit at close before they are killed


class PoolClosed(RuntimeError):
    """A page came after the pool was closed (the process is stopping): it was not extracted."""


def machine_processes() -> int:
    """The cores this process may run on (its CPU affinity where the system tells it), at least 1."""
    counter = getattr(os, "process_cpu_count", None)  # Python 3.13+
    if counter is not None:
        return max(counter() or 1, 1)
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return max(os.cpu_count() or 1, 1)


def pool_size(setting: int | None) -> int:
    """`crawl.extract_processes` as a number of processes: unset is one per core; 0 and 1 mean
    extraction stays in this process."""
    return machine_processes() if setting is None else max(setting, 1)


class PagePool:
    """Extracts article pages in up to `processes` other processes; a stateful adapter of
    `concurrent.futures.ProcessPoolExecutor` for the asyncio loop."""

    def __init__(self, processes: int):
        if processes < 2:
            raise ValueError("a pool of fewer than 2 processes: extract in this process instead")
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None
        self._alone: ProcessPoolExecutor | None = None  # pages read again after a process died
        self._alone_turn: asyncio.Lock | None = None
        self.closed = False
        self.started = 0  # pools started (a pool is replaced when one of its processes dies)
        self.read_again = 0  # pages read again alone after a process died
        self.given_up = 0  # pages that killed their process twice

    async def candidate(self, item: PageItem, language_hint: str | None = None, *,
                        reader: str | None = None, http_only: bool = False) -> Candidate:
        """`extract_candidate` in a pool process: its Candidate, or its FetchError.

        Raises FetchError(KILLED...) for a page whose process died twice, PoolClosed after `close`.
        """
        args = (item, language_hint)
        kwargs = {"reader": reader, "http_only": http_only}
        try:
            return await self._run(alone=False, args=args, kwargs=kwargs)
        except BrokenProcessPool as exc:
            if self.closed:
                raise PoolClosed("the extraction pool was closed") from exc
            log.warning("source=%s a process extracting pages died; the page is read again alone (%s)",
                        item.source_id, item.url)
        self.read_again += 1
        if self._alone_turn is None:
            self._alone_turn = asyncio.Lock()
        async with self._alone_turn:  # one page at a time: if its process dies, that page did it
            try:
                return await self._run(alone=True, args=args, kwargs=kwargs)
            except BrokenProcessPool as exc:
                if self.closed:
                    raise PoolClosed("the extraction pool was closed") from exc
                self.given_up += 1
                log.warning("source=%s %s; not read again (%s)", item.source_id, KILLED, item.url)
                raise FetchError(KILLED) from exc

    async def _run(self, alone: bool, args: tuple, kwargs: dict) -> Candidate:
        return await asyncio.wrap_future(self._submit(alone, args, kwargs))

    def _submit(self, alone: bool, args: tuple, kwargs: dict) -> Future:
        """Submit to a working pool: one broken by another page's process before this page
        was sent is replaced, and this page is not to blame."""
        if self.closed:
            raise PoolClosed("the extraction pool was closed")
        executor = self._executor(alone)
        try:
            return executor.submit(extract_candidate, *args, **kwargs)
        except BrokenProcessPool:
            self._discard(alone)
            return self._executor(alone).submit(extract_candidate, *args, **kwargs)

    def _executor(self, alone: bool) -> ProcessPoolExecutor:
        executor = self._alone if alone else self._pool
        if executor is not None and not _broken(executor):
            return executor
        if executor is not None:
            self._discard(alone)
        executor = ProcessPoolExecutor(1 if alone else self.processes, mp_context=_context(),
                                       initializer=_ignore_interrupt)
        if alone:
            self._alone = executor
        else:
            self._pool = executor
            self.started += 1
            if self.started == 1:
                log.info("extracting article pages in %d processes", self.processes)
            else:  # the last pool lost a process: its pages are read again alone
                log.info("extracting article pages in %d new processes", self.processes)
        return executor

    def _discard(self, alone: bool) -> None:
        executor = self._alone if alone else self._pool
        if alone:
            self._alone = None
        else:
            self._pool = None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def pids(self) -> list[int]:
        """The process ids of the pool's processes now (for operators and tests)."""
        return [pid for executor in (self._pool, self._alone) if executor is not None
                for pid in list(getattr(executor, "_processes", None) or {})]

    async def close(self) -> None:
        """Stop the pool's processes: pages still waiting are dropped (their run is not
        recorded as done, so they are read again), a process still busy after CLOSE_GRACE
        is killed. Later pages raise PoolClosed."""
        self.closed = True
        executors = [executor for executor in (self._pool, self._alone) if executor is not None]
        self._pool = self._alone = None
        if executors:
            await asyncio.get_running_loop().run_in_executor(None, _stop, executors)


def _stop(executors: list[ProcessPoolExecutor]) -> None:
    # Taken before shutdown, which forgets them; the processes are only ever killed here, never
    # joined: their exit status is the executor's own thread's to read.
    managers = [(getattr(executor, "_executor_manager_thread", None),
                 list((getattr(executor, "_processes", None) or {}).values())) for executor in executors]
    for executor in executors:
        executor.shutdown(wait=False, cancel_futures=True)
    for manager, processes in managers:
        if manager is None:
            continue
        manager.join(CLOSE_GRACE)
        if manager.is_alive():  # a page that never ends: its process must not outlive presswatch
            for process in processes:
                process.kill()
            manager.join()


def _broken(executor: ProcessPoolExecutor) -> bool:
    # The executor knows but does not say in public before it refuses a submit.
    return bool(getattr(executor, "_broken", False))


def _context():
    """Processes forked from a server that imported extraction once: no fork of this threaded
    process, no import of trafilatura per process."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([extract_candidate.__module__])
    return context


def _ignore_interrupt() -> None:
    """In a pool process: Ctrl-C on a terminal reaches every process of its group, and is
    presswatch's to act on (it finishes its runs, then closes the pool), not the pool's.

    SIGTERM keeps its default: the executor stops processes of a broken pool with it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# --- the process's pool ---------------------------------------------------------------------------

_shared: PagePool | None = None


def share_pool(setting: int | None) -> PagePool | None:
    """Set the pool every run of this process uses, from `crawl.extract_processes`; None (in
    this process) for 0 or 1 or a one-core machine. No process starts before the first page."""
    global _shared
    processes = pool_size(setting)
    _shared = PagePool(processes) if processes > 1 else None
    return _shared


def shared_pool() -> PagePool | None:
    """The pool set by `share_pool`, or None: pages are then extracted in this process."""
    return _shared


async def close_shared_pool() -> None:
    global _shared
    pool, _shared = _shared, None
    if pool is not None:
        await pool.close()

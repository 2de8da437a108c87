"""Scale: archive search vs stories stored, and the daemon's memory vs sources.

1. **FTS search vs stored articles** (10k, 100k, 1M by default): one real `Store` on a
   temporary SQLite file, grown stage by stage by bulk SQL on the product's tables (stories,
   then articles: the FTS5 sync triggers stay on and index every row), one story per
   article, first seen 30 s apart in id order (as the daemon stores them). Texts are
   made-up words drawn from a Zipf-like vocabulary of 30,000 words (`--words` per text, 8 in
   a title), with terms planted at known rates. Each query is turned into FTS5 by
   `archive_cli.fts_query` and run by `Store.search` (bm25 ranking, one hit per story,
   snippets of the 20 shown), as `presswatch search` does, with its cap (`SEARCH_CAP`: only
   the most recently stored 10,000 matches are ranked) unless the row says all: the first
   call on a freshly opened Store, then the median of `--repeat`. `matched` is the articles
   matched as the search reports them (exact, or "10,000+" when capped with a filter).
2. **Dedup lookup vs stored stories**: measured by `dedup_eval.py` (section 4; its figures
   are in bench/README.md); `--dedup 10000,100000` runs that section again from here.
3. **Rules vs match time**: measured by `match_bench.py` (figures in bench/README.md).
4. **Daemon memory vs sources** (500 and 5,000 by default): `presswatch run` with that many
   loopback feed sources (one threaded server, one path each, 3 entries per feed), every
   10m (so each runs once, at the start, staggered and jittered), /healthz and /metrics on
   a free port. Every 2 s: VmRSS (/proc/PID/status), open fds (/proc/PID/fd), threads, and
   the sources that have run (the database's `sources.runs`), until every source ran once
   and 30 s more have passed (settled), or `--max-seconds`.

    /tmp/pwvenv/bin/python bench/scale.py                               # all of it
    /tmp/pwvenv/bin/python bench/scale.py --fts-sizes 10000,100000 --no-memory
    /tmp/pwvenv/bin/python bench/scale.py --no-fts --sources 500
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from latency import Daemon, Loopback, machine, random_words, rss, write_config
from presswatch.crawler.store.database import Store
from presswatch.crawler.store.records import now_iso
from presswatch.crawler.store.archive import SEARCH_CAP
from presswatch.crawler.store.search import fts_query

VOCABULARY = 30_000
CHUNK = 50_000
TITLE_WORDS = 8
# Planted terms: (word, share of articles carrying it)
PLANTED = {"kcnaprobe": 1e-4, "hrwreport": 1e-2, "sexual": 1e-2, "violence": 1e-2}
PHRASE_SHARE = 1e-3  # "sexual violence" as a phrase
# (label, query, how): {w[N]} is the vocabulary's word of Zipf rank N+1; how is None (as
# `presswatch search` does), "all" (--all-matches), or a filter keeping 1% of the articles:
# "since" the newest, "until" the oldest (every newer match is walked past first).
QUERIES = [
    ("rare word (1 in 10,000)", "kcnaprobe", None),
    ("word (1 in 100)", "hrwreport", None),
    ("two words, AND", "hrwreport violence", None),
    ("phrase (1 in 1,000)", '"sexual violence"', None),
    ("title: word", "title:hrwreport", None),
    ("prefix", "hrwrep*", None),
    ("OR of two words", "kcnaprobe OR hrwreport", None),
    ("word of Zipf rank 100 (~13%)", "{w[99]}", None),
    ("most common word (every article)", "{w[0]}", None),
    ("  the same, --all-matches", "{w[0]}", "all"),
    ("  the same, --since (newest 1%)", "{w[0]}", "since"),
    ("  the same, --until (oldest 1%)", "{w[0]}", "until"),
    ("phrase of the 2 most common words", '"{w[0]} {w[1]}"', None),
    ("prefix of the most common word", "{w[0]:.2}*", None),
]
FIRST_SEEN = datetime(2025, 1, 1, tzinfo=UTC)  # article n is first seen n * 30 s later


# --- 1. FTS ------------------------------------------------------------------------------------


class Corpus:
    def __init__(self, seed: int, words: int):
        self.rng = np.random.default_rng(seed)
        py = random.Random(seed)
        vocab = set()
        while len(vocab) < VOCABULARY:
            vocab.add("".join(py.choices("abcdefghijklmnopqrstuvwxyz", k=py.randint(3, 10))))
        # Sorted first: a set's order follows the (per-process) string hash, and so would the ranks.
        self.vocab = np.array(sorted(sorted(vocab), key=lambda w: py.random()), dtype=object)
        ranks = np.arange(1, VOCABULARY + 1)
        self.p = (1.0 / ranks) / (1.0 / ranks).sum()
        self.words = words

    def texts(self, n: int, length: int) -> list[list[str]]:
        picks = self.vocab[self.rng.choice(VOCABULARY, size=(n, length), p=self.p)]
        return [list(row) for row in picks]

    def chunk(self, n: int) -> tuple[list[str], list[str]]:
        bodies = self.texts(n, self.words)
        titles = self.texts(n, TITLE_WORDS)
        for word, share in PLANTED.items():
            for i in np.flatnonzero(self.rng.random(n) < share):
                where = bodies[i] if self.rng.random() < 0.8 else titles[i]
                where.insert(int(self.rng.integers(0, len(where))), word)
        for i in np.flatnonzero(self.rng.random(n) < PHRASE_SHARE):
            at = int(self.rng.integers(0, len(bodies[i])))
            bodies[i][at:at] = ["sexual", "violence"]
        return [" ".join(t).capitalize() for t in titles], [" ".join(b).capitalize() + "." for b in bodies]


def grow(path: str, corpus: Corpus, start: int, end: int) -> float:
    """Add articles start+1..end (and their stories); seconds taken."""
    began = time.perf_counter()
    store = Store(path)
    conn = store.db.conn
    conn.execute("PRAGMA cache_size=-500000")
    store.sync_sources([("bench", "feed", "https://bench.example/feed", "bench")])
    for first in range(start + 1, end + 1, CHUNK):
        ids = list(range(first, min(first + CHUNK, end + 1)))
        titles, bodies = corpus.chunk(len(ids))
        stories, articles = [], []
        for article_id, title, body in zip(ids, titles, bodies):
            at = now_iso(FIRST_SEEN + timedelta(seconds=30 * article_id))
            url = f"https://bench.example/a/{article_id:08d}"
            stories.append((article_id, article_id, title, url, at, at))
            articles.append((article_id, "bench", article_id, url, url, url, title, body,
                             os.urandom(16).hex(), "feed", at, "bench.example"))
        conn.execute("BEGIN")
        conn.executemany("""INSERT INTO stories (id, first_article_id, title, url, first_seen_at, updated_at,
                            article_count, outlet_count) VALUES (?,?,?,?,?,?,1,1)""", stories)
        conn.executemany("""INSERT INTO articles (id, source_id, story_id, url, url_key, canonical_url, title,
                            text, content_hash, extracted_from, first_seen_at, outlet)
                            VALUES (?,?,?,?,?,?,?,?,?,?,?,?)""", articles)
        conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return time.perf_counter() - began


def report_fts(sizes: list[int], words: int, repeat: int, folder: Path, max_build: float) -> None:
    corpus = Corpus(7, words)
    vocab = {i: str(corpus.vocab[i]) for i in (0, 1, 99)}
    queries = [(label, text.format(w=vocab), how) for label, text, how in QUERIES]
    print(f"\n1. FTS search vs stored articles: Store.search (bm25, one hit per story, 20 shown with snippets; "
          f"only the {SEARCH_CAP:,} most recently stored matches ranked, unless all), query from "
          f"archive_cli.fts_query; texts of {words} made-up words (Zipf over {VOCABULARY:,} words), titles of "
          f"{TITLE_WORDS}; first call on a fresh Store, then the median of {repeat}")
    path = str(folder / "fts.db")
    stored = 0
    for size in sizes:
        seconds = grow(path, corpus, stored, size)
        added, stored = size - stored, size
        megabytes = sum(os.path.getsize(p) for p in (path, f"{path}-wal") if os.path.exists(p)) / 1e6
        print(f"\n   {size:>9,} articles: {added:,} added in {seconds:.1f} s ({added / seconds:,.0f} rows/s, "
              f"FTS triggers on), DB {megabytes:,.0f} MB", flush=True)
        print("     query                              fts5 query                    matched  ranked   first ms"
              "  median ms")
        span = {"since": {"since": FIRST_SEEN + timedelta(seconds=30 * (size - size // 100))},
                "until": {"until": FIRST_SEEN + timedelta(seconds=30 * (size // 100 + 1))},
                "all": {"cap": None}}
        store = Store(path)
        try:
            for label, text, how in queries:
                match, kwargs = fts_query(text), span.get(how, {})
                began = time.perf_counter()
                hits = store.search(match, **kwargs)
                first = (time.perf_counter() - began) * 1000
                times = []
                for _ in range(repeat):
                    began = time.perf_counter()
                    store.search(match, **kwargs)
                    times.append((time.perf_counter() - began) * 1000)
                hit = hits[0] if hits else {"articles": 0, "ranked": 0, "capped": False}
                matched = f"{hit['ranked']:,}+" if hit["articles"] is None else f"{hit['articles']:,}"
                ranked = f"{hit['ranked']:,}" if hit["capped"] else "all"
                print(f"     {label:34s} {match[:26]:26s} {matched:>10s} {ranked:>7s} {first:10.1f} "
                      f"{statistics.median(times):10.1f}", flush=True)
        finally:
            store.close()
        if seconds > max_build and size != sizes[-1]:
            print(f"   (this stage took over --max-build {max_build:.0f} s: larger sizes skipped)")
            break


# --- 4. memory ---------------------------------------------------------------------------------


def memory_run(n: int, max_seconds: float, settle: float, folder: Path) -> None:
    cache: dict[int, bytes] = {}
    now = time.time()

    def feed(path, _now):
        if not (path.startswith("/f/") and path.endswith(".xml")):
            return None
        i = int(path[3:-4])
        if i not in cache:
            rng = random.Random(i)
            cache[i] = rss([{"title": random_words(rng, 6), "link": f"http://outlet{i}.example/a/{k}",
                             "description": random_words(rng, 30), "date": now - 3600 * k} for k in range(3)],
                           title=f"Outlet {i}")
        return f'"{i}"', cache[i]

    server = Loopback(feed)
    run_folder = folder / f"memory-{n}"
    run_folder.mkdir()
    config = write_config(
        run_folder,
        sources=[{"id": f"f{i}", "kind": "feed", "url": server.url(f"/f/{i}.xml"), "every": "10m"}
                 for i in range(n)],
        rules=[{"id": "probe", "query": "scaleprobe OR (hrwreport AND violence)", "channels": ["sink"]}],
        channels=[{"id": "sink", "url": server.apprise_url}],
        every_delivery="5s", jitter=0.05)
    db = run_folder / "presswatch.db"
    daemon = Daemon(config, run_folder / "daemon.log")
    print(f"\n   {n:,} sources: every 10m (first runs staggered 0.2 s each up to a minute, jitter 5% = 30 s)")
    print("        t s  RSS MB  fds  threads  sources run")
    samples, done_at, last_print = [], None, -99.0
    try:
        ready = daemon.wait_ready(timeout=max_seconds)
        while daemon.alive():
            t = time.time() - daemon.started
            rss_kb, fds, threads = daemon.rss_kb(), daemon.fds(), daemon.threads()
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
                    ran = conn.execute("SELECT count(*) FROM sources WHERE runs > 0").fetchone()[0]
                conn.close()
            except sqlite3.Error:
                ran = -1
            if rss_kb is None:
                break
            samples.append((t, rss_kb / 1024, fds, threads, ran))
            if t - last_print >= 10 or (ran >= n and done_at is None):
                print(f"     {t:6.0f}  {rss_kb / 1024:6.1f}  {fds:3d}  {threads:7d}  {ran:6d}/{n}", flush=True)
                last_print = t
            if ran >= n and done_at is None:
                done_at = t
            if (done_at is not None and t >= done_at + settle) or t > max_seconds:
                break
            time.sleep(2)
        alive = daemon.alive()
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
                outcome = conn.execute("""SELECT count(*) FILTER (WHERE runs > 0 AND last_error IS NULL),
                                                 count(*) FILTER (WHERE last_error IS NOT NULL),
                                                 (SELECT count(*) FROM articles) FROM sources""").fetchone()
                errors = conn.execute("""SELECT substr(last_error, 1, 40) AS e, count(*) FROM sources
                                         WHERE last_error IS NOT NULL GROUP BY e ORDER BY 2 DESC LIMIT 3""").fetchall()
            conn.close()
        except sqlite3.Error:
            outcome, errors = None, []
    finally:
        code = daemon.stop(timeout=120)
        server.close()
    if not alive:
        print("     the daemon EXITED:\n" + daemon.log_tail())
    if not samples:
        return
    peak = max(samples, key=lambda s: s[1])
    last = samples[-1]
    print(f"   {n:,} sources: ready in {ready:.1f} s (RSS {samples[0][1]:.1f} MB at the first sample); "
          + (f"every source ran once by {done_at:.0f} s ({n / max(done_at - ready, 1e-9):.1f} sources/s)"
             if done_at is not None else f"NOT every source ran within {max_seconds:.0f} s: {last[4]:,} of {n:,}"))
    print(f"   {n:,} sources: RSS peak {peak[1]:.1f} MB at {peak[0]:.0f} s, settled {last[1]:.1f} MB at {last[0]:.0f} s; "
          f"open fds peak {max(s[2] for s in samples)}, settled {last[2]}; threads peak {max(s[3] for s in samples)}; "
          f"exit code after SIGTERM {code}")
    if outcome is not None:
        print(f"   {n:,} sources: runs without error {outcome[0]:,}, with an error {outcome[1]:,}"
              + (f" ({'; '.join(f'{c:,}x {e}' for e, c in errors)})" if errors else "")
              + f"; articles stored {outcome[2]:,}; feed GETs {server.hits:,}, connections reset {server.errors:,}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fts-sizes", default="10000,100000,1000000")
    parser.add_argument("--words", type=int, default=150, help="words per generated text (default 150)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--max-build", type=float, default=1800,
                        help="skip larger FTS sizes once a stage took longer than this, s")
    parser.add_argument("--no-fts", action="store_true")
    parser.add_argument("--dedup", default="", help="also run dedup_eval's lookup cost at these sizes")
    parser.add_argument("--sources", default="500,5000", help="daemon memory at these source counts")
    parser.add_argument("--max-seconds", type=float, default=600, help="bound of each memory run, s")
    parser.add_argument("--settle", type=float, default=30, help="s sampled after every source ran")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--tmp", default=None, help="folder for the databases (default: a temp dir)")
    args = parser.parse_args(argv)
    print(f"scale ({datetime.now():%Y-%m-%d %H:%M})")
    print(machine())
    folder = Path(tempfile.mkdtemp(prefix="pw-scale-", dir=args.tmp))
    try:
        if not args.no_fts:
            report_fts([int(s) for s in args.fts_sizes.split(",")], args.words, args.repeat, folder, args.max_build)
        print("\n2. Dedup lookup vs stored stories: see dedup_eval.py, section 4 (bench/README.md: 79 / 109 / "
              "160 µs an article at 10k / 100k / 1M)")
        if args.dedup:
            import dedup_eval
            from presswatch.config.schema import Stories
            from presswatch.crawler.stories.dedup import Scheme

            dedup_eval.report_lookup([int(s) for s in args.dedup.split(",")], Scheme(threshold=Stories().near_duplicate, short_threshold=Stories().short_text), 2000,
                                     100_000, folder)
        print("\n3. Rules vs match time: see match_bench.py (bench/README.md: 201 / 242 / 299 / 529 µs an article "
              "at 10 / 100 / 1,000 / 10,000 rules)")
        if not args.no_memory:
            print("\n4. Daemon memory vs sources (loopback feeds of 3 entries; VmRSS, /proc/PID/fd)")
            for n in [int(s) for s in args.sources.split(",")]:
                memory_run(n, args.max_seconds, args.settle, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

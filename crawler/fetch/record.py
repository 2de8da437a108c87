"""The records of a remote crawl: what a worker appends to the results stream and the writer reads.

Plain JSON, one record per item a spider yielded, on the Redis stream `<queue>:results`.
The worker's side (`crawler.fetch.worker`) writes them, the writer's side
(`crawler.fetch.remote`) reads them back; both use these functions, so the format lives
in one place. Sending and reading the stream is left to those two modules.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from presswatch.crawler.items import FeedEntry
from presswatch.crawler.stories.candidates import Candidate


def results_stream(queue: str) -> str:
    return f"{queue}:results"


def entry_record(entry: FeedEntry | None) -> dict | None:
    if entry is None:
        return None
    data = asdict(entry)
    data["published"] = entry.published.isoformat() if entry.published else None
    return data


def entry_from_record(data: dict | None) -> FeedEntry | None:
    if data is None:
        return None
    published = datetime.fromisoformat(data["published"]) if data.get("published") else None
    return FeedEntry(**{**data, "published": published, "authors": tuple(data.get("authors") or ())})


def candidate_record(candidate: Candidate) -> dict:
    data = asdict(candidate)
    data["published"] = candidate.published.isoformat() if candidate.published else None
    return data


def candidate_from_record(data: dict) -> Candidate:
    published = datetime.fromisoformat(data["published"]) if data.get("published") else None
    return Candidate(**{**data, "published": published, "authors": tuple(data.get("authors") or ())})

"""The store's reads for coverage charts: when each story of an event or of a rule's was
first seen and by which outlet, when each outlet carried it, and what to mark on the time
axis (surges, reactions, alerts and updates).

Part of the store (a mixin of `Store`); `coverage_reader` gives the same reads over any open
connection, such as the archive's read-only one. Every read is a lookup on an index
(stories by event, matches by rule and time, story_outlets by story, outbox by event,
reactions by event, surges by rule and time); the surges of an event are the one scan, of
a table of a few rows a rule a month. Counting per hour or day and drawing are
`scheduler.chart`'s; which event or rule to chart is the caller's.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from presswatch.crawler.store.records import now_iso

__all__ = ["Coverage", "CoverageQueries", "coverage_reader"]

# An event's rows and those of the events merged into it.
_FAMILY = "(SELECT id FROM events WHERE id = :event OR merged_into = :event)"
_SURGE_COLUMNS = "id, rule_id, started_at, calmed_at, window_seconds, stories, outlets, usual, event_id"


@dataclass(frozen=True)
class Coverage:
    """What a chart of an event's or a rule's coverage is drawn from (times as stored: ISO, UTC)."""

    subject: str  # "event 12" or "rule hrw-report"
    title: str  # the event's headline ("" for a rule)
    stories: tuple[tuple[str, str], ...]  # (first seen, outlet of its first article), a story each
    carried: tuple[tuple[str, str], ...]  # (first seen, outlet): each outlet's first article of each story
    surges: tuple[dict, ...] = ()  # rule_id, started_at, calmed_at, window_seconds, stories, outlets, usual
    reactions: tuple[dict, ...] = ()  # at, answers (the event answered), story_id, outlet, title, event_id
    alerts: tuple[dict, ...] = ()  # at, kind, rule_id, milestone, channels, sent_at: one per kind/rule/milestone
    merged_into: int | None = None  # the event asked for was merged into this one (charted instead)


class CoverageQueries:
    """Reading an event's or a rule's coverage over time."""

    def event_coverage(self, event_id: int) -> Coverage | None:
        """An event's stories (its merged events' too), its outlets over time, surges it held,
        reactions to it and from it, and its alerts and updates; None if there is no such event."""
        asked = next(iter(self.db.query("SELECT id, merged_into FROM events WHERE id = ?", (event_id,))), None)
        if asked is None:
            return None
        event_id = asked["merged_into"] or event_id  # a merged event's stories are its survivor's now
        key = {"event": event_id}
        title = next(iter(self.db.query("SELECT title FROM events WHERE id = ?", (event_id,))))["title"]
        stories = self._pairs(
            f"""SELECT s.first_seen_at, COALESCE(a.outlet, '') FROM stories s
                LEFT JOIN articles a ON a.id = s.first_article_id
                WHERE s.event_id IN {_FAMILY} AND s.merged_into IS NULL""", key)
        carried = self._pairs(
            f"""SELECT o.first_seen_at, o.outlet FROM stories s JOIN story_outlets o ON o.story_id = s.id
                WHERE s.event_id IN {_FAMILY} AND s.merged_into IS NULL""", key)
        surges = self._coverage_rows(f"SELECT {_SURGE_COLUMNS} FROM surges WHERE event_id IN {_FAMILY}", key)
        return Coverage(f"event {event_id}", title, stories, carried, surges,
                        self._reactions_to(key) + self._reactions_from(key), self._event_alerts(key),
                        merged_into=asked["merged_into"])

    def rule_coverage(self, rule_id: str, since: datetime) -> Coverage:
        """The stories a rule matched since `since` (by when each was first seen), their outlets
        over time, the rule's surges since then, and reactions from or to those stories' events."""
        key = {"rule": rule_id, "since": now_iso(since)}
        matched = """matched AS (
            SELECT DISTINCT s.id, s.event_id, s.first_seen_at, s.first_article_id FROM matches m
            JOIN stories s0 ON s0.id = m.story_id JOIN stories s ON s.id = COALESCE(s0.merged_into, s0.id)
            WHERE m.rule_id = :rule AND m.matched_at >= :since AND s.first_seen_at >= :since)"""
        stories = self._pairs(
            f"""WITH {matched} SELECT m.first_seen_at, COALESCE(a.outlet, '') FROM matched m
                LEFT JOIN articles a ON a.id = m.first_article_id""", key)
        carried = self._pairs(
            f"""WITH {matched} SELECT o.first_seen_at, o.outlet FROM matched m
                JOIN story_outlets o ON o.story_id = m.id""", key)
        surges = self._coverage_rows(
            f"SELECT {_SURGE_COLUMNS} FROM surges WHERE rule_id = :rule AND started_at >= :since", key)
        reactions = self._coverage_rows(
            f"""WITH {matched} SELECT s.first_seen_at AS at, r.event_id AS answers, s.id AS story_id,
                       a.outlet, s.title, s.event_id, e.title AS answers_title
                FROM reactions r JOIN stories s ON s.id = r.story_id
                LEFT JOIN articles a ON a.id = s.first_article_id LEFT JOIN events e ON e.id = r.event_id
                WHERE r.story_id IN (SELECT id FROM matched)
                   OR r.event_id IN (SELECT event_id FROM matched WHERE event_id IS NOT NULL)""", key)
        return Coverage(f"rule {rule_id}", "", stories, carried, surges, reactions)

    def rule_ever_matched(self, rule_id: str) -> bool:
        """Whether the rule matched anything stored (a rule gone from the config still has its history)."""
        return bool(self.db.execute("SELECT 1 FROM matches WHERE rule_id = ? LIMIT 1", (rule_id,)).fetchall())

    def _reactions_to(self, key: dict) -> tuple[dict, ...]:
        """Stories answering the event, at when each was first seen (its link may come later)."""
        return self._coverage_rows(
            f"""SELECT s.first_seen_at AS at, r.event_id AS answers, s.id AS story_id, a.outlet, s.title,
                       s.event_id, NULL AS answers_title
                FROM reactions r JOIN stories s ON s.id = r.story_id
                LEFT JOIN articles a ON a.id = s.first_article_id
                WHERE r.event_id IN {_FAMILY}""", key)

    def _reactions_from(self, key: dict) -> tuple[dict, ...]:
        """The event's own stories that answer another event."""
        return self._coverage_rows(
            f"""SELECT s.first_seen_at AS at, r.event_id AS answers, s.id AS story_id, a.outlet, s.title,
                       s.event_id, e.title AS answers_title
                FROM stories s JOIN reactions r ON r.story_id = s.id
                LEFT JOIN articles a ON a.id = s.first_article_id LEFT JOIN events e ON e.id = r.event_id
                WHERE s.event_id IN {_FAMILY} AND s.merged_into IS NULL""", key)

    def _event_alerts(self, key: dict) -> tuple[dict, ...]:
        """The event's alerts and updates, one per kind, rule and number (its channels together)."""
        return self._coverage_rows(
            f"""SELECT min(created_at) AS at, kind, rule_id, milestone, group_concat(DISTINCT channel_id) AS channels,
                       min(sent_at) AS sent_at
                FROM outbox WHERE event_id IN {_FAMILY}
                GROUP BY kind, rule_id, milestone ORDER BY min(created_at)""", key)

    def _pairs(self, sql: str, params: dict) -> tuple[tuple[str, str], ...]:
        return tuple(tuple(row) for row in self.db.execute(sql, params).fetchall())

    def _coverage_rows(self, sql: str, params: dict) -> tuple[dict, ...]:
        return tuple(self.db.query(sql, params))


class _CoverageReader(CoverageQueries):
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db


def coverage_reader(conn: sqlite3.Connection) -> CoverageQueries:
    """The coverage reads over an open connection (read-only will do), on the calling thread."""
    # Nothing set on the connection: it may be another's (Datasette's), kept for its reads.
    return _CoverageReader(sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False))

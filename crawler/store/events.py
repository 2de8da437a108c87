"""The store's events: which event each story is in, the stored story vectors, the outbox
rows of event alerts and updates, and the reads of `presswatch events` and `event`.

Part of the store (a mixin of `Store`). Deciding which event a story joins is
`crawler.stories.events`'; vector sums arrive here as bytes and are kept as given.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta

from presswatch.crawler.errors import StoreError
from presswatch.crawler.store.records import NewMatch, now_iso

# An event's rows and those of the events merged into it.
_FAMILY = "(SELECT id FROM events WHERE id = :event OR merged_into = :event)"


class EventQueries:
    """Events above stories; every story is in exactly one."""

    # Events and their stories ---------------------------------------------------

    def new_event(self, story_id: int, now: str) -> int:
        """An event of one story (every new story starts in one)."""
        story = self._one("SELECT title, url, outlet_count, languages FROM stories WHERE id = ?", (story_id,))
        cursor = self.db.execute(
            """INSERT INTO events (title, url, first_story_id, first_seen_at, last_seen_at, story_count,
               outlet_count, languages) VALUES (?, ?, ?, ?, ?, 1, ?, ?)""",
            (story["title"], story["url"], story_id, now, now, story["outlet_count"], story["languages"]))
        self.db.execute("UPDATE stories SET event_id = ? WHERE id = ?", (cursor.lastrowid, story_id))
        return cursor.lastrowid

    def story_event(self, story_id: int) -> int | None:
        row = self._one("SELECT event_id FROM stories WHERE id = ?", (story_id,))
        return row["event_id"] if row else None

    def event_size(self, event_id: int | None) -> int:
        """How many stories an event holds."""
        row = self._one("SELECT story_count FROM events WHERE id = ?", (event_id,))
        return row["story_count"] if row else 0

    def refresh_event(self, event_id: int, now: str | None = None) -> None:
        """An event's counts and languages from its stories (after a story or article joined or left)."""
        self.db.execute(
            """UPDATE events SET
                 story_count = (SELECT count(*) FROM stories s WHERE s.event_id = events.id
                                AND s.merged_into IS NULL),
                 outlet_count = (SELECT count(DISTINCT o.outlet) FROM story_outlets o
                                 JOIN stories s ON s.id = o.story_id WHERE s.event_id = events.id),
                 languages = (SELECT json_group_array(language) FROM (SELECT DISTINCT a.language
                              FROM articles a JOIN stories s ON s.id = a.story_id
                              WHERE s.event_id = events.id AND a.language IS NOT NULL ORDER BY a.id)),
                 last_seen_at = COALESCE(?, last_seen_at)
               WHERE id = ?""", (now, event_id))

    def event_vector(self, event_id: int) -> tuple[bytes | None, int]:
        row = self._one("SELECT vector_sum, vector_count FROM events WHERE id = ?", (event_id,))
        return (row["vector_sum"], row["vector_count"]) if row else (None, 0)

    def set_event_vector(self, event_id: int, vector_sum: bytes | None, count: int) -> None:
        self.db.execute("UPDATE events SET vector_sum = ?, vector_count = ? WHERE id = ?",
                        (vector_sum, count, event_id))

    def move_story(self, story_id: int, event_id: int, at: datetime | None = None) -> int:
        """Put a story in another event; the one it leaves, if emptied, is marked merged into
        it (its alerts keep pointing somewhere). Returns the event it left."""
        now = now_iso(at)
        old = self.story_event(story_id)
        self.db.execute("UPDATE stories SET event_id = ? WHERE id = ?", (event_id, story_id))
        for changed in (old, event_id):
            self.refresh_event(changed, now)
        self.db.execute(
            "UPDATE events SET merged_into = ? WHERE id = ? AND story_count = 0 AND id != ?",
            (event_id, old, event_id))
        return old

    # Story vectors ----------------------------------------------------------------

    def add_story_vector(self, story_id: int, vector: bytes, model: str, neighbourhood: float,
                         neighbours: int, at: datetime | None = None) -> None:
        self.db.execute(
            """INSERT OR REPLACE INTO story_vectors (story_id, vector, model, neighbourhood, neighbours, at)
               VALUES (?,?,?,?,?,?)""",
            (story_id, vector, model, neighbourhood, neighbours, now_iso(at)))

    def has_story_vector(self, story_id: int) -> bool:
        return self._one("SELECT 1 AS x FROM story_vectors WHERE story_id = ?", (story_id,)) is not None

    def story_vector(self, story_id: int) -> bytes | None:
        row = self._one("SELECT vector FROM story_vectors WHERE story_id = ?", (story_id,))
        return row["vector"] if row else None

    def vectors_since(self, since: datetime, model: str) -> Iterator[tuple[int, bytes]]:
        """The stored vectors of stories embedded since `since`: what the index is rebuilt from."""
        for row in self.db.execute(
                "SELECT story_id, vector FROM story_vectors WHERE at >= ? AND model = ? ORDER BY story_id",
                (now_iso(since), model)):
            yield row[0], row[1]

    def event_candidates(self, story_ids: list[int], since: datetime, model: str) -> list[dict]:
        """Those of `story_ids` embedded since `since`, with their vector, neighbourhood, and
        their event's id and vector sum."""
        if not story_ids:
            return []
        marks = ",".join("?" * len(story_ids))
        return list(self.db.query(
            f"""SELECT v.story_id, v.vector, v.neighbourhood, v.neighbours, s.event_id, e.vector_sum
                FROM story_vectors v JOIN stories s ON s.id = v.story_id JOIN events e ON e.id = s.event_id
                WHERE v.story_id IN ({marks}) AND v.at >= ? AND v.model = ?""",
            (*story_ids, now_iso(since), model)))

    def vectors_between(self, after: datetime, before: datetime) -> list[int]:
        """The stories embedded in [after, before): those leaving the window (and the index)
        when it moves from `after` to `before`. Their vectors stay (a split and a merge of
        their event need them); they are candidates no more."""
        return [r[0] for r in self.db.execute(
            "SELECT story_id FROM story_vectors WHERE at >= ? AND at < ?", (now_iso(after), now_iso(before)))]

    # Outbox rows of events ----------------------------------------------------------

    def add_event_matches(self, story_id: int, article_id: int, matches: list[NewMatch],
                          per: dict[str, str], updates: dict[tuple[str, str], tuple[int, timedelta | None]],
                          at: datetime | None = None) -> tuple[int, int]:
        """Record rule matches and queue their outbox rows: an alert per (event, rule, channel)
        for rules alerting per event (per story for the others), else an event update.

        `per` maps a rule to "event" or "story"; `updates` a (rule, channel) to (new outlets
        an update waits for, at most one update per this interval). Returns (alerts, updates)
        queued.
        """
        now = now_iso(at)
        event_id = self.story_event(story_id)
        alerts = updated = 0
        for match in matches:
            match_id = self._add_match(story_id, article_id, match, now)
            if match_id is None:
                continue
            for channel_id in match.channels:
                if per.get(match.rule_id, "story") == "story":
                    alerts += self._queue_alert(story_id, event_id, match.rule_id, channel_id, match_id, "story", now)
                elif not self._event_alerted(event_id, match.rule_id, channel_id):
                    alerts += self._queue_alert(story_id, event_id, match.rule_id, channel_id, match_id, "event", now)
                else:
                    every, interval = updates.get((match.rule_id, channel_id), (1, None))
                    updated += self._queue_update(event_id, story_id, match.rule_id, channel_id, match_id,
                                                  every, interval, at)
        return alerts, updated

    def _add_match(self, story_id: int, article_id: int, match: NewMatch, now: str) -> int | None:
        cursor = self.db.execute(
            """INSERT INTO matches (story_id, rule_id, article_id, terms, snippet, matched_at)
               VALUES (?,?,?,?,?,?) ON CONFLICT(story_id, rule_id) DO NOTHING""",
            (story_id, match.rule_id, article_id, json.dumps(list(match.terms), ensure_ascii=False),
             match.snippet, now))
        return cursor.lastrowid if cursor.rowcount else None

    def _queue_alert(self, story_id: int, event_id: int | None, rule_id: str, channel_id: str,
                     match_id: int, per: str, now: str) -> int:
        return self.db.execute(
            """INSERT INTO outbox (kind, story_id, event_id, rule_id, channel_id, match_id, alert_per,
               next_attempt_at, created_at, updated_at) VALUES ('alert',?,?,?,?,?,?,?,?,?)
               ON CONFLICT DO NOTHING""",
            (story_id, event_id, rule_id, channel_id, match_id, per, now, now, now)).rowcount

    def _event_alerted(self, event_id: int, rule_id: str, channel_id: str) -> bool:
        return self._one(
            f"""SELECT 1 AS x FROM outbox WHERE kind = 'alert' AND event_id IN {_FAMILY}
                AND rule_id = :rule AND channel_id = :channel LIMIT 1""",
            {"event": event_id, "rule": rule_id, "channel": channel_id}) is not None

    def _queue_update(self, event_id: int, story_id: int, rule_id: str, channel_id: str, match_id: int,
                      every: int, interval: timedelta | None, at: datetime | None) -> int:
        """A later matching story of an alerted event: it joins the update waiting to go out,
        or starts the next one once its new outlets reach `every`."""
        key = {"event": event_id, "rule": rule_id, "channel": channel_id}
        waiting = self._one(
            f"""SELECT id FROM outbox WHERE kind = 'update' AND event_id IN {_FAMILY} AND rule_id = :rule
                AND channel_id = :channel AND state = 'pending' AND tries = 0 ORDER BY id DESC LIMIT 1""", key)
        if waiting is not None:
            self.db.execute("UPDATE outbox SET match_id = ?, story_id = ? WHERE id = ?",
                            (match_id, story_id, waiting["id"]))
            return 0
        if every < 1 or self._new_outlets(key) < every:
            return 0
        last = self._one(
            f"""SELECT max(milestone) AS n, max(CASE WHEN kind = 'update' THEN created_at END) AS at
                FROM outbox WHERE kind IN ('alert', 'update') AND event_id IN {_FAMILY}
                AND rule_id = :rule AND channel_id = :channel""", key)
        now = now_iso(at)
        due = now
        if interval is not None and last["at"]:
            due = max(now, now_iso(datetime.fromisoformat(last["at"]) + interval))
        return self.db.execute(
            """INSERT INTO outbox (kind, story_id, event_id, rule_id, channel_id, match_id, milestone,
               alert_per, next_attempt_at, created_at, updated_at) VALUES ('update',?,?,?,?,?,?,'event',?,?,?)
               ON CONFLICT DO NOTHING""",
            (story_id, event_id, rule_id, channel_id, match_id, (last["n"] or 0) + 1, due, now, now)).rowcount

    def _new_outlets(self, key: dict) -> int:
        """Outlets of the event's stories matched since its last alert or update (for this rule
        and channel) that no earlier matched story of the event came from."""
        return self._one(
            f"""WITH last AS (SELECT max(match_id) AS m FROM outbox WHERE kind IN ('alert', 'update')
                              AND event_id IN {_FAMILY} AND rule_id = :rule AND channel_id = :channel),
                     matched AS (SELECT m.id, m.story_id FROM matches m JOIN stories s ON s.id = m.story_id
                                 WHERE s.event_id IN {_FAMILY} AND m.rule_id = :rule)
                SELECT count(DISTINCT o.outlet) AS n FROM story_outlets o JOIN matched ON matched.story_id = o.story_id
                WHERE matched.id > (SELECT m FROM last) AND o.outlet NOT IN (
                    SELECT o2.outlet FROM story_outlets o2 JOIN matched m2 ON m2.story_id = o2.story_id
                    WHERE m2.id <= (SELECT m FROM last))""", key)["n"]

    def update_entries(self, event_id: int, rule_id: str, channel_id: str, upto: int) -> list[dict]:
        """The stories an update reports: those of the event matched by the rule after the
        previous alert or update of (event, rule, channel) and up to match `upto`, each with
        its first article's headline, link, outlet and language."""
        key = {"event": event_id, "rule": rule_id, "channel": channel_id, "upto": upto}
        return list(self.db.query(
            f"""SELECT m.story_id, s.title, s.url, a.outlet, src.name AS source, a.language,
                       COALESCE(a.published_at, a.first_seen_at) AS dated
                FROM matches m JOIN stories s ON s.id = m.story_id JOIN articles a ON a.id = s.first_article_id
                JOIN sources src ON src.id = a.source_id
                WHERE s.event_id IN {_FAMILY} AND m.rule_id = :rule AND m.id <= :upto
                AND m.id > COALESCE((SELECT max(match_id) FROM outbox WHERE kind IN ('alert', 'update')
                                     AND event_id IN {_FAMILY} AND rule_id = :rule AND channel_id = :channel
                                     AND match_id < :upto), 0)
                ORDER BY m.id""", key))

    # Reading events -------------------------------------------------------------------

    def events(self, since: datetime | None = None, limit: int = 50, min_stories: int = 1) -> list[dict]:
        """Recent events, newest first: title, first seen, counts, languages and the rules matched."""
        rows = self.db.query(
            """SELECT e.id, e.title, e.url, e.first_seen_at, e.last_seen_at, e.story_count, e.outlet_count,
                      e.languages,
                      (SELECT json_group_array(DISTINCT m.rule_id) FROM matches m JOIN stories s
                       ON s.id = m.story_id WHERE s.event_id = e.id) AS rules
               FROM events e WHERE e.merged_into IS NULL AND e.first_seen_at >= ? AND e.story_count >= ?
               ORDER BY e.first_seen_at DESC, e.id DESC LIMIT ?""",
            (now_iso(since) if since else "", min_stories, limit))
        return [{**row, "languages": json.loads(row["languages"]), "rules": json.loads(row["rules"])}
                for row in rows]

    def event(self, event_id: int) -> dict | None:
        """An event with its stories (first article's outlet, language, link) and its alerts, in time order."""
        event = self._one("SELECT * FROM events WHERE id = ?", (event_id,))
        if event is None:
            return None
        event.pop("vector_sum", None)
        event["languages"] = json.loads(event["languages"])
        event["stories"] = list(self.db.query(
            """SELECT s.id, s.title, s.url, s.first_seen_at, s.outlet_count, s.article_count, a.outlet,
                      a.language, (SELECT json_group_array(rule_id) FROM matches m WHERE m.story_id = s.id) AS rules
               FROM stories s LEFT JOIN articles a ON a.id = s.first_article_id
               WHERE s.event_id = ? AND s.merged_into IS NULL ORDER BY s.first_seen_at, s.id""", (event_id,)))
        for story in event["stories"]:
            story["rules"] = json.loads(story["rules"])
        event["alerts"] = list(self.db.query(
            f"""SELECT id, kind, story_id, rule_id, channel_id, milestone, state, created_at, sent_at
                FROM outbox WHERE event_id IN {_FAMILY} ORDER BY id""", {"event": event_id}))
        return event

    def split_story(self, story_id: int, at: datetime | None = None) -> tuple[int, int]:
        """Take a story out of its event into a new event of its own: (old event, new event)."""
        old = self.story_event(story_id)
        if old is None:
            raise StoreError(f"no story {story_id}")
        if self._one("SELECT story_count FROM events WHERE id = ?", (old,))["story_count"] < 2:
            raise StoreError(f"story {story_id} is alone in event {old}: nothing to split")
        now = now_iso(at)
        new = self.new_event(story_id, now)
        self.refresh_event(new, now)
        self.refresh_event(old, now)
        return old, new

    def merge_events(self, into: int, other: int, at: datetime | None = None) -> int:
        """Move every story of `other` into `into`; `other` is kept, marked merged. Returns the stories moved."""
        for event_id in (into, other):
            row = self._one("SELECT merged_into FROM events WHERE id = ?", (event_id,))
            if row is None:
                raise StoreError(f"no event {event_id}")
            if row["merged_into"] is not None:
                raise StoreError(f"event {event_id} was merged into event {row['merged_into']}; use that one")
        if into == other:
            raise StoreError("an event cannot be merged into itself")
        now = now_iso(at)
        moved = self.db.execute("UPDATE stories SET event_id = ? WHERE event_id = ?", (into, other)).rowcount
        self.db.execute("UPDATE events SET merged_into = ?, story_count = 0 WHERE id = ?", (into, other))
        self.db.execute("UPDATE events SET merged_into = ? WHERE merged_into = ?", (into, other))
        self.refresh_event(into, now)
        self.db.execute(
            """UPDATE events SET first_seen_at = min(first_seen_at, (SELECT first_seen_at FROM events WHERE id = ?))
               WHERE id = ?""", (other, into))
        return moved

    def story_matches(self, story_id: int) -> list[dict]:
        return list(self.db.query("SELECT id, rule_id, article_id FROM matches WHERE story_id = ? ORDER BY id",
                                  (story_id,)))

    def queue_story_alerts(self, story_id: int, channels: dict[str, tuple[str, ...]],
                           at: datetime | None = None) -> int:
        """A story split into its own event alerts its rules' channels (`channels`: rule -> ids) as its own."""
        now = now_iso(at)
        event_id = self.story_event(story_id)
        queued = 0
        for match in self.story_matches(story_id):
            for channel_id in channels.get(match["rule_id"], ()):
                queued += self._queue_alert(story_id, event_id, match["rule_id"], channel_id, match["id"],
                                            "event", now)
        return queued

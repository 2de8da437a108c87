"""The store's reactions: stories linked as the answer to an earlier event, the outbox rows
that tell the answered event's thread, and the reads of messages, `event ID` and exports.

Part of the store (a mixin of `Store`). Which event a story answers, and on what evidence,
is `crawler.stories.reactions`' to decide; here the candidates it needs are read and its
decision written.
"""

from __future__ import annotations

import json
from datetime import datetime

from presswatch.crawler.store.records import now_iso

# An event's rows and those of the events merged into it.
_FAMILY = "(SELECT id FROM events WHERE id = :event OR merged_into = :event)"
# The last error of a reply dropped because its story was unlinked (a link back revives it).
UNLINKED = "unlinked by an analyst: not sent"


class ReactionQueries:
    """Reactions: at most one answered event per story."""

    # What deciding reads ---------------------------------------------------------------

    def reaction_candidates(self, since: datetime, before: datetime, story_id: int) -> list[dict]:
        """Events first seen in [since, before] that have a vector, with their id, vector sum,
        and the sources of their stories and the rules they matched, `story_id` left out (it
        may have joined one of them); an event of that story alone is none."""
        rows = self.db.query(
            """SELECT e.id, e.vector_sum,
                      (SELECT json_group_array(DISTINCT a.source_id) FROM articles a JOIN stories s
                       ON s.id = a.story_id WHERE s.event_id = e.id AND s.id != :story) AS sources,
                      (SELECT json_group_array(DISTINCT m.rule_id) FROM matches m JOIN stories s
                       ON s.id = m.story_id WHERE s.event_id = e.id AND s.id != :story) AS rules
               FROM events e WHERE e.merged_into IS NULL AND e.vector_sum IS NOT NULL
               AND e.first_seen_at >= :since AND e.first_seen_at <= :before""",
            {"since": now_iso(since), "before": now_iso(before), "story": story_id})
        found = [{**row, "sources": json.loads(row["sources"]), "rules": json.loads(row["rules"])} for row in rows]
        return [row for row in found if row["sources"]]

    def event_names(self, event_id: int, other_than: int | None = None, rules: tuple[str, ...] = ()) -> list[str]:
        """The terms the rules (`rules` only, when given) found in an event's stories (but
        `other_than`), in order of first finding."""
        only = f"AND m.rule_id IN ({','.join('?' * len(rules))})" if rules else ""
        rows = self.db.execute(
            f"""SELECT m.terms FROM matches m JOIN stories s ON s.id = m.story_id
                WHERE s.event_id = ? AND s.id IS NOT ? {only} ORDER BY m.id""",
            (event_id, other_than, *rules)).fetchall()
        return list(dict.fromkeys(term for (terms,) in rows for term in json.loads(terms or "[]")))

    def event_texts(self, event_id: int, other_than: int | None = None, limit: int = 8) -> list[str]:
        """The headline and text of the first article of an event's first stories (but `other_than`)."""
        return [f"{title}\n{text}" for title, text in self.db.execute(
            """SELECT a.title, a.text FROM stories s JOIN articles a ON a.id = s.first_article_id
               WHERE s.event_id = ? AND s.merged_into IS NULL AND s.id IS NOT ? ORDER BY s.id LIMIT ?""",
            (event_id, other_than, limit))]

    def window_event_terms(self, since: datetime) -> tuple[int, list[list[str]]]:
        """The matched events first seen since `since`, and the terms matched in each: what
        tells a name every event carries from one that says what an event is about."""
        rows = self.db.execute(
            """SELECT s.event_id, json_group_array(m.terms) FROM matches m JOIN stories s ON s.id = m.story_id
               JOIN events e ON e.id = s.event_id WHERE e.first_seen_at >= ? AND e.merged_into IS NULL
               GROUP BY s.event_id""", (now_iso(since),)).fetchall()
        return len(rows), [[t for terms in json.loads(group) for t in json.loads(terms or "[]")]
                           for _, group in rows]

    def story_reaction(self, story_id: int) -> dict | None:
        return self._one("SELECT * FROM reactions WHERE story_id = ?", (story_id,))

    # Writing a link -------------------------------------------------------------------

    def add_reaction(self, story_id: int, event_id: int, rule_id: str | None, evidence: list[str],
                     score: float, linked_by: str = "presswatch", at: datetime | None = None) -> bool:
        """Link `story_id` as the answer to `event_id`; whether it was (a story already
        linked keeps its link: an analyst's is never replaced by presswatch's)."""
        if linked_by == "analyst":  # an analyst's link undoes their unlink
            self.db.execute("DELETE FROM reaction_refusals WHERE story_id = ?", (story_id,))
        return bool(self.db.execute(
            """INSERT INTO reactions (story_id, event_id, rule_id, evidence, score, linked_by, linked_at)
               VALUES (?,?,?,?,?,?,?) ON CONFLICT(story_id) DO NOTHING""",
            (story_id, event_id, rule_id, json.dumps(evidence, ensure_ascii=False), score, linked_by,
             now_iso(at))).rowcount)

    def queue_reaction(self, story_id: int, event_id: int, at: datetime | None = None) -> int:
        """The answered event's thread, on each (rule, channel) it alerted, gets one update
        (once per reacting story and answered event: its `milestone` is the event's id, so a
        story linked again to another event replies there too); returns the rows queued. A
        reply an analyst's unlink dropped is queued again when the story is linked back."""
        now = now_iso(at)
        pairs = self.db.query(
            f"""SELECT DISTINCT rule_id, channel_id FROM outbox WHERE kind = 'alert'
                AND event_id IN {_FAMILY} ORDER BY id""", {"event": event_id})
        queued = 0
        for pair in list(pairs):
            queued += self.db.execute(
                """INSERT INTO outbox (kind, story_id, event_id, rule_id, channel_id, milestone, alert_per,
                   next_attempt_at, created_at, updated_at) VALUES ('reaction',?,?,?,?,?,'event',?,?,?)
                   ON CONFLICT (kind, story_id, rule_id, channel_id, milestone) DO UPDATE
                   SET state = 'pending', tries = 0, last_error = NULL, next_attempt_at = excluded.next_attempt_at,
                       updated_at = excluded.updated_at
                   WHERE outbox.state = 'dead' AND outbox.last_error = ?""",
                (story_id, event_id, pair["rule_id"], pair["channel_id"], event_id, now, now, now, UNLINKED)).rowcount
        return queued

    def link_problem(self, story_id: int, event_id: int) -> str | None:
        """Why `story_id` cannot be linked to `event_id` by hand, or None."""
        story = self._one("SELECT event_id FROM stories WHERE id = ?", (story_id,))
        if story is None:
            return f"no story {story_id}"
        event = self._one("SELECT merged_into FROM events WHERE id = ?", (event_id,))
        if event is None:
            return f"no event {event_id}; presswatch events lists them"
        if event["merged_into"] is not None:
            return f"event {event_id} was merged into event {event['merged_into']}; use that one"
        if story["event_id"] == event_id:
            return f"story {story_id} is in event {event_id}: a story answers another event"
        return None

    def remove_reaction(self, story_id: int, refuse: bool = False, at: datetime | None = None) -> bool:
        """Unlink a story; whether it was linked. Its replies not sent yet are dropped (marked
        dead, saying so: rows partly sent keep their outcomes). With `refuse` (an analyst's
        unlink) presswatch never links the story again, whatever copies or revisions come."""
        now = now_iso(at)
        self.db.execute("UPDATE outbox SET state = 'dead', last_error = ?, updated_at = ? WHERE kind = 'reaction' "
                        "AND story_id = ? AND state = 'pending'", (UNLINKED, now, story_id))
        if refuse:
            self.db.execute("INSERT OR REPLACE INTO reaction_refusals (story_id, refused_at) VALUES (?, ?)",
                            (story_id, now))
        return bool(self.db.execute("DELETE FROM reactions WHERE story_id = ?", (story_id,)).rowcount)

    def reaction_refused(self, story_id: int) -> bool:
        """Whether an analyst unlinked the story: it answers nothing, for good."""
        return self._one("SELECT 1 AS x FROM reaction_refusals WHERE story_id = ?", (story_id,)) is not None

    # Reads of messages, `event ID` and exports -------------------------------------------

    def answered(self, story_id: int | None) -> dict | None:
        """What a story answers: the event's id, title, first seen and outlet count; None when not linked.

        First seen is the earliest of when presswatch stored the event and the dates its
        stories' outlets give: a daemon started after a report came out still says when it did."""
        if story_id is None:
            return None
        return self._one(
            """SELECT e.id, e.title, e.url, e.outlet_count, r.rule_id, r.evidence, r.score, r.linked_by,
                      min(e.first_seen_at, COALESCE((SELECT min(a.published_at) FROM stories s
                          JOIN articles a ON a.id = s.first_article_id
                          WHERE s.event_id = e.id AND a.published_at IS NOT NULL), e.first_seen_at)) AS first_seen_at
               FROM reactions r JOIN events e ON e.id = r.event_id WHERE r.story_id = ?""", (story_id,))

    def thread_title(self, event_id: int, rule_id: str, channel_id: str) -> str:
        """The headline of the alert that opened an event's thread on (rule, channel)."""
        row = self._one(
            f"""SELECT s.title FROM outbox o JOIN stories s ON s.id = o.story_id WHERE o.kind = 'alert'
                AND o.rule_id = :rule AND o.channel_id = :channel AND o.event_id IN {_FAMILY}
                ORDER BY o.id LIMIT 1""", {"event": event_id, "rule": rule_id, "channel": channel_id})
        return row["title"] if row else ""

    def event_reactions(self, event_id: int) -> dict[str, list[dict]]:
        """Both ways: the events this event's stories answer, and the stories answering it."""
        answers = list(self.db.query(
            f"""SELECT r.story_id, e.id AS event_id, e.title, e.first_seen_at, e.outlet_count, r.linked_by
                FROM reactions r JOIN stories s ON s.id = r.story_id JOIN events e ON e.id = r.event_id
                WHERE s.event_id IN {_FAMILY} ORDER BY r.linked_at, r.story_id""", {"event": event_id}))
        answered_by = list(self.db.query(
            f"""SELECT r.story_id, s.event_id, s.title, s.url, src.name AS outlet, r.linked_by, r.evidence
                FROM reactions r JOIN stories s ON s.id = r.story_id
                LEFT JOIN articles a ON a.id = s.first_article_id LEFT JOIN sources src ON src.id = a.source_id
                WHERE r.event_id IN {_FAMILY} ORDER BY r.linked_at, r.story_id""", {"event": event_id}))
        for row in answered_by:
            row["evidence"] = json.loads(row["evidence"])
        return {"answers": answers, "answered_by": answered_by}

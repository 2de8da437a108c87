"""The store's outbox: alerts claimed, sent, failed, held and retried; and the cheap reads
of /metrics and /healthz.

Part of the store (a mixin of `Store`): the only other place, with `archive` and
`migrations`, where presswatch runs SQL.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from presswatch.crawler.errors import StoreError
from presswatch.crawler.store.records import BUSY_TIMEOUT_MS, ChannelSend, OutboxRow, SurgeFacts, UrlResult, now_iso


class OutboxQueries:
    """The alert outbox, one row per (story, rule, channel), and what monitoring reads."""

    # Outbox ------------------------------------------------------------------

    SENDS_KEPT = timedelta(days=7)  # longer than any rate limit's window is worth

    _OUTBOX_SELECT = """
        SELECT o.*, COALESCE(s.title, e.detail) AS title, COALESCE(s.url, esrc.url) AS url,
               s.article_count AS article_count, s.outlet_count AS outlet_count,
               COALESCE(s.first_seen_at, e.at) AS first_seen_at, a.published_at AS published_at,
               COALESCE(src.name, esrc.name) AS outlet, m.terms AS terms, m.snippet AS snippet,
               e.source_id AS event_source, e.from_state AS event_from, e.to_state AS event_to,
               CASE WHEN o.story_id IS NOT NULL THEN (SELECT json_group_array(outlet) FROM (
                   SELECT outlet FROM story_outlets WHERE story_id = o.story_id
                   ORDER BY first_seen_at, article_id LIMIT 12)) END AS outlets,
               CASE WHEN o.kind = 'update' THEN (SELECT s2.title FROM outbox a2 JOIN stories s2
                   ON s2.id = a2.story_id WHERE a2.kind = 'alert' AND a2.rule_id = o.rule_id
                   AND a2.channel_id = o.channel_id AND a2.event_id IN (SELECT id FROM events
                   WHERE id = o.event_id OR merged_into = o.event_id) ORDER BY a2.id LIMIT 1) END AS thread_title,
               (SELECT json_group_array(json_array(u.url_key, u.url, u.state, u.error, u.tries,
                                                   u.updated_at))
                FROM outbox_urls u WHERE u.outbox_id = o.id) AS url_results,
               CASE WHEN o.surge_id IS NOT NULL THEN (SELECT json_object(
                   'stories', g.stories, 'outlets', g.outlets, 'total', g.total, 'usual', g.usual,
                   'expected', g.expected, 'p_value', g.p_value, 'window_seconds', g.window_seconds,
                   'started_at', g.started_at, 'event_id', g.event_id, 'event_title', ge.title,
                   'event_url', ge.url, 'event_stories', ge.story_count, 'event_outlets', ge.outlet_count)
                   FROM surges g LEFT JOIN events ge ON ge.id = g.event_id WHERE g.id = o.surge_id) END AS surge
        FROM outbox o
        LEFT JOIN stories s ON s.id = o.story_id
        LEFT JOIN matches m ON m.id = o.match_id
        LEFT JOIN articles a ON a.id = COALESCE(m.article_id, s.first_article_id)
        LEFT JOIN sources src ON src.id = a.source_id
        LEFT JOIN source_events e ON e.id = o.source_event_id
        LEFT JOIN sources esrc ON esrc.id = e.source_id
    """

    def _outbox_row(self, row: dict) -> OutboxRow:
        row = dict(row)
        if row["kind"] == "update":
            row["entries"] = tuple(self.update_entries(row["event_id"], row["rule_id"], row["channel_id"],
                                                       row["match_id"]))
        row["thread_title"] = row["thread_title"] or ""
        row.pop("match_id", None)
        row.pop("source_event_id", None)
        row.pop("alert_per", None)
        row["article_count"] = row["article_count"] or 0
        row["outlet_count"] = row["outlet_count"] or 0
        row.pop("updated_at", None)
        row["terms"] = tuple(json.loads(row["terms"] or "[]"))
        row["done_urls"] = tuple(json.loads(row["done_urls"] or "[]"))
        outlets = tuple(json.loads(row["outlets"] or "[]"))
        row["outlets"] = outlets[:row["milestone"]] if row["kind"] == "spread" else outlets  # as when reached
        row["url_results"] = tuple(UrlResult(*result) for result in json.loads(row["url_results"] or "[]"))
        row["snippet"] = row["snippet"] or ""
        row["outlet"] = row["outlet"] or ""
        _surge_facts(row)
        row.update(self._reaction_fields(row))
        return OutboxRow(**row)

    def _reaction_fields(self, row: dict) -> dict:
        """An alert of a story linked as a reaction: the event it answers; a reaction row:
        that too, and the title of the answered thread it goes under."""
        if row["kind"] not in ("alert", "reaction"):
            return {}
        answered = self.answered(row["story_id"])
        if answered is None:
            return {}
        fields = {"answers_event": answered["id"], "answers_title": answered["title"],
                  "answers_first_seen": answered["first_seen_at"], "answers_outlets": answered["outlet_count"]}
        if row["kind"] == "reaction":
            fields["thread_title"] = self.thread_title(row["event_id"], row["rule_id"], row["channel_id"])
        return fields

    def _outbox_by_ids(self, ids: list[int]) -> list[OutboxRow]:
        marks = ",".join("?" * len(ids))
        rows = self.db.query(f"{self._OUTBOX_SELECT} WHERE o.id IN ({marks}) ORDER BY o.id", ids)
        return [self._outbox_row(r) for r in rows]

    def _claim(self, ids: list[int], now: str) -> None:
        marks = ",".join("?" * len(ids))
        self.db.execute(
            f"UPDATE outbox SET state='sending', tries=tries+1, updated_at=? WHERE id IN ({marks})",
            (now, *ids),
        )

    def claim_due(self, limit: int = 1, at: datetime | None = None) -> list[OutboxRow]:
        """Mark due pending rows as being sent and return them, oldest first.

        The claim is committed before anything is sent, so a crash mid-send leaves a
        trace (`sending`) instead of a silent resend. Each channel is a queue: a row waits
        while an older row of its channel is still pending or being sent (held rows of a
        digest, quiet hours or a rate limit aside), so after an outage a channel gets its
        alerts in the order they were queued, not in the order their backoffs ran out.
        """
        now = now_iso(at)
        with self.transaction():
            # A spread update waits while the story's alert to that channel is on its way
            # (being sent, or pending and not held): "now 5 outlets" must not arrive before
            # the alert it follows up. Once the alert is settled (sent, uncertain or dead),
            # it goes. Likewise an event update, or a reaction told in the answered event's
            # thread, waits for the alert of its event (or of an event merged into it) on
            # that rule and channel. An alert held for a digest, quiet hours or a rate limit
            # lets its follow-ups through to pacing, which holds them to the same release
            # (the digest then lists them after it, in id order): waiting there instead would
            # hold every later row of the channel behind them.
            on_its_way = "(a.state = 'sending' OR (a.state = 'pending' AND a.pace IS NULL))"
            ids = [r["id"] for r in self.db.query(
                f"""SELECT id FROM outbox o WHERE state='pending' AND next_attempt_at <= ?
                   AND NOT (kind = 'spread' AND EXISTS (SELECT 1 FROM outbox a WHERE a.kind = 'alert'
                            AND a.story_id = o.story_id AND a.channel_id = o.channel_id AND {on_its_way}))
                   AND NOT (kind IN ('update', 'reaction') AND EXISTS (SELECT 1 FROM outbox a
                            WHERE a.kind = 'alert' AND a.rule_id = o.rule_id AND a.channel_id = o.channel_id
                            AND a.event_id IN (SELECT id FROM events WHERE id = o.event_id OR merged_into = o.event_id)
                            AND {on_its_way}))
                   AND NOT EXISTS (SELECT 1 FROM outbox b WHERE b.channel_id = o.channel_id AND b.id < o.id
                                   AND b.state IN ('pending', 'sending') AND b.pace IS NULL)
                   ORDER BY next_attempt_at, id LIMIT ?""", (now, limit))]
            if not ids:
                return []
            self._claim(ids, now)
        return self._outbox_by_ids(ids)

    def claim_digest(self, channel_id: str, limit: int, at: datetime | None = None) -> list[OutboxRow]:
        """Claim the held rows of a channel that are due: the other stories of one digest."""
        now = now_iso(at)
        with self.transaction():
            ids = [r["id"] for r in self.db.query(
                """SELECT id FROM outbox WHERE state='pending' AND channel_id = ? AND pace IS NOT NULL
                   AND next_attempt_at <= ? ORDER BY id LIMIT ?""", (channel_id, now, limit))]
            if not ids:
                return []
            self._claim(ids, now)
        return self._outbox_by_ids(ids)

    def hold(self, row_id: int, until: datetime, pace: str, at: datetime | None = None) -> None:
        """A claimed row waits for a digest at `until` (`pace` says why); the claim was no try."""
        with self.transaction():
            self.db.execute(
                """UPDATE outbox SET state='pending', pace=?, next_attempt_at=?, tries=MAX(0, tries-1),
                   updated_at=? WHERE id=? AND state='sending'""",
                (pace, now_iso(until), now_iso(at), row_id),
            )

    def mark_url(self, row_ids: list[int], key: str, url: str, state: str, error: str | None = None,
                 at: datetime | None = None) -> None:
        """Record the outcome of sending rows to one URL; `sending` is written before the send.

        A row found with a URL still `sending` after a restart was interrupted mid-send:
        whether that URL got it is unknown.
        """
        now = now_iso(at)
        with self.transaction():
            self.db.conn.executemany(
                """INSERT INTO outbox_urls (outbox_id, url_key, url, state, error, tries, updated_at)
                   VALUES (?,?,?,?,?,?,?) ON CONFLICT (outbox_id, url_key) DO UPDATE SET url=excluded.url,
                   state=excluded.state, error=excluded.error, tries=tries+excluded.tries,
                   updated_at=excluded.updated_at""",
                [(row_id, key, url, state, error, int(state == "sending"), now) for row_id in row_ids],
            )

    def mark_sent(self, row_id: int, at: datetime | None = None) -> None:
        now = now_iso(at)
        with self.transaction():
            self.db.execute(
                "UPDATE outbox SET state='sent', sent_at=?, updated_at=?, last_error=NULL WHERE id=?",
                (now, now, row_id),
            )

    def mark_failed(self, row_id: int, error: str, retry_at: datetime | None,
                    done_urls: tuple[int, ...] | None = None, at: datetime | None = None) -> None:
        """A failed send: back to pending until `retry_at`, or dead when it is None.

        Which URLs have it is in `outbox_urls`; `done_urls` (positions) is kept for rows
        sent in part by earlier versions, and only written when given.
        """
        now = now_iso(at)
        with self.transaction():
            if done_urls is not None:
                self.db.execute("UPDATE outbox SET done_urls=? WHERE id=?",
                                (json.dumps(sorted(done_urls)), row_id))
            if retry_at is None:
                self.db.execute(
                    "UPDATE outbox SET state='dead', last_error=?, updated_at=? WHERE id=?",
                    (error, now, row_id),
                )
            else:
                self.db.execute(
                    """UPDATE outbox SET state='pending', last_error=?, next_attempt_at=?,
                       updated_at=? WHERE id=?""",
                    (error, now_iso(retry_at), now, row_id),
                )

    def mark_uncertain(self, row_id: int, error: str, at: datetime | None = None) -> None:
        """Only URLs whose outcome is unknown are left: kept, never sent again by itself."""
        with self.transaction():
            self.db.execute("UPDATE outbox SET state='uncertain', last_error=?, updated_at=? WHERE id=?",
                            (error, now_iso(at), row_id))

    def release_interrupted(self, at: datetime | None = None, uncertain: bool = False) -> int:
        """Rows left `sending` by a process that died mid-send go back to pending.

        The URL each was being sent to when it died may have it: with `uncertain` that URL
        is marked uncertain (not sent again by itself), else failed (sent again). URLs
        not reached yet are sent as usual.
        """
        now = now_iso(at)
        with self.transaction():
            self.db.execute(
                """UPDATE outbox_urls SET state=?, updated_at=?,
                   error='presswatch stopped while sending; it may have arrived' WHERE state='sending'""",
                ("uncertain" if uncertain else "failed", now),
            )
            cursor = self.db.execute(
                """UPDATE outbox SET state='pending', updated_at=?, next_attempt_at=?,
                   last_error='interrupted while sending; sent again where it had not been sent'
                   WHERE state='sending'""",
                (now, now),
            )
        return cursor.rowcount

    def retry(self, row_id: int, at: datetime | None = None) -> OutboxRow:
        """Queue a dead, uncertain or pending row to be sent now, to every URL that has not
        confirmed it. Retrying an uncertain row sends again where it was uncertain (someone
        checked it did not arrive); retrying a dead or pending one leaves its uncertain URLs
        alone, since nobody said they lack it."""
        now = now_iso(at)
        with self.transaction():
            found = self._one("SELECT state FROM outbox WHERE id = ?", (row_id,))
            if found is None:
                raise StoreError(f"no alert {row_id}")
            if found["state"] in ("sent", "sending"):
                raise StoreError(f"alert {row_id} is {found['state']}; only pending, uncertain "
                                 "and dead alerts can be retried")
            keep = ("sent", "uncertain") if found["state"] != "uncertain" else ("sent",)
            self.db.execute(
                f"DELETE FROM outbox_urls WHERE outbox_id = ? AND state NOT IN ({','.join('?' * len(keep))})",
                (row_id, *keep))
            self.db.execute(
                """UPDATE outbox SET state='pending', tries=0, next_attempt_at=?, updated_at=?
                   WHERE id=?""", (now, now, row_id))
        return self._outbox_by_ids([row_id])[0]

    def record_send(self, channel_id: str, rows: int, at: datetime | None = None) -> None:
        """One message reached `channel_id`; sends older than a week are forgotten."""
        now = at or datetime.now(UTC)
        with self.transaction():
            self.db.execute("INSERT INTO channel_sends (channel_id, rows, sent_at) VALUES (?,?,?)",
                            (channel_id, rows, now_iso(now)))
            self.db.execute("DELETE FROM channel_sends WHERE sent_at < ?", (now_iso(now - self.SENDS_KEPT),))

    def channel_sends(self, channel_id: str, since: datetime) -> list[ChannelSend]:
        """The messages that reached `channel_id` since `since`, oldest first."""
        rows = self.db.query(
            """SELECT channel_id, rows, sent_at FROM channel_sends WHERE channel_id = ? AND sent_at >= ?
               ORDER BY sent_at, id""", (channel_id, now_iso(since)))
        return [ChannelSend(**row) for row in rows]

    def outbox(self, state: str | None = None, limit: int = 100) -> list[OutboxRow]:
        where, params = ("WHERE o.state = ?", (state,)) if state else ("", ())
        rows = self.db.query(f"{self._OUTBOX_SELECT} {where} ORDER BY o.id LIMIT {int(limit)}", params)
        return [self._outbox_row(r) for r in rows]

    def outbox_rows(self, ids: list[int]) -> list[OutboxRow]:
        """These rows as they are now, in id order."""
        return self._outbox_by_ids(list(ids)) if ids else []

    def recent_outbox(self, states: tuple[str, ...] = (), limit: int = 50) -> list[OutboxRow]:
        """The newest rows, in any of `states` (all when empty), newest first."""
        marks = ",".join("?" * len(states))
        where = f"WHERE o.state IN ({marks})" if states else ""
        rows = self.db.query(f"{self._OUTBOX_SELECT} {where} ORDER BY o.id DESC LIMIT {int(limit)}", states)
        return [self._outbox_row(r) for r in rows]

    def outbox_counts(self) -> dict[str, int]:
        """How many rows are in each state, and under "held" how many pending rows wait for a digest."""
        counts = {row["state"]: row["n"] for row in
                  self.db.query("SELECT state, count(*) AS n FROM outbox GROUP BY state")}
        counts["held"] = self.db.execute(
            "SELECT count(*) FROM outbox WHERE state = 'pending' AND pace IS NOT NULL").fetchone()[0]
        return counts

    # Monitoring: read-only and cheap, as they run at every scrape of /metrics and /healthz --------

    def event_counts(self) -> dict[str, int]:
        """How many events there are (merged ones aside), and how many hold more than one story."""
        row = self._one("SELECT count(*) AS events, coalesce(sum(story_count > 1), 0) AS grouped FROM events "
                        "WHERE merged_into IS NULL")
        return dict(row)

    def matches_by_rule(self) -> dict[str, int]:
        """How many stories each rule matched, as stored."""
        return {row["rule_id"]: row["n"] for row in
                self.db.query("SELECT rule_id, count(*) AS n FROM matches GROUP BY rule_id")}

    def write_problem(self, wait: float = 0.25) -> str | None:
        """Why the database could not be written now, or None when it can.

        Takes the write lock and gives it back (BEGIN IMMEDIATE, ROLLBACK: nothing is written),
        waiting at most `wait` seconds for another writer, and checks that the file and its
        folder (where SQLite creates its WAL files) are writable, which a restart needs.
        """
        if self.path != ":memory:":
            for path, what in ((self.path, "the database file"), (Path(self.path).parent, "its folder")):
                if not os.access(path, os.W_OK):
                    return f"{what} {path} is not writable"
        conn = self.db.conn
        if conn.in_transaction:  # this connection is writing right now
            return None
        try:
            conn.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
            finally:
                conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return f"cannot take the write lock of {self.path}: {exc}"
        return None


def _surge_facts(row: dict) -> None:
    """A surge alert's figures, and its main event's headline, link and counts as the row's own."""
    facts = json.loads(row.pop("surge") or "null")
    if facts is None:
        return
    row["surge"] = SurgeFacts(**{k: v for k, v in facts.items() if not k.startswith("event_")},
                              event_id=facts["event_id"], event_stories=facts["event_stories"] or 0)
    row["title"] = facts["event_title"] or ""
    row["url"] = facts["event_url"] or ""
    row["outlet_count"] = facts["event_outlets"] or 0
    row["first_seen_at"] = facts["started_at"]

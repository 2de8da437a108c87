"""The store's surges: a rule's counts in its recent window and the baseline before it,
the surges opened and calmed, and their alerts in the outbox.

Part of the store (a mixin of `Store`). Whether the counts make a surge is
`crawler.rules.surge`'s (pure); when to judge, `crawler.stories.surges`'.

A rule's stories are counted by when the rule matched them (`matches.matched_at`, on the
index matches(rule_id, matched_at)), all new stories by when they were first seen (on the
index stories(first_seen_at)): a story is the rule's coverage from the moment the rule saw
it, which for a story first stored from a feed's summary, or one held back until it
reached the rule's min_outlets, is later than the story itself. Each count is a range
scan of one index; nothing here reads article texts.
"""

from __future__ import annotations

from datetime import datetime

from presswatch.crawler.store.records import SurgeFigures, now_iso


class SurgeQueries:
    """Surges of a rule's coverage: counted here, judged elsewhere, told through the outbox."""

    # Counting ------------------------------------------------------------------

    def rule_stories(self, rule_id: str, after: datetime, upto: datetime, outlets: bool = True) -> tuple[int, int]:
        """The rule's stories matched in (after, upto], and their distinct outlets (when asked)."""
        span = {"rule": rule_id, "after": now_iso(after), "upto": now_iso(upto)}
        mine = self._one(
            """SELECT count(*) AS n FROM matches
               WHERE rule_id = :rule AND matched_at > :after AND matched_at <= :upto""", span)["n"]
        if not (outlets and mine):
            return mine, 0
        return mine, self._one(
            """SELECT count(DISTINCT o.outlet) AS n FROM matches m JOIN story_outlets o ON o.story_id = m.story_id
               WHERE m.rule_id = :rule AND m.matched_at > :after AND m.matched_at <= :upto""", span)["n"]

    def new_stories(self, after: datetime, upto: datetime) -> int:
        """All stories first seen in (after, upto]: the same for every rule, so counted once a turn."""
        return self._one("SELECT count(*) AS n FROM stories WHERE first_seen_at > ? AND first_seen_at <= ?",
                         (now_iso(after), now_iso(upto)))["n"]

    def stored_since(self) -> datetime | None:
        """When the first stored story was first seen (how much history there is)."""
        row = self._one("SELECT min(first_seen_at) AS at FROM stories")
        return datetime.fromisoformat(row["at"]) if row and row["at"] else None

    def surge_event(self, rule_id: str, after: datetime, upto: datetime) -> int | None:
        """The event holding most of the rule's stories matched in (after, upto] (the earliest
        of those tied)."""
        row = self._one(
            """SELECT s.event_id FROM matches m JOIN stories s ON s.id = m.story_id
               WHERE m.rule_id = ? AND m.matched_at > ? AND m.matched_at <= ? AND s.event_id IS NOT NULL
               GROUP BY s.event_id ORDER BY count(*) DESC, min(m.id) LIMIT 1""",
            (rule_id, now_iso(after), now_iso(upto)))
        return row["event_id"] if row else None

    # Since when each rule matches as it does now --------------------------------------

    def note_surge_rules(self, rules: dict[str, str], at: datetime | None = None) -> dict[str, datetime]:
        """Remember each rule's matching (id -> fingerprint) and return since when each has
        matched so. A rule met for the first time counts from its first stored match (it
        matched then; a quiet rule may be older, so this errs towards less history), or
        from now; a rule whose matching changed counts from now."""
        known = self._surge_rules(list(rules))
        changed = {rule_id: matching for rule_id, matching in rules.items()
                   if known.get(rule_id, (None,))[0] != matching}
        if changed:  # a judging turn with no rule added or changed writes nothing
            now = now_iso(at)
            with self.transaction():
                for rule_id, matching in changed.items():
                    self.db.execute(
                        """INSERT INTO surge_rules (rule_id, matching, since)
                           VALUES (:rule, :matching, COALESCE((SELECT min(matched_at) FROM matches
                                                               WHERE rule_id = :rule), :now))
                           ON CONFLICT (rule_id) DO UPDATE SET matching = excluded.matching, since = :now""",
                        {"rule": rule_id, "matching": matching, "now": now})
            known = self._surge_rules(list(rules))
        return {rule_id: datetime.fromisoformat(since) for rule_id, (_, since) in known.items()}

    def _surge_rules(self, rule_ids: list[str]) -> dict[str, tuple[str, str]]:
        """rule id -> (matching fingerprint, since) as stored, for those of `rule_ids` known."""
        marks = ",".join("?" * len(rule_ids))
        return {row["rule_id"]: (row["matching"], row["since"]) for row in self.db.query(
            f"SELECT rule_id, matching, since FROM surge_rules WHERE rule_id IN ({marks})", rule_ids)}

    # Opening and calming ----------------------------------------------------------

    def open_surge(self, rule_id: str) -> dict | None:
        """The rule's surge that has not calmed yet, if any."""
        return self._one("SELECT * FROM surges WHERE rule_id = ? AND calmed_at IS NULL", (rule_id,))

    def record_surge(self, figures: SurgeFigures, event_id: int | None, channels: tuple[str, ...],
                     at: datetime | None = None) -> int | None:
        """Open a surge of the rule and queue its alert to each of `channels`, in one
        transaction. The rule's open surge is unique, and so is (surge, channel) in the
        outbox: while one is open this is a no-op. Returns the new surge's id, or None."""
        now = now_iso(at)
        with self.transaction():
            cursor = self.db.execute(
                """INSERT INTO surges (rule_id, started_at, window_seconds, stories, outlets, total, usual,
                   expected, p_value, event_id) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING""",
                (figures.rule_id, now, int(figures.window.total_seconds()), figures.stories, figures.outlets,
                 figures.total, figures.usual, figures.expected, figures.p_value, event_id))
            if not cursor.rowcount:
                return None
            surge_id = cursor.lastrowid
            for channel_id in channels:
                self.db.execute(
                    """INSERT INTO outbox (kind, surge_id, rule_id, channel_id, next_attempt_at, created_at,
                       updated_at) VALUES ('surge',?,?,?,?,?,?) ON CONFLICT DO NOTHING""",
                    (surge_id, figures.rule_id, channel_id, now, now, now))
        return surge_id

    def calm_surge(self, surge_id: int, at: datetime | None = None) -> bool:
        """The surge's window is back to about usual: a later surge of its rule may be told."""
        with self.transaction():
            return bool(self.db.execute("UPDATE surges SET calmed_at = ? WHERE id = ? AND calmed_at IS NULL",
                                        (now_iso(at), surge_id)).rowcount)

    # Reading ----------------------------------------------------------------------

    def surges(self, rule_id: str | None = None, limit: int = 50, only_open: bool = False) -> list[dict]:
        """Surges (`only_open`: those not calmed yet), newest first, with the title and link of
        the event holding most of each."""
        where = ["u.rule_id = :rule"] if rule_id else []
        where += ["u.calmed_at IS NULL"] if only_open else []
        condition = f"WHERE {' AND '.join(where)}" if where else ""
        return list(self.db.query(
            f"""SELECT u.*, e.title AS event_title, e.url AS event_url FROM surges u
                LEFT JOIN events e ON e.id = u.event_id {condition}
                ORDER BY u.started_at DESC, u.id DESC LIMIT {int(limit)}""", {"rule": rule_id}))

    def open_surges(self) -> dict[str, int]:
        """How many surges are open per rule (0 or 1 each; rules with none left out)."""
        return {row["rule_id"]: row["n"] for row in
                self.db.query("SELECT rule_id, count(*) AS n FROM surges WHERE calmed_at IS NULL GROUP BY rule_id")}

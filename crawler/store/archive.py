"""The store's archive queries: search, export, stats, retention, backup and vacuum.

Part of the store (a mixin of `Store`): the only other place, with `outbox` and
`migrations`, where presswatch runs SQL.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from presswatch.crawler.errors import StoreError
from presswatch.crawler.store.records import now_iso

# `search` ranks at most this many matching articles, the most recently stored: bm25 and
# one hit per story cost about 3-4 µs a match, so a word in every article of a million
# would take seconds. 10,000 rank in about 30 ms (bench/README.md, "FTS search").
SEARCH_CAP = 10_000


class ArchiveQueries:
    """Reading the archive for analysts, and caring for the file."""

    # Archive -----------------------------------------------------------------

    # bm25 weights of title and text: a word in the headline says more than one in the body.
    SEARCH_WEIGHTS = (5.0, 1.0)
    SNIPPET_WORDS = 24
    # Columns holding JSON arrays, returned decoded by `export`.
    _JSON_COLUMNS = frozenset({"languages", "rules", "sources", "authors", "done_urls", "terms", "stories",
                               "answers_events", "answered_by"})
    _EXPORTS = {
        "stories": ("s", "s.first_seen_at", """
            SELECT s.*,
                   (SELECT json_group_array(rule_id) FROM (SELECT DISTINCT rule_id FROM matches m
                    WHERE m.story_id = s.id ORDER BY rule_id)) AS rules,
                   (SELECT json_group_array(source_id) FROM (SELECT DISTINCT source_id FROM articles a
                    WHERE a.story_id = s.id ORDER BY source_id)) AS sources,
                   (SELECT event_id FROM reactions r WHERE r.story_id = s.id) AS answers_event
            FROM stories s WHERE 1"""),
        "articles": ("a", "a.first_seen_at", """
            SELECT a.*, s.event_id, (SELECT event_id FROM reactions r WHERE r.story_id = s.id) AS answers_event
            FROM articles a JOIN stories s ON s.id = a.story_id WHERE 1"""),
        "events": ("ev", "ev.first_seen_at", """
            SELECT ev.id, ev.title, ev.url, ev.first_story_id, ev.first_seen_at, ev.last_seen_at, ev.story_count,
                   ev.outlet_count, ev.languages, ev.merged_into,
                   (SELECT json_group_array(id) FROM (SELECT id FROM stories x WHERE x.event_id = ev.id
                    AND x.merged_into IS NULL ORDER BY id)) AS stories,
                   (SELECT json_group_array(rule_id) FROM (SELECT DISTINCT rule_id FROM matches m
                    JOIN stories x ON x.id = m.story_id WHERE x.event_id = ev.id ORDER BY rule_id)) AS rules,
                   (SELECT json_group_array(event_id) FROM (SELECT DISTINCT r.event_id FROM reactions r
                    JOIN stories x ON x.id = r.story_id WHERE x.event_id = ev.id ORDER BY r.event_id)) AS answers_events,
                   (SELECT json_group_array(story_id) FROM (SELECT story_id FROM reactions r
                    WHERE r.event_id = ev.id ORDER BY story_id)) AS answered_by
            FROM events ev WHERE 1"""),
        "alerts": ("o", "o.created_at", """
            SELECT o.*, s.title AS story_title, s.url AS story_url, m.terms AS terms, m.snippet AS snippet,
                   e.source_id AS event_source, e.detail AS event_detail
            FROM outbox o LEFT JOIN stories s ON s.id = o.story_id LEFT JOIN matches m ON m.id = o.match_id
            LEFT JOIN source_events e ON e.id = o.source_event_id WHERE 1"""),
    }

    def search(self, match: str, since: datetime | None = None, until: datetime | None = None,
               sources: tuple[str, ...] = (), limit: int = 20, cap: int | None = SEARCH_CAP) -> list[dict]:
        """Stories whose articles match `match`, an FTS5 query over title and text, best first.

        One hit per story: its best-ranked article (bm25, the title weighted above the
        text) with a snippet marked «like this»; `hits` is how many of the story's ranked
        articles matched, `total` how many stories the ranked articles belong to. `since`,
        `until` and `sources` keep to articles dated in that span (published, else first
        seen: the date a hit shows), from those sources. A query SQLite cannot read raises
        StoreError.

        Ranking costs about 3-4 µs a matching article, so when more than `cap` articles
        match only the `cap` most recently stored (highest id) are ranked: `capped` says
        so, `ranked` is how many were, and `total` is then the stories among them (a lower
        bound). `articles` is how many articles matched: exact, or None when capped with a
        filter (counting them would mean looking up every match; more than `ranked` did).
        `cap=None` ranks every match.
        """
        if cap is not None and cap < 1:
            raise ValueError(f"cap must be at least 1, not {cap}")
        where, params = self._span("COALESCE(a.published_at, a.first_seen_at)", since, until,
                                   "a.source_id", sources)
        title, text = self.SEARCH_WEIGHTS
        # One more than the cap tells whether there were more; LIMIT -1 is no limit.
        fetch, keep = (-1, -1) if cap is None else (cap + 1, cap)
        try:
            best = list(self.db.query(
                f"""WITH found AS MATERIALIZED (
                        SELECT a.id, a.story_id, bm25(articles_fts, {title}, {text}) AS score
                        FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid
                        WHERE articles_fts MATCH ? {where}
                        ORDER BY articles_fts.rowid DESC LIMIT ?),
                    ranked AS (SELECT * FROM found ORDER BY id DESC LIMIT ?)
                    SELECT id, score, hits, count(*) OVER () AS total, (SELECT count(*) FROM found) AS found
                    FROM (SELECT id, score, count(*) OVER (PARTITION BY story_id) AS hits,
                                 row_number() OVER (PARTITION BY story_id ORDER BY score, id) AS nth
                          FROM ranked)
                    WHERE nth = 1 ORDER BY score, id LIMIT ?""", (match, *params, fetch, keep, limit)))
            capped = bool(best) and cap is not None and best[0]["found"] > cap
            articles = best[0]["found"] if best else 0
            if capped:
                # Without a filter FTS5 counts alone, at about the cost of bm25's own count of
                # each phrase's rows (25 ns a match): cheap. A filter needs every match's article.
                articles = None if where else self.db.execute(
                    "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH ?", (match,)).fetchone()[0]
            shown = {row["article_id"]: row for row in self._search_rows(match, [r["id"] for r in best])}
        except sqlite3.OperationalError as exc:
            raise StoreError(f"SQLite cannot search for {match}: {exc}") from exc
        return [{**shown[r["id"]], "score": r["score"], "hits": r["hits"], "total": r["total"],
                 "articles": articles, "ranked": cap if capped else r["found"],
                 "capped": capped} for r in best]

    def _search_rows(self, match: str, ids: list[int]) -> Iterator[dict]:
        """The articles found, with what a hit shows: the snippet is taken only for these.

        One pass over the matches between the lowest and the highest id, the ids kept by
        SQLite (the + hides them from FTS5): handed `rowid IN (...)`, FTS5 runs the query
        again for each id, and a prefix query (`a*`) merges every word it covers each time.
        """
        if not ids:
            return iter(())
        marks = ",".join("?" * len(ids))
        return self.db.query(
            f"""SELECT a.id AS article_id, a.story_id, a.source_id, a.outlet, a.url, a.title,
                       COALESCE(a.published_at, a.first_seen_at) AS date, a.published_at, a.first_seen_at,
                       a.language, a.text_dropped_at, s.outlet_count, s.article_count,
                       snippet(articles_fts, -1, '«', '»', '…', {self.SNIPPET_WORDS}) AS snippet
                FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid JOIN stories s ON s.id = a.story_id
                WHERE articles_fts MATCH ? AND articles_fts.rowid BETWEEN ? AND ?
                      AND +articles_fts.rowid IN ({marks})""", (match, min(ids), max(ids), *ids))

    @staticmethod
    def _span(column: str, since: datetime | None, until: datetime | None,
              source_column: str | None = None, sources: tuple[str, ...] = ()) -> tuple[str, list]:
        """SQL conditions (each starting with AND) keeping to [since, until) and to `sources`."""
        where, params = "", []
        if since is not None:
            where, params = f"{where} AND {column} >= ?", [*params, now_iso(since)]
        if until is not None:
            where, params = f"{where} AND {column} < ?", [*params, now_iso(until)]
        if sources and source_column:
            where = f"{where} AND {source_column} IN ({','.join('?' * len(sources))})"
            params = [*params, *sources]
        return where, params

    def export_columns(self, what: str) -> list[str]:
        """The columns `export` gives for `what`, in order, even when there is no row."""
        return [column[0] for column in self.db.execute(f"{self._EXPORTS[what][2]} AND 0").description]

    def export(self, what: str, since: datetime | None = None, until: datetime | None = None,
               sources: tuple[str, ...] = (), rules: tuple[str, ...] = ()) -> Iterator[dict]:
        """Every row of `what` (stories, articles, events or alerts) in id order, as stored.

        Stories come with the rules they matched and the sources that carried them;
        articles with their story's event; events with their stories and the rules matched;
        alerts (the outbox: story alerts, spread updates, health notices) with their
        story's title and URL, and the match's terms and snippet. JSON columns come
        decoded. `since`/`until` keep to rows first seen (alerts: queued) in that span;
        `sources` to stories and articles from those sources (alerts: of those stories,
        or health notices of those sources); `rules` to stories matched by one of them
        (alerts: of those rules).
        """
        alias, column, select = self._EXPORTS[what]
        where, params = self._span(column, since, until)
        where, params = self._export_sources(what, where, params, sources)
        where, params = self._export_rules(what, where, params, rules)
        for row in self.db.query(f"{select} {where} ORDER BY {alias}.id", params):
            yield {key: json.loads(value) if key in self._JSON_COLUMNS and value is not None else value
                   for key, value in row.items()}

    # The stories a row of each export is about (an event: all of its stories).
    _STORY_OF = {"stories": "s.id", "articles": "a.story_id", "alerts": "o.story_id",
                 "events": "SELECT id FROM stories WHERE event_id = ev.id"}

    def _export_sources(self, what: str, where: str, params: list, sources: tuple[str, ...]) -> tuple[str, list]:
        if not sources:
            return where, params
        marks = ",".join("?" * len(sources))
        if what == "articles":
            return f"{where} AND a.source_id IN ({marks})", [*params, *sources]
        carried = (f"EXISTS (SELECT 1 FROM articles x WHERE x.story_id IN ({self._STORY_OF[what]}) "
                   f"AND x.source_id IN ({marks}))")
        if what == "alerts":
            return f"{where} AND ({carried} OR e.source_id IN ({marks}))", [*params, *sources, *sources]
        return f"{where} AND {carried}", [*params, *sources]

    def _export_rules(self, what: str, where: str, params: list, rules: tuple[str, ...]) -> tuple[str, list]:
        if not rules:
            return where, params
        marks = ",".join("?" * len(rules))
        if what == "alerts":
            return f"{where} AND o.rule_id IN ({marks})", [*params, *rules]
        matched = (f"EXISTS (SELECT 1 FROM matches x WHERE x.story_id IN ({self._STORY_OF[what]}) "
                   f"AND x.rule_id IN ({marks}))")
        return f"{where} AND {matched}", [*params, *rules]

    def stats_by_source(self, since: datetime | None = None) -> list[dict]:
        """Per source since `since`: articles stored, stories carried, stories it was first to
        carry (`new_stories`), rule matches on its articles, and alerts queued for them."""
        cutoff = now_iso(since) if since else ""
        return list(self.db.query(
            """SELECT src.id AS source, src.name,
                      (SELECT count(*) FROM articles a WHERE a.source_id = src.id AND a.first_seen_at >= :since)
                          AS articles,
                      (SELECT count(DISTINCT a.story_id) FROM articles a
                       WHERE a.source_id = src.id AND a.first_seen_at >= :since) AS stories,
                      (SELECT count(*) FROM stories s JOIN articles a ON a.id = s.first_article_id
                       WHERE a.source_id = src.id AND s.first_seen_at >= :since AND s.merged_into IS NULL)
                          AS new_stories,
                      (SELECT count(*) FROM matches m JOIN articles a ON a.id = m.article_id
                       WHERE a.source_id = src.id AND m.matched_at >= :since) AS matches,
                      (SELECT count(*) FROM outbox o JOIN matches m ON m.id = o.match_id
                       JOIN articles a ON a.id = m.article_id
                       WHERE a.source_id = src.id AND o.kind = 'alert' AND o.created_at >= :since) AS alerts
               FROM sources src ORDER BY src.id""", {"since": cutoff}))

    def stats_by_day(self, since: datetime | None = None) -> list[dict]:
        """Per day (UTC) since `since`: articles stored, new stories, new events that a rule
        matched, rule matches, alerts queued, event updates queued, stories linked as
        reactions, surges told and alerts sent; days with none of them are left out."""
        cutoff = now_iso(since) if since else ""
        return list(self.db.query(
            """SELECT day, sum(what = 'article') AS articles, sum(what = 'story') AS stories,
                      sum(what = 'event') AS events, sum(what = 'match') AS matches,
                      sum(what = 'alert') AS alerts, sum(what = 'update') AS updates,
                      sum(what = 'reaction') AS reactions, sum(what = 'surge') AS surges, sum(what = 'sent') AS sent
               FROM (SELECT substr(first_seen_at, 1, 10) AS day, 'article' AS what FROM articles
                     WHERE first_seen_at >= :since
                     UNION ALL SELECT substr(first_seen_at, 1, 10), 'story' FROM stories
                     WHERE first_seen_at >= :since AND merged_into IS NULL
                     UNION ALL SELECT substr(first_seen_at, 1, 10), 'event' FROM events ev
                     WHERE first_seen_at >= :since AND merged_into IS NULL AND EXISTS (SELECT 1 FROM matches m
                         JOIN stories x ON x.id = m.story_id WHERE x.event_id = ev.id)
                     UNION ALL SELECT substr(matched_at, 1, 10), 'match' FROM matches WHERE matched_at >= :since
                     UNION ALL SELECT substr(created_at, 1, 10), 'update' FROM outbox
                     WHERE kind = 'update' AND created_at >= :since
                     UNION ALL SELECT substr(created_at, 1, 10), 'alert' FROM outbox
                     WHERE kind = 'alert' AND created_at >= :since
                     UNION ALL SELECT substr(linked_at, 1, 10), 'reaction' FROM reactions WHERE linked_at >= :since
                     UNION ALL SELECT substr(started_at, 1, 10), 'surge' FROM surges WHERE started_at >= :since
                     UNION ALL SELECT substr(sent_at, 1, 10), 'sent' FROM outbox
                     WHERE kind = 'alert' AND sent_at >= :since)
               GROUP BY day ORDER BY day""", {"since": cutoff}))

    def texts_to_drop(self, before: datetime) -> int:
        """How many articles first seen before `before` still have their text."""
        return self.db.execute("SELECT count(*) FROM articles WHERE first_seen_at < ? AND text_dropped_at IS NULL",
                               (now_iso(before),)).fetchone()[0]

    def drop_texts(self, before: datetime, limit: int = 500, at: datetime | None = None) -> tuple[int, int]:
        """Blank the text of up to `limit` articles first seen before `before`, and their revisions'.

        Titles, URLs, hashes, stories, outlets, matches (with their snippets) and alerts
        stay, and so does the near-duplicate index (signatures, not text): copies of an
        old story still join it. The full-text index follows through its triggers, so
        titles stay searchable. One transaction a call, so a running daemon's writes wait
        only for one batch: call it until it returns (0, 0). Returns (articles, revisions).
        """
        with self.transaction():
            ids = [row["id"] for row in self.db.query(
                """SELECT id FROM articles WHERE first_seen_at < ? AND text_dropped_at IS NULL
                   ORDER BY first_seen_at, id LIMIT ?""", (now_iso(before), limit))]
            if not ids:
                return 0, 0
            marks = ",".join("?" * len(ids))
            self.db.execute(f"UPDATE articles SET text = '', text_dropped_at = ? WHERE id IN ({marks})",
                            (now_iso(at), *ids))
            revisions = self.db.execute(
                f"UPDATE revisions SET text = '' WHERE article_id IN ({marks}) AND text != ''", ids).rowcount
        return len(ids), revisions

    def backup(self, target: str | Path) -> None:
        """Copy the database to `target`: one consistent snapshot, taken while others write.

        SQLite's online backup API copies every page in one step, inside one read
        transaction (in WAL mode writers carry on meanwhile). The copy is written beside
        `target`, turned out of WAL mode (one self-contained file), checked with PRAGMA
        integrity_check, and only then renamed to `target`: a failed backup never
        leaves a file there. Raises StoreError when the copy is not sound.
        """
        target = Path(target)
        partial = target.with_name(target.name + ".partial")
        try:
            partial.unlink(missing_ok=True)
            copy = sqlite3.connect(partial, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot write a backup at {target}: {exc}") from exc
        try:
            self.db.conn.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")
            problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
        except sqlite3.Error as exc:
            problems = [f"the copy failed: {exc}"]
        finally:
            copy.close()
        if problems != ["ok"]:
            partial.unlink(missing_ok=True)
            raise StoreError(f"no backup of {self.path} was written to {target}: {'; '.join(problems[:5])}")
        partial.replace(target)

    def vacuum(self) -> None:
        """Merge the full-text index and rewrite the file without its free pages.

        VACUUM rewrites every page and holds up every other writer meanwhile: it needs
        the writer lock (`lock_writer`), so it never runs under a daemon.
        """
        if self._lock is None and self.path != ":memory:":
            raise StoreError("vacuum needs the writer lock: call lock_writer() first")
        # VACUUM copies the whole database into a temporary one: on disk, not in memory.
        self.db.execute("PRAGMA temp_store=FILE")
        try:
            self.db.execute("INSERT INTO articles_fts (articles_fts) VALUES ('optimize')")
            self.db.execute("VACUUM")
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"cannot vacuum {self.path}: {exc}") from exc
        finally:
            self.db.execute("PRAGMA temp_store=MEMORY")  # see CONNECTION_PRAGMAS
            self._forget_waiting()  # a change of temp_store drops the temporary tables

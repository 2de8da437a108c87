"""The archive for analysts: `presswatch search`, `export` and `stats` on a real database.

The archive is built with the store's own operations, dated in November 2018 so filters
by date have something to tell apart; the commands run in-process (Click's runner), and
once as the installed command, as a user would see a mistyped query.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from click.testing import CliRunner
from presswatch.crawler.store import archive as store_archive
from presswatch.crawler.store.database import Store
from presswatch.crawler.store.records import NewArticle, NewMatch
from presswatch.crawler.store.search import QueryError, fts_query
from presswatch.scheduler.cli.archive import search_lines
from presswatch.scheduler.cli import main

SOURCES = ("hrw", "yonhap", "kcna", "dailynk-ko", "sports")
WIRE = ("North Korean officials routinely abuse women with impunity, Human Rights Watch said on Thursday,\n\n"
        "describing \"sexual violence\", by police officers, prison guards and market inspectors as so common "
        "that victims consider it part of ordinary life. The report draws on interviews with 54 women.")
KCNA = ("The Korea Association for Human Rights Studies denounced the so-called report of Human Rights Watch "
        "as a dangerous provocation cooked up with human scum who betrayed their country.")
KOREAN = ("휴먼라이츠워치는 북한 여성들이 일상적으로 성폭력을 당하고 있다고 밝혔다. 보고서는 북한인권 실태를 "
          "다루며 북한의 인권 문제를 지적했다.")
SPORTS = ("The home side won after extra time. Fans sang for hours. Violence broke out briefly near the "
          "stadium, police said, and the match report follows below with every goal and every chance.")


def day(n: int, hour: int = 9) -> datetime:
    """November n, 2018, at `hour` UTC."""
    return datetime(2018, 11, n, hour, tzinfo=UTC)


def add(store: Store, source: str, title: str, text: str, at: datetime, story: int | None = None,
        rule: str | None = None, language: str = "en", slug: str = "",
        published: datetime | None = None) -> tuple[int, int]:
    """Store one article (in a new story unless `story`), with a match of `rule` and its alert."""
    url = f"https://{source}.example/{slug or title.lower().replace(' ', '-')[:40]}"
    article = NewArticle(
        source_id=source, url=url, url_key=url, canonical_url=url, guid=None, title=title, text=text,
        published_at=published.isoformat() if published else None, date_source="page" if published else None,
        language=language, authors=("Desk",), content_hash=None,
        extracted_from="page", outlet=f"{source}.example", version_hash=f"v-{url}")
    with store.transaction():
        article_id, story_id = store.add_article(article, story, at=at)
        if rule:
            store.add_matches(story_id, article_id, [NewMatch(rule, ("term",), f"…«{title}»…", ("analysts",))],
                              at=at)
    return article_id, story_id


def build_archive(store: Store) -> dict[str, int]:
    """The mission's November 2018 in miniature; returns story ids by name."""
    store.sync_sources([(s, "feed", f"https://{s}.example/feed", s.upper()) for s in SOURCES])
    _, report = add(store, "hrw", "North Korea: Sexual Violence by Officials Goes Unpunished", WIRE, day(1),
                    rule="hrw-report")
    add(store, "yonhap", "Rights group says North Korean women face routine abuse", WIRE, day(1, 15), story=report)
    _, reply = add(store, "kcna", "KCNA slams Human Rights Watch smear", KCNA, day(3), rule="state-media")
    _, korean = add(store, "dailynk-ko", "북한 여성 성폭력 실태 보고서", KOREAN, day(2), language="ko",
                    rule="hrw-report")
    # Published before it was stored (a sitemap's older page, say).
    _, match = add(store, "sports", "Home side wins after extra time", SPORTS, day(5),
                   published=datetime(2018, 10, 30, 20, tzinfo=UTC))
    for row in store.outbox()[:2]:
        store.mark_sent(row.id, at=day(3, 12))
    return {"report": report, "reply": reply, "korean": korean, "sports": match}


@pytest.fixture
def archive(tmp_path):
    """(config path, story ids, db path) of a built archive."""
    db = tmp_path / "presswatch.db"
    store = Store(str(db))
    try:
        ids = build_archive(store)
    finally:
        store.close()
    config = tmp_path / "presswatch.yaml"
    config.write_text(yaml.safe_dump({"database": "presswatch.db"}), encoding="utf-8")
    return config, ids, db


def cli(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def search_json(config, *args: str) -> list[dict]:
    result = cli("search", *args, "--config", str(config), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --- the query language ---------------------------------------------------------------------


@pytest.mark.parametrize("typed, fts", [
    ("sexual violence", '"sexual" AND "violence"'),
    ('"Human Rights Watch" (KCNA OR 로동신문)', '"Human Rights Watch" AND ( "KCNA" OR "로동신문"* )'),
    ("Kim Jong-un", '"Kim" AND "Jong-un"'),
    ("provoc*", '"provoc"*'),
    ("title:성폭력", 'title : "성폭력"*'),
    ('"북한 인권"', '("북한"* + "인권"* OR "북한인권"*)'),
    ("HRW NOT sports", '"HRW" NOT "sports"'),
    ("or", '"or"'),
])
def test_typed_queries_become_fts5_with_words_quoted(typed, fts):
    assert fts_query(typed) == fts


@pytest.mark.parametrize("typed, says", [
    ('"Human Rights', "column 1: this quote is not closed"),
    ("KCNA OR", "column 8: OR needs a term after it"),
    ("NOT KCNA", "column 1: NOT needs a term before it"),
    ("(KCNA OR HRW", "parenthesis(es) not closed"),
    ("KCNA)", "column 5: this parenthesis closes none"),
    ("-- !!", "nothing to search for"),
])
def test_a_query_that_cannot_be_read_says_where_and_why(typed, says):
    with pytest.raises(QueryError, match=says.replace("(", r"\(").replace(")", r"\)")):
        fts_query(typed)


def test_a_syntax_error_is_a_sentence_not_a_traceback(archive, run_presswatch):
    config, _, _ = archive
    result = run_presswatch("search", '"Human Rights', "--config", str(config))
    assert result.returncode == 2
    assert "this quote is not closed" in result.stderr and "Traceback" not in result.stderr
    # Raw FTS5 syntax: SQLite's own complaint, still one sentence.
    raw = run_presswatch("search", "KCNA OR", "--fts", "--config", str(config))
    assert raw.returncode == 1
    assert "cannot be searched" in raw.stderr and "syntax error" in raw.stderr
    assert "Traceback" not in raw.stderr


# --- search ---------------------------------------------------------------------------------


def test_search_ranks_a_title_match_above_a_text_match_and_shows_each_story_once(archive):
    config, ids, _ = archive
    hits = search_json(config, "violence")
    # The report has "Violence" in its headline; the sports story only once in its text.
    assert [hit["story_id"] for hit in hits] == [ids["report"], ids["sports"]]
    report = hits[0]
    assert report["hits"] == 2  # both copies matched; the story shows once
    assert report["source_id"] == "hrw" and "«violence»" in report["snippet"].lower()
    assert report["date"] == "2018-11-01T09:00:00+00:00"
    assert hits[0]["score"] < hits[1]["score"]  # bm25: lower is better


def test_a_word_in_the_headline_outranks_it_twice_in_a_body(tmp_path):
    store = Store(str(tmp_path / "rank.db"))
    try:
        store.sync_sources([("kcna", "site", "http://kcna.example/", "KCNA")])
        body = add(store, "kcna", "Statement of the spokesman", "A dangerous provocation, the spokesman said, and "
                   "another provocation would follow if the report was not withdrawn by its authors.", day(2))
        title = add(store, "kcna", "KCNA calls the report a provocation", "The Korean Central News Agency issued "
                    "a long statement on Saturday about the report and its authors, who it said served hostile "
                    "forces seeking to tarnish the image of the Republic.", day(3))
        for n in range(4):  # other articles, so the word is rare enough to weigh something
            add(store, "kcna", f"Weather {n}", "Sunny across the country.", day(4), slug=f"w{n}")
        hits = store.search(fts_query("provocation"))
    finally:
        store.close()
    assert [hit["story_id"] for hit in hits] == [title[1], body[1]]
    assert all(hit["total"] == 2 for hit in hits)


def test_search_words_are_anded_and_phrases_kept(archive):
    config, ids, _ = archive
    assert {h["story_id"] for h in search_json(config, "human rights watch")} == {ids["report"], ids["reply"]}
    assert [h["story_id"] for h in search_json(config, '"human scum"')] == [ids["reply"]]
    assert search_json(config, '"scum human"') == []
    assert [h["story_id"] for h in search_json(config, "Human Rights Watch provocation")] == [ids["reply"]]
    assert {h["story_id"] for h in search_json(config, "scum OR stadium")} == {ids["reply"], ids["sports"]}
    assert [h["story_id"] for h in search_json(config, "title:KCNA")] == [ids["reply"]]
    assert search_json(config, "text:KCNA") == []


def test_search_filters_by_date_and_source(archive):
    config, ids, _ = archive
    everything = {h["story_id"] for h in search_json(config, '"Human Rights"')}
    assert everything == {ids["report"], ids["reply"]}
    assert [h["story_id"] for h in search_json(config, '"Human Rights"', "--since", "2018-11-02")] == [ids["reply"]]
    assert [h["story_id"] for h in search_json(config, '"Human Rights"', "--until", "2018-11-02")] == [ids["report"]]
    assert [h["story_id"] for h in search_json(config, '"Human Rights"', "--source", "kcna")] == [ids["reply"]]
    # The copy from yonhap alone: the story is found through it.
    only_copy = search_json(config, '"Human Rights"', "--source", "yonhap")
    assert [(h["story_id"], h["source_id"], h["hits"]) for h in only_copy] == [(ids["report"], "yonhap", 1)]
    # A duration counts back from now: nothing from 2018 is in the last 30 days.
    assert search_json(config, '"Human Rights"', "--since", "30d") == []
    # The date a hit shows is what it is filtered on: published, else first seen.
    sports = search_json(config, "stadium", "--until", "2018-11-01")
    assert [(h["story_id"], h["date"]) for h in sports] == [(ids["sports"], "2018-10-30T20:00:00+00:00")]
    assert search_json(config, "stadium", "--since", "2018-11-01") == []


def test_a_hangul_word_finds_it_with_a_particle(archive):
    config, ids, _ = archive
    # The headline has 성폭력 alone, the text 성폭력을: a title-only word is not the test.
    assert [h["story_id"] for h in search_json(config, "text:성폭력")] == [ids["korean"]]
    assert "«성폭력을»" in search_json(config, "text:성폭력")[0]["snippet"]
    # FTS5 itself keeps the word whole: the same search, unprefixed, misses it.
    assert search_json(config, 'text : "성폭력"', "--fts") == []
    # A Hangul phrase finds its words with particles, and written as one word.
    assert [h["story_id"] for h in search_json(config, '"북한 인권"')] == [ids["korean"]]  # 북한의 인권, 북한인권


def test_search_prints_story_date_source_title_url_and_snippet(archive):
    config, ids, _ = archive
    result = cli("search", "violence", "--config", str(config), "--limit", "1")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "2 stories match 'violence'; the best 1:"
    assert f"story {ids['report']:>6}  2018-11-01 09:00  hrw" in lines[1]
    assert "Sexual Violence by Officials" in lines[1] and "(+1 more of its articles)" in lines[1]
    assert lines[2].strip().startswith("https://hrw.example/")
    assert "«violence»" in lines[3].lower()
    empty = cli("search", "football", "--config", str(config))
    assert empty.exit_code == 0 and empty.output == "no stored article matches 'football'\n"


# --- search: the cap on what is ranked -------------------------------------------------------


def build_common_word(store: Store) -> list[tuple[int, int]]:
    """12 articles, one a day in storing order, all with "korea"; (article, story) ids, oldest first.

    The oldest has it in its headline (the best bm25 of all); of the 5 newest, the 9th
    has it three times in its body (the best of those); the 12th is a copy of the 11th's
    story; kcna and yonhap alternate. "summit" is in 3 of them, the oldest's headline too.
    """
    store.sync_sources([("kcna", "site", "http://kcna.example/", "KCNA"),
                        ("yonhap", "feed", "http://yonhap.example/feed", "Yonhap")])
    stored = []
    for n in range(1, 13):
        source = ("kcna", "yonhap")[n % 2]
        title = "Korea summit talks" if n == 1 else f"Daily report {n}"
        body = {1: "Officials met.", 9: "Korea, korea and korea again, said the paper."}.get(
            n, f"News from Korea on day {n}, with weather and sports.")
        if n in (6, 11):
            body += " A summit was mentioned."
        story = stored[-1][1] if n == 12 else None
        stored.append(add(store, source, title, body, day(n), story=story, slug=f"d{n}"))
    return stored


@pytest.fixture
def common(tmp_path):
    store = Store(str(tmp_path / "common.db"))
    try:
        yield store, build_common_word(store)
    finally:
        store.close()


def test_an_unselective_query_ranks_only_the_most_recent_matches_and_says_so(common):
    store, stored = common
    hits = store.search(fts_query("korea"), cap=5)
    newest = {story for _, story in stored[-5:]}  # articles 8-12: stories of 8, 9, 10, 11 (12 is 11's copy)
    assert {hit["story_id"] for hit in hits} == newest
    assert hits[0]["story_id"] == stored[8][1]  # ranked, not listed by date: the 9th says it three times
    assert stored[0][1] not in {hit["story_id"] for hit in hits}  # the best of all, but older than the 5
    first = hits[0]
    assert (first["capped"], first["ranked"], first["articles"], first["total"]) == (True, 5, 12, 4)
    assert {hit["story_id"]: hit["hits"] for hit in hits}[stored[10][1]] == 2  # the story and its copy
    # Ranking every match finds the oldest's headline, with the exact count of stories.
    every = store.search(fts_query("korea"), cap=None)
    assert every[0]["story_id"] == stored[0][1]
    assert (every[0]["capped"], every[0]["ranked"], every[0]["articles"], every[0]["total"]) == (False, 12, 12, 11)


def test_the_cap_counts_articles_and_a_cap_just_reached_is_no_cap(common):
    store, stored = common
    exactly = store.search(fts_query("korea"), cap=12)
    assert not exactly[0]["capped"] and exactly[0]["total"] == 11 and exactly[0]["story_id"] == stored[0][1]
    assert store.search(fts_query("korea"), cap=11)[0]["capped"]


def test_a_selective_query_keeps_its_exact_count_and_best_hit(common):
    store, stored = common
    hits = store.search(fts_query("summit"), cap=5)
    assert hits[0]["story_id"] == stored[0][1]  # the oldest, by its headline
    assert {hit["story_id"] for hit in hits} == {stored[0][1], stored[5][1], stored[10][1]}
    assert all((hit["capped"], hit["total"], hit["articles"], hit["ranked"]) == (False, 3, 3, 3) for hit in hits)


def test_a_filtered_query_over_the_cap_says_more_than_and_one_under_it_is_exact(common):
    store, stored = common
    # kcna has 6 of the 12: over a cap of 5, and not counted (each match's article would be read).
    kcna = store.search(fts_query("korea"), sources=("kcna",), cap=5)
    assert (kcna[0]["capped"], kcna[0]["articles"], kcna[0]["ranked"]) == (True, None, 5)
    assert {hit["source_id"] for hit in kcna} == {"kcna"}
    assert {hit["story_id"] for hit in kcna} == {story for _, story in stored[3::2]}  # days 4-12, not day 2
    # Narrowed by date to 4: all ranked, counted exactly, the best of them first.
    recent = store.search(fts_query("korea"), since=day(9), cap=5)
    assert (recent[0]["capped"], recent[0]["articles"], recent[0]["total"]) == (False, 4, 3)
    assert recent[0]["story_id"] == stored[8][1]


def test_search_lines_say_the_count_is_capped(common):
    store, _ = common
    lines = list(search_lines(store.search(fts_query("korea"), cap=5, limit=2), "korea"))
    assert lines[0] == ("12 articles match 'korea'; the best 2 stories, ranked among the 5 most recent "
                        "(narrow the query, use --since, or --all-matches to rank them all):")
    filtered = list(search_lines(store.search(fts_query("korea"), sources=("kcna",), cap=5), "korea"))
    assert filtered[0].startswith("5+ articles match 'korea'; the best ")


def test_the_cli_says_when_it_ranked_only_the_most_recent(tmp_path, monkeypatch):
    store = Store(str(tmp_path / "presswatch.db"))
    try:
        stored = build_common_word(store)
    finally:
        store.close()
    config = tmp_path / "presswatch.yaml"
    config.write_text(yaml.safe_dump({"database": "presswatch.db"}), encoding="utf-8")
    # The CLI's cap is 10,000 (and its help says so); 5 here, not 10,001 articles.
    assert f"{store_archive.SEARCH_CAP:,}" in cli("search", "--help").output.replace("\n", " ")
    monkeypatch.setattr(store_archive, "SEARCH_CAP", 5)
    result = cli("search", "korea", "--config", str(config), "--limit", "3")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == ("12 articles match 'korea'; the best 3 stories, ranked among the 5 "
                                             "most recent (narrow the query, use --since, or --all-matches to "
                                             "rank them all):")
    every = cli("search", "korea", "--config", str(config), "--all-matches", "--limit", "1")
    assert every.stdout.splitlines()[0] == "11 stories match 'korea'; the best 1:"
    assert f"story {stored[0][1]:>6}" in every.stdout.splitlines()[1]
    # --json keeps its shape; the note goes to stderr.
    as_json = cli("search", "korea", "--config", str(config), "--json", "--source", "kcna")
    assert {h["source_id"] for h in json.loads(as_json.stdout)} == {"kcna"}
    assert not {"total", "capped", "articles", "ranked"} & set(json.loads(as_json.stdout)[0])
    assert "note: 5+ articles match; ranked among the 5 most recently stored only" in as_json.stderr
    assert cli("search", "summit", "--config", str(config)).stdout.splitlines()[0] == "3 stories match 'summit':"


# --- export ---------------------------------------------------------------------------------

JSON_COLUMNS = {"languages", "authors", "done_urls"}


def table(db, name: str) -> list[dict]:
    store = Store(str(db))
    try:
        return list(store.db.query(f"SELECT * FROM {name} ORDER BY id"))
    finally:
        store.close()


def exported(config, tmp_path, what: str, fmt: str, *args: str) -> list[dict]:
    out = tmp_path / f"{what}.{fmt}"
    result = cli("export", what, "--format", fmt, "--output", str(out), "--config", str(config), *args)
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    if fmt == "json":
        return json.loads(text)
    if fmt == "jsonl":
        return [json.loads(line) for line in text.splitlines()]
    return list(csv.DictReader(io.StringIO(text, newline="")))


def as_stored(row: dict, fmt: str, columns) -> dict:
    """An exported row, read back as the database holds it (CSV: text; JSON columns: JSON text)."""
    if fmt != "csv":
        return {c: json.dumps(row[c], separators=(",", ":"), ensure_ascii=False) if c in JSON_COLUMNS else row[c]
                for c in columns}
    return {c: row[c] for c in columns}


def stored(row: dict, fmt: str) -> dict:
    if fmt != "csv":
        return {c: (json.dumps(json.loads(v), separators=(",", ":"), ensure_ascii=False)
                    if c in JSON_COLUMNS and v is not None else v) for c, v in row.items()}
    return {c: "" if v is None else (json.dumps(json.loads(v), ensure_ascii=False) if c in JSON_COLUMNS
                                     else str(v)) for c, v in row.items()}


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
@pytest.mark.parametrize("what, source_table", [("stories", "stories"), ("articles", "articles"),
                                                ("alerts", "outbox")])
def test_export_round_trips_every_row_as_stored(archive, tmp_path, fmt, what, source_table):
    config, _, db = archive
    rows = table(db, source_table)
    back = exported(config, tmp_path, what, fmt)
    assert len(back) == len(rows) > 0
    columns = list(rows[0])
    assert [as_stored(row, fmt, columns) for row in back] == [stored(row, fmt) for row in rows]


def test_export_adds_rules_sources_and_alert_context(archive, tmp_path):
    config, ids, _ = archive
    stories = {row["id"]: row for row in exported(config, tmp_path, "stories", "json")}
    assert stories[ids["report"]]["rules"] == ["hrw-report"]
    assert stories[ids["report"]]["sources"] == ["hrw", "yonhap"]
    assert stories[ids["report"]]["languages"] == ["en"]
    alerts = exported(config, tmp_path, "alerts", "json")
    first = alerts[0]
    assert first["story_title"].startswith("North Korea: Sexual Violence")
    assert first["terms"] == ["term"] and first["snippet"].startswith("…«")
    assert [a["state"] for a in alerts] == ["sent", "sent", "pending"]


def test_export_filters(archive, tmp_path):
    config, ids, _ = archive

    def story_ids(*args):
        return [row["id"] for row in exported(config, tmp_path, "stories", "jsonl", *args)]

    assert story_ids("--source", "yonhap") == [ids["report"]]
    assert story_ids("--rule", "hrw-report") == [ids["report"], ids["korean"]]
    assert story_ids("--since", "2018-11-02T12:00", "--until", "2018-11-04") == [ids["reply"]]
    # Exports go by when presswatch first saw a row, whatever the page says it was published.
    assert story_ids("--since", "2018-11-04") == [ids["sports"]]
    articles = exported(config, tmp_path, "articles", "json", "--rule", "hrw-report", "--source", "yonhap")
    assert [(a["source_id"], a["story_id"]) for a in articles] == [("yonhap", ids["report"])]
    alerts = exported(config, tmp_path, "alerts", "csv", "--rule", "state-media")
    assert [(a["rule_id"], a["story_id"]) for a in alerts] == [("state-media", str(ids["reply"]))]
    assert exported(config, tmp_path, "alerts", "json", "--source", "sports") == []


def test_export_to_stdout_and_an_empty_csv_keeps_its_header(archive):
    config, _, _ = archive
    result = cli("export", "stories", "--format", "jsonl", "--config", str(config))
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 4
    empty = cli("export", "articles", "--since", "1d", "--config", str(config))
    assert empty.stdout.splitlines()[0].startswith("id,source_id,story_id,url,")
    assert len(empty.stdout.splitlines()) == 1
    assert cli("export", "alerts", "--format", "json", "--since", "1d", "--config", str(config)).stdout == "[]\n"


# --- stats ----------------------------------------------------------------------------------


def test_stats_per_source_and_per_day(archive):
    config, _, _ = archive
    result = cli("stats", "--since", "2018-10-01", "--json", "--config", str(config))
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    by_source = {row["source"]: row for row in found["sources"]}
    assert {k: by_source["hrw"][k] for k in ("articles", "stories", "new_stories", "matches", "alerts")} == \
        {"articles": 1, "stories": 1, "new_stories": 1, "matches": 1, "alerts": 1}
    # A copy counts as an article and a story carried, not as a new story.
    assert (by_source["yonhap"]["articles"], by_source["yonhap"]["stories"], by_source["yonhap"]["new_stories"]) \
        == (1, 1, 0)
    assert by_source["sports"]["matches"] == 0
    days = {row["day"]: row for row in found["days"]}
    assert list(days) == ["2018-11-01", "2018-11-02", "2018-11-03", "2018-11-05"]
    assert {k: days["2018-11-01"][k] for k in ("articles", "stories", "matches", "alerts", "sent")} == \
        {"articles": 2, "stories": 1, "matches": 1, "alerts": 1, "sent": 0}
    assert days["2018-11-03"]["sent"] == 2


def test_stats_table_shows_silent_sources_too(archive):
    config, _, _ = archive
    result = cli("stats", "--config", str(config))  # the last 30 days: nothing from 2018
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.split()[:2] == ["kcna", "0"] for line in lines)
    assert "(nothing stored in this span)" in lines
    assert datetime.fromisoformat(lines[0].split()[1]).date() == (datetime.now(UTC) - timedelta(days=30)).date()

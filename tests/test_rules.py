"""Rules end to end: one matcher for many rules agrees with each rule's own regexes; rule
keys in the config; filters through the real Ingest; `presswatch rules test` on a stored
archive (a real SQLite file, the command run as a user runs it).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from presswatch.config import Config, Rule, Source, load_config
from presswatch.config.errors import ConfigError
from presswatch.config.query import evaluate, parse_query
from presswatch.crawler.stories.ingest import Candidate, Ingest, Outcome
from presswatch.crawler.rules.match import RuleMatcher, _spans, normalize, term_pattern, term_words
from presswatch.crawler.store.database import Store
from presswatch.crawler.store.records import NewArticle, now_iso

# --- one matcher for all rules, checked against a regex per term -----------------------------

PIECES = ["rape", "grape", "Kim", "Jong", "un", "Jong-un", "DPRK", "DPRK's", "U.N.", "north", "Korea", "Korean",
          "provocation", "provoke", "성폭력", "성폭력을", "북한", "북한인권", "인권", "human", "scum", "rights",
          "Watch", "don\u2019t", "kimchi", "HRW는", "\uff24\uff30\uff32\uff2b", "Kim Jong\u2011un", "the", "--",
          "(KCNA)", "human-rights", "북한 인권", "of\u00adficers", "Stra\u00dfe", "strasse", "guards", "prison",
          "scums", "scumbag", "Koreas", "Korea\u2019s", "atrocity", "atrocities", "reports", "reporter", "us", "uses",
          "churches", "heroes", "human scums"]
TERMS = ["rape", "Kim", "un", "DPRK", "DPRK's", "U.N.", "north", "Korea", "provoc*", "prov*", "성폭력", "북한", "인권",
         '"북한 인권"', '"human rights"', '"human rights watch"', '"Kim Jong Un"', "Kim-Jong-un", "HRW", "strasse",
         "officers", '"north korea"', "don't", "KCNA", '"human scum"', "human", '"sexual viol*"', "Korea*",
         '"북한 인*"', "title:human", "text:DPRK", "guards", "prison", "scum", "=scum", '="human scum"', "atrocity",
         "report", "=report", "church", "hero", "us", "=Korea", "title:=guards"]
GAPS = [" ", "  ", "-", " - ", "\n", "", ", ", ".", "'", "\u00a0"]


def random_text(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) + rng.choice(GAPS) for _ in range(rng.randint(1, 30)))


def random_query(rng: random.Random) -> str:
    query = rng.choice(TERMS)
    for _ in range(rng.randint(0, 3)):
        operator = rng.choice([" ", " OR ", " AND ", " NOT ", " NEAR/2 ", " NEAR/5 "])
        query += operator + rng.choice(TERMS)
    return query


def reference(node, title: str, text: str) -> bool:
    """The rule evaluated the slow, plain way: each term's regex over the normalised fields."""
    fields = {"title": normalize(title), "text": normalize(text)}

    def spans(term, name):
        # Word positions: the count of space/hyphen runs before each end.
        value = fields[name]
        gaps = [m.end() for m in re.finditer(r"[\s\-]+", value)]
        return [(sum(g <= m.start() for g in gaps), sum(g <= m.end() - 1 for g in gaps))
                for m in term_pattern(term.text).finditer(value)]

    def present(term):
        names = [term.field] if term.field else ["title", "text"]
        return any(term_pattern(term.text).search(fields[name]) for name in names)

    def near(node):
        sides = [[node.left] if not hasattr(node.left, "items") else list(node.left.items),
                 [node.right] if not hasattr(node.right, "items") else list(node.right.items)]
        names = [sides[0][0].field] if sides[0][0].field else ["title", "text"]
        for name in names:
            lefts = [s for t in sides[0] for s in spans(t, name)]
            rights = [s for t in sides[1] for s in spans(t, name)]
            for a in lefts:
                for b in rights:
                    gap = b[0] - a[1] if a[1] < b[0] else a[0] - b[1] if b[1] < a[0] else 0
                    if a != b and gap <= node.distance:
                        return True
        return False

    return evaluate(node, present, near)


def test_one_matcher_for_many_rules_agrees_with_each_rules_regexes():
    rng = random.Random(20181101)
    queries = []
    while len(queries) < 400:
        query = random_query(rng)
        try:
            queries.append((query, parse_query(query)))
        except ValueError:
            continue
    matcher = RuleMatcher([Rule(id=f"r{i}", query=q) for i, (q, _) in enumerate(queries)])
    positives = 0
    for _ in range(150):
        title, text = random_text(rng), random_text(rng)
        expected = [f"r{i}" for i, (_, node) in enumerate(queries) if reference(node, title, text)]
        assert matcher.rule_ids(title, text) == expected, (title, text)
        positives += len(expected)
    assert positives > 1000  # the texts do hit the rules


def test_spans_found_by_hand_are_the_exact_patterns_spans():
    # Snippets and NEAR find terms with a quick-to-compile pattern and check boundaries by hand.
    rng = random.Random(7)
    terms = [t.split(":")[-1].replace('"', "") for t in TERMS] + ["U.N", "un*", "성폭*", "kim jong-un", "-"]
    for _ in range(300):
        text = normalize(random_text(rng))
        for term in terms:
            if any(ch.isalnum() for ch in term):
                expected = [m.span() for m in term_pattern(term).finditer(text)]
                assert _spans(text, term_words(term)) == expected, (term, text)


# --- rule keys in the config -------------------------------------------------------------------

CONFIG = {
    "sources": [{"id": "kcna", "kind": "feed", "url": "https://kcna.example/rss"},
                {"id": "yonhap-ko", "kind": "feed", "url": "https://yonhap.example/rss"}],
    "rules": [{"id": "leader", "query": '"Kim Jong Un" NEAR/10 (women OR 녀성)',
               "synonyms": [["Kim Jong Un", "김정은"], ["DPRK", "North Korea", "북한"]],
               "sources": ["kcna"], "languages": ["en", "ko"], "min_outlets": 2}],
}


def test_rule_keys_load(write_config):
    config = load_config(write_config(CONFIG), {})
    rule = config.rules[0]
    assert rule.synonyms == (("Kim Jong Un", "김정은"), ("DPRK", "North Korea", "북한"))
    assert (rule.sources, rule.languages, rule.min_outlets) == (("kcna",), ("en", "ko"), 2)
    assert Rule(id="r", query="KCNA").model_dump(include={"synonyms", "sources", "languages", "min_outlets"}) == {
        "synonyms": (), "sources": (), "languages": (), "min_outlets": 1}


def test_rule_key_problems_are_each_reported_with_their_path(write_config):
    rules = [{**CONFIG["rules"][0], "sources": ["kcna", "yonhap"], "languages": ["korean"], "min_outlets": 0},
             {"id": "inline", "query": "KCNA source:kcan"},
             {"id": "syn", "query": "KCNA", "synonyms": [["KCNA"]]},
             {"id": "near", "query": "KCNA NEAR/x report"}]
    with pytest.raises(ConfigError) as caught:
        load_config(write_config({**CONFIG, "rules": rules}), {})
    problems = caught.value.problems
    assert 'rules[0] (leader).sources[1]: "yonhap" is not a source; did you mean "yonhap-ko"?' in problems
    assert any(p.startswith('rules[0] (leader).languages[0]: "korean" is not a language code') for p in problems)
    assert any(p.startswith("rules[0] (leader).min_outlets:") for p in problems)
    assert 'rules[1] (inline).query: source:kcan names no source; did you mean "kcna"?' in problems
    assert "rules[2] (syn).synonyms: set 1 ['KCNA'] needs at least two terms" in problems
    assert any(p.startswith("rules[3] (near).query:") and "column 11: expected a number after NEAR/" in p for p in problems)


# --- filters through the real Ingest ------------------------------------------------------------

SOURCES = tuple(Source(id=f"outlet{n}", kind="feed", url=f"https://outlet{n}.example/rss") for n in range(1, 5))
STATEMENT = (
    "A spokesperson for the Korea Association for Human Rights Studies called the report of Human "
    "Rights Watch a dangerous provocation cooked up with human scum who betrayed their country, and "
    "said the so-called testimony of women about sexual violence by officials was a fabrication paid "
    "for by hostile forces seeking to tarnish the image of the Republic before the United Nations vote."
)


@pytest.fixture
def store(tmp_path):
    store = Store(str(tmp_path / "rules.db"))
    store.sync_sources([(s.id, s.kind, s.url, s.id) for s in SOURCES])
    yield store
    store.close()


def ingest_for(store: Store, *rules: Rule) -> Ingest:
    config = Config(sources=SOURCES, rules=rules)
    return Ingest.from_config(store, config.rules, config.sources)


def copy_from(n: int, language: str | None = "en") -> Candidate:
    return Candidate(source_id=f"outlet{n}", url=f"https://outlet{n}.example/news/{n}", title="KCNA on HRW report",
                     text=STATEMENT, extracted_from="page", language=language)


def test_min_outlets_alerts_when_the_story_reaches_them(store):
    ingest = ingest_for(store, Rule(id="spread", query='"human scum"', min_outlets=3),
                        Rule(id="at-once", query='"human scum"'))
    results = [ingest.ingest(copy_from(n)) for n in (1, 2, 3, 4)]
    assert [r.outcome for r in results] == [Outcome.NEW, Outcome.COPY, Outcome.COPY, Outcome.COPY]
    assert [r.alerts_queued for r in results] == [1, 0, 1, 0]
    assert [(row.rule_id, row.story_id) for row in store.outbox()] == [("at-once", 1), ("spread", 1)]


def test_sources_and_languages_filter_through_ingest(store):
    ingest = ingest_for(store, Rule(id="from-2", query='"human scum"', sources=("outlet2",)),
                        Rule(id="korean", query='"human scum"', languages=("ko",)),
                        Rule(id="lang-in-query", query='"human scum" lang:ko'))
    assert ingest.ingest(copy_from(1)).alerts_queued == 0
    assert ingest.ingest(copy_from(2)).alerts_queued == 1
    assert ingest.ingest(copy_from(3, language="ko")).alerts_queued == 2
    assert sorted(row.rule_id for row in store.outbox()) == ["from-2", "korean", "lang-in-query"]


# --- presswatch rules test --------------------------------------------------------------------

NOW = datetime.now(UTC)


@dataclass(frozen=True)
class Stored:
    source: str
    title: str
    text: str
    days_ago: float
    language: str = "en"
    copy_of: int | None = None  # index of an earlier Stored whose story it joins


ARCHIVE = [
    Stored("outlet1", "Rights group details abuse of women in North Korea",
           "Human Rights Watch said officials in North Korea routinely abuse women, and that sexual "
           "violence by guards and police goes unpunished.", 3),
    Stored("outlet2", "Pyongyang rejects report", STATEMENT, 2),
    Stored("outlet3", "KCNA: report is a provocation", STATEMENT, 1.5, copy_of=1),
    Stored("outlet4", "North Korea harvest", "Farmers in North Korea brought in the rice harvest.", 1),
    Stored("outlet1", "휴먼라이츠워치 보고서", "휴먼라이츠워치는 북한 여성들이 보안원에게 성폭력을 당해도 호소할 곳이 없다고 밝혔다.",
           0.5, language="ko"),
    Stored("outlet2", "Old story", "Human Rights Watch on sexual violence in North Korea, long ago.", 60),
]

RULES = [
    {"id": "hrw-report", "query": '("Human Rights Watch" OR 휴먼라이츠워치) (DPRK OR "North Korea") '
                                  '("sexual violence" OR 성폭력)',
     "synonyms": [["DPRK", "North Korea", "북한"]], "channels": ["desk"]},
    {"id": "reply-spread", "query": '"human scum" NEAR/5 betray*', "min_outlets": 2, "enabled": False},
    {"id": "korean-only", "query": "성폭력 OR \"sexual violence\"", "languages": ["ko"]},
]


@pytest.fixture
def archive(tmp_path, write_config):
    path = write_config({"sources": [{"id": s.id, "kind": "feed", "url": s.url} for s in SOURCES],
                         "rules": RULES, "channels": [{"id": "desk", "url": "json://127.0.0.1:9/desk"}]})
    store = Store(str(tmp_path / "presswatch.db"))
    store.sync_sources([(s.id, s.kind, s.url, s.id) for s in SOURCES])
    stories: list[int] = []
    with store.transaction():
        for n, item in enumerate(ARCHIVE):
            url = f"https://{item.source}.example/{n}"
            article = NewArticle(source_id=item.source, url=url, url_key=url, canonical_url=url, guid=None,
                                 title=item.title, text=item.text, published_at=None, date_source=None,
                                 language=item.language, authors=(), content_hash=None, extracted_from="page",
                                 outlet=f"{item.source}.example")
            story = stories[item.copy_of] if item.copy_of is not None else None
            stories.append(store.add_article(article, story, at=NOW - timedelta(days=item.days_ago))[1])
    store.close()
    return path


def test_rules_test_prints_what_a_rule_would_have_alerted_and_sends_nothing(archive, run_presswatch):
    result = run_presswatch("rules", "test", "hrw-report", "--since", "30d", "--config", str(archive))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == ("rule hrw-report: would have alerted 2 stories (2 matching article(s) of 5 stored "
                        "in the last 30d); nothing was sent")
    assert "Rights group details abuse of women in North Korea" in lines[1] and "outlet1" in lines[1]
    assert lines[2].strip() == "terms: Human Rights Watch, North Korea, sexual violence"
    assert "«sexual violence» by guards" in lines[3]
    assert "휴먼라이츠워치 보고서" in lines[4]
    assert "«북한»" in lines[6] and "«성폭력»을" in lines[6]
    store = Store(str(archive.parent / "presswatch.db"))
    assert store.counts()["matches"] == 0 and store.counts()["outbox"] == 0
    store.close()


def test_rules_test_replays_outlet_counts_and_tries_disabled_rules(archive, run_presswatch):
    result = run_presswatch("rules", "test", "reply-spread", "--config", str(archive))
    assert result.returncode == 0, result.stderr
    # The statement's story reached 2 outlets with its second article, which alerts.
    assert result.stdout.startswith("rule reply-spread: would have alerted 1 story (1 matching article(s) of 5")
    assert "outlet3" in result.stdout and "«human scum» who «betrayed»" in result.stdout


def test_rules_test_limit_and_since(archive, run_presswatch):
    result = run_presswatch("rules", "test", "hrw-report", "--since", "90d", "--limit", "1", "--config", str(archive))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("rule hrw-report: would have alerted 3 stories (3 matching article(s) of 6")
    assert "Old story" in result.stdout  # oldest first
    assert result.stdout.rstrip().endswith("... and 2 more stories (--limit to show more)")


def test_rules_test_an_inline_query(archive, run_presswatch):
    result = run_presswatch("rules", "test", "--query", "title:provoc* OR 보안원", "--config", str(archive))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("query 'title:provoc* OR 보안원': would have alerted 2 stories")
    bad = run_presswatch("rules", "test", "--query", "KCNA NEAR/x report", "--config", str(archive))
    assert bad.returncode == 2
    assert "column 11: expected a number after NEAR/" in bad.stderr


def test_rules_test_an_unknown_rule_lists_the_rules(archive, run_presswatch):
    result = run_presswatch("rules", "test", "hrw", "--config", str(archive))
    assert result.returncode == 1
    assert 'no rule "hrw" in the config; its rules: hrw-report, reply-spread, korean-only' in result.stderr
    neither = run_presswatch("rules", "test", "--config", str(archive))
    assert neither.returncode == 2 and "give a RULE id or --query" in neither.stderr


def test_rules_test_on_a_store_matches_what_ingest_would_filter(archive, run_presswatch):
    result = run_presswatch("rules", "test", "korean-only", "--config", str(archive))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("rule korean-only: would have alerted 1 story (1 matching article(s) of 5")


def test_articles_since_gives_each_article_its_outlets_then_and_now(archive):
    store = Store(str(archive.parent / "presswatch.db"))
    rows = list(store.articles_since(NOW - timedelta(days=30)))
    store.close()
    assert [r["title"] for r in rows][:3] == [a.title for a in ARCHIVE[:3]]
    statement = [r for r in rows if r["text"] == STATEMENT]
    assert [(r["outlets"], r["story_outlets"]) for r in statement] == [(1, 2), (2, 2)]
    assert rows[0]["first_seen_at"] == now_iso(NOW - timedelta(days=3))
    assert {"source_id", "language", "story_id", "url", "published_at"} <= set(rows[0])

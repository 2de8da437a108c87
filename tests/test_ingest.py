"""Ingest and the store: deduplication, stories, matches, the outbox and source state.

Everything runs against a real SQLite file in tmp_path, with rules, channels and sources
built by the config schema. The articles are written for these tests in the manner of
the coverage of Human Rights Watch's November 2018 report on sexual violence against
women in North Korea.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from presswatch.config import Channel, Config, Rule, Source, load_config
from presswatch.crawler.stories.dedup import MIN_SHORT_WORDS
from presswatch.crawler.parse.feeds import parse_feed
from presswatch.crawler.stories.ingest import CONSOLE_CHANNEL, MIN_HASH_WORDS, Candidate, Ingest, Outcome
from presswatch.crawler.rules.match import RuleMatcher
from presswatch.crawler.stories.candidates import entry_candidate
from presswatch.crawler.store.database import Store
from presswatch.crawler.store.records import NewArticle, NewMatch, SourceRun, now_iso

T0 = datetime(2018, 11, 1, 9, 0, tzinfo=UTC)

HRW_TITLE = "North Korean officials abuse women with impunity, Human Rights Watch says"
HRW_TEXT = (
    "Women in North Korea are routinely subjected to sexual abuse by police officers, prison guards "
    "and market inspectors, and have almost nowhere to turn, Human Rights Watch said in a report "
    "published on Thursday. The report, titled You Cry at Night but Don't Know Why, draws on "
    "interviews with more than fifty North Koreans who left the country after 2011. None of the "
    "women interviewed had reported the abuse, fearing reprisals from the officials involved."
)
WEATHER_TITLE = "Cold wave reaches Pyongyang"
WEATHER_TEXT = (
    "Temperatures in Pyongyang fell below freezing overnight as the first cold wave of the season "
    "reached the capital, state weather forecasters said. Farmers were told to finish bringing in "
    "the cabbage harvest before the weekend, when snow is expected across the northern provinces "
    "and along the border with China."
)
SHORT_TEXT = "Human Rights Watch published a report on North Korea."

HRW_URL = "https://www.nknews.org/2018/11/hrw-report-sexual-violence/"
WEATHER_URL = "https://www.nknews.org/2018/11/cold-wave-pyongyang/"

SOURCES = (
    Source(id="nknews", kind="feed", url="https://www.nknews.org/feed/", name="NK News"),
    Source(id="yonhap", kind="feed", url="https://en.yna.co.kr/RSS/nk.xml", name="Yonhap"),
    Source(id="kcna", kind="feed", url="https://kcnawatch.org/feed/", name="KCNA Watch"),
)
CHANNELS = (
    Channel(id="analysts", url="json://127.0.0.1:9/analysts"),
    Channel(id="archive", url="json://127.0.0.1:9/archive"),
)
RULES = (
    Rule(id="hrw-report", query='"Human Rights Watch" (women OR 여성)', channels=("analysts", "archive")),
    Rule(id="sexual-violence", query='"sexual abuse" OR "sexual violence" OR 성폭력'),
    Rule(id="kcna-reply", query='KCNA OR "Korea Association for Human Rights Studies"',
         channels=("analysts",)),
    Rule(id="hrw-any", query='"Human Rights Watch"', channels=("analysts",), enabled=False),
)
# What HRW_TEXT queues: hrw-report to both its channels, sexual-violence (no channels) to
# the console; kcna-reply does not match, hrw-any is disabled.
HRW_ALERTS = {
    ("hrw-report", "analysts"),
    ("hrw-report", "archive"),
    ("sexual-violence", CONSOLE_CHANNEL),
}


@pytest.fixture
def config() -> Config:
    return Config(sources=SOURCES, rules=RULES, channels=CHANNELS)


@pytest.fixture
def store(tmp_path, config):
    store = Store(str(tmp_path / "t.db"))
    store.sync_sources([(s.id, s.kind, s.url, s.name) for s in config.sources])
    yield store
    store.close()


@pytest.fixture
def ingest(store, config) -> Ingest:
    return Ingest.from_config(store, config.rules, config.sources)


def candidate(url: str = HRW_URL, title: str = HRW_TITLE, text: str = HRW_TEXT, **kw) -> Candidate:
    kw.setdefault("source_id", "nknews")
    kw.setdefault("extracted_from", "feed")
    kw.setdefault("published", T0)
    return Candidate(url=url, title=title, text=text, **kw)


def rows(store: Store, table: str, where: str | None = None, params: tuple = ()) -> list[dict]:
    return list(store.db[table].rows_where(where, params, order_by="id"))


def alerts(store: Store) -> set[tuple[str, str]]:
    return {(row.rule_id, row.channel_id) for row in store.outbox()}


def without_sources(counts: dict[str, int]) -> dict[str, int]:
    return {table: n for table, n in counts.items() if table != "sources"}


# --- new stories and their alerts -------------------------------------------------------


def test_a_new_candidate_makes_one_article_and_one_story(ingest, store):
    result = ingest.ingest(candidate(WEATHER_URL, WEATHER_TITLE, WEATHER_TEXT))

    assert result.outcome is Outcome.NEW
    assert result.alerts_queued == 0
    assert without_sources(store.counts()) == {"articles": 1, "stories": 1, "events": 1, "matches": 0, "outbox": 0}
    [article] = rows(store, "articles")
    story = store.db["stories"].get(result.story_id)
    assert article["story_id"] == result.story_id
    assert story["first_article_id"] == article["id"]
    assert story["article_count"] == 1
    assert story["title"] == WEATHER_TITLE
    assert article["source_id"] == "nknews"
    assert article["published_at"] == now_iso(T0)


def test_a_matching_candidate_queues_one_alert_per_rule_and_channel(ingest, store):
    result = ingest.ingest(candidate())

    assert result.outcome is Outcome.NEW
    assert result.alerts_queued == len(HRW_ALERTS)
    assert alerts(store) == HRW_ALERTS
    assert store.counts()["outbox"] == len(HRW_ALERTS)
    assert all(row.state == "pending" and row.tries == 0 for row in store.outbox())
    assert all(row.story_id == result.story_id for row in store.outbox())
    matches = {m["rule_id"]: m for m in rows(store, "matches")}
    assert set(matches) == {"hrw-report", "sexual-violence"}
    assert "«Human Rights Watch»" in matches["hrw-report"]["snippet"]
    assert "«sexual abuse»" in matches["sexual-violence"]["snippet"]


def test_a_rule_without_channels_alerts_the_console(store, config):
    rules = (Rule(id="kcna-reply", query="KCNA"),)
    ingest = Ingest.from_config(store, rules, config.sources)

    result = ingest.ingest(candidate(text="Pyongyang, November 9 (KCNA) -- The report is a smear."))

    assert result.alerts_queued == 1
    assert alerts(store) == {("kcna-reply", CONSOLE_CHANNEL)}


# --- seen again ---------------------------------------------------------------------------


def test_the_same_candidate_again_is_seen_and_adds_nothing(ingest, store):
    ingest.ingest(candidate())
    before = store.counts()

    result = ingest.ingest(candidate())

    assert result.outcome is Outcome.SEEN
    assert result.alerts_queued == 0
    assert store.counts() == before


@pytest.mark.parametrize(
    "variant",
    [
        HRW_URL + "?utm_source=rss&utm_medium=feed&utm_campaign=nk",
        HRW_URL + "#comments",
        HRW_URL + "?utm_source=twitter#top",
        "https://nknews.org/2018/11/hrw-report-sexual-violence",
        HRW_URL + "?fbclid=IwAR0abc",
    ],
)
def test_a_tracking_or_fragment_variant_of_a_stored_url_is_seen(ingest, store, variant):
    ingest.ingest(candidate())
    before = store.counts()

    assert ingest.ingest(candidate(variant)).outcome is Outcome.SEEN
    assert store.counts() == before
    assert ingest.is_known("nknews", None, variant)


def test_an_identifying_query_parameter_is_not_a_variant(ingest, store):
    first = ingest.ingest(candidate("https://en.yna.co.kr/view?articleId=AEN20181101000100",
                                    WEATHER_TITLE, WEATHER_TEXT, source_id="yonhap"))
    second = ingest.ingest(candidate("https://en.yna.co.kr/view?articleId=AEN20181101000200",
                                     "Another story", SHORT_TEXT, source_id="yonhap"))

    assert second.outcome is Outcome.NEW
    assert second.story_id != first.story_id


def test_the_same_guid_under_another_url_from_the_same_source_is_seen(ingest, store):
    guid = "https://www.nknews.org/?p=712345"
    ingest.ingest(candidate(guid=guid))
    before = store.counts()

    # The outlet edited the headline and the slug; the feed entry's id stayed.
    moved = candidate("https://www.nknews.org/2018/11/hrw-women-abuse-report/", guid=guid)

    assert ingest.ingest(moved).outcome is Outcome.SEEN
    assert store.counts() == before


def test_the_same_guid_from_another_source_is_not_seen(ingest, store):
    guid = "urn:uuid:5c1e4a1e-2018-11-01"
    first = ingest.ingest(candidate(WEATHER_URL, WEATHER_TITLE, SHORT_TEXT, guid=guid))

    other = candidate("https://en.yna.co.kr/view/AEN20181101000300", "HRW report", SHORT_TEXT,
                      guid=guid, source_id="yonhap")
    result = ingest.ingest(other)

    assert result.outcome is Outcome.NEW
    assert result.story_id != first.story_id
    assert store.counts()["articles"] == 2


# --- copies of a known story ----------------------------------------------------------------


def test_the_same_long_text_under_another_url_is_a_copy_of_the_first_story(ingest, store):
    assert len(HRW_TEXT.split()) >= MIN_HASH_WORDS
    first = ingest.ingest(candidate())
    before = store.counts()

    # A wire reprint: another outlet, another headline, the same text.
    copy = ingest.ingest(candidate("https://en.yna.co.kr/view/AEN20181101000400",
                                   "HRW: N. Korean women face sexual abuse", HRW_TEXT, source_id="yonhap"))

    assert copy.outcome is Outcome.COPY
    assert copy.story_id == first.story_id
    assert copy.alerts_queued == 0
    assert store.db["stories"].get(first.story_id)["article_count"] == 2
    assert store.counts() == {**before, "articles": before["articles"] + 1}
    assert [a["story_id"] for a in rows(store, "articles")] == [first.story_id] * 2
    assert alerts(store) == HRW_ALERTS


def test_a_copy_differing_only_in_case_spacing_and_width_is_still_a_copy(ingest, store):
    first = ingest.ingest(candidate())
    reflowed = HRW_TEXT.upper().replace(". ", ".\n\n").replace(" ", "  ").replace("2011", "２０１１")

    copy = ingest.ingest(candidate("https://en.yna.co.kr/view/AEN20181101000500", text=reflowed,
                                   source_id="yonhap"))

    assert copy.outcome is Outcome.COPY
    assert copy.story_id == first.story_id


def test_a_very_short_text_under_another_url_is_a_new_story(ingest, store):
    # A headline and lead of a few words say too little to call two entries one story.
    tiny = "Report on North Korea."
    assert len(("Report " + tiny).split()) < MIN_SHORT_WORDS
    first = ingest.ingest(candidate(WEATHER_URL, "Report", tiny))

    second = ingest.ingest(candidate("https://en.yna.co.kr/view/AEN20181101000600", "Report",
                                     tiny, source_id="yonhap"))

    assert second.outcome is Outcome.NEW
    assert second.story_id != first.story_id
    assert store.counts()["stories"] == 2


# --- the page's own canonical ----------------------------------------------------------------


def test_a_plausible_page_canonical_becomes_the_key(ingest, store):
    canonical = "https://www.nknews.org/2018/11/hrw-report-sexual-violence/"
    first = ingest.ingest(candidate("https://m.nknews.org/article/712345?from=app", extracted_from="page",
                                    page_canonical=canonical))
    before = store.counts()

    [article] = rows(store, "articles")
    assert article["canonical_url"] == "https://nknews.org/2018/11/hrw-report-sexual-violence"
    assert store.db["stories"].get(first.story_id)["url"] == canonical
    # Another variant of the same page, and the canonical URL itself, are the same article.
    again = candidate("https://amp.nknews.org/article/712345/amp", extracted_from="page",
                      page_canonical=canonical)
    assert ingest.ingest(again).outcome is Outcome.SEEN
    assert ingest.ingest(candidate(canonical)).outcome is Outcome.SEEN
    assert store.counts() == before


@pytest.mark.parametrize(
    "bad_canonical",
    [
        "https://www.nknews.org/",  # CMSs that point every page at the home page
        "/index.html",
        "https://www.hrw.org/news/2018/11/01/north-korea-sexual-abuse",  # another site
    ],
)
def test_an_implausible_page_canonical_is_ignored(ingest, store, bad_canonical):
    first = ingest.ingest(candidate(HRW_URL, extracted_from="page", page_canonical=bad_canonical,
                                    text=SHORT_TEXT))

    [article] = rows(store, "articles")
    assert article["canonical_url"] == "https://nknews.org/2018/11/hrw-report-sexual-violence"
    assert store.db["stories"].get(first.story_id)["url"] == HRW_URL
    # Another article with the same bogus canonical is not taken for the first one.
    second = ingest.ingest(candidate(WEATHER_URL, WEATHER_TITLE, WEATHER_TEXT, extracted_from="page",
                                     page_canonical=bad_canonical))
    assert second.outcome is Outcome.NEW
    assert second.story_id != first.story_id


# --- entries without a link --------------------------------------------------------------------


def test_an_entry_without_link_is_stored_under_a_urn_and_recognised(ingest, store):
    entry = candidate("", "KCNA: report is a smear", "Pyongyang, November 9 (KCNA) -- The so-called report.",
                      source_id="kcna", guid="kcna-2018-11-09-0012")

    first = ingest.ingest(entry)

    assert first.outcome is Outcome.NEW
    [article] = rows(store, "articles")
    assert article["canonical_url"].startswith("urn:")
    assert "kcna" in article["canonical_url"]
    # The link shown is the source's, never an empty or made-up web address.
    assert store.db["stories"].get(first.story_id)["url"] == "https://kcnawatch.org/feed/"
    before = store.counts()
    assert ingest.ingest(entry).outcome is Outcome.SEEN
    assert store.counts() == before


def test_entries_without_link_or_guid_are_told_apart_by_their_content(ingest, store):
    first = candidate("", "KCNA: report is a smear", "The so-called report is a fabrication.",
                      source_id="kcna")
    second = candidate("", "KCNA: defectors are human scum", "The women quoted betrayed their country.",
                       source_id="kcna")

    assert ingest.ingest(first).outcome is Outcome.NEW
    assert ingest.ingest(second).outcome is Outcome.NEW
    assert ingest.ingest(first).outcome is Outcome.SEEN
    assert ingest.ingest(second).outcome is Outcome.SEEN
    assert store.counts()["articles"] == 2


# --- entries without a title --------------------------------------------------------------------

# An RSS item of a podcast feed: a GUID and an enclosure, no title, no text. Follows
# feedparser's tests/wellformed/rss/item_guid.xml and item_enclosure_url.xml
# (kurtmckee/feedparser); feedparser takes the GUID (a permalink by default) as its link.
PODCAST_ITEM = b"""<rss version="2.0">
<channel>
<title>NK Podcast</title>
<item>
<guid>tag:example.org,2018:north-korea-sexual-violence-report</guid>
<enclosure url="http://example.org/audio/episode-12.mp3" length="100000" type="audio/mpeg" />
</item>
</channel>
</rss>
"""


def test_an_entry_with_neither_title_nor_text_is_stored_under_a_stand_in_that_matches_nothing(ingest, store):
    [entry] = parse_feed(PODCAST_ITEM, "https://www.nknews.org/feed/").entries

    first = ingest.ingest(entry_candidate("nknews", entry))

    assert first.outcome is Outcome.NEW and first.alerts_queued == 0
    [article] = rows(store, "articles")
    # Not the GUID nor the key made of it: "sexual violence" inside them matched a rule.
    assert article["title"] == "(no title)" and article["title_stand_in"] == 1
    assert store.db["stories"].get(first.story_id)["title"] == "(no title)"
    assert rows(store, "matches") == [] and store.outbox() == []
    assert store.db["signatures"].count == 0
    # Rules tried on the archive later see no title either.
    assert [a["title"] for a in store.articles_since()] == [""]
    assert ingest.ingest(entry_candidate("nknews", entry)).outcome is Outcome.SEEN


def test_an_entry_with_only_a_link_shows_and_is_found_by_its_link(ingest, store):
    link = "https://www.nknews.org/2018/11/north-korea-sexual-violence-report/"
    first = ingest.ingest(candidate(link, "", ""))
    other = ingest.ingest(candidate("https://www.nknews.org/2018/11/another-sexual-violence-report/", "", ""))

    assert first.alerts_queued == 0 and other.alerts_queued == 0
    assert other.outcome is Outcome.NEW and other.story_id != first.story_id  # no copies of nothing
    assert [a["title"] for a in rows(store, "articles")][0] == link
    assert [hit["url"] for hit in store.search("nknews AND report", limit=5)] != []
    # Its text arrives later: a revision with a title of its own, matched as any other.
    revised = ingest.ingest(candidate(link, HRW_TITLE, HRW_TEXT))
    assert revised.outcome is Outcome.REVISED and revised.alerts_queued == len(HRW_ALERTS)
    assert rows(store, "articles")[0]["title_stand_in"] == 0


def test_the_shipped_rule_alerts_on_a_kcna_headline_in_angle_brackets(store):
    # The headline as KCNA writes it, escaped once in an RSS item, as the issue found it.
    feed = (b'<rss version="2.0"><channel><title>KCNA Watch</title><item>'
            b"<title>KCNA slams US &lt;human rights&gt; racket</title><link>https://kcnawatch.org/a/1</link>"
            b"<description>KCNA slams US &lt;human rights&gt; racket</description></item></channel></rss>")
    [entry] = parse_feed(feed, "https://kcnawatch.org/feed/").entries
    ingest = Ingest.from_config(store, load_config(None, {}).rules, SOURCES)

    result = ingest.ingest(entry_candidate("kcna", entry))

    assert {row.rule_id for row in store.outbox()} == {"state-media-response"}
    assert result.alerts_queued == 1
    assert rows(store, "articles")[0]["text"] == "KCNA slams US <human rights> racket"


# --- atomicity ---------------------------------------------------------------------------------


class BrokenMatcher(RuleMatcher):
    """A matcher that fails after the article and its story were written."""

    def match(self, title, text):
        raise RuntimeError("matcher broke")


class UnstorableSecondMatch(RuleMatcher):
    """The second match has no snippet, which the store refuses after storing the first."""

    def match(self, title, text):
        found = super().match(title, text)
        return [found[0], replace(found[1], snippet=None), *found[2:]]


@pytest.mark.parametrize(("matcher_class", "error"), [
    (BrokenMatcher, RuntimeError),
    (UnstorableSecondMatch, sqlite3.IntegrityError),
])
def test_a_failure_while_matching_leaves_nothing_of_the_article(store, config, matcher_class, error):
    broken = Ingest.from_config(store, config.rules, config.sources)
    broken.matcher = matcher_class(config.enabled_rules)

    with pytest.raises(error):
        broken.ingest(candidate())

    assert without_sources(store.counts()) == {"articles": 0, "stories": 0, "events": 0, "matches": 0, "outbox": 0}
    assert store.db["articles_fts"].count == 0
    # The database is usable and the article is not taken for seen.
    result = Ingest.from_config(store, config.rules, config.sources).ingest(candidate())
    assert result.outcome is Outcome.NEW
    assert alerts(store) == HRW_ALERTS


# --- the outbox ------------------------------------------------------------------------------


def store_article(store: Store, url: str = HRW_URL, at: datetime = T0) -> tuple[int, int]:
    article = NewArticle(
        source_id="nknews", url=url, url_key=url, canonical_url=url, guid=None, title=HRW_TITLE,
        text=HRW_TEXT, published_at=now_iso(at), date_source="feed", language="en", authors=(),
        content_hash=None, extracted_from="feed",
    )
    with store.transaction():
        return store.add_article(article, None, at=at)


HRW_MATCH = NewMatch("hrw-report", ("Human Rights Watch",), "…nowhere to turn, «Human Rights Watch» said…",
                     ("analysts", "archive", "console"))


def queue_alerts(store: Store, channels: tuple[str, ...] = HRW_MATCH.channels, at: datetime = T0) -> list[int]:
    """Store an article and queue its alerts (one per channel) at `at`; returns their ids."""
    article_id, story_id = store_article(store, at=at)
    with store.transaction():
        store.add_matches(story_id, article_id, [replace(HRW_MATCH, channels=channels)], at=at)
    return [row.id for row in store.outbox()]


def test_matches_for_the_same_story_and_rule_are_queued_once(store):
    article_id, story_id = store_article(store)

    first = store.add_matches(story_id, article_id, [HRW_MATCH], at=T0)
    second = store.add_matches(story_id, article_id, [HRW_MATCH], at=T0 + timedelta(hours=1))

    assert (first, second) == (3, 0)
    assert store.counts()["outbox"] == 3
    assert store.counts()["matches"] == 1
    # Another rule on the same story is a new alert.
    other = NewMatch("sexual-violence", ("sexual abuse",), "«sexual abuse»", ("console",))
    assert store.add_matches(story_id, article_id, [other, HRW_MATCH], at=T0) == 1


def test_claim_due_hands_out_due_pending_rows_once(store):
    ids = queue_alerts(store)

    assert store.claim_due(at=T0 - timedelta(seconds=1)) == []
    claimed = store.claim_due(limit=50, at=T0)

    assert [row.id for row in claimed] == ids
    assert {row.state for row in claimed} == {"sending"}
    assert {row.tries for row in claimed} == {1}
    row = claimed[0]
    assert (row.title, row.url, row.outlet) == (HRW_TITLE, HRW_URL, "NK News")
    assert row.terms == ("Human Rights Watch",)
    assert row.snippet == HRW_MATCH.snippet
    assert row.published_at == now_iso(T0)
    assert store.claim_due(at=T0 + timedelta(days=1)) == []
    assert [r.id for r in store.outbox("sending")] == ids


def test_claim_due_takes_the_oldest_first_up_to_its_limit(store):
    ids = queue_alerts(store)

    assert [row.id for row in store.claim_due(limit=2, at=T0)] == ids[:2]
    assert [row.id for row in store.claim_due(limit=2, at=T0)] == ids[2:]


def test_a_sent_row_is_never_claimed_again(store):
    [row_id] = queue_alerts(store, ("analysts",))
    store.claim_due(at=T0)

    store.mark_sent(row_id, at=T0 + timedelta(seconds=5))

    [row] = [r for r in store.outbox() if r.id == row_id]
    assert (row.state, row.sent_at, row.last_error) == ("sent", now_iso(T0 + timedelta(seconds=5)), None)
    assert store.claim_due(at=T0 + timedelta(days=365)) == []


def test_a_failed_row_waits_until_its_retry_time(store):
    [row_id] = queue_alerts(store, ("analysts",))
    store.claim_due(at=T0)
    retry_at = T0 + timedelta(minutes=10)

    store.mark_failed(row_id, "JSON failure: Internal Server Error (500)", retry_at, at=T0)

    [row] = store.outbox("pending")
    assert row.id == row_id
    assert row.last_error == "JSON failure: Internal Server Error (500)"
    assert row.next_attempt_at == now_iso(retry_at)
    assert row.next_attempt_at > now_iso(T0)
    assert store.claim_due(at=retry_at - timedelta(seconds=1)) == []
    [again] = store.claim_due(at=retry_at)
    assert (again.id, again.state, again.tries) == (row_id, "sending", 2)
    assert again.last_error == "JSON failure: Internal Server Error (500)"
    store.mark_sent(row_id, at=retry_at)
    assert [r.last_error for r in store.outbox("sent")] == [None]


def test_a_failed_row_without_retry_time_is_dead_for_good(store):
    [row_id] = queue_alerts(store, ("analysts",))
    store.claim_due(at=T0)

    store.mark_failed(row_id, "channel gone", None, at=T0)

    [row] = store.outbox("dead")
    assert (row.id, row.last_error, row.sent_at) == (row_id, "channel gone", None)
    assert store.release_interrupted(at=T0) == 0
    assert store.claim_due(at=T0 + timedelta(days=365)) == []


def test_rows_left_sending_are_released_to_pending(store):
    sent, dead, interrupted = queue_alerts(store)
    store.claim_due(limit=50, at=T0)
    store.mark_sent(sent, at=T0)
    store.mark_failed(dead, "gone", None, at=T0)
    # The process dies here, with `interrupted` claimed but never marked.

    assert store.release_interrupted(at=T0 + timedelta(minutes=1)) == 1

    states = {row.id: row.state for row in store.outbox()}
    assert states == {sent: "sent", dead: "dead", interrupted: "pending"}
    [row] = store.claim_due(at=T0 + timedelta(minutes=1))
    assert (row.id, row.tries) == (interrupted, 2)
    assert "interrupted" in row.last_error


# --- source state --------------------------------------------------------------------------


def run(ok: bool = True, **kw) -> SourceRun:
    return SourceRun(source_id="nknews", ok=ok, **kw)


def test_a_successful_run_resets_failures_and_keeps_the_new_etag(store):
    store.record_source_run(run(False, error="HTTP 503"), at=T0)
    store.record_source_run(run(False, error="HTTP 503"), at=T0 + timedelta(minutes=30))

    store.record_source_run(run(etag='"v2"', last_modified="Thu, 01 Nov 2018 10:00:00 GMT",
                                items_seen=20, articles_new=3), at=T0 + timedelta(hours=1))

    state = store.source_state("nknews")
    assert state.failures == 0
    assert state.runs == 3
    assert state.etag == '"v2"'
    assert state.last_modified == "Thu, 01 Nov 2018 10:00:00 GMT"
    assert state.last_success_at == state.last_run_at == now_iso(T0 + timedelta(hours=1))
    assert (state.items_seen, state.articles_new) == (20, 3)


def test_a_failed_run_counts_and_keeps_what_the_last_success_left(store):
    store.record_source_run(run(etag='"v1"', last_modified="Thu, 01 Nov 2018 09:00:00 GMT"), at=T0)

    store.record_source_run(run(False, error="HTTP 503 Service Unavailable"), at=T0 + timedelta(minutes=30))
    store.record_source_run(run(False, error="timed out after 30s"), at=T0 + timedelta(hours=1))

    state = store.source_state("nknews")
    assert state.failures == 2
    assert state.etag == '"v1"'
    assert state.last_modified == "Thu, 01 Nov 2018 09:00:00 GMT"
    assert state.last_success_at == now_iso(T0)
    assert state.last_run_at == state.last_error_at == now_iso(T0 + timedelta(hours=1))
    assert state.last_error == "timed out after 30s"
    assert store.source_state("yonhap").failures == 0


def test_a_not_modified_run_keeps_the_stored_etag(store):
    store.record_source_run(run(etag='"v1"', last_modified="Thu, 01 Nov 2018 09:00:00 GMT"), at=T0)
    store.record_source_run(run(False, error="HTTP 500"), at=T0 + timedelta(minutes=30))

    store.record_source_run(run(not_modified=True), at=T0 + timedelta(hours=1))

    state = store.source_state("nknews")
    assert state.etag == '"v1"'
    assert state.last_modified == "Thu, 01 Nov 2018 09:00:00 GMT"
    assert state.failures == 0
    assert state.last_success_at == now_iso(T0 + timedelta(hours=1))


# --- a run's entries in one transaction --------------------------------------------------


def test_a_runs_entries_commit_together_and_a_failing_one_is_undone_alone(store, ingest, tmp_path):
    """A run's candidates are stored in one transaction, each in a savepoint: an entry the
    database refuses is undone alone, the others are stored, and the run is recorded as
    failed (so its ETag does not hide the refused entry next time)."""
    from presswatch.crawler.stories.run import SourceIngest
    from presswatch.crawler.items import SourceFetched

    # A real refusal by SQLite for one title (a trigger in the test's own database file).
    with sqlite3.connect(tmp_path / "t.db") as conn:
        conn.execute("""CREATE TRIGGER refuse BEFORE INSERT ON articles WHEN NEW.title = 'Refused'
                        BEGIN SELECT RAISE(ABORT, 'refused for the test'); END""")
    run = SourceIngest(ingest, "nknews")
    run.process(SourceFetched("nknews", 200, etag='"v2"'))
    run.store(candidate())
    run.store(candidate(url="https://www.nknews.org/refused/", title="Refused", text=WEATHER_TEXT))
    run.store(candidate(url=WEATHER_URL, title=WEATHER_TITLE, text=WEATHER_TEXT + " More."))
    # Nothing is written before the batch is flushed (at BATCH candidates or at the end).
    assert store.db.execute("SELECT count(*) FROM articles").fetchone()[0] == 0
    recorded = run.finish()

    titles = [r[0] for r in store.db.execute("SELECT title FROM articles ORDER BY id")]
    assert titles == [HRW_TITLE, WEATHER_TITLE]
    # The refused entry left nothing behind: no story, no signatures of its own.
    assert store.db.execute("SELECT count(*) FROM stories").fetchone()[0] == 2
    assert not recorded.ok and "refused for the test" in recorded.error
    assert store.source_state("nknews").etag is None  # not kept: the entry is read again next run
    # The matches of the stored entries were queued in the same transaction.
    assert store.db.execute("SELECT count(*) FROM outbox").fetchone()[0] > 0


def test_runs_sharing_a_batch_commit_together_each_counting_its_own(store, ingest):
    """The runs of one crawl process share a batch: one run's flush stores the other's
    waiting entries too, in the same transaction, each run counting and recording its own."""
    from presswatch.crawler.items import SourceFetched
    from presswatch.crawler.stories.run import SourceIngest, WriteBatch

    batch = WriteBatch(ingest.store, limit=10)
    nknews, yonhap = SourceIngest(ingest, "nknews", batch=batch), SourceIngest(ingest, "yonhap", batch=batch)
    for run in (nknews, yonhap):
        run.process(SourceFetched(run.source_id, 200, etag=f'"{run.source_id}"'))
    nknews.store(candidate())
    yonhap.store(candidate(source_id="yonhap", url=WEATHER_URL, title=WEATHER_TITLE, text=WEATHER_TEXT))
    assert store.db.execute("SELECT count(*) FROM articles").fetchone()[0] == 0
    recorded = nknews.finish()  # its flush commits yonhap's entry too
    assert sorted(r[0] for r in store.db.execute("SELECT source_id FROM articles")) == ["nknews", "yonhap"]
    assert yonhap.pending == [] and recorded.ok and recorded.articles_new == 1
    assert yonhap.finish().articles_new == 1  # counted by the run it came from
    assert store.source_state("yonhap").etag == '"yonhap"'
    # A full batch commits at once, whoever fills it.
    for n in range(10):
        nknews.store(candidate(url=f"https://www.nknews.org/2018/11/item-{n}/", title=f"Item {n}",
                               text=f"{WEATHER_TEXT} Item {n}."))
    assert store.db.execute("SELECT count(*) FROM articles").fetchone()[0] == 12


def test_runs_ending_in_a_waiting_batch_are_recorded_in_its_commit_with_their_entries(store, ingest, tmp_path):
    """In a crawl process's batch, a run that ends is recorded in the batch's next commit,
    with its last entries: two runs ending together take one commit. When that commit
    fails, neither entries nor records are kept, and each run is recorded failed on its own
    (no ETag kept: its entries are read again next time)."""
    import asyncio

    from presswatch.crawler.items import SourceFetched
    from presswatch.crawler.stories.run import SourceIngest, WriteBatch

    # A real refusal by SQLite at COMMIT: a deferred foreign key the title breaks.
    with sqlite3.connect(tmp_path / "t.db") as conn:
        conn.execute("CREATE TABLE refusing (id INTEGER REFERENCES sources(id) DEFERRABLE INITIALLY DEFERRED)")
        conn.execute("""CREATE TRIGGER refuse AFTER INSERT ON articles WHEN NEW.title = 'Refused'
                        BEGIN INSERT INTO refusing VALUES ('no such source'); END""")
    commits = []
    store.db.conn.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)

    async def end_together(refused: bool) -> list:
        batch = WriteBatch(ingest.store, wait=0.05)
        runs = [SourceIngest(ingest, source, batch=batch) for source in ("nknews", "yonhap")]
        for n, run in enumerate(runs):
            run.process(SourceFetched(run.source_id, 200, etag=f'"{run.source_id}"'))
            run.store(candidate(source_id=run.source_id, url=f"{WEATHER_URL}{refused}/{n}",
                                title="Refused" if refused and n else f"{WEATHER_TITLE} {n}",
                                text=f"{WEATHER_TEXT} {n}."))
        return await asyncio.gather(*(run.finish_with_batch() for run in runs))

    recorded = asyncio.run(end_together(refused=False))
    assert [r.ok for r in recorded] == [True, True] and len(commits) == 1
    assert store.db.execute("SELECT count(*) FROM articles").fetchone()[0] == 2
    assert store.source_state("yonhap").etag == '"yonhap"'

    store.db.execute("UPDATE sources SET etag = NULL")
    recorded = asyncio.run(end_together(refused=True))
    assert [r.ok for r in recorded] == [False, False]
    assert "FOREIGN KEY" in recorded[0].error
    assert store.db.execute("SELECT count(*) FROM articles").fetchone()[0] == 2  # none of this batch
    assert [store.source_state(s).etag for s in ("nknews", "yonhap")] == [None, None]
    assert store.source_state("nknews").runs == 2


def test_a_nested_transaction_rolls_back_alone_and_the_outer_one_all(store):
    with store.transaction():
        store.sync_sources([("nknews", "feed", "https://www.nknews.org/feed/", "outer")])
        with pytest.raises(RuntimeError):
            with store.transaction():
                store.sync_sources([("yonhap", "feed", "https://en.yna.co.kr/RSS/nk.xml", "inner")])
                raise RuntimeError("undo the inner one")
    assert store.source_state("nknews").name == "outer"
    assert store.source_state("yonhap").name == "Yonhap"
    with pytest.raises(RuntimeError):
        with store.transaction():
            with store.transaction():
                store.sync_sources([("kcna", "feed", "https://kcnawatch.org/feed/", "released")])
            raise RuntimeError("undo everything, the released savepoint too")
    assert store.source_state("kcna").name == "KCNA Watch"

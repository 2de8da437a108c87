"""Stories, not copies: near-duplicate reprints, revisions, outlets and spread updates.

Everything runs through the real Ingest on a real SQLite file: the MinHash index is the
store's, so these tests also show it survives a restart and is pruned by its window.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlite_utils

from presswatch.config import Channel, Config, Rule, Source
from presswatch.config.schema import Stories
from presswatch.crawler.stories import dedup
from presswatch.crawler.stories.ingest import Candidate, Ingest, Outcome
from presswatch.crawler.store.migrations import migrations
from presswatch.crawler.store.database import Store

WIRE = [
    "North Korean officials routinely abuse women with impunity, Human Rights Watch said in a report "
    "published on Thursday, describing sexual violence by police officers, prison guards, market "
    "inspectors and soldiers as so common that victims consider it part of ordinary life.",
    "The 86-page report, titled You Cry at Night but Don't Know Why, draws on interviews with 54 North "
    "Koreans who left the country after 2011, when Kim Jong Un came to power, and with eight former "
    "officials who described how the abuse goes unpunished.",
    "None of the women interviewed had reported the abuse to the authorities, fearing reprisals and "
    "doubting that anyone would act. Several said that officials demanded sex in exchange for letting "
    "them trade in the markets that most families now depend on to survive.",
    "Pyongyang did not respond to requests for comment. North Korea has in the past rejected criticism "
    "of its human rights record as a plot by hostile forces seeking to overthrow its government.",
]
WIRE_TITLE = "North Korean officials abuse women with impunity, Human Rights Watch says"

KCNA_REPLY = (
    "The Korea Association for Human Rights Studies on Saturday denounced the so-called report of "
    "Human Rights Watch as a dangerous provocation and a smear campaign cooked up with human scum who "
    "betrayed their country. A spokesman said the organisation had long served the hostile forces "
    "seeking to tarnish the image of the Republic, and that its fabrications about officials and "
    "women would never be tolerated. The report, he said, was timed to the vote on a resolution at "
    "the United Nations and would only expose the true colours of its authors."
)

RULE = Rule(id="hrw", query='"Human Rights Watch"', channels=("analysts",))
CHANNEL = Channel(id="analysts", url="json://127.0.0.1:9/analysts")


def outlet_source(n: int) -> Source:
    return Source(id=f"outlet{n}", kind="feed", url=f"https://outlet{n}.example/feed.xml", name=f"Outlet {n}")


SOURCES = tuple(outlet_source(n) for n in range(1, 8))


def reprint(n: int) -> tuple[str, str]:
    """Outlet n's version: its own headline and credit line, a paragraph cut or added."""
    paragraphs = list(WIRE)
    if n % 2:
        paragraphs = paragraphs[:-1]
    if n % 3 == 0:
        paragraphs.append(f"Additional reporting by the Outlet {n} desk in Seoul.")
    title = [WIRE_TITLE, "Rights group says North Korean women face routine sexual abuse",
             "HRW: sexual violence against women rife in North Korea"][n % 3]
    return title, f"SEOUL (Outlet {n}) - " + "\n\n".join(paragraphs)


def candidate(n: int, url: str | None = None, **kw) -> Candidate:
    title, text = reprint(n)
    kw.setdefault("title", title)
    kw.setdefault("text", text)
    kw.setdefault("extracted_from", "page")
    return Candidate(source_id=f"outlet{n}", url=url or f"https://outlet{n}.example/news/{n}00", **kw)


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "stories.db")


def make_store(path: str) -> Store:
    store = Store(path)
    store.sync_sources([(s.id, s.kind, s.url, s.name) for s in SOURCES])
    return store


def make_ingest(store: Store, **stories) -> Ingest:
    config = Config(sources=SOURCES, rules=(RULE,), channels=(CHANNEL,), stories=Stories(**stories))
    return Ingest.from_config(store, config.rules, config.sources, stories=config.stories)


@pytest.fixture
def store(db_path):
    store = make_store(db_path)
    yield store
    store.close()


@pytest.fixture
def ingest(store):
    return make_ingest(store, spread_updates=[3, 5])


def index_keys(store: Store) -> int:
    """Bucket keys indexed: in `lsh_buckets`, and waiting to go there (crawler/store/nearindex.py)."""
    waiting = sum(len(blob) // 8 for (blob,) in store.db.execute(
        "SELECT buckets FROM lsh_articles WHERE pending = 1"))
    return store.db.execute("SELECT count(*) FROM lsh_buckets").fetchone()[0] + waiting


def outbox(store: Store) -> list[tuple[str, int, str]]:
    return [(row.kind, row.milestone, row.channel_id) for row in store.outbox()]


# --- near duplicates -------------------------------------------------------------------------


def test_reprints_with_other_headlines_and_credit_lines_join_one_story(ingest, store):
    first = ingest.ingest(candidate(1))
    copies = [ingest.ingest(candidate(n)) for n in (2, 3, 4)]

    assert first.outcome is Outcome.NEW and first.alerts_queued == 1
    assert [c.outcome for c in copies] == [Outcome.COPY] * 3
    assert {c.story_id for c in copies} == {first.story_id}
    # Not byte-identical: found by similarity, not by the exact hash.
    assert all(0.5 <= c.similarity < 1.0 for c in copies), [c.similarity for c in copies]
    assert sum(c.alerts_queued for c in copies) == 0
    assert store.counts()["stories"] == 1
    assert outbox(store) == [("alert", 0, "analysts"), ("spread", 3, "analysts")]


def test_a_different_story_on_the_same_subject_stays_apart(ingest, store):
    first = ingest.ingest(candidate(1))
    reply = ingest.ingest(Candidate(source_id="outlet2", url="https://outlet2.example/kcna-reply",
                                    title="KCNA slams HRW report", text=KCNA_REPLY, extracted_from="page"))

    assert reply.outcome is Outcome.NEW
    assert reply.story_id != first.story_id
    assert reply.alerts_queued == 1  # its own story, its own alert


def test_a_feed_summary_joins_the_story_first_seen_as_a_full_page(ingest, store):
    first = ingest.ingest(candidate(1))
    title, text = reprint(1)
    lead = " ".join(text.split()[:35])

    summary = ingest.ingest(Candidate(source_id="outlet5", url="https://outlet5.example/a/77",
                                      title=title, text=lead, extracted_from="feed"))

    assert summary.outcome is Outcome.COPY
    assert summary.story_id == first.story_id


def test_a_full_page_is_not_joined_to_another_by_its_headline_alone(ingest, store):
    ingest.ingest(candidate(1))
    # The same headline over a different text: full texts are compared as full texts.
    other = ingest.ingest(Candidate(source_id="outlet2", url="https://outlet2.example/other",
                                    title=WIRE_TITLE, text=KCNA_REPLY, extracted_from="page"))
    assert other.outcome is Outcome.NEW


def test_a_restart_keeps_the_index(db_path):
    store = make_store(db_path)
    first = make_ingest(store).ingest(candidate(1))
    store.close()

    store = make_store(db_path)
    try:
        copy = make_ingest(store).ingest(candidate(2))
    finally:
        store.close()
    assert copy.outcome is Outcome.COPY and copy.story_id == first.story_id


def test_the_index_forgets_what_is_older_than_its_window(ingest, store):
    ingest.ingest(candidate(1))
    assert store.counts()["stories"] == 1

    ingest.prune(datetime.now(UTC) + timedelta(days=31))  # a month later: the default window is 30d

    late = ingest.ingest(candidate(2))
    assert late.outcome is Outcome.NEW
    assert index_keys(store) > 0  # the new one


def test_signatures_are_stored_with_their_scheme(ingest, store):
    ingest.ingest(candidate(1))
    rows = list(store.db.query("SELECT kind, scheme, permutations, seed, shingle, length(minhash) n FROM signatures"))
    assert {r["kind"] for r in rows} == {"text", "short"}
    assert all(r["permutations"] == 128 and r["seed"] == 1 and r["shingle"] == 3 for r in rows)
    assert all(r["n"] == 128 * 4 for r in rows)
    assert all(r["scheme"] == ingest.scheme.label for r in rows)


def test_signatures_of_another_seed_are_not_compared(db_path):
    store = make_store(db_path)
    try:
        make_ingest(store).ingest(candidate(1))
        copy = make_ingest(store, seed=7).ingest(candidate(2))
    finally:
        store.close()
    assert copy.outcome is Outcome.NEW


# --- outlets and spread updates ----------------------------------------------------------------


def test_outlets_are_counted_once_each_and_updates_sent_once_per_count(ingest, store):
    story = ingest.ingest(candidate(1)).story_id
    # A second article of the same outlet is no new outlet.
    ingest.ingest(candidate(1, url="https://outlet1.example/news/amp-copy", text=reprint(3)[1]))
    results = [ingest.ingest(candidate(n)) for n in (2, 3, 4, 5, 6)]

    row = store.story(story)
    assert row["outlet_count"] == 6 and row["article_count"] == 7
    assert [r.updates_queued for r in results] == [0, 1, 0, 1, 0]  # at 3 and at 5 outlets
    assert outbox(store) == [("alert", 0, "analysts"), ("spread", 3, "analysts"), ("spread", 5, "analysts")]
    update = [r for r in store.outbox() if r.kind == "spread"][0]
    assert update.outlets == ("outlet1.example", "outlet2.example", "outlet3.example")


def test_a_story_that_alerted_nobody_sends_no_update(db_path):
    store = make_store(db_path)
    try:
        ingest = make_ingest(store, spread_updates=[2])
        ingest.matcher = type(ingest.matcher)([])  # no rule: nothing alerts
        ingest.ingest(candidate(1))
        result = ingest.ingest(candidate(2))
    finally:
        store.close()
    assert result.outcome is Outcome.COPY and result.updates_queued == 0


def test_an_aggregator_entry_counts_for_the_outlet_it_came_from(ingest, store):
    first = ingest.ingest(candidate(1))
    title, text = reprint(2)
    entry = ingest.ingest(Candidate(
        source_id="outlet7", url="https://news.google.com/rss/articles/opaque123",
        title=title, text=text, extracted_from="feed", origin="https://www.reuters.com"))

    assert entry.story_id == first.story_id
    assert [a["outlet"] for a in store.story(first.story_id)["articles"]] == ["outlet1.example", "reuters.com"]


# --- revisions -----------------------------------------------------------------------------


def test_an_edited_article_is_a_revision_not_a_story(ingest, store):
    title, text = reprint(1)
    first = ingest.ingest(candidate(1, title="Draft headline", text=text.replace("Human Rights Watch", "a rights group")))
    assert first.alerts_queued == 0  # the rule wants "Human Rights Watch": not there yet

    again = ingest.ingest(candidate(1, title="Draft headline",
                                    text=text.replace("Human Rights Watch", "a rights  group")))
    assert again.outcome is Outcome.SEEN  # spacing is no revision

    edited = ingest.ingest(candidate(1))
    assert edited.outcome is Outcome.REVISED and edited.story_id == first.story_id
    assert edited.alerts_queued == 1  # the edit made the rule match: it alerts, once
    assert ingest.ingest(candidate(1)).outcome is Outcome.SEEN

    story = store.story(first.story_id)
    assert story["article_count"] == 1
    [article] = story["articles"]
    assert article["revision_count"] == 1 and article["title"] == title
    assert [r["title"] for r in article["revisions"]] == ["Draft headline"]
    assert store.counts()["stories"] == 1


def test_a_changed_feed_entry_makes_its_page_wanted_again(ingest, store):
    url = "https://outlet1.example/news/100"
    ingest.ingest(candidate(1, url=url, entry_fingerprint="v1"))

    assert ingest.is_known("outlet1", None, url, "v1", want_page=True)
    assert not ingest.is_known("outlet1", None, url, "v2", want_page=True)
    assert ingest.is_known("outlet1", None, url, "v2")  # a site source does not refetch

    assert ingest.ingest(candidate(1, url=url, entry_fingerprint="v2")).outcome is Outcome.SEEN
    assert ingest.is_known("outlet1", None, url, "v2", want_page=True)  # seen unchanged: not again


# --- one article, several sources: the owner ---------------------------------------------------


def feed_entry(n: int, url: str, summary: str) -> Candidate:
    return Candidate(source_id=f"outlet{n}", url=url, title=WIRE_TITLE, text=summary, extracted_from="feed",
                     entry_fingerprint=f"outlet{n}:{summary}")


def test_a_second_feed_listing_an_article_changes_only_its_listing(ingest, store):
    url = "https://outlet1.example/news/100"
    teaser, other = "Rights group details abuse of women.", "HRW report: women in the North abused by officials."
    first = ingest.ingest(feed_entry(1, url, teaser))
    for _ in range(3):  # three runs of both feeds
        assert ingest.ingest(feed_entry(2, url, other)).outcome is Outcome.SEEN
        assert ingest.ingest(feed_entry(1, url, teaser)).outcome is Outcome.SEEN

    [article] = store.story(first.story_id)["articles"]
    assert article["revision_count"] == 0
    assert store.db["articles"].get(article["id"])["text"] == teaser
    assert {row["source_id"] for row in store.db["entry_fingerprints"].rows} == {"outlet1", "outlet2"}
    # The owner's own change is a revision.
    assert ingest.ingest(feed_entry(1, url, other)).outcome is Outcome.REVISED


def test_a_page_another_source_fetched_fills_the_feed_text_and_owns_it_from_then_on(ingest, store):
    url = "https://outlet1.example/news/100"
    ingest.ingest(feed_entry(1, url, "Rights group details abuse of women."))
    assert not ingest.is_known("outlet2", None, url, want_page=True)  # outlet 2 fetches pages

    filled = ingest.ingest(candidate(2, url=url))
    assert filled.outcome is Outcome.FILLED
    # Outlet 1's feed never replaces the page; only outlet 2, whose page it is, revises it.
    assert ingest.ingest(feed_entry(1, url, "A summary edited.")).outcome is Outcome.SEEN
    assert ingest.ingest(candidate(1, url=url)).outcome is Outcome.SEEN
    title, text = reprint(2)
    assert ingest.ingest(candidate(2, url=url, text=text + " Updated.")).outcome is Outcome.REVISED
    assert store.db["articles"].get(1)["owner_source_id"] == "outlet2"


# --- upgrade ---------------------------------------------------------------------------------


def test_a_database_of_the_first_schema_is_upgraded_with_its_outlets(db_path):
    db = sqlite_utils.Database(sqlite3.connect(db_path))
    migrations.apply(db, stop_before="m002_stories")
    db.execute("INSERT INTO sources (id, kind, url, name) VALUES ('outlet1', 'feed', 'https://o.example/f', 'O')")
    db.execute("""INSERT INTO stories (id, title, url, first_seen_at, updated_at, article_count)
                  VALUES (1, 't', 'https://www.o.example/a', '2018-11-01T00:00:00+00:00', '2018-11-01T00:00:00+00:00', 2)""")
    for n, url in enumerate(("https://www.o.example/a", "https://m.p.example/b"), start=1):
        db.execute("""INSERT INTO articles (id, source_id, story_id, url, url_key, canonical_url, title, text,
                      extracted_from, first_seen_at) VALUES (?, 'outlet1', 1, ?, ?, ?, 't', 'x', 'page',
                      '2018-11-01T00:00:00+00:00')""", (n, url, url, url))
    db.execute("""INSERT INTO outbox (story_id, rule_id, channel_id, next_attempt_at, created_at, updated_at)
                  VALUES (1, 'hrw', 'analysts', 'x', 'x', 'x')""")
    db.conn.commit()
    db.close()

    store = Store(db_path)
    try:
        story = store.story(1)
        assert story["outlet_count"] == 2
        assert [a["outlet"] for a in story["articles"]] == ["o.example", "p.example"]
        assert [(o.kind, o.rule_id, o.milestone) for o in store.outbox()] == [("alert", "hrw", 0)]
    finally:
        store.close()


def test_an_upgraded_database_knows_its_owners_and_stand_ins(db_path):
    db = sqlite_utils.Database(sqlite3.connect(db_path))
    migrations.apply(db, stop_before="m010_owners_and_stand_ins")
    db.execute("INSERT INTO sources (id, kind, url, name) VALUES ('outlet1', 'feed', 'https://o.example/f', 'O')")
    urn = "urn:presswatch:outlet1:tag:example.org,2018:north-korea-sexual-violence-report"
    link = "https://outlet1.example/news/100"
    for n, (key, title, text) in enumerate(((urn, urn, ""), (link, WIRE_TITLE, "A teaser.")), start=1):
        db.execute("""INSERT INTO stories (id, first_article_id, title, url, first_seen_at, updated_at)
                      VALUES (?, ?, ?, 'https://o.example/f', '2018-11-01T00:00:00+00:00', 'x')""", (n, n, title))
        db.execute("""INSERT INTO articles (id, source_id, story_id, url, url_key, canonical_url, title, text,
                      extracted_from, first_seen_at, version_hash) VALUES (?, 'outlet1', ?, ?, ?, ?, ?, ?, 'feed',
                      '2018-11-01T00:00:00+00:00', ?)""",
                   (n, n, key, key, key, title, text, dedup.version_hash(title, text)))
    db.conn.commit()
    db.close()

    store = make_store(db_path)
    try:
        stand_in = store.db["articles"].get(1)
        assert (stand_in["title"], stand_in["title_stand_in"]) == ("(no title)", 1)
        assert store.db["stories"].get(1)["title"] == "(no title)"
        ingest = make_ingest(store)
        # The article stored before has its first source as owner.
        assert ingest.ingest(feed_entry(2, link, "Another feed's summary.")).outcome is Outcome.SEEN
        assert ingest.ingest(feed_entry(1, link, "A teaser, edited.")).outcome is Outcome.REVISED
    finally:
        store.close()


# --- the signatures themselves ---------------------------------------------------------------


def test_words_fold_case_width_and_punctuation():
    assert dedup.words("ＫＣＮＡ, Kim Jong-Un's 성폭력을!") == ["kcna", "kim", "jong", "un", "s", "성폭력을"]


def test_version_hash_ignores_spacing_and_case_only():
    base = dedup.version_hash("Title", "One two three.")
    assert dedup.version_hash(" title ", "one  TWO\nthree.") == base
    assert dedup.version_hash("Title", "One two four.") != base


def test_similarity_estimates_jaccard():
    scheme = dedup.Scheme()
    a = {f"w{i}".encode() for i in range(1000)}
    b = {f"w{i}".encode() for i in range(500, 1500)}  # Jaccard 1/3
    estimate = dedup.similarity(scheme.signature(a), scheme.signature(b))
    assert abs(estimate - 1 / 3) < 0.12
    assert dedup.similarity(scheme.signature(a), scheme.signature(set(a))) == 1.0
    with pytest.raises(ValueError):
        dedup.similarity(np.zeros(4, dtype=np.uint32), np.zeros(8, dtype=np.uint32))


@pytest.mark.parametrize("permutations, seed", [(128, 1), (64, 7), (256, 2)])
def test_signatures_and_bands_are_datasketchs_value_for_value(permutations, seed):
    """Stored signatures were made by datasketch (affine32) before dedup computed them with
    numpy alone: the same shingles give the same values, and the same (bands, rows), so
    stored signatures and bucket keys stay comparable."""
    from datasketch import MinHash
    from datasketch.lsh import _optimal_param

    scheme = dedup.Scheme(permutations=permutations, seed=seed)
    texts = [*WIRE, KCNA_REPLY, "한국어 기사 본문, 인권 보고서에 관한 내용입니다. " * 20]
    for shingles in [dedup.text_shingles(text, 3) or dedup.short_shingles("t", text) for text in texts]:
        theirs = MinHash(num_perm=permutations, seed=seed)
        theirs.update_batch(list(shingles))
        assert np.array_equal(scheme.signature(shingles), theirs.hashvalues.astype(np.uint32))
    for threshold in (0.3, 0.5, 0.6, 0.7, 0.9):
        assert dedup.optimal_bands(threshold, permutations, 0.1, 0.9) == _optimal_param(threshold, permutations, 0.1, 0.9)


def test_shingles_are_every_run_of_words_and_each_caller_gets_its_own_words():
    """dedup keeps the words of the last few texts (an article's are read for its signatures
    and its version hash): a caller changing its list changes nothing for the next, and
    the shingles stay every run of `size` words."""
    text = " ".join(f"W{i % 50}" for i in range(120))
    first = dedup.words(text)
    first.append("extra")
    found = dedup.words(text)
    assert found == [f"w{i % 50}" for i in range(120)]
    for size in range(1, 9):
        runs = {" ".join(found[i:i + size]).encode() for i in range(len(found) - size + 1)}
        assert dedup.text_shingles(text, size) == runs


def test_bucket_keys_are_the_blake2b_of_scheme_kind_band_and_values():
    """Stored bucket keys are looked up again: their formula must not drift."""
    import hashlib

    scheme = dedup.Scheme()
    for signature in dedup.signatures(scheme, "Rights group report on women", WIRE[0]):
        bands, rows = scheme.bands(signature.kind)
        raw, prefix = signature.to_bytes(), f"{scheme.label}/{signature.kind}/".encode()
        expected = tuple(int.from_bytes(hashlib.blake2b(
            prefix + band.to_bytes(2, "little") + raw[band * rows * 4:(band + 1) * rows * 4],
            digest_size=8).digest(), "little", signed=True) for band in range(bands))
        assert signature.buckets == expected


def test_too_short_texts_get_no_signature():
    scheme = dedup.Scheme()
    assert dedup.signatures(scheme, "Hi", "Short text") == []
    kinds = [s.kind for s in dedup.signatures(scheme, "Rights group report on women", "a b c d e")]
    assert kinds == ["short"]


# --- what review found ---------------------------------------------------------------------

MISSILE = "N. Korea fires ballistic missile into East Sea: JCS"
MISSILE_LEAD = "North Korea fired a ballistic missile into the East Sea on {day}, the Joint Chiefs of Staff said."


def test_a_recurring_headline_from_the_same_outlet_is_a_new_event(ingest, store):
    first = ingest.ingest(Candidate(source_id="outlet1", url="https://outlet1.example/a/1", title=MISSILE,
                                    text=MISSILE_LEAD.format(day="Tuesday"), extracted_from="feed"))
    again = ingest.ingest(Candidate(source_id="outlet1", url="https://outlet1.example/a/2", title=MISSILE,
                                    text=MISSILE_LEAD.format(day="Sunday"), extracted_from="feed"))
    assert again.outcome is Outcome.NEW and again.story_id != first.story_id


def test_alike_headlines_days_apart_are_two_events(ingest, store):
    ingest.ingest(Candidate(source_id="outlet1", url="https://outlet1.example/a/1", title=MISSILE,
                            text=MISSILE_LEAD.format(day="Tuesday"), extracted_from="feed",
                            published=datetime(2022, 11, 1, tzinfo=UTC)))
    same_day = ingest.ingest(Candidate(source_id="outlet2", url="https://outlet2.example/b/1", title=MISSILE,
                                       text=MISSILE_LEAD.format(day="Tuesday"), extracted_from="feed",
                                       published=datetime(2022, 11, 1, 6, tzinfo=UTC)))
    week_later = ingest.ingest(Candidate(source_id="outlet3", url="https://outlet3.example/c/1", title=MISSILE,
                                         text=MISSILE_LEAD.format(day="Tuesday"), extracted_from="feed",
                                         published=datetime(2022, 11, 8, tzinfo=UTC)))
    assert same_day.outcome is Outcome.COPY
    assert week_later.outcome is Outcome.NEW


def test_two_feeds_listing_one_page_do_not_make_it_fetched_every_run(ingest, store):
    url = "https://outlet1.example/news/100"
    ingest.ingest(candidate(1, url=url, entry_fingerprint="from-outlet1"))
    # An aggregator lists the same page with its own summary: first sighting, no refetch...
    assert ingest.is_known("outlet7", None, url, "from-aggregator", want_page=True)
    ingest.ingest(Candidate(source_id="outlet7", url=url, title="t", text="its own summary",
                            extracted_from="feed", entry_fingerprint="from-aggregator"))
    # ...and from then on each feed's entry is compared with its own.
    assert ingest.is_known("outlet7", None, url, "from-aggregator", want_page=True)
    assert ingest.is_known("outlet1", None, url, "from-outlet1", want_page=True)
    assert not ingest.is_known("outlet7", None, url, "aggregator-changed", want_page=True)


def test_a_page_reached_through_a_redirect_is_known_by_the_link_followed(ingest, store):
    link = "http://outlet1.example/?p=100"
    ingest.ingest(candidate(1, url="https://outlet1.example/2018/11/slug", requested_url=link))
    assert ingest.is_known("outlet1", None, link)
    assert ingest.is_known("outlet1", None, "https://outlet1.example/2018/11/slug")


def test_a_stand_in_whose_page_is_a_copy_joins_that_story_without_a_second_alert(ingest, store):
    first = ingest.ingest(candidate(1))
    assert first.alerts_queued == 1
    # Outlet 2's page timed out: its feed teaser, too short to compare, is a story of its own.
    url = "https://outlet2.example/news/200"
    teaser = ingest.ingest(candidate(2, url=url, title="Rights report", text="A report on women in the North.",
                                     extracted_from="feed"))
    assert teaser.outcome is Outcome.NEW and teaser.story_id != first.story_id
    assert teaser.alerts_queued == 0  # the teaser does not name Human Rights Watch

    filled = ingest.ingest(candidate(2, url=url))
    assert filled.outcome is Outcome.FILLED and filled.story_id == first.story_id
    assert filled.alerts_queued == 0  # its full text does, but the story's rule already alerted
    assert [row.story_id for row in store.outbox()] == [first.story_id]
    assert store.story(first.story_id)["outlet_count"] == 2
    assert [s.id for s in store.stories()] == [first.story_id]  # the emptied one is merged away
    assert store.story(teaser.story_id)["merged_into"] == first.story_id


def test_a_revision_replaces_the_article_in_the_index(ingest, store):
    url = "https://outlet1.example/news/100"
    ingest.ingest(candidate(1, url=url))
    before = index_keys(store)
    revised = ingest.ingest(candidate(1, url=url, text=KCNA_REPLY))
    assert revised.outcome is Outcome.REVISED
    assert index_keys(store) == before
    # The old text no longer finds it; the new one does.
    assert ingest.ingest(candidate(2)).outcome is Outcome.NEW
    reply_copy = ingest.ingest(Candidate(source_id="outlet3", url="https://outlet3.example/r",
                                         title="KCNA", text="KCNA said: " + KCNA_REPLY, extracted_from="page"))
    assert reply_copy.story_id == revised.story_id


def test_the_schema_is_not_upgraded_under_a_running_presswatch(db_path):
    from presswatch.crawler.errors import StoreError

    db = sqlite_utils.Database(sqlite3.connect(db_path))
    migrations.apply(db, stop_before="m002_stories")
    db.close()
    running = open(f"{db_path}.lock", "a+")  # noqa: SIM115
    import fcntl
    fcntl.flock(running, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        with pytest.raises(StoreError, match="another presswatch process"):
            Store(db_path)
    finally:
        running.close()
    Store(db_path).close()  # once it stopped, the upgrade runs


def test_changing_a_threshold_keeps_the_index_usable(db_path):
    store = make_store(db_path)
    try:
        make_ingest(store, near_duplicate=0.5).ingest(candidate(1))
        copy = make_ingest(store, near_duplicate=0.55).ingest(candidate(2))
    finally:
        store.close()
    assert copy.outcome is Outcome.COPY and copy.similarity >= 0.55


def test_a_spread_update_waits_for_its_alert_to_be_sent(ingest, store):
    for n in (1, 2, 3):
        ingest.ingest(candidate(n))  # the alert, then the update at 3 outlets
    [alert] = store.claim_due(limit=10)
    assert alert.kind == "alert"  # the update is held back while the alert is out
    assert store.claim_due(limit=10) == []
    store.mark_sent(alert.id)
    [update] = store.claim_due(limit=10)
    assert (update.kind, update.milestone) == ("spread", 3)


@pytest.mark.parametrize("settled", ["dead", "uncertain"])
def test_a_spread_update_goes_once_its_alert_is_settled_even_unsent(ingest, store, settled):
    for n in (1, 2, 3):
        ingest.ingest(candidate(n))
    [alert] = store.claim_due(limit=10)
    if settled == "dead":
        store.mark_failed(alert.id, "service down for days", None)
    else:
        store.mark_uncertain(alert.id, "timed out")
    [update] = store.claim_due(limit=10)
    assert update.kind == "spread"  # not stuck behind an alert that will not move by itself


def test_retrying_a_dead_alert_leaves_its_uncertain_urls_alone(ingest, store):
    ingest.ingest(candidate(1))
    [alert] = store.claim_due(limit=10)
    store.mark_url([alert.id], "json://a", "json://a", "uncertain", "timed out")
    store.mark_url([alert.id], "json://b", "json://b", "failed", "HTTP 500")
    store.mark_failed(alert.id, "gave up", None)

    store.retry(alert.id)
    [again] = store.claim_due(limit=10)
    states = {r.key: r.state for r in again.url_results}
    assert states == {"json://a": "uncertain"}  # b is tried again; a, which may have it, is not


def test_entries_of_one_page_told_apart_by_fragment_and_guid_are_articles_each(ingest, store):
    # A comments feed: every entry links to the same page, with its own anchor and GUID.
    entries = [Candidate(source_id="outlet1", url=f"https://outlet1.example/story/comment-page-1/#comment-{n}",
                         guid=f"comment-{n}", title=f"Comment {n}", text=f"Reader {n} wrote: {WIRE[n]}",
                         extracted_from="feed") for n in range(3)]
    assert [ingest.ingest(e).outcome for e in entries] == [Outcome.NEW] * 3
    assert [ingest.ingest(e).outcome for e in entries] == [Outcome.SEEN] * 3
    # A tracking fragment is no entry of its own: the same article under another GUID.
    variant = Candidate(source_id="outlet1", url="https://outlet1.example/story/comment-page-1/#storylink=rss",
                        guid="another-guid", title="Comment 0", text=entries[0].text, extracted_from="feed")
    assert ingest.ingest(variant).outcome is Outcome.SEEN
    assert store.counts()["articles"] == 3


def test_a_lookup_reads_a_bounded_number_of_candidates(ingest, store):
    for n in range(10):  # a templated headline, ten times from one outlet
        ingest.ingest(Candidate(source_id="outlet1", url=f"https://outlet1.example/a/{n}", title=MISSILE,
                                text=MISSILE_LEAD.format(day=f"day {n}"), extracted_from="feed"))
    probe = dedup.signatures(ingest.scheme, MISSILE, MISSILE_LEAD.format(day="day 0"))[0]
    since = datetime.now(UTC) - timedelta(days=1)
    assert len(store.near_candidates("short", ingest.scheme.label, probe.buckets, since)) == 10
    store.MAX_CANDIDATES = 3
    assert len(store.near_candidates("short", ingest.scheme.label, probe.buckets, since)) == 3
    assert store.near_candidates("short", ingest.scheme.label, probe.buckets, since,
                                 other_than_outlet="outlet1.example") == []

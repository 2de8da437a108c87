"""The writer's deciding step over plain data, with no store: what a known article seen again is."""

from __future__ import annotations

from presswatch.crawler.store.records import KnownArticle, NewArticle
from presswatch.crawler.stories.intent import (
    LISTED, CopyOf, Fill, NewStory, NoteListing, Revision, Seen, decide_again, decide_new,
)

URL = "https://www.hrw.org/report/2018/11/01/you-cry-night-dont-know-why"
KNOWN = KnownArticle(id=7, story_id=3, extracted_from="page", page_error=None, version_hash="v1",
                     source_id="hrw", owner="hrw")


def _article(source_id: str, extracted_from: str = "page", version: str = "v1",
             fingerprint: str | None = None) -> NewArticle:
    return NewArticle(source_id=source_id, url=URL, url_key=URL, canonical_url=URL, guid=None,
                      title="You Cry at Night but Don't Know Why", text="Sexual violence against women...",
                      published_at=None, date_source=None, language="en", authors=(), content_hash=None,
                      extracted_from=extracted_from, version_hash=version, entry_fingerprint=fingerprint)


def test_only_the_owner_revises_a_text():
    assert isinstance(decide_again(KNOWN, _article("hrw", version="v2"), noted=None), Revision)
    other = decide_again(KNOWN, _article("nknews", version="v2"), noted=None)
    assert isinstance(other, NoteListing) and other.fingerprint == LISTED and other.page_fetched


def test_a_page_fills_a_feed_text_whoever_fetched_it():
    known = KnownArticle(id=7, story_id=3, extracted_from="feed", page_error=None, version_hash="v1",
                         source_id="hrw", owner="hrw")
    intent = decide_again(known, _article("nknews", version="v2"), noted=None)
    assert type(intent) is Fill and intent.move_to is None


def test_a_listing_already_noted_is_seen():
    assert isinstance(decide_again(KNOWN, _article("nknews"), noted=LISTED), Seen)
    feed_entry = _article("hrw-feed", extracted_from="feed", fingerprint="f1")
    assert isinstance(decide_again(KNOWN, feed_entry, noted=None), NoteListing)
    assert isinstance(decide_again(KNOWN, feed_entry, noted="f0"), Seen)  # a changed entry: its page is wanted


def test_a_copy_counts_its_outlet_once_and_reports_the_milestones_it_reaches():
    article = _article("nknews")
    assert isinstance(decide_new(article, [], None, None, 0), NewStory)
    new_outlet = decide_new(article, [], copy_of=3, similar=0.9, outlets_before=4, outlet_known=False)
    assert isinstance(new_outlet, CopyOf) and new_outlet.outlets_after == 5
    assert new_outlet.spread_milestone((5, 20)) == 5
    assert new_outlet.spread_milestone((3, 20)) is None  # 5 is not a milestone
    same_outlet = decide_new(article, [], copy_of=3, similar=0.9, outlets_before=4, outlet_known=True)
    assert same_outlet.outlets_after == 4
    assert same_outlet.spread_milestone((4, 5)) is None  # reached before: not reported again

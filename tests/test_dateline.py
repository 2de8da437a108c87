"""Datelines: the forms read, the year taken from context, and the date chain of a page."""

from datetime import UTC, datetime

import pytest

from presswatch.crawler.parse.dateline import Dateline, dotted_date, find_dateline, resolve, written_date
from presswatch.crawler.parse.extract import extract_page
from presswatch.crawler.items import FeedEntry, PageItem
from presswatch.crawler.stories.candidates import entry_candidate, page_candidate


@pytest.mark.parametrize(("text", "expected"), [
    ("Pyongyang, November 14 (KCNA) -- The Korea Association for ...", Dateline(11, 14)),
    ("Pyongyang, November 14 (KCNA) --The president ...", Dateline(11, 14)),
    ("Pyongyang, January 12 (KCNA) A message of greeting ...", Dateline(1, 12)),
    ("Pyongyang, November 14, 2018 (KCNA) -- ...", Dateline(11, 14, 2018)),
    ("SEOUL, Nov. 4 (Yonhap) -- North Korea on Sunday ...", Dateline(11, 4)),
    ("(Seoul, November 1, 2018) – Women in North Korea ...", Dateline(11, 1, 2018)),
    ("(Seoul, November 1, 2018) - Women in North Korea ...", Dateline(11, 1, 2018)),
    ("평양 11월 14일발 조선중앙통신 조선인권연구협회 대변인은 ...", Dateline(11, 14)),
    ("(평양 11월 4일발 조선중앙통신) 조선인권연구협회 대변인은 ...", Dateline(11, 4)),
    ("평양 2018년 11월 4일발 조선중앙통신 ...", Dateline(11, 4, 2018)),
    ("  \nPyongyang, February 29 (KCNA) -- ...", Dateline(2, 29)),
])
def test_dateline_forms(text, expected):
    assert find_dateline(text) == expected


@pytest.mark.parametrize("text", [
    "SEOUL, South Korea (AP) - North Korea on Tuesday dismissed ...",
    "The plenary meeting was held on June 16 in Pyongyang (KCNA) -- ...",
    "One day in April Juche 52 (1963), President Kim Il Sung visited ...",
    "Pyongyang, Smarch 14 (KCNA) -- ...",
    "Pyongyang, November 31 (KCNA) -- ...",
    "",
])
def test_not_a_dateline(text):
    assert find_dateline(text) is None


def test_dateline_far_into_the_text_is_ignored():
    assert find_dateline("word " * 80 + "Pyongyang, November 14 (KCNA) -- ...") is None


def test_year_from_the_reference_keeps_the_date_out_of_the_future():
    december = Dateline(12, 31)

    assert resolve(december, datetime(2019, 1, 2, tzinfo=UTC)) == datetime(2018, 12, 31, tzinfo=UTC)
    assert resolve(Dateline(11, 4), datetime(2018, 11, 5, tzinfo=UTC)) == datetime(2018, 11, 4, tzinfo=UTC)


def test_korean_new_year_is_a_day_ahead_of_utc():
    reference = datetime(2018, 12, 31, 16, 0, tzinfo=UTC)  # already January 1 in Pyongyang

    assert resolve(Dateline(1, 1), reference) == datetime(2019, 1, 1, tzinfo=UTC)


def test_explicit_year_is_kept_and_february_29_needs_a_leap_year():
    assert resolve(Dateline(11, 1, 2018), datetime(2024, 1, 1, tzinfo=UTC)) == datetime(2018, 11, 1, tzinfo=UTC)
    assert resolve(Dateline(2, 29), datetime(2025, 3, 1, tzinfo=UTC)) == datetime(2024, 2, 29, tzinfo=UTC)


def test_naive_reference_is_taken_as_utc():
    assert resolve(Dateline(11, 4), datetime(2018, 11, 5)) == datetime(2018, 11, 4, tzinfo=UTC)


# -- the chain: page, dateline, feed, first seen -----------------------------------------------

URL = "https://example.org/news/statement"
PARAGRAPHS = "".join(
    f"<p>Paragraph {n}: the statement called the report a fabrication made of the lies of people "
    f"who fled, and said it was part of a plot against the country.</p>" for n in range(3))


def _item(html: str, entry: FeedEntry | None) -> PageItem:
    return PageItem(source_id="kcna", url=URL, body=html.encode(), encoding="utf-8", entry=entry)


def _entry(published: datetime | None) -> FeedEntry:
    return FeedEntry(guid="g1", link=URL, title="Statement", summary="A statement.", published=published)


def _candidate(html: str, entry: FeedEntry | None, fetched_at: datetime | None = None):
    page = extract_page(html, URL, fetched_at=fetched_at)
    return page_candidate(_item(html, entry), page)


def test_chain_page_metadata_first():
    head = '<meta property="article:published_time" content="2018-11-04T09:00:00Z">'
    html = f"<html><head>{head}</head><body><article><p>Pyongyang, November 3 (KCNA) -- Text.</p>{PARAGRAPHS}</article></body></html>"

    candidate = _candidate(html, _entry(datetime(2018, 11, 6, tzinfo=UTC)))

    assert (candidate.published, candidate.date_source) == (datetime(2018, 11, 4, 9, 0, tzinfo=UTC), "page")


def test_chain_dateline_takes_its_year_from_the_feed_date():
    html = f"<html><body><article><p>Pyongyang, December 30 (KCNA) -- Text.</p>{PARAGRAPHS}</article></body></html>"
    # fetched long after; the feed entry dates the story to the first days of 2019
    candidate = _candidate(html, _entry(datetime(2019, 1, 2, tzinfo=UTC)), fetched_at=datetime(2020, 6, 1, tzinfo=UTC))

    assert (candidate.published, candidate.date_source) == (datetime(2018, 12, 30, tzinfo=UTC), "dateline")


def test_chain_dateline_without_feed_takes_the_fetch_year():
    html = f"<html><body><article><p>Pyongyang, November 14 (KCNA) -- Text.</p>{PARAGRAPHS}</article></body></html>"

    candidate = _candidate(html, None, fetched_at=datetime(2018, 11, 15, tzinfo=UTC))

    assert (candidate.published, candidate.date_source) == (datetime(2018, 11, 14, tzinfo=UTC), "dateline")


def test_chain_feed_date_when_the_page_has_none():
    html = f"<html><body><article>{PARAGRAPHS}</article></body></html>"

    candidate = _candidate(html, _entry(datetime(2018, 11, 6, 7, 0, tzinfo=UTC)))

    assert (candidate.published, candidate.date_source) == (datetime(2018, 11, 6, 7, 0, tzinfo=UTC), "feed")


def test_chain_nothing_leaves_first_seen_to_the_store():
    html = f"<html><body><article>{PARAGRAPHS}</article></body></html>"

    candidate = _candidate(html, _entry(None))

    assert (candidate.published, candidate.date_source) == (None, None)
    assert entry_candidate("kcna", _entry(None)).date_source is None


# -- dates printed beside a headline ------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("[2026.7.19.]", datetime(2026, 7, 19, tzinfo=UTC)),  # KCNA's listings since mid-2026
    ("www.kcna.kp (2025.12.14.)", datetime(2025, 12, 14, tzinfo=UTC)),  # KCNA's pages before
    ("[Juche 113.1.12.]", datetime(2024, 1, 12, tzinfo=UTC)),
    ("(Juche113.3.9.)", datetime(2024, 3, 9, tzinfo=UTC)),
    ("2023.3.13.", datetime(2023, 3, 13, tzinfo=UTC)),  # Rodong Sinmun's NewsDate
    ("version 1.2.3 of 2026.2.30. then 2026.3.1.", datetime(2026, 3, 1, tzinfo=UTC)),  # no such day: the next
    ("No. 12.5.7", None),
    ("", None),
])
def test_dotted_date(text, expected):
    assert dotted_date(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Feb. 19, 2026 Thursday", datetime(2026, 2, 19, tzinfo=UTC)),  # Rodong Sinmun since 2025
    ("September 3 2025", datetime(2025, 9, 3, tzinfo=UTC)),
    ("Feb. 30, 2026", None),
    ("Thursday", None),
])
def test_written_date(text, expected):
    assert written_date(text) == expected

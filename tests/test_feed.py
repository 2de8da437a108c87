"""Feed parsing from bytes: good, malformed, not a feed at all, odd encodings."""

from __future__ import annotations

import pytest

from conftest import rss_feed
from presswatch.config.errors import FetchError
from presswatch.crawler.feed import parse_feed

ITEM = {"title": "Report on <b>North Korea</b> &amp; abuse", "link": "http://example.org/a",
        "description": "<p>Human Rights Watch said <i>officials</i> abused women.</p>"}


def test_entries_are_plain_text():
    feed = parse_feed(rss_feed([ITEM]).encode(), "http://example.org/feed")
    entry = feed.entries[0]
    assert entry.title == "Report on North Korea & abuse"
    assert entry.summary == "Human Rights Watch said officials abused women."
    assert entry.published.year == 2018 and entry.published.tzinfo is not None
    assert feed.warning is None


def test_malformed_feed_keeps_what_parsed():
    body = rss_feed([ITEM, {**ITEM, "link": "http://example.org/b"}]).replace("</channel></rss>", "<item><title>cut")
    feed = parse_feed(body.encode(), "http://example.org/feed")
    assert len(feed.entries) >= 2
    assert feed.warning and feed.warning.startswith("malformed feed, kept")


@pytest.mark.parametrize("body, headers, reason", [
    (b"<!DOCTYPE html><html><body><h1>Welcome</h1></body></html>", {"Content-Type": "text/html"},
     "not a feed: the server sent an HTML page (text/html)"),
    (b"   ", {}, "not a feed: the response was empty"),
])
def test_not_a_feed(body, headers, reason):
    with pytest.raises(FetchError) as info:
        parse_feed(body, "http://example.org/feed", headers)
    assert str(info.value) == reason


def test_empty_feed_is_a_feed_with_no_entries():
    feed = parse_feed(rss_feed([]).encode(), "http://example.org/feed")
    assert feed.entries == () and feed.warning is None


def test_mislabelled_bytes_still_parse():
    body = rss_feed([{**ITEM, "title": "Caf\u00e9 report"}]).encode("utf-8").replace(
        "Caf\u00e9".encode(), "Caf\u00e9".encode("latin-1"))
    feed = parse_feed(body, "http://example.org/feed")
    assert len(feed.entries) == 1 and feed.entries[0].title.startswith("Caf")


def test_future_dates_are_dropped():
    feed = parse_feed(rss_feed([{**ITEM, "date": "not a date at all"}]).encode(), "http://x.org/f")
    assert feed.entries[0].published is None
    far = parse_feed(rss_feed([{**ITEM, "date": "Sat, 01 Jan 2101 00:00:00 +0000"}]).encode(), "http://x.org/f")
    assert far.entries[0].published is None


def test_relative_links_resolve_against_the_feed():
    feed = parse_feed(rss_feed([{**ITEM, "link": "/news/1"}]).encode(), "http://example.org/rss/feed.xml")
    assert feed.entries[0].link == "http://example.org/news/1"


GOOGLE_NEWS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>"Human Rights Watch" North Korea - Google News</title>
<item><title>North Korean officials abuse women with impunity, report says - Reuters</title>
<link>https://news.google.com/rss/articles/CBMiAU_yqLopaque?oc=5</link>
<guid isPermaLink="false">CBMiAU_yqLopaque</guid>
<description>&lt;a href="https://news.google.com/rss/articles/CBMiAU_yqLopaque?oc=5"&gt;North Korean officials abuse women with impunity, report says&lt;/a&gt;&amp;nbsp;&amp;nbsp;&lt;font color="#6f6f6f"&gt;Reuters&lt;/font&gt;</description>
<source url="https://www.reuters.com">Reuters</source></item>
<item><title>Seoul - Pyongyang talks - a timeline</title><link>https://example.org/t</link></item>
</channel></rss>"""


def test_an_aggregator_entry_names_its_publisher_and_loses_the_title_suffix():
    first, second = parse_feed(GOOGLE_NEWS, "https://news.google.com/rss/search?q=x").entries
    assert first.title == "North Korean officials abuse women with impunity, report says"
    assert first.origin == "https://www.reuters.com"
    # No <source>: a title with dashes of its own is left alone.
    assert second.title == "Seoul - Pyongyang talks - a timeline" and second.origin is None

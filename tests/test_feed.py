"""Feed parsing from bytes: good, malformed, not a feed at all, odd encodings."""

from __future__ import annotations

import feedparser
import pytest

from conftest import rss_feed
from presswatch.crawler.errors import FetchError
from presswatch.crawler.parse.feeds import parse_feed

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


def _rss(*items: str, channel: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"{channel}><channel><title>t</title>'
            + "".join(f"<item><title>i</title>{item}</item>" for item in items) + "</channel></rss>").encode()


def _atom(*entries: str, feed: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"{feed}><title>t</title>'
            + "".join(f"<entry><title>e</title>{entry}</entry>" for entry in entries) + "</feed>").encode()


@pytest.mark.parametrize("body", [
    _rss("<link>/a/1</link><guid>/a/1</guid>", "<guid>b/2</guid>", '<guid isPermaLink="true">/c/3</guid>'),
    _rss('<link>/a/1</link><guid isPermaLink="false">12345</guid>', '<guid isPermaLink="false">/b/2</guid>'),
    _rss('<guid isPermaLink="false">12345</guid>', "<link>/b/2</link><guid>/b/2</guid>"),  # both kinds
    _rss('<guid isPermaLink="False">/a/1</guid>', '<guid isPermaLink="TRUE">/b/2</guid><link>x/y</link>'),
    _rss("<link>/a/1</link>", channel=' xml:base="http://other.example/base/"'),
    _atom('<id>/a/1</id><link href="/a/1"/>', '<id>tag:example.org,2018:2</id><link href="b/2"/>'),
    _atom('<id>urn:uuid:1</id><link rel="alternate" href="../c/3"/>', feed=' xml:base="http://other.example/x/"'),
    _rss("<link>javascript:alert(1)</link><guid>javascript:void(0)</guid>", "<link> /a </link>"),
    _rss('<guid isPermaLink="TRUE">/a/1</guid><link>/a/1</link>'),
    b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
    b'xmlns="http://purl.org/rss/1.0/"><channel rdf:about="/"><title>t</title></channel>'
    b'<item rdf:about="/a/1"><title>i</title><link>/a/1</link></item></rdf:RDF>',
    _atom('<id>/a/1</id><link href="/a/1"/><source><title>Outlet</title><link href="/outlet"/></source>'),
])
def test_ids_and_links_are_joined_to_the_feeds_url_exactly_as_feedparser_joins_them(body):
    """parse_feed joins an entry's id and link to the feed's URL itself, where it can (a fifth
    of feedparser's time is joining every URL of a feed); the values must stay feedparser's
    own: ids joined only for permalinks (isPermaLink absent or exactly "true"), a feed's own
    xml:base honoured, odd schemes and spaces as feedparser leaves them."""
    url = "http://example.org/news/rss/feed.xml?edition=int"
    theirs = feedparser.parse(body, response_headers={"content-location": url}, sanitize_html=False,
                              resolve_relative_uris=False).entries
    ours = parse_feed(body, url, {"content-type": "application/rss+xml"}).entries
    def origin(entry):
        source = entry.get("source") or {}
        href = source.get("href") or source.get("link")
        return href if isinstance(href, str) and href.startswith(("http://", "https://")) else None

    assert [(e.guid, e.link, e.origin) for e in ours] == [
        (t.get("id") or None, t.get("link") or None, origin(t)) for t in theirs]
    assert any(e.link and e.link.startswith(("http://example.org/", "http://other.example/")) for e in ours)


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


# Plain text stays text: feedparser says which text constructs are plain (title_detail.type);
# only HTML loses tags. The Atom fixtures follow feedparser's own tests (kurtmckee/feedparser,
# tests/wellformed/atom10/entry_title_text_plain_brackets.xml, entry_content_text_plain_brackets.xml,
# entry_summary_text_plain.xml, feed_title_text_plain.xml, entry_source_title_text_plain.xml,
# and tests/wellformed/atom/entry_title_text_plain.xml for Atom 0.3); the RSS and RDF ones
# follow tests/wellformed/rss/item_title.xml and item_description.xml, and
# tests/wellformed/rdf/rss090_item_title.xml, with a KCNA headline as KCNA writes it.
BLINK = "History of the <blink> tag"
KCNA = "KCNA slams US <human rights> racket"
ATOM10 = '<feed xmlns="http://www.w3.org/2005/Atom">{}</feed>'


@pytest.mark.parametrize("body, field, expected", [
    (ATOM10.format('<entry><title type="text">History of the &lt;blink&gt; tag</title></entry>'), "title", BLINK),
    (ATOM10.format('<entry><content type="text">History of the &lt;blink&gt; tag</content></entry>'),
     "summary", BLINK),
    (ATOM10.format('<entry><summary type="text">KCNA slams US &lt;human rights&gt; racket</summary></entry>'),
     "summary", KCNA),
    (ATOM10.format('<entry><title>History of the &lt;blink&gt; tag</title></entry>'), "title", BLINK),
    ('<feed version="0.3" xmlns="http://purl.org/atom/ns#"><entry>'
     '<title type="text/plain" mode="escaped">History of the &lt;blink&gt; tag</title></entry></feed>', "title", BLINK),
    ('<rss version="2.0"><channel><item><title>KCNA slams US &lt;human rights&gt; racket</title>'
     "</item></channel></rss>", "title", KCNA),
    ('<rss version="2.0"><channel><item><description>KCNA slams US &lt;human rights&gt; racket</description>'
     "</item></channel></rss>", "summary", KCNA),
    ('<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://my.netscape.com/rdf/simple/0.9/">'
     "<item><title>KCNA slams US &lt;human rights&gt; racket</title></item></rdf:RDF>", "title", KCNA),
    # Escaped twice in HTML: the markup goes, the text it stood for stays.
    ('<rss version="2.0"><channel><item><description>&lt;p&gt;KCNA slams US &amp;lt;human rights&amp;gt; '
     "racket&lt;/p&gt;</description></item></channel></rss>", "summary", KCNA),
])
def test_plain_text_keeps_its_brackets_in_every_field_and_format(body, field, expected):
    feed = parse_feed(body.encode(), "http://example.org/feed")
    assert getattr(feed.entries[0], field) == expected
    assert feed.warning is None


def test_feed_and_publisher_titles_are_text_too():
    body = ATOM10.format('<title type="text">History of the &lt;blink&gt; tag</title><entry>'
                         '<title type="text">Seoul responds - US &lt;human rights&gt; racket</title>'
                         '<source><title type="text">US &lt;human rights&gt; racket</title></source></entry>')
    feed = parse_feed(body.encode(), "http://example.org/feed")
    assert feed.title == BLINK
    assert feed.entries[0].title == "Seoul responds"  # the publisher's suffix, brackets and all


def test_html_loses_its_markup_and_keeps_its_text():
    # After feedparser's tests/wellformed/rss/item_description_escaped_markup.xml and
    # atom10/entry_content_xhtml.xml: tags of HTML's elements are markup, scripts say nothing.
    rss = ('<rss version="2.0"><channel><item><description>&lt;p&gt;Example &lt;b&gt;Atom&lt;/b&gt;'
           "&lt;/p&gt;&lt;p&gt;second&lt;script&gt;alert(1)&lt;/script&gt;&lt;o:p&gt;&lt;/o:p&gt;&lt;/p&gt;"
           "</description></item></channel></rss>")
    assert parse_feed(rss.encode(), "http://example.org/feed").entries[0].summary == "Example Atom second"
    xhtml = ATOM10.format('<entry><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">'
                          "Example <b>Atom</b> &amp; <i>more</i></div></content></entry>")
    assert parse_feed(xhtml.encode(), "http://example.org/feed").entries[0].summary == "Example Atom & more"


def test_character_references_in_plain_text_are_resolved_and_its_brackets_kept():
    # Atom summaries as Blogger writes them (type="text" holding "&amp;nbsp;"), after
    # feedparser's tests/wellformed/atom10/entry_summary_text_plain.xml; and an RSS title
    # feedparser takes for text, as "&colon;" is no HTML 4 entity (tests/wellformed/rss/item_title.xml).
    atom = ATOM10.format('<entry><summary type="text">A pattern...&amp;nbsp; So please forgive me&amp;nbsp;! '
                         "US &lt;human rights&gt; &amp;amp; more</summary></entry>")
    summary = parse_feed(atom.encode(), "http://example.org/feed").entries[0].summary
    assert summary == "A pattern... So please forgive me ! US <human rights> & more"
    rss = '<rss version="2.0"><channel><item><title>Re&amp;colon; Double-entry &amp;param</title></item></channel></rss>'
    assert parse_feed(rss.encode(), "http://example.org/feed").entries[0].title == "Re: Double-entry &param"


def test_unknown_tags_closed_later_are_markup_and_code_in_brackets_is_text():
    # After feedparser's tests/wellformed/rss/item_description_naked_markup.xml: markup an
    # author made up (closed later), an inline SVG icon, C# generics in a code sample, an
    # image described in its alt text, and a gist embedded with its script and its fallback.
    rss = ('<rss version="2.0"><channel><item><description><![CDATA[<strikethrough>old</strikethrough> new '
           '<svg><use xlink:href="#icon"></use></svg>UserManager<TUser, TKey> and <code>List&lt;T&gt;</code> '
           '<img alt="MiniPCIe->M.2 adapter" src="a.jpg"><script src="https://gist.github.com/1.js"></script>'
           '<noscript><pre>$ ./console</pre></noscript> <a href=http://github.com/">on GitHub</a> '
           '<a title="Merb &lt;ins&gt; Nanite" href="http://example.org/&lt;br /&gt;">slides</a> <a...]]>'
           "</description></item></channel></rss>")
    summary = parse_feed(rss.encode(), "http://example.org/feed").entries[0].summary
    # An attribute holding ">" or "<" (feedparser unescapes attributes) ends no tag, nor does
    # a stray quote run past its tag; a gist's <noscript> copy of its code is text; a teaser
    # cut inside its last tag loses the piece of tag.
    assert summary == "old new UserManager<TUser, TKey> and List<T> $ ./console on GitHub slides"


# Entities a feed declares. Follows feedparser's tests/wellformed/rss/entity_in_doctype.xml.
ENTITY_IN_DOCTYPE = b"""<!--
Description: AT&T
-->

<!DOCTYPE rss [
  <!ENTITY id "tag:example.com,">
]>

<rss version="2.0">
<channel>
<item>
<guid isPermaLink='false'>&id;2006-05-04:/blog/</guid>
<title>&id; a title</title>
</item>
</channel>
</rss>
"""


def test_a_small_flat_entity_is_expanded_and_the_feed_is_not_malformed():
    feed = parse_feed(ENTITY_IN_DOCTYPE, "http://example.org/feed")
    entry = feed.entries[0]
    assert entry.guid == "tag:example.com,2006-05-04:/blog/"
    assert entry.title == "tag:example.com, a title"
    assert feed.warning is None


def test_flat_entities_that_would_add_too_much_stay_unexpanded():
    # 500 characters used 5,000 times: 2.5 MB from a 16 KB feed, over the budget.
    use = b"&big;" * 5000
    body = ENTITY_IN_DOCTYPE.replace(b'<!ENTITY id "tag:example.com,">', b'<!ENTITY big "' + b"A" * 500 + b'">')
    feed = parse_feed(body.replace(b"a title", use), "http://example.org/feed")
    assert len(feed.entries[0].title) < 30_000
    assert "entity declarations ignored" in feed.warning


# Charsets: feedparser's tests/encoding/euc-kr.xml and tests/illformed/chardet/koi8r.xml are
# the model (an RSS item in another charset), here under a Latin-1 label that Latin-1 reads
# without complaint, in the header or the XML declaration.
NK_REPORT = {
    "ko": "북한 인권: 휴먼라이츠워치, 북한 여성에 대한 성폭력 보고서 발표",
    "ru": "Правозащитники сообщили о сексуальном насилии над женщинами в Северной Корее",
    "el": "Οργάνωση ανθρωπίνων δικαιωμάτων καταγγέλλει σεξουαλική βία στη Βόρεια Κορέα",
    "ja": "ヒューマン・ライツ・ウォッチ、北朝鮮の女性に対する性暴力を報告",
    "fr": "Corée du Nord : les femmes victimes de violences sexuelles, selon un rapport « accablant »",
    "de": "Nordkorea: Frauen werden von Funktionären sexuell missbraucht, berichtet Human Rights Watch über Straßenhändlerinnen",
}


def charset_feed(text: str, declaration: str | None) -> str:
    encoding = f' encoding="{declaration}"' if declaration else ""
    return (f'<?xml version="1.0"{encoding}?>\n<rss version="2.0"><channel><title>Feed</title>'
            f"<item><title>{text}</title><link>http://example.org/a</link>"
            f"<description>{text}</description></item></channel></rss>")


@pytest.mark.parametrize("language, encoding, read_as", [
    ("ko", "euc-kr", ("cp949", "euc-kr")),
    ("ko", "cp949", ("cp949",)),
    ("ja", "shift_jis", ("cp932", "shift-jis")),
    ("ru", "koi8-r", ("koi8-r",)),
    ("ru", "cp1251", ("cp1251",)),
    ("el", "cp1253", ("cp1253",)),
])
@pytest.mark.parametrize("labelled", ["header", "declaration"])
def test_another_alphabet_under_a_latin1_label_is_read_right_with_a_note(language, encoding, read_as, labelled):
    text = NK_REPORT[language] + (" 똠방각하" if encoding == "cp949" else "")  # 똠: cp949 only
    in_header = labelled == "header"
    body = charset_feed(text, None if in_header else "iso-8859-1").encode(encoding)
    content_type = "application/rss+xml; charset=ISO-8859-1" if in_header else "application/rss+xml"
    feed = parse_feed(body, "http://example.org/feed", {"Content-Type": content_type})
    assert feed.entries[0].title == text and feed.entries[0].summary == text
    assert feed.warning in {f"label iso-8859-1 overruled: read as {name}" for name in read_as}


@pytest.mark.parametrize("language, encoding", [("fr", "cp1252"), ("fr", "latin-1"), ("de", "latin-1")])
def test_a_real_latin1_feed_keeps_its_label(language, encoding):
    text = NK_REPORT[language]
    for headers, declaration in (({"Content-Type": "application/rss+xml; charset=iso-8859-1"}, None),
                                 ({"Content-Type": "application/rss+xml"}, "iso-8859-1")):
        feed = parse_feed(charset_feed(text, declaration).encode(encoding), "http://example.org/feed", headers)
        assert feed.entries[0].title == text and feed.warning is None

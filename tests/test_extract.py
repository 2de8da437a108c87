"""Tests of presswatch.crawler.parse.extract on hand-written pages shaped like real news pages."""

from datetime import UTC, datetime, timedelta

import pytest

from presswatch.config.errors import PresswatchError
from presswatch.crawler.errors import FetchError
from presswatch.crawler.parse.canonical import canonical_url
from presswatch.crawler.parse.extract import ExtractedPage, extract_page

HRW_URL = "https://www.hrw.org/news/2018/11/01/north-korea-sexual-abuse-officials-rampant"

HRW_PAGE = """<!DOCTYPE html>
<html lang="en-US" dir="ltr">
<head>
<meta charset="utf-8">
<title>North Korea: Officials' Sexual Abuse of Women Goes Unpunished | Human Rights Watch</title>
<link rel="canonical" href="https://www.hrw.org/news/2018/11/01/north-korea-sexual-abuse-officials-rampant">
<meta property="og:url" content="https://www.hrw.org/news/2018/11/01/north-korea-sexual-abuse-officials-rampant">
<meta property="og:title" content="North Korea: Officials' Sexual Abuse of Women Goes Unpunished">
<meta name="description"
 content="Women describe coercion by guards, police and inspectors; a report urges Pyongyang to act.">
<meta property="article:published_time" content="2018-11-01T00:01:00-04:00">
<meta name="author" content="Kim Minji; Daniel Park">
</head>
<body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/countries">Countries</a></li>
<li><a href="/topics">Topics</a></li><li><a href="/donate">Donate now</a></li></ul></nav></header>
<main>
<article>
<h1>North Korea: Officials' Sexual Abuse of Women Goes Unpunished</h1>
<div class="byline">By Kim Minji and Daniel Park</div>
<p>(Seoul) - Women in North Korea who trade in markets, travel to find food, or are held in
detention face unwanted sexual contact from officials who expect to go unpunished, Human Rights
Watch said in a report released today.</p>
<p>The 86-page report, "You Cry at Night but Don't Know Why: Sexual Violence against Women in North
Korea," draws on interviews with more than fifty North Koreans who left the country after 2011.
They described guards, police officers and market inspectors who demanded sex in exchange for
letting them trade, travel or avoid punishment.</p>
<p>"Unwanted sexual contact is so common that many women told us they considered it part of
ordinary life," the researchers wrote. Few victims report abuse, because the police are often
the abusers and because survivors fear for their livelihoods and their families.</p>
<p>Human Rights Watch urged the government to acknowledge the problem, investigate officials
accused of abuse, and open the country to independent monitors, and called on South Korea,
China and United Nations agencies to raise the findings in their dealings with Pyongyang.</p>
</article>
<aside class="related"><h2>Related content</h2><ul>
<li><a href="/news/2018/10/01/other">Disability rights in Asia</a></li>
<li><a href="/news/2018/09/01/other">Detention conditions in the region</a></li></ul></aside>
</main>
<footer><p>Human Rights Watch, 350 Fifth Avenue, New York. All rights reserved.</p></footer>
</body>
</html>"""

WIRE_URL = "https://www.dailyherald-example.com/world/asia/north-korea-rejects-rights-report-123456"

WIRE_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>North Korea rejects rights group's report on abuse of women - Daily Herald</title>
<link rel="canonical" href="https://apnews-example.com/article/north-korea-report-rejected-9f3c2a">
<meta property="og:url" content="https://www.dailyherald-example.com/world/asia/north-korea-rejects-rights-report-123456">
<meta property="article:published_time" content="2018-11-06T08:30:00Z">
</head>
<body>
<div class="site-nav"><a href="/">Daily Herald</a> | <a href="/world">World</a>
 | <a href="/sports">Sports</a></div>
<div class="story">
<h1>North Korea rejects rights group's report on abuse of women</h1>
<p class="credit">By the Associated Press</p>
<p>SEOUL, South Korea (AP) - North Korea on Tuesday dismissed a Human Rights Watch report on the
sexual abuse of women by officials as a fabrication meant to tarnish the country's image.</p>
<p>A commentary carried by the official news agency said the report relied on the testimony of
people who had fled the country and called the group a tool of hostile forces.</p>
<p>The report, released last week, said women are routinely abused by guards and police and
have almost no way to seek justice.</p>
</div>
<div class="newsletter">Sign up for our morning newsletter.</div>
</body>
</html>"""

AMP_URL = "https://amp.example-news.com/world/asia/2018/11/01/north-korea-report/amp"
PLAIN_URL = "https://www.example-news.com/world/asia/2018/11/01/north-korea-report"

AMP_PAGE = """<!doctype html>
<html amp lang="en">
<head>
<meta charset="utf-8">
<script async src="https://cdn.ampproject.org/v0.js"></script>
<title>Report details sexual violence against women in North Korea</title>
<link rel="canonical" href="/world/asia/2018/11/01/north-korea-report">
<meta name="viewport" content="width=device-width">
<style amp-boilerplate>body{visibility:hidden}</style>
</head>
<body>
<amp-sidebar id="menu" layout="nodisplay"><a href="/">Front page</a><a href="/world">World</a></amp-sidebar>
<article>
<h1>Report details sexual violence against women in North Korea</h1>
<time datetime="2018-11-01T05:00:00+00:00">November 1, 2018</time>
<amp-img src="/img/report.jpg" width="600" height="400" layout="responsive"></amp-img>
<p>A report published on Thursday by Human Rights Watch says that sexual violence by officials
against women in North Korea is widespread and that those responsible are rarely punished.</p>
<p>The authors interviewed dozens of women and several men who left the country, many of whom
said that abuse was so routine that they had stopped thinking of it as a crime.</p>
<p>The government in Pyongyang has not yet responded to the findings.</p>
</article>
</body>
</html>"""

KCNA_URL = "http://www.kcna-example.kp/item/2018/201811/news05/20181105-12ee.html"

KCNA_PAGE = """<html>
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<title>KCNA Commentary Slams Smear Campaign</title>
</head>
<body>
<table width="100%"><tr><td class="menu"><a href="/index.html">Home</a> <a href="/news.html">News</a>
<a href="/photo.html">Photo</a></td></tr>
<tr><td class="article">
<p class="title">KCNA Commentary Slams Smear Campaign</p>
<p class="date">2018-11-05</p>
<p>Pyongyang, November 5 (KCNA) -- A spokesman for the Korea Association for Human Rights Studies
issued a statement on Monday denouncing a so-called report of a human rights body of the United
States as a sheer fabrication.</p>
<p>The statement said that the report was cooked up from the lies of human scum who betrayed their
country and that it was part of a hostile plot to tarnish the image of the dignified socialist
system.</p>
<p>It stressed that the smear campaign will never work and that those behind it will pay dearly
for their hideous acts.</p>
</td></tr></table>
</body>
</html>"""

KOREAN_URL = "http://news.example.co.kr/article/view.html?idxno=20181102"

KOREAN_PAGE = """<html>
<head>
<meta http-equiv="Content-Type" content="text/html; charset=euc-kr">
<title>휴먼라이츠워치 "북한 여성 성폭력 만연" 보고서 발표</title>
</head>
<body>
<div id="gnb"><a href="/">홈</a> <a href="/politics">정치</a> <a href="/society">사회</a></div>
<div id="article-view">
<h1>휴먼라이츠워치 "북한 여성 성폭력 만연" 보고서 발표</h1>
<p>국제 인권단체 휴먼라이츠워치가 북한에서 관리들에 의한 여성 성폭력이 일상적으로 벌어지고
있다는 내용의 보고서를 1일 발표했다.</p>
<p>보고서는 2011년 이후 탈북한 여성들과의 면담을 바탕으로, 장마당에서 장사를 하거나 이동하는
과정에서 보안원과 단속 관리들에게 피해를 당했다는 증언을 담았다.</p>
<p>단체는 북한 당국에 실태를 인정하고 가해자를 처벌할 것을 촉구했다.</p>
</div>
</body>
</html>"""

JS_ONLY_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Loading...</title>
<script src="/static/js/main.4f2a.js" defer></script></head>
<body><div id="root"></div>
<script>window.__INITIAL_STATE__ = {"article": null};</script>
</body>
</html>"""


def _page(body: str, head: str = "", lang: str = "") -> str:
    """A plain article page for tests of one detail."""
    paragraphs = "".join(
        f"<p>Paragraph {n}: analysts compared the new report with earlier testimony from "
        f"women who left the country, and found the same pattern of abuse by officials.</p>"
        for n in range(3)
    )
    lang_attr = f' lang="{lang}"' if lang else ""
    return (
        f"<html{lang_attr}><head><title>Test story</title>{head}</head>"
        f"<body><article><h1>Test story</h1>{body}{paragraphs}</article></body></html>"
    )


def test_news_release_text_title_and_metadata():
    page = extract_page(HRW_PAGE, HRW_URL)

    assert isinstance(page, ExtractedPage)
    assert page.title == "North Korea: Officials' Sexual Abuse of Women Goes Unpunished"
    assert "You Cry at Night but Don't Know Why" in page.text
    assert "independent monitors" in page.text
    assert "Donate now" not in page.text
    assert page.language == "en"
    assert page.canonical == HRW_URL
    assert page.description.startswith("Women describe coercion")
    assert page.authors == ("Kim Minji", "Daniel Park")


def test_published_time_is_converted_to_utc():
    page = extract_page(HRW_PAGE, HRW_URL)

    assert page.published == datetime(2018, 11, 1, 4, 1, tzinfo=UTC)
    assert page.date_source == "page"


def test_related_links_stay_out_of_the_text():
    page = extract_page(HRW_PAGE, HRW_URL)

    assert "Disability rights in Asia" not in page.text


def test_wire_copy_reports_the_canonical_of_the_other_outlet():
    page = extract_page(WIRE_PAGE, WIRE_URL)

    # Found as written; judging it is canonical_url's job, which keeps the outlet's own URL.
    assert page.canonical == "https://apnews-example.com/article/north-korea-report-rejected-9f3c2a"
    assert canonical_url(WIRE_URL, page.canonical) == canonical_url(WIRE_URL)
    assert "SEOUL, South Korea (AP) - North Korea on Tuesday dismissed" in page.text
    assert "newsletter" not in page.text
    assert page.published == datetime(2018, 11, 6, 8, 30, tzinfo=UTC)


def test_amp_page_resolves_its_relative_canonical():
    page = extract_page(AMP_PAGE, AMP_URL)

    assert page.canonical == "https://amp.example-news.com/world/asia/2018/11/01/north-korea-report"
    assert canonical_url(AMP_URL, page.canonical) == canonical_url(PLAIN_URL)
    assert "rarely punished" in page.text
    assert "Front page" not in page.text


def test_kcna_item_keeps_its_dateline_and_date():
    page = extract_page(KCNA_PAGE, KCNA_URL)

    assert "Pyongyang, November 5 (KCNA) -- A spokesman" in page.text
    assert "Korea Association for Human Rights Studies" in page.text
    assert page.published is not None
    assert page.published.date() == datetime(2018, 11, 5).date()
    assert page.language is None  # no lang attribute, no Hangul, no hint


def test_language_hint_is_the_last_resort():
    assert extract_page(KCNA_PAGE, KCNA_URL, language_hint="en").language == "en"
    assert extract_page(HRW_PAGE, HRW_URL, language_hint="ko").language == "en"


def test_euc_kr_bytes_are_decoded_from_the_meta_charset():
    page = extract_page(KOREAN_PAGE.encode("euc-kr"), KOREAN_URL)

    assert page.title == '휴먼라이츠워치 "북한 여성 성폭력 만연" 보고서 발표'
    assert "장마당에서 장사를 하거나" in page.text
    assert "\ufffd" not in page.text
    assert page.language == "ko"  # no lang attribute: told by the Hangul script


def test_cp949_only_syllables_decode_under_an_euc_kr_label():
    # "똠" is outside EUC-KR's 2,350 syllables; Korean pages labelled euc-kr use cp949 for it.
    body = "<p>똠얌꿍 식당 주인이 보고서를 읽었다.</p>"
    html = _page(body, head='<meta charset="euc-kr">').encode("cp949")

    assert "똠얌꿍" in extract_page(html, KOREAN_URL).text


def test_undeclared_bytes_fall_back_to_utf8_with_replacement():
    html = _page("<p>Caf\xe9 owners read the report.</p>").encode("latin-1")

    page = extract_page(html, "https://example.org/story")

    assert "Caf\ufffd owners" in page.text


def test_javascript_only_page_raises_fetch_error():
    with pytest.raises(FetchError, match="no extractable text"):
        extract_page(JS_ONLY_PAGE, "https://spa.example.com/article/1")


@pytest.mark.parametrize("html", ["", b"", "<html><body></body></html>", b"   \n"])
def test_empty_page_raises_fetch_error(html):
    with pytest.raises(PresswatchError, match="no extractable text"):
        extract_page(html, "https://example.org/empty")


def test_og_url_is_used_when_there_is_no_canonical_link():
    head = '<meta property="og:url" content="https://example.org/world/story-42">'

    page = extract_page(_page("", head=head), "https://example.org/world/story-42?utm_source=rss")

    assert page.canonical == "https://example.org/world/story-42"


def test_no_canonical_when_the_page_declares_none():
    assert extract_page(_page(""), "https://example.org/story").canonical is None


def test_html_lang_is_reduced_to_its_primary_subtag():
    assert extract_page(_page("", lang="en-GB"), "https://example.org/s").language == "en"


def test_date_in_the_future_is_rejected():
    future = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    head = f'<meta property="article:published_time" content="{future}">'

    page = extract_page(_page("", head=head), "https://example.org/story")

    assert page.published is None
    assert page.date_source is None


def test_timestamp_more_than_a_day_ahead_is_rejected():
    # Tomorrow's date passes htmldate's day-level limit, but 23:00 at UTC-12 is later still.
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    head = f'<meta property="article:published_time" content="{tomorrow}T23:00:00-12:00">'

    assert extract_page(_page("", head=head), "https://example.org/story").published is None


def test_time_of_day_comes_from_the_time_element_when_the_url_has_the_date():
    page = extract_page(AMP_PAGE, AMP_URL)

    assert page.published == datetime(2018, 11, 1, 5, 0, tzinfo=UTC)


def test_time_of_day_comes_from_json_ld():
    ld = '{"@type": "NewsArticle", "datePublished": "2018-11-02T09:15:00+09:00"}'
    head = f'<script type="application/ld+json">{ld}</script>'

    page = extract_page(_page("", head=head), "https://example.org/2018/11/02/story")

    assert page.published == datetime(2018, 11, 2, 0, 15, tzinfo=UTC)


def test_date_without_offset_is_taken_as_utc():
    head = '<meta property="article:published_time" content="2018-11-02">'

    page = extract_page(_page("", head=head), "https://example.org/story")

    assert page.published == datetime(2018, 11, 2, tzinfo=UTC)


def test_extracted_page_is_frozen():
    page = extract_page(HRW_PAGE, HRW_URL)

    with pytest.raises(AttributeError):
        page.title = "changed"


# -- KCNA and Rodong Sinmun, in the shape of their real pages --------------------------------

KCNA_BODY = """<div class="content-wrapper">
<p>Pyongyang, October 15 (KCNA) -- A spokesperson for the Korea Association for Human Rights Studies
issued the following press statement on Tuesday:</p>
<p>The United States and its followers are again staging a "human rights" racket against the DPRK,
bringing up a report cooked up from the lies of human scum who fled the country.</p>
<p>They should know that the dignified socialist system of the DPRK will never be tarnished by such
a smear campaign, and that the respected Comrade <nobr><strong><em>Kim Jong Un</em></strong></nobr>
and the people are one.</p>
<p>Those behind the racket will pay dearly for their hideous acts. -0-</p>
</div>"""

KCNA_TITLE = "Press Statement of Spokesperson for Korea Association for Human Rights Studies"


def _kcna_page(topic: str, others: list[str], stamp: str = "[2024.10.15.]") -> str:
    """A kcna.kp article page: site menu, topic heading, headline, publish-time, body, topic list."""
    items = "".join(
        f'<li><a href="/en/article/q/{n:064x}.kcmsf">{headline}'
        f'<span class="publish-time">[2024.10.1{n}.]</span></a></li>'
        for n, headline in enumerate(others)
    )
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>KCNA</title>
<script src="/js/jquery.min.js"></script></head>
<body>
<div class="col-md-12 menu-block">
<a href="/en/category/articles/q/1ee9bdb7186944f765208f34ecfb5407.kcmsf">Top News</a>
<a href="/en/category/articles/q/5394b80bdae131c1aeb8a63f8e2ea9ab.kcmsf">Latest News</a>
<a href="/en/category/articles/q/a4e7a40e2a4b5bd1cf79d8a5acb4d92e.kcmsf">External</a></div>
<div class="article-wrapper">
<div class="topic-title">{topic}</div>
<h1 class="article-main-title">{KCNA_TITLE}</h1>
<div class="publish-time">{stamp}</div>
{KCNA_BODY}
</div>
<div class="related"><h3>{topic}</h3><ul class="article-link">{items}</ul></div>
<div class="footer">Copyright 2012-2024 Korean Central News Agency. All rights reserved.</div>
</body></html>"""


KCNA_TOP_URL = "http://www.kcna.kp/en/article/q/" + "a1" * 48 + ".kcmsf"
KCNA_EXTERNAL_URL = "http://www.kcna.kp/en/article/q/" + "b2" * 48 + ".kcmsf"


def test_kcna_menu_twins_have_the_same_text_title_and_date():
    from presswatch.crawler.stories.ingest import content_hash

    top = extract_page(_kcna_page("Top News", ["Kim Jong Un Inspects Farm"]), KCNA_TOP_URL)
    external = extract_page(
        _kcna_page("External", ["Statement of DPRK Foreign Ministry", "Delegation Leaves"]), KCNA_EXTERNAL_URL)

    assert top.text == external.text
    assert content_hash(top.text) == content_hash(external.text) is not None
    assert top.title == external.title == KCNA_TITLE
    assert top.published == external.published == datetime(2024, 10, 15, tzinfo=UTC)
    assert top.date_source == external.date_source == "page"
    assert top.text.startswith("Pyongyang, October 15 (KCNA) -- A spokesperson")
    assert top.text.endswith("pay dearly for their hideous acts.")  # KCNA's "-0-" end mark dropped
    assert "Comrade Kim Jong Un and the people" in top.text  # inline name keeps its spaces
    for boilerplate in ("Top News", "External", "[2024.10.15.]", "Inspects Farm", "Copyright"):
        assert boilerplate not in top.text


def test_kcna_juche_publish_time():
    page = extract_page(_kcna_page("Top News", [], stamp="[Juche 113.10.15.]"), KCNA_TOP_URL)

    assert page.published == datetime(2024, 10, 15, tzinfo=UTC)


def test_kcna_without_publish_time_is_dated_by_its_dateline():
    html = _kcna_page("Top News", [], stamp="")
    fetched = datetime(2024, 10, 16, 3, 0, tzinfo=UTC)

    page = extract_page(html, KCNA_TOP_URL, fetched_at=fetched)

    assert page.date_source == "dateline"
    assert page.published == datetime(2024, 10, 15, tzinfo=UTC)


def test_kcna_reader_is_chosen_by_host_only():
    page = extract_page(_kcna_page("Top News", ["Kim Jong Un Inspects Farm"]), "https://mirror.example.org/kcna/1")

    assert "A spokesperson" in page.text  # the generic reading still finds the body


RODONG_URL = "http://www.rodong.rep.kp/en/index.php?strPageID=SF01_02_01&newsID=2021-06-22-0005"


def _rodong_page(last: str) -> str:
    """A rodong.rep.kp English article: one layout table of .ArticleContent cells among menus."""
    return f"""<html><head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8"><title>Rodong Sinmun</title></head>
<body><table width="1000"><tr><td class="menu"><a href="index.php?strPageID=SF01_01_01">Home</a>
<a href="index.php?strPageID=SF01_01_02">Politics</a> <a href="index.php?strPageID=SF01_01_03">Economy</a></td></tr>
<tr><td>
<table><tr><td class="ArticleContent"><font size="4">Respected Comrade Kim Jong Un Sends Letter to
Participants in Women's Union Congress</font></td></tr>
<tr><td class="ArticleContent">The respected Comrade Kim Jong Un sent a letter "Let the Women's Union
Become a Powerful Unit in Propelling the Advance and Development of Our Style Socialism" to the
participants in the 7th Congress of the Socialist Women's Union of Korea.</td></tr>
<tr><td class="ArticleContent">The letter said that women's union organizations should bring about a
substantial improvement in their work as required by the developing revolution.</td></tr>
<tr><td class="ArticleContent">{last}</td></tr>
</table></td></tr>
<tr><td class="footer">Copyright Rodong Sinmun. Other news: <a href="#">Meeting held</a></td></tr>
</table></body></html>"""


def test_rodong_table_layout_title_text_byline_and_date_from_the_url():
    page = extract_page(_rodong_page("Political News Team"), RODONG_URL)

    assert page.title == ("Respected Comrade Kim Jong Un Sends Letter to Participants in "
                          "Women's Union Congress")
    assert page.text.startswith("The respected Comrade Kim Jong Un sent a letter")
    assert "substantial improvement" in page.text
    assert "Political News Team" not in page.text
    assert "Politics" not in page.text and "Copyright" not in page.text
    assert page.authors == ("Political News Team",)
    assert page.published == datetime(2021, 6, 22, tzinfo=UTC)
    assert page.date_source == "url"


def test_rodong_long_last_cell_is_text_not_a_byline():
    last = ("I firmly believe that all those attending this congress will bring about a substantial "
            "improvement in their work.")
    page = extract_page(_rodong_page(last), RODONG_URL)

    assert page.text.endswith(last)
    assert page.authors == ()


# -- datelines and JavaScript shells -----------------------------------------------------------


def test_dateline_dates_a_page_without_metadata():
    body = "<p>(Seoul, November 1, 2018) – North Korean women face widespread sexual abuse, a report says.</p>"
    page = extract_page(_page(body), "https://example.org/news/release")

    assert page.date_source == "dateline"
    assert page.published == datetime(2018, 11, 1, tzinfo=UTC)


def test_page_metadata_wins_over_the_dateline():
    body = "<p>Pyongyang, November 4 (KCNA) -- A statement was issued.</p>"
    head = '<meta property="article:published_time" content="2018-11-05T01:00:00Z">'
    page = extract_page(_page(body, head=head), "https://example.org/news/kcna")

    assert page.date_source == "page"
    assert page.published == datetime(2018, 11, 5, 1, 0, tzinfo=UTC)


JS_NOTICE_PAGES = [
    """<html><head><title>Article</title><script src="/app.js"></script></head><body>
<noscript>You need to enable JavaScript to run this app.</noscript><div id="root"></div></body></html>""",
    """<html><head><title>Article</title></head><body><div id="app"><p>JavaScript is required.</p></div>
<script>""" + "var state = {};" * 40 + """</script></body></html>""",
    """<html><body><article><p>Please enable JavaScript in your browser to view this story.</p></article>
<script src="/bundle.js"></script><script>window.dataLayer = window.dataLayer || [];
function gtag(){dataLayer.push(arguments);}</script></body></html>""",
]


@pytest.mark.parametrize("html", JS_NOTICE_PAGES)
def test_javascript_notice_alone_is_no_extractable_text(html):
    with pytest.raises(FetchError, match="no extractable text"):
        extract_page(html, "https://spa.example.com/article/2")


def test_article_about_javascript_is_still_an_article():
    body = "<p>Browser makers said JavaScript is required by most news sites today.</p>"
    page = extract_page(_page(body), "https://example.org/tech/js")

    assert "JavaScript is required" in page.text

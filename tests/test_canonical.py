"""Tests of presswatch.crawler.canonical on URL shapes seen in real feeds and pages."""

import pytest

from presswatch.crawler.canonical import canonical_url, is_plausible_canonical, site_of

HRW = "https://hrw.org/news/2018/11/01/north-korea-sexual-abuse-officials-rampant"

# (fetched URL, page canonical or None, expected key)
CASES = [
    # tracking parameters
    (
        "https://www.hrw.org/news/2018/11/01/north-korea-sexual-abuse-officials-rampant"
        "?utm_source=twitter&utm_medium=social&utm_campaign=nk2018",
        None,
        HRW,
    ),
    (
        "https://www.nknews.org/2018/11/north-korea-slams-hrw-report/?fbclid=IwAR0xYz",
        None,
        "https://nknews.org/2018/11/north-korea-slams-hrw-report",
    ),
    (
        "https://www.example.com/world/story-1?gclid=Cj0KC&msclkid=9a8b&dclid=CK1&yclid=77",
        None,
        "https://example.com/world/story-1",
    ),
    (
        "https://www.example.com/world/story-1?mc_cid=abc&mc_eid=def&_ga=2.1.2&igshid=x"
        "&ref_src=twsrc&cmpid=rss&ocid=msn",
        None,
        "https://example.com/world/story-1",
    ),
    (
        "https://www.bbc.co.uk/news/world-asia-46050000?at_medium=RSS&at_campaign=KARANGA"
        "&ns_mchannel=social",
        None,
        "https://bbc.co.uk/news/world-asia-46050000",
    ),
    (
        "https://www.theguardian.com/world/2018/nov/01/north-korea-women-abuse?CMP=share_btn_tw",
        None,
        "https://theguardian.com/world/2018/nov/01/north-korea-women-abuse",
    ),
    (
        "https://www.yna.co.kr/view/AKR20181101000000504?section=nk/index&input=1195m",
        None,
        "https://yna.co.kr/view/AKR20181101000000504?section=nk%2Findex",
    ),
    # fragments
    (
        "https://www.reuters.com/article/us-northkorea-rights/north-korea-idUSKCN1N63AB"
        "#storylink=rss",
        None,
        "https://reuters.com/article/us-northkorea-rights/north-korea-idUSKCN1N63AB",
    ),
    ("https://www.nknews.org/2018/11/story/#comments", None, "https://nknews.org/2018/11/story"),
    # AMP variants
    (
        "https://www.bbc.com/news/amp/world-asia-46050000",
        None,
        "https://bbc.com/news/world-asia-46050000",
    ),
    ("https://www.nknews.org/2018/11/story/amp/", None, "https://nknews.org/2018/11/story"),
    ("https://www.example.com/amp/2018/11/01/story", None, "https://example.com/2018/11/01/story"),
    (
        "https://www.washingtonpost.com/world/asia_pacific/nk-abuse/2018/11/01/a1b2_story.html"
        "?outputType=amp",
        None,
        "https://washingtonpost.com/world/asia_pacific/nk-abuse/2018/11/01/a1b2_story.html",
    ),
    ("https://www.dailynk.com/english/nk-women-report/?amp=1", None, "https://dailynk.com/english/nk-women-report"),
    ("https://www.example.com/news/story.amp", None, "https://example.com/news/story"),
    (
        "https://edition.cnn.com/2018/11/01/asia/north-korea-hrw-intl/index.amp.html",
        None,
        "https://edition.cnn.com/2018/11/01/asia/north-korea-hrw-intl/index.html",
    ),
    (
        "https://amp.theguardian.com/world/2018/nov/01/north-korea-women-abuse",
        None,
        "https://theguardian.com/world/2018/nov/01/north-korea-women-abuse",
    ),
    # mobile hosts
    ("https://m.yna.co.kr/view/AEN20181101000351315", None, "https://yna.co.kr/view/AEN20181101000351315"),
    (
        "https://mobile.nytimes.com/2018/11/01/world/asia/north-korea-sexual-abuse.html",
        None,
        "https://nytimes.com/2018/11/01/world/asia/north-korea-sexual-abuse.html",
    ),
    # a prefix that is the registrable name itself is not an edition
    ("https://amp.co.kr/news/1", None, "https://amp.co.kr/news/1"),
    # ports, case, slashes
    (
        "http://www.kcna.kp:80/item/2018/201811/news05/20181105-12ee.html",
        None,
        "http://kcna.kp/item/2018/201811/news05/20181105-12ee.html",
    ),
    ("https://www.hrw.org:443/report/2018/11/01/you-cry-night", None, "https://hrw.org/report/2018/11/01/you-cry-night"),
    ("http://127.0.0.1:8080/article/1/", None, "http://127.0.0.1:8080/article/1"),
    ("HTTPS://WWW.HRW.ORG/News/2018", None, "https://hrw.org/News/2018"),
    ("https://www.38north.org/2018/11/story/", None, "https://38north.org/2018/11/story"),
    ("https://www.hrw.org", None, "https://hrw.org/"),
    ("https://www.example.com//news//story", None, "https://example.com/news/story"),
    # query strings: &amp; decoded, identifiers kept, order settled
    (
        "https://news.naver.com/main/read.nhn?mode=LSD&amp;mid=sec&amp;sid1=100&amp;oid=001"
        "&amp;aid=0010440000",
        None,
        "https://news.naver.com/main/read.nhn?aid=0010440000&mid=sec&mode=LSD&oid=001&sid1=100",
    ),
    ("https://www.nkeconwatch.com/story?utm_source=x&id=1234", None, "https://nkeconwatch.com/story?id=1234"),
    (
        "https://www.example.com/news/view.do?articleId=201811010001&utm_medium=rss",
        None,
        "https://example.com/news/view.do?articleId=201811010001",
    ),
    (
        "http://www.rodong.rep.kp/en/index.php?strPageID=SF01_02_01&newsID=2018-11-05-0010",
        None,
        "http://rodong.rep.kp/en/index.php?newsID=2018-11-05-0010&strPageID=SF01_02_01",
    ),
    ("https://blog.example.org/?p=123&utm_source=feed", None, "https://blog.example.org/?p=123"),
    # redirect links with the target inside
    (
        "https://www.google.com/url?rct=j&sa=t&url=https://www.hrw.org/news/2018/11/01/"
        "north-korea-sexual-abuse-officials-rampant&ct=ga&cd=CAIyGjA&usg=AFQjCNE",
        None,
        HRW,
    ),
    (
        "https://www.google.co.kr/url?q=https://m.yna.co.kr/view/AKR20181101000000504&sa=U",
        None,
        "https://yna.co.kr/view/AKR20181101000000504",
    ),
    (
        "https://news.google.com/news/url?sa=t&fd=R&url=https%3A%2F%2Fwww.nknews.org%2F2018%2F11"
        "%2Fstory%2F%3Futm_source%3Dgn",
        None,
        "https://nknews.org/2018/11/story",
    ),
    (
        "http://www.bing.com/news/apiclick.aspx?ref=FexRss&aid=&tid=5BE&url=https%3a%2f%2fwww.upi.com"
        "%2fTop_News%2f2018%2f11%2f01%2fstory%2f1234%2f&c=123&mkt=en-us",
        None,
        "https://upi.com/Top_News/2018/11/01/story/1234",
    ),
    (
        "https://l.facebook.com/l.php?u=https%3A%2F%2Fwww.hrw.org%2Freport%2F2018%2F11%2F01%2F"
        "you-cry-night%3Ffbclid%3DIwAR1&h=AT0",
        None,
        "https://hrw.org/report/2018/11/01/you-cry-night",
    ),
    (
        "https://www-bbc-com.cdn.ampproject.org/c/s/www.bbc.com/news/amp/world-asia-46050000"
        "?amp_js_v=0.1&usqp=mq331AQ",
        None,
        "https://bbc.com/news/world-asia-46050000",
    ),
    ("https://www.google.com/amp/s/www.nknews.org/2018/11/story/amp/", None, "https://nknews.org/2018/11/story"),
    # links only a fetch could unwrap stay as they are
    (
        "https://news.google.com/rss/articles/CBMiSWh0dHBzOi8vd3d3?oc=5",
        None,
        "https://news.google.com/rss/articles/CBMiSWh0dHBzOi8vd3d3?oc=5",
    ),
    ("http://feedproxy.google.com/~r/nknews/~3/AbCdEf/", None, "http://feedproxy.google.com/~r/nknews/~3/AbCdEf"),
    # the page's canonical
    (
        "https://www.hrw.org/node/323456?sessionid=abc",
        "https://www.hrw.org/news/2018/11/01/north-korea-sexual-abuse-officials-rampant",
        HRW,
    ),
    (
        "https://amp.example-news.com/world/asia/2018/11/01/north-korea-report/amp",
        "/world/asia/2018/11/01/north-korea-report",
        "https://example-news.com/world/asia/2018/11/01/north-korea-report",
    ),
    (
        "https://edition.cnn.com/2018/11/01/asia/story/index.html",
        "https://www.cnn.com/2018/11/01/asia/story/index.html",
        "https://cnn.com/2018/11/01/asia/story/index.html",
    ),
    ("https://www.hrw.org/node/323456", "//www.hrw.org/news/2018/11/01/x", "https://hrw.org/news/2018/11/01/x"),
    (
        "https://www.koreaherald.com/view.php?ud=20181101000678",
        "https://www.koreaherald.com/",
        "https://koreaherald.com/view.php?ud=20181101000678",
    ),
    (
        "https://www.dailyherald-example.com/world/asia/nk-rejects-report-123456",
        "https://apnews.com/article/north-korea-report-rejected-9f3c2a",
        "https://dailyherald-example.com/world/asia/nk-rejects-report-123456",
    ),
    ("https://blog.example.org/?p=123&utm_source=feed", "https://blog.example.org/?p=123", "https://blog.example.org/?p=123"),
    ("https://www.example.com/news/1", "javascript:void(0)", "https://example.com/news/1"),
    ("https://www.example.com/news/1", "   ", "https://example.com/news/1"),
]


@pytest.mark.parametrize(("url", "page_canonical", "expected"), CASES)
def test_canonical_url(url, page_canonical, expected):
    assert canonical_url(url, page_canonical) == expected


def test_table_is_large_enough():
    assert len(CASES) >= 30


def test_variants_of_one_article_share_one_key():
    variants = [
        "https://www.hrw.org/news/2018/11/01/north-korea-sexual-abuse-officials-rampant",
        "https://hrw.org/news/2018/11/01/north-korea-sexual-abuse-officials-rampant/",
        "https://m.hrw.org/news/2018/11/01/north-korea-sexual-abuse-officials-rampant#top",
        "https://www.hrw.org/news/2018/11/01/north-korea-sexual-abuse-officials-rampant/amp",
        "https://www.hrw.org/news/2018/11/01/north-korea-sexual-abuse-officials-rampant?amp&utm_source=x",
        " https://WWW.HRW.ORG:443/news/2018/11/01/north-korea-sexual-abuse-officials-rampant ",
    ]
    assert {canonical_url(url) for url in variants} == {HRW}


def test_different_articles_keep_different_keys():
    first = canonical_url("https://www.example.com/news/view.do?articleId=1&utm_source=x")
    second = canonical_url("https://www.example.com/news/view.do?articleId=2&utm_source=x")

    assert first != second


def test_scheme_is_kept():
    assert canonical_url("http://www.hrw.org/x") != canonical_url("https://www.hrw.org/x")


def test_percent_encoding_is_settled():
    raw = canonical_url("https://news.example.co.kr/기사/북한-인권?q=여성")
    encoded = canonical_url(
        "https://news.example.co.kr/%EA%B8%B0%EC%82%AC/%EB%B6%81%ED%95%9C-%EC%9D%B8%EA%B6%8C"
        "?q=%EC%97%AC%EC%84%B1"
    )

    assert raw == encoded


def test_internationalised_host_matches_its_ascii_form():
    assert canonical_url("https://www.bücher.de/a") == canonical_url("https://xn--bcher-kva.de/a")
    assert site_of("https://www.bücher.de/a") == site_of("https://xn--bcher-kva.de/a")


@pytest.mark.parametrize(
    "url",
    ["ftp://www.hrw.org/report.pdf", "mailto:press@hrw.org", "/news/2018/11/01/x", "", "https://",
     "http://www.hrw.org:99999/x", "javascript:alert(1)"],
)
def test_invalid_url_raises_value_error(url):
    with pytest.raises(ValueError, match="URL"):
        canonical_url(url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.hrw.org/news", "hrw.org"),
        ("https://m.yna.co.kr/view/1", "yna.co.kr"),
        ("https://amp.theguardian.com/world", "theguardian.com"),
        ("https://mobile.nytimes.com/2018", "nytimes.com"),
        ("https://news.naver.com/main", "news.naver.com"),
        ("http://127.0.0.1:8080/a", "127.0.0.1"),
        ("https://WWW.KCNA.KP./x", "kcna.kp"),
    ],
)
def test_site_of(url, expected):
    assert site_of(url) == expected


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        ("https://www.hrw.org/news/2018/11/01/story", True),
        ("/news/2018/11/01/story", True),
        ("https://features.hrw.org/news/2018/11/01/story", True),
        ("https://www.hrw.org/", False),
        ("https://www.hrw.org", False),
        ("/", False),
        ("https://www.hrw.org/index.html", False),
        ("https://www.hrw.org/?utm_source=feed", False),
        ("https://www.hrw.org/?p=123", True),
        ("https://www.hrwatch-example.org/news/2018/11/01/story", False),
        ("ftp://www.hrw.org/news/story", False),
    ],
)
def test_is_plausible_canonical(candidate, expected):
    assert is_plausible_canonical("https://m.hrw.org/node/1?from=rss", candidate) is expected


def test_plausibility_on_loopback_hosts():
    assert is_plausible_canonical("http://127.0.0.1:8000/a", "/b")
    assert not is_plausible_canonical("http://127.0.0.1:8000/a", "http://10.0.0.1/b")

"""Rule matching: boundaries, normalisation, Korean particles, rule results and snippets.

The sentences are written for these tests in the manner of the coverage of Human Rights
Watch's November 2018 report on sexual violence against women in North Korea and of
KCNA's reply to it.
"""

from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from presswatch.config.errors import ConfigError
from presswatch.crawler.match import Match, RuleMatcher, make_snippet, mark_terms, normalize, term_pattern


@dataclass(frozen=True)
class Rule:
    id: str
    query: str
    enabled: bool = True


WIRE_TITLE = "North Korean officials abuse women with impunity, Human Rights Watch says"
WIRE_TEXT = (
    "SEOUL, Nov. 1 (Wire) \u2014 Women in North Korea are routinely subjected to sexual abuse by police\n"
    "officers, prison guards and market inspectors, and have almost nowhere to turn, Human Rights Watch\n"
    "said in a report published on Thursday.\n\n"
    "The 86-page report, \u201cYou Cry at Night but Don\u2019t Know Why,\u201d draws on interviews with more than\n"
    "fifty North Koreans, most of whom left the country after Kim Jong\u2011un came to power in 2011.\n\n"
    "Several women told the New York-based group that unwanted sexual contact by men in authority was so\n"
    "common that they had come to regard it as part of ordinary life. None of them had reported it.\n\n"
    "Officials in Pyongyang did not respond to requests for comment. North Korean diplomats have in the\n"
    "past dismissed similar testimony as fabrications by defectors paid by Seoul and Washington."
)
KCNA_TITLE = "KCNA slams U.S.-backed smear campaign"
KCNA_TEXT = (
    "Pyongyang, November 9 (KCNA) -- A spokesman for the Korea Association for Human Rights Studies on\n"
    "Friday denounced the so-called report as a \u201cdangerous provocation\u201d aimed at tarnishing the image of\n"
    "the DPRK. The women quoted in it were \u201chuman scum\u201d who had betrayed their country, he said."
)
KOREAN_TEXT = (
    "휴먼라이츠워치는 1일 보고서에서 북한 여성들이 보안원과 교도관 등에게 성폭력을 당해도 호소할 곳이 없다고 밝혔다. "
    "조선인권연구협회 대변인은 이 보고서를 위험한 도발로 규정했고, 로동신문은 증언한 여성들을 인간쓰레기라고 비난했다."
)


def matches(query, text, title=""):
    return bool(RuleMatcher([Rule("r", query)]).match(title, text))


TERMS = [
    # (query, text, matches?)
    # Latin words match whole words only
    ("rape", "Rape and other sexual violence went unpunished, the women said.", True),
    ("rape", "Two of the women described rape-related injuries.", True),
    ("rape", "Farmers near Sinuiju sell grape juice at the market.", False),
    ("rape", "Farmers near Sinuiju grow grapes on terraced hillsides.", False),
    ("rape", "Heavy drapery hung in the hall where the verdict was read.", False),
    ("Korea", "More than fifty Koreans were interviewed.", False),
    ("DPRK", "an attempt to tarnish the DPRK's image", True),
    ("DPRK", "the Democratic People's Republic of Korea (DPRK) rejected it", True),
    ("DPRK", "the DPRK\u2019s state media", True),
    ("U.N.", "the U.N. special rapporteur on North Korea", True),
    ("U.N.", "a report to the U.N", True),
    # case and Unicode compatibility forms
    ("kcna", "KCNA carried the statement.", True),
    ("DPRK", "a statement by the \uff24\uff30\uff32\uff2b foreign ministry", True),
    ('"Human Rights Watch"', "HUMAN RIGHTS WATCH PUBLISHES REPORT", True),
    ("filed", "The group \ufb01led its findings with the U.N.", True),
    ('"Don\'t Know Why"', "You Cry at Night but Don\u2019t Know Why", True),
    ("officers", "police of\u00adficers and guards", True),
    # phrases: any whitespace between words, but the words in order and whole
    ('"Human Rights Watch"', "said Human\nRights   Watch on Thursday", True),
    ('"human scum"', "were \u201chuman\u00a0scum\u201d who", True),
    ('"human scum"', "human rights are not scum", False),
    ('"Human Rights Watch"', "a human rights watchdog", False),
    ('"Korea Association for Human Rights Studies"', KCNA_TEXT, True),
    # hyphen and space are the same between words
    ("Kim-Jong-un", "after Kim Jong Un came to power", True),
    ('"Kim Jong-un"', "after Kim Jong un came to power", True),
    ('"Kim Jong-un"', "after Kim Jong\u2011un came to power", True),
    ('"Kim Jong un"', "a portrait of Kim-Jong-un", True),
    ("Kim-Jong-un", "after KimJongun came to power", False),
    # Korean particles attach to the word: no boundary on the Hangul side
    ("성폭력", "교도관에 의한 성폭력을 당했다", True),
    ("성폭력", "성폭력은 일상이었다", True),
    ("성폭력", "성폭력에 노출돼 있다", True),
    ('"성폭력에 대한"', "성폭력에 대한 보고서", True),
    ("북한", "북한의 여성들", True),
    ("로동신문", "로동신문은 보고서를 비난했다", True),
    ("조선중앙통신", "조선중앙통신이 9일 보도했다", True),
    ("성폭력", "성범죄와 폭력", False),
    # a Latin term next to a Korean particle, and Korean compound spacing
    ("HRW", "HRW는 보고서에서 밝혔다", True),
    ('"북한 인권"', "북한인권 단체들은", True),
    ('"북한 인권"', "북한 인권 문제", True),
]


@pytest.mark.parametrize(("query", "text", "expected"), TERMS, ids=[f"{q}|{t[:30]}" for q, t, _ in TERMS])
def test_term_matching(query, text, expected):
    assert matches(query, text) is expected


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("\uff24\uff30\uff32\uff2b", "dprk"),
        ("Kim Jong\u2011un", "kim jong-un"),
        ("Don\u2019t", "don't"),
        ("\u201cdangerous provocation\u201d", '"dangerous provocation"'),
        ("of\u00adficers", "officers"),
        ("Stra\u00dfe", "strasse"),
        ("로동신문은", "로동신문은"),
    ],
)
def test_normalize(text, normal):
    assert normalize(text) == normal


def test_terms_that_normalise_alike_share_one_pattern():
    assert term_pattern("DPRK") is term_pattern("\uff24\uff30\uff32\uff2b") is term_pattern("dprk")
    assert term_pattern("Kim-Jong-un") is term_pattern("Kim Jong\u2011un") is term_pattern("kim  jong un")
    assert term_pattern("DPRK") is not term_pattern("DPRK's")


QUERIES = [
    # (query, title, text, matches?)
    ('KCNA NOT "Human Rights Watch"', KCNA_TITLE, KCNA_TEXT, True),
    ('KCNA NOT "Korea Association for Human Rights Studies"', KCNA_TITLE, KCNA_TEXT, False),
    ("(KCNA OR 로동신문) NOT football", KCNA_TITLE, KCNA_TEXT + " The football team won.", False),
    ('"human scum" OR "dangerous provocation"', "", KCNA_TEXT, True),
    # terms are evaluated over title and text together
    ('smear "human scum"', KCNA_TITLE, KCNA_TEXT, True),
    ('smear "human scum"', "", KCNA_TEXT, False),
    ('"Human Rights Watch" AND impunity', WIRE_TITLE, WIRE_TEXT, True),
    ("북한 성폭력 NOT 축구", "", KOREAN_TEXT, True),
]


@pytest.mark.parametrize(("query", "title", "text", "expected"), QUERIES, ids=[q for q, *_ in QUERIES])
def test_query_matching(query, title, text, expected):
    assert matches(query, text, title) is expected


def test_rules_come_back_in_rule_order_and_disabled_rules_are_skipped():
    rules = [
        Rule("kcna-reaction", '"human scum" OR "dangerous provocation"'),
        Rule("muted", "KCNA", enabled=False),
        SimpleNamespace(id="state-media", query="KCNA OR 로동신문"),
        Rule("hrw-report", '"Human Rights Watch"'),
        Rule("sports", "football"),
    ]
    found = RuleMatcher(rules).match(KCNA_TITLE, KCNA_TEXT)
    assert [m.rule_id for m in found] == ["kcna-reaction", "state-media"]
    assert all(isinstance(m, Match) for m in found)


def test_terms_are_the_occurring_ones_in_query_order_without_repeats():
    rule = Rule("r", 'DPRK OR "human scum" OR Pyongyang OR "Rodong Sinmun" OR dprk')
    [found] = RuleMatcher([rule]).match("", KCNA_TEXT)
    assert found.terms == ("DPRK", "human scum", "Pyongyang")


def test_negated_terms_are_not_reported_or_marked():
    rule = Rule("r", 'KCNA OR ("human scum" NOT DPRK)')
    [found] = RuleMatcher([rule]).match("", KCNA_TEXT)
    assert found.terms == ("KCNA", "human scum")
    assert "«KCNA»" in found.snippet and "«DPRK»" not in found.snippet


def test_an_invalid_query_names_the_rule():
    with pytest.raises(ConfigError, match=r'rule "kcna": column 6: unterminated quote'):
        RuleMatcher([Rule("kcna", 'KCNA "human scum')])


# --- snippets ---------------------------------------------------------------


def test_snippet_marks_the_original_text():
    text = "The \uff24\uff30\uff32\uff2b\u2019s KCNA called it a \u201cdangerous  provocation\u201d."
    [found] = RuleMatcher([Rule("r", 'DPRK "dangerous provocation"')]).match("", text)
    assert found.snippet == "The «\uff24\uff30\uff32\uff2b»\u2019s KCNA called it a \u201c«dangerous provocation»\u201d."


def test_snippet_marks_land_right_after_characters_that_change_length():
    # "ß" becomes two letters, "ﬁ" two, "ﬃ" three, the soft hyphen none.
    text = "Stra\u00dfe \ufb01les, o\ufb03\u00adcials: KCNA and Kim Jong\u2011un."
    assert make_snippet(text, ["KCNA", "Kim Jong-un"]) == (
        "Stra\u00dfe \ufb01les, o\ufb03\u00adcials: «KCNA» and «Kim Jong\u2011un»."
    )


def test_snippet_is_cut_between_words_with_ellipses():
    [found] = RuleMatcher([Rule("r", "impunity OR fabrications OR defectors")]).match(WIRE_TITLE, WIRE_TEXT)
    snippet = found.snippet
    assert snippet.startswith("…") and snippet.endswith("…") is False  # the terms sit near the end
    assert len(snippet) <= 300
    assert "\n" not in snippet and "  " not in snippet
    body = snippet.lstrip("…").replace("«", "").replace("»", "")
    flat = " ".join(WIRE_TEXT.split())
    at = flat.index(body)
    assert flat[at - 1] == " " and at + len(body) == len(flat)
    assert "«fabrications» by «defectors»" in snippet


def test_snippet_cut_at_both_ends_around_a_term_in_the_middle():
    text = " ".join([WIRE_TEXT, KCNA_TEXT, WIRE_TEXT])
    snippet = make_snippet(text, ["dangerous provocation"])
    assert snippet.startswith("…") and snippet.endswith("…")
    assert "«dangerous provocation»" in snippet
    assert len(snippet) <= 300
    body = snippet.strip("…").replace("«", "").replace("»", "")
    flat = " ".join(text.split())
    at = flat.index(body)
    assert flat[at - 1] == " " and flat[at + len(body)] == " "


def test_snippet_marks_every_occurrence_in_view_and_merges_overlaps():
    text = "Human Rights Watch interviewed women; Human Rights Watch said none had reported abuse."
    snippet = make_snippet(text, ["Human Rights", "Human Rights Watch", "women"])
    assert snippet == (
        "«Human Rights Watch» interviewed «women»; «Human Rights Watch» said none had reported abuse."
    )


def test_snippet_comes_from_the_title_when_the_text_lacks_the_terms():
    [found] = RuleMatcher([Rule("r", "impunity")]).match(WIRE_TITLE, WIRE_TEXT)
    assert found.snippet == "North Korean officials abuse women with «impunity», Human Rights Watch says"


def test_snippet_prefers_the_text_when_the_term_is_in_both():
    [found] = RuleMatcher([Rule("r", '"Human Rights Watch"')]).match(WIRE_TITLE, WIRE_TEXT)
    assert "«Human Rights Watch» said in a report" in found.snippet


def test_korean_snippet_marks_the_stem_not_the_particle():
    [found] = RuleMatcher([Rule("r", "성폭력 OR 로동신문")]).match("", KOREAN_TEXT)
    assert found.terms == ("성폭력", "로동신문")
    assert "«성폭력»을 당해도" in found.snippet and "«로동신문»은" in found.snippet


def test_snippet_without_occurrences_is_the_start_of_the_text():
    assert make_snippet(WIRE_TEXT, ["Rodong Sinmun"], limit=60) == "SEOUL, Nov. 1 (Wire) \u2014 Women in North Korea are routinely…"


def test_mark_terms_keeps_the_text_otherwise_unchanged():
    title = "KCNA calls Human  Rights Watch report on DPRK a \u201cdangerous provocation\u201d"
    assert mark_terms(title, ["DPRK", "Human Rights Watch"]) == (
        "KCNA calls «Human  Rights Watch» report on «DPRK» a \u201cdangerous provocation\u201d"
    )

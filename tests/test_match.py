"""Rule matching: boundaries, normalisation, Korean particles, rule results and snippets.

The sentences are written for these tests in the manner of the coverage of Human Rights
Watch's November 2018 report on sexual violence against women in North Korea and of
KCNA's reply to it.
"""

from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from presswatch.config.errors import ConfigError
from presswatch.crawler.rules.match import Match, RuleMatcher, make_snippet, mark_terms, normalize, term_pattern


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


WORD_FORMS = [
    # (query, text, matches?): a Latin term's last word also finds its regular plural;
    # a possessive needs nothing, as the apostrophe ends the word
    ("scum", "a handful of human scums", True),
    ('"human scum"', "a handful of human scums, to sustain their dirty lives", True),
    ('"human scum"', "the human\u00a0scums\u2019 testimonies", True),
    ("statement", "the ministry's press statements", True),
    ("church", "underground churches in the north", True),
    ("box", "ballot boxes", True),
    ("atrocity", "the atrocities committed in prison camps", True),
    ("atrocity", "an atrocity's victims", True),
    ("envoy", "the envoys of both Koreas", True),
    ("hero", "heroes of labour", True),
    ("NGO", "NGOs based in Seoul", True),
    ("Korea", "the two Koreas", True),
    ("Korea", "Korea's women", True),
    ("Korea", "Korea\u2019s women", True),
    ("victim", "the victims' testimony", True),
    ("victim", "the victims\u2019 testimony", True),
    ('"Human Rights Watch"', "Human Rights Watch's report", True),
    ("report", "a totally preposterous \u201cReport\u201d", True),
    ("report", "several reports", True),
    ("rape", "rapes by border guards", True),
    # what must not match: other words that start alike, and plurals the rule did not write
    ("report", "a KCNA reporter said", False),
    ("report", "the reported cases", False),
    ("scum", "a scumbag", False),
    ("Korea", "Korean women", False),
    ("Korea", "Koreans abroad", False),
    ("US", "he uses the phone", False),  # words under three letters take no plural
    ("US", "the USA", False),
    ("USA", "the US envoy", False),
    ("women", "a woman", False),  # irregular plurals are the rule's to write
    ("woman", "women", False),
    ("scums", "human scum", False),  # a plural does not find its singular
    ('"human scum"', "humans scum", False),  # only the last word of a phrase
    ("church", "churchgoers", False),
    ("atrocity", "atrocitiesx", False),
    # exact forms: =word and ="a phrase" find the form written, and its possessive
    ("=scum", "human scums", False),
    ("=scum", "human scum", True),
    ("=scum", "the scum's lies", True),
    ('="human scum"', "a handful of human scums", False),
    ('="human scum"', "were \u201chuman scum\u201d who", True),
    ("=Korea", "the two Koreas", False),
    ("title:=report", "", False),
    # prefixes and abbreviations keep their own rules; Hangul takes no plural
    ("provoc*", "provocations", True),
    ("U.N.", "the U.N.'s envoy", True),
    ("성폭력", "성폭력들", True),
    ("HRW", "HRW는 보고서에서 밝혔다", True),
    ("HRW", "HRWs 보고서", True),
]


@pytest.mark.parametrize(("query", "text", "expected"), WORD_FORMS, ids=[f"{q}|{t[:30]}" for q, t, _ in WORD_FORMS])
def test_english_word_forms(query, text, expected):
    assert matches(query, text) is expected


def test_a_plural_is_marked_whole_and_the_exact_term_reported_as_written():
    [found] = RuleMatcher([Rule("r", '"human scum" OR =report')]).match("", "a handful of human scums, a report")
    assert found.terms == ("human scum", "=report")
    assert found.snippet == "a handful of «human scums», a «report»"
    assert make_snippet("reports and a report", ["=report"]) == "reports and a «report»"


def test_plural_and_exact_forms_are_different_patterns():
    assert term_pattern("scum").fullmatch("scums") and not term_pattern("=scum").fullmatch("scums")
    assert term_pattern("=scum") is not term_pattern("scum")


def test_word_forms_in_near_count_the_plural_as_one_word():
    text = "a patchwork of pointless words made by a handful of human scums"
    assert matches('"human scum" NEAR/3 handful', text)
    assert not matches('="human scum" NEAR/3 handful', text)


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


# --- Korean and romanisation ------------------------------------------------


@dataclass(frozen=True)
class FullRule:
    id: str
    query: str
    synonyms: tuple = ()
    sources: tuple = ()
    languages: tuple = ()
    min_outlets: int = 1
    enabled: bool = True


NAMES = (("Kim Jong Un", "Kim Jong-un", "김정은"),
         ("DPRK", "North Korea", "북한", "조선"),
         ("Rodong Sinmun", "Nodong Sinmun", "로동신문", "노동신문"))

KOREAN = [
    # (query, text, matches?): particles attach to Hangul stems; names in any spelling
    ("성폭력", "보안원에 의한 성폭력을 당했다", True),
    ("성폭력", "성폭력은 일상이었다", True),
    ("성폭력", "성폭력에 노출돼 있다", True),
    ("성폭력", "성폭력이 만연하다", True),
    ("성폭력", "성폭력과 강제노동", True),
    ("성폭력", "성폭력도 처벌받지 않았다", True),
    ("성폭력", "성범죄와 폭력", False),
    ("성폭력", "성 폭력", False),
    ("성폭*", "성폭행을 당했다", True),
    ("김정은", "김정은은 10일 현지지도했다", True),
    ("김정은", "김정은의 지시", True),
    ("북한", "북한이 반발했다", True),
    ("북한", "남북한 관계", True),  # Hangul has no word boundary: 북한 is inside 남북한
    ("북한", "북 한", False),
    ('"북한 인권"', "북한인권법", True),
    ('"Kim Jong Un"', "Kim Jong-Un visited", True),
    ('"Kim Jong Un"', "KIM JONG UN VISITED", True),
    ('"Kim Jong Un"', "Kim Jong\u2011un visited", True),
    ('"Kim Jong Un"', "after Kim Jong-un came to power", True),
    ('"Kim Jong Un"', "김정은 국무위원장이", True),
    ('"Kim Jong Un"', "김정은은 10일", True),
    ('"Kim Jong Un"', "Kim Jong Il died in 2011", False),
    ('"Kim Jong Un"', "Kim Yo Jong said", False),
    ('"Kim Jong Un"', "KimJongUn", False),
    ("김정은", "Respected Comrade Kim Jong Un", True),
    ("DPRK", "North Korea's envoy", True),
    ("DPRK", "the D.P.R.K.", False),
    ("DPRK", "북한은 9일", True),
    ("DPRK", "조선의 녀성들", True),
    ("DPRK", "조선중앙통신에 따르면", True),  # 조선 inside 조선중앙통신: a synonym set is only as narrow as its members
    ("DPRK", "North Korean women", False),  # "North Korea" is a whole-word phrase: add "North Korean" if wanted
    ('"North Korea"', "the DPRK said", True),
    ('북한', "Pyongyang (DPRK)", True),
    ('"Rodong Sinmun"', "노동신문은 보도했다", True),
    ('"Rodong Sinmun"', "the Nodong Sinmun said", True),
    ("로동신문", "Rodong  Sinmun, organ of the WPK", True),
]


@pytest.mark.parametrize(("query", "text", "expected"), KOREAN, ids=[f"{q}|{t[:24]}" for q, t, _ in KOREAN])
def test_korean_and_romanisation(query, text, expected):
    rule = FullRule("r", query, synonyms=NAMES)
    assert bool(RuleMatcher([rule]).match("", text)) is expected


def test_synonyms_report_and_mark_the_spelling_found():
    rule = FullRule("r", '"Kim Jong Un" AND 성폭력', synonyms=NAMES)
    [found] = RuleMatcher([rule]).match("", KOREAN_TEXT.replace("보고서에서", "보고서에서 김정은 정권 아래"))
    assert found.terms == ("김정은", "성폭력")
    assert "«김정은» 정권" in found.snippet


def test_synonyms_may_be_lists():
    rule = SimpleNamespace(id="r", query="DPRK", synonyms=[["DPRK", "North Korea"], ["North Korea", "조선"]])
    assert RuleMatcher([rule]).rule_ids("", "조선의 녀성들") == ["r"]


def test_synonyms_take_word_forms_and_exact_members():
    rule = FullRule("r", "scum", synonyms=(("scum", "=trash"),))
    assert RuleMatcher([rule]).match("", "human scums")
    assert RuleMatcher([rule]).match("", "human trash")
    assert not RuleMatcher([rule]).match("", "piles of trashes")


def test_synonym_sets_sharing_a_member_are_one_set():
    rule = FullRule("r", "DPRK", synonyms=(("DPRK", "North Korea"), ("North Korea", "조선")))
    assert RuleMatcher([rule]).match("", "조선의 녀성들")


def test_a_bad_synonym_names_the_rule():
    with pytest.raises(ConfigError, match=r'rule "r": synonyms: column 3'):
        RuleMatcher([FullRule("r", "DPRK", synonyms=(("DPRK", "No*rth"),))])


# --- NEAR, prefixes, fields ---------------------------------------------------

GUARDS = "Several women said prison guards and police officers demanded sex; none reported the rape."

NEAR_CASES = [
    ("guards NEAR/1 prison", GUARDS, True),  # neighbours, either order
    ("women NEAR/1 said", GUARDS, True),
    ("women NEAR/3 guards", GUARDS, True),
    ("women NEAR/2 guards", GUARDS, False),
    ('"prison guards" NEAR/5 sex', GUARDS, True),  # a phrase counts from its nearer end
    ('"prison guards" NEAR/4 sex', GUARDS, False),
    ("(rape OR abuse) NEAR/3 (police OR guards)", GUARDS, False),
    ("(rape OR sex) NEAR/3 (police OR guards)", GUARDS, True),
    ("offic* NEAR/1 police", GUARDS, True),
    ("women NEAR/2 women", "women and women", True),  # two occurrences of one term
    ("women NEAR/2 women", "women only", False),
    ("성폭력 NEAR/3 보안원", KOREAN_TEXT, True),  # words are the spaces' pieces, particles included
    ("성폭력 NEAR/2 보안원", KOREAN_TEXT, False),
    ('"Kim Jong-un" NEAR/3 power', WIRE_TEXT, True),  # hyphenated parts count as words
    ("KCNA NEAR/3 scum", "KCNA said", False),
]


@pytest.mark.parametrize(("query", "text", "expected"), NEAR_CASES, ids=[q for q, *_ in NEAR_CASES])
def test_near(query, text, expected):
    assert matches(query, text) is expected


def test_near_does_not_reach_from_the_title_into_the_text():
    assert not matches("slams NEAR/3 Pyongyang", KCNA_TEXT, KCNA_TITLE)
    assert matches("slams NEAR/3 KCNA", KCNA_TEXT, KCNA_TITLE)


PREFIXES = [
    ("provoc*", "a dangerous provocation", True),
    ("provoc*", "they provoke", False),
    ("provoc*", "unprovoked", False),  # a prefix still starts a word
    ("provoc*", "Provocations!", True),
    ('"sexual viol*"', "sexual violence and abuse", True),
    ('"sexual viol*"', "sexual-violent acts", True),
    ('"sexual viol*"', "sexual abuse", False),
    ("인권*", "인권유린", True),
]


@pytest.mark.parametrize(("query", "text", "expected"), PREFIXES, ids=[f"{q}|{t}" for q, t, _ in PREFIXES])
def test_prefixes(query, text, expected):
    assert matches(query, text) is expected


def test_a_prefix_marks_the_whole_word():
    [found] = RuleMatcher([Rule("r", "provoc*")]).match("", KCNA_TEXT)
    assert found.terms == ("provoc*",)
    assert "\u201c«dangerous provocation»\u201d" not in found.snippet
    assert "dangerous «provocation»\u201d" in found.snippet


FIELDS = [
    ("title:KCNA", True),
    ("title:Pyongyang", False),
    ("text:Pyongyang", True),
    ("text:slams", False),
    ("title:(smear OR scum) text:scum", True),
    ('title:"smear campaign"', True),
    ("title:smear NOT text:smear", True),
]


@pytest.mark.parametrize(("query", "expected"), FIELDS, ids=[q for q, _ in FIELDS])
def test_field_scopes(query, expected):
    assert matches(query, KCNA_TEXT, KCNA_TITLE) is expected


def test_a_title_scoped_match_takes_its_snippet_from_the_title():
    [found] = RuleMatcher([Rule("r", "title:KCNA")]).match(KCNA_TITLE, KCNA_TEXT)
    assert found.snippet == "«KCNA» slams U.S.-backed smear campaign"


META = [
    # (query, facts, matches?)
    ("KCNA source:kcna", {"source": "kcna"}, True),
    ("KCNA source:kcna", {"source": "rodong"}, False),
    ("KCNA source:kcna", {}, False),
    ("KCNA source:google-news*", {"source": "google-news-report-ko"}, True),
    ("KCNA lang:en", {"language": "en"}, True),
    ("KCNA lang:en", {"language": "en-GB"}, True),
    ("KCNA lang:en", {"language": "ko"}, False),
    ("KCNA NOT lang:ko", {}, True),
    ("(KCNA lang:en) OR (조선중앙통신 lang:ko)", {"language": "EN"}, True),
]


@pytest.mark.parametrize(("query", "facts", "expected"), META, ids=[f"{q}|{f}" for q, f, _ in META])
def test_source_and_language_terms(query, facts, expected):
    assert bool(RuleMatcher([Rule("r", query)]).match(KCNA_TITLE, KCNA_TEXT, **facts)) is expected


FILTERS = [
    # (rule filters, facts, matches?)
    ({}, {}, True),
    ({"sources": ("kcna", "rodong")}, {"source": "rodong"}, True),
    ({"sources": ("kcna",)}, {"source": "hrw"}, False),
    ({"sources": ("kcna",)}, {}, False),
    ({"languages": ("en",)}, {"language": "en"}, True),
    ({"languages": ("ko",)}, {"language": "en"}, False),
    ({"languages": ("ko",)}, {}, False),  # an article of unknown language passes no language filter
    ({"min_outlets": 3}, {"outlets": 3}, True),
    ({"min_outlets": 3}, {"outlets": 2}, False),
    ({"min_outlets": 3}, {}, False),
    ({"sources": ("kcna",), "languages": ("en",), "min_outlets": 2},
     {"source": "kcna", "language": "en", "outlets": 5}, True),
]


@pytest.mark.parametrize(("filters", "facts", "expected"), FILTERS, ids=[f"{r}|{f}" for r, f, _ in FILTERS])
def test_rule_filters(filters, facts, expected):
    rule = FullRule("r", "KCNA", **filters)
    assert bool(RuleMatcher([rule]).match(KCNA_TITLE, KCNA_TEXT, **facts)) is expected


def test_needs_facts_only_when_a_rule_reads_them():
    assert not RuleMatcher([Rule("a", "KCNA"), FullRule("b", "DPRK", synonyms=NAMES)]).needs_facts
    assert RuleMatcher([Rule("a", "KCNA lang:en")]).needs_facts
    assert RuleMatcher([FullRule("a", "KCNA", min_outlets=2)]).needs_facts
    assert RuleMatcher([FullRule("a", "KCNA", sources=("kcna",))]).needs_facts


def test_rule_ids_are_the_matches_without_snippets():
    rules = [Rule("a", "KCNA"), Rule("b", "football"), Rule("c", "provoc* NEAR/2 dangerous")]
    matcher = RuleMatcher(rules)
    assert matcher.rule_ids(KCNA_TITLE, KCNA_TEXT) == [m.rule_id for m in matcher.match(KCNA_TITLE, KCNA_TEXT)]
    assert matcher.rule_ids(KCNA_TITLE, KCNA_TEXT) == ["a", "c"]


def test_a_phrase_of_many_hangul_words_is_still_exact():
    # Past six Hangul-to-Hangul gaps the spellings are not listed; the pattern confirms the phrase.
    rule = Rule("r", '"가 나 다 라 마 바 사 아"')
    assert matches(rule.query, "글자 가나 다라마바사아 끝")
    assert not matches(rule.query, "글자 가나 다라마바사 끝")
    assert matches("=" + rule.query, "글자 가나 다라마바사아 끝")

"""The rule query parser: trees for valid queries, a column and a sentence for invalid ones."""

import re

import pytest

from presswatch.config.errors import PresswatchError
from presswatch.config.query import (
    And,
    Meta,
    Near,
    Not,
    Or,
    QuerySyntaxError,
    Term,
    evaluate,
    metas,
    parse_query,
    parse_term,
    positive_terms,
    terms,
)


def W(text):
    return Term(text, phrase=False)


def P(text):
    return Term(text, phrase=True)


def T(text, field):
    return Term(text, phrase=text.count(" ") > 0, field=field)


def AND(*items):
    return And(tuple(items))


def OR(*items):
    return Or(tuple(items))


PARSES = [
    # single terms
    ("KCNA", W("KCNA")),
    ("DPRK's", W("DPRK's")),
    ("Kim-Jong-un", W("Kim-Jong-un")),
    ("U.N.", W("U.N.")),
    ("U.N. envoy", AND(W("U.N."), W("envoy"))),
    ("2018", W("2018")),
    ('"Human Rights Watch"', P("Human Rights Watch")),
    ('"  Korea Association\n for  Human Rights Studies "', P("Korea Association for Human Rights Studies")),
    ("\u201cdangerous provocation\u201d", P("dangerous provocation")),
    ('"You Cry at Night but Don\'t Know Why"', P("You Cry at Night but Don't Know Why")),
    ('"AND"', P("AND")),
    # exact forms keep their "=" in the text, as prefixes keep their "*"
    ("=scum", W("=scum")),
    ('="human scum"', P("=human scum")),
    ("KCNA =report", AND(W("KCNA"), W("=report"))),
    ("(=scum OR 인간쓰레기)", OR(W("=scum"), W("인간쓰레기"))),
    ("title:=report", T("=report", "title")),
    ("=scum NEAR/3 handful", Near(W("=scum"), W("handful"), 3)),
    # Korean
    ("성폭력", W("성폭력")),
    ("로동신문 OR 조선중앙통신", OR(W("로동신문"), W("조선중앙통신"))),
    ("북한 성폭력", AND(W("북한"), W("성폭력"))),
    ('"조선인권연구협회" 보고서', AND(P("조선인권연구협회"), W("보고서"))),
    # implicit AND, explicit AND, and lowercase words that are not operators
    ("North Korea women", AND(W("North"), W("Korea"), W("women"))),
    ("KCNA AND report", AND(W("KCNA"), W("report"))),
    ("rape and abuse", AND(W("rape"), W("and"), W("abuse"))),
    ("guards or police not", AND(W("guards"), W("or"), W("police"), W("not"))),
    # precedence: NOT > AND > OR
    ("a OR b AND c", OR(W("a"), AND(W("b"), W("c")))),
    ("a AND b OR c", OR(AND(W("a"), W("b")), W("c"))),
    ("a b OR c d", OR(AND(W("a"), W("b")), AND(W("c"), W("d")))),
    ("a OR b OR c", OR(W("a"), W("b"), W("c"))),
    ("NOT a b", AND(Not(W("a")), W("b"))),
    ("a NOT b", AND(W("a"), Not(W("b")))),
    ("a AND NOT b", AND(W("a"), Not(W("b")))),
    ("a NOT b OR c", OR(AND(W("a"), Not(W("b"))), W("c"))),
    ("NOT NOT a", Not(Not(W("a")))),
    # nesting
    ("(a)", W("a")),
    ("(a OR b) c", AND(OR(W("a"), W("b")), W("c"))),
    ("a (b OR c)", AND(W("a"), OR(W("b"), W("c")))),
    ("(a)(b)", AND(W("a"), W("b"))),
    ("((a OR b) AND (c OR d)) NOT e", AND(AND(OR(W("a"), W("b")), OR(W("c"), W("d"))), Not(W("e")))),
    ("a NOT (b OR c)", AND(W("a"), Not(OR(W("b"), W("c"))))),
    (
        '"Human Rights Watch" (KCNA OR "Rodong Sinmun") NOT sports',
        AND(P("Human Rights Watch"), OR(W("KCNA"), P("Rodong Sinmun")), Not(W("sports"))),
    ),
    (
        '("human scum" OR "dangerous provocation") AND (KCNA OR 조선중앙통신)',
        AND(OR(P("human scum"), P("dangerous provocation")), OR(W("KCNA"), W("조선중앙통신"))),
    ),
    # NEAR/n: tighter than NOT; each side a term or an OR of terms; chains are ANDed pairs
    ("rape NEAR/5 guards", Near(W("rape"), W("guards"), 5)),
    ('"prison guards" NEAR/10 성폭력', Near(P("prison guards"), W("성폭력"), 10)),
    ("(rape OR 성폭력) NEAR/3 (guards OR 보안원)", Near(OR(W("rape"), W("성폭력")), OR(W("guards"), W("보안원")), 3)),
    ("x NOT a NEAR/2 b", AND(W("x"), Not(Near(W("a"), W("b"), 2)))),
    ("a NEAR/2 b OR c", OR(Near(W("a"), W("b"), 2), W("c"))),
    ("a NEAR/2 b NEAR/4 c", AND(Near(W("a"), W("b"), 2), Near(W("b"), W("c"), 4))),
    ("KCNA near report", AND(W("KCNA"), W("near"), W("report"))),
    ("a NEAR/100 b", Near(W("a"), W("b"), 100)),
    # prefixes: a final * on a word or a phrase's last word
    ("provoc*", W("provoc*")),
    ("provoc* OR 도발*", OR(W("provoc*"), W("도발*"))),
    ('"sexual viol*"', P("sexual viol*")),
    ("Kim-Jong*", W("Kim-Jong*")),
    # field scopes: title:/text: on a term or a group; source:/lang: test the metadata
    ("title:KCNA", T("KCNA", "title")),
    ('text:"human scum"', T("human scum", "text")),
    ("Title: KCNA", T("KCNA", "title")),
    ("title:(KCNA OR 로동신문) report", AND(OR(T("KCNA", "title"), T("로동신문", "title")), W("report"))),
    ("title:provoc* NEAR/3 title:KCNA", Near(T("provoc*", "title"), T("KCNA", "title"), 3)),
    ("title:(a NEAR/3 b)", Near(T("a", "title"), T("b", "title"), 3)),
    ("source:kcna human", AND(Meta("source", "kcna"), W("human"))),
    ("KCNA source:google-news*", AND(W("KCNA"), Meta("source", "google-news*"))),
    ("lang:KO 성폭력", AND(Meta("lang", "ko"), W("성폭력"))),
    ("성폭력 NOT lang:ko", AND(W("성폭력"), Not(Meta("lang", "ko")))),
    ("(source:kcna OR lang:en) KCNA", AND(OR(Meta("source", "kcna"), Meta("lang", "en")), W("KCNA"))),
    ("source:(kcna OR rodong-sinmun) human", AND(OR(Meta("source", "kcna"), Meta("source", "rodong-sinmun")), W("human"))),
    ('"title:" report', AND(P("title:"), W("report"))),
]


@pytest.mark.parametrize(("query", "tree"), PARSES, ids=[q for q, _ in PARSES])
def test_parse_query(query, tree):
    assert parse_query(query) == tree


ERRORS = [
    # (query, column, expected, message)
    ("", 1, "a term", "empty query"),
    ("   \n ", 1, "a term", "empty query"),
    ("AND KCNA", 1, "a term", "column 1: expected a term, got AND"),
    ("KCNA OR", 8, "a term", "column 8: expected a term, got the end of the query"),
    ("KCNA AND   ", 9, "a term", "column 9: expected a term, got the end of the query"),
    ("KCNA OR OR HRW", 9, "a term", "column 9: expected a term, got OR"),
    ("KCNA NOT", 9, "a term", "column 9: expected a term, got the end of the query"),
    ("KCNA AND )", 10, "a term", 'column 10: expected a term, got ")"'),
    ("()", 2, "a term", 'column 2: expected a term, got ")"'),
    (
        '"Human Rights Watch" (KCNA OR report',
        37,
        '")" to close the "(" at column 22',
        'column 37: expected ")" to close the "(" at column 22',
    ),
    ("((a OR b)", 10, '")" to close the "(" at column 1', 'column 10: expected ")" to close the "(" at column 1'),
    ("KCNA report)", 12, "a term or operator", 'column 12: expected a term or operator, got ")" with no "(" to close'),
    ('KCNA "human scum', 6, "a closing quote", "column 6: unterminated quote opened here"),
    ('KCNA ""', 6, "words inside the quotes", "column 6: expected words inside the quotes"),
    ('KCNA " -- "', 6, "words inside the quotes", "column 6: expected words inside the quotes"),
    ("KCNA #HRW", 6, "a term", 'column 6: expected a term, got "#"'),
    ("KCNA -sports", 6, "a term", 'column 6: expected a term, got "-" (use NOT to exclude a term)'),
    ("NOT sports", 1, "at least one term that must appear", "column 1: expected at least one term that must appear"),
    ("NOT a NOT b", 1, "at least one term that must appear", "column 1: expected at least one term that must appear"),
    ("KCNA OR NOT sports", 9, "at least one term that must appear", "column 9: expected at least one term"),
    ("NOT (a AND b)", 1, "at least one term that must appear", "column 1: expected at least one term"),
    # NEAR/n
    ("KCNA NEAR/x report", 11, "a number after NEAR/", "column 11: expected a number after NEAR/"),
    ("KCNA NEAR/ report", 11, "a number after NEAR/", "column 11: expected a number after NEAR/"),
    ("KCNA NEAR report", 10, '"/" and a number of words after NEAR',
     'column 10: expected "/" and a number of words after NEAR (NEAR/5: within 5 words; write near in lowercase'),
    ("KCNA NEAR/0 report", 11, "a number of words from 1 to 100 after NEAR/",
     "column 11: expected a number of words from 1 to 100 after NEAR/, got 0"),
    ("KCNA NEAR/101 report", 11, "a number of words from 1 to 100 after NEAR/", "column 11: expected a number"),
    ("KCNA NEAR/5report", 12, "a space after NEAR/5", "column 12: expected a space after NEAR/5"),
    ("NEAR/5 KCNA", 1, "a term", "column 1: expected a term, got NEAR/5"),
    ("KCNA NEAR/5", 12, "a term", "column 12: expected a term, got the end of the query"),
    ("KCNA NEAR/5 NOT report", 13, "a term", "column 13: expected a term, got NOT"),
    ("(a b) NEAR/3 c", 1, "a term, a phrase or (a OR b) on each side of NEAR/3",
     "column 1: expected a term, a phrase or (a OR b) on each side of NEAR/3"),
    ("c NEAR/3 (a NOT b)", 10, "a term, a phrase or (a OR b) on each side of NEAR/3", "column 10: expected a term"),
    ("title:a NEAR/3 text:b", 9, "both sides of NEAR/3 in the same field",
     "column 9: expected both sides of NEAR/3 in the same field"),
    ("KCNA NEAR/3 lang:en", 13, "a term, a phrase or (a OR b) on each side of NEAR/3", "column 13: expected a term"),
    # prefixes
    ("provoc*ation", 8, 'the end of the word after "*"', 'column 8: expected the end of the word after "*"'),
    ("KCNA p*", 6, 'at least 2 letters before "*"', 'column 6: expected at least 2 letters before "*"'),
    ("KCNA *report", 6, "a term", 'column 6: expected a term, got "*" (a wildcard goes at the end of a word'),
    ('"sex* violence"', 5, "a \"*\" only at the end of a phrase's last word", 'column 5: expected a "*" only at the end'),
    ('KCNA "human *"', 13, "a \"*\" only at the end of a phrase's last word", "column 13: expected"),
    # exact forms
    ("KCNA = report", 7, 'a word or a "phrase" right after "="',
     'column 7: expected a word or a "phrase" right after "=" (=scum finds scum and scum\'s, not scums)'),
    ("KCNA =", 7, 'a word or a "phrase" right after "="', "column 7: expected a word"),
    ("KCNA =(a OR b)", 7, 'a word or a "phrase" right after "="', "column 7: expected a word"),
    ("KCNA=report", 5, 'a space before "="', 'column 5: expected a space before "=" ("=" starts an exact term'),
    ("=provoc*", 1, 'a whole word after "=", or a prefix without it',
     'column 1: expected a whole word after "=", or a prefix without it ("*" already finds every ending'),
    ('="sexual viol*"', 1, 'a whole word after "=", or a prefix without it', "column 1: expected a whole word"),
    ("a =OR b", 4, 'a word or a "phrase" after "="', 'column 4: expected a word or a "phrase" after "=", got OR'),
    ("KCNA source:=kcna", 13, "a source id after source:", 'column 13: expected a source id after source:, got "=kcna"'),
    # fields
    ("author:Kim KCNA", 1, "a field (title:, text:, source: or lang:)",
     'column 1: expected a field (title:, text:, source: or lang:), got "author:"'),
    ("KCNA title:", 12, 'a term after "title:"', 'column 12: expected a term after "title:", got the end of the query'),
    ("KCNA title: OR x", 13, 'a term after "title:"', 'column 13: expected a term after "title:", got OR'),
    ("title:(KCNA OR text:x)", 16, "a term", 'column 16: expected a term, got "text:" inside "title:" at column 1'),
    ('KCNA lang:"ko"', 11, "a language code (en, ko) after lang:", "column 11: expected a language code (en, ko)"),
    ("KCNA lang:korean", 11, "a language code (en, ko) after lang:", 'column 11: expected a language code (en, ko) after lang:, got "korean"'),
    ('KCNA source:"kcna"', 13, "a source id after source:", "column 13: expected a source id after source:"),
    ("source:kcna", 1, "at least one term that must appear",
     "column 1: expected at least one term that must appear (source: and lang: only narrow what the terms match)"),
    ("KCNA OR lang:ko", 1, "at least one term that must appear", "column 1: expected at least one term"),
    ("NOT source:kcna", 1, "at least one term that must appear", "column 1: expected at least one term"),
]


@pytest.mark.parametrize(("query", "column", "expected", "message"), ERRORS, ids=[e[0] or "<empty>" for e in ERRORS])
def test_parse_query_errors(query, column, expected, message):
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(query)
    error = caught.value
    assert (error.column, error.expected) == (column, expected)
    assert str(error).startswith(message)


def test_syntax_error_is_a_value_error_and_a_presswatch_error():
    with pytest.raises(ValueError):
        parse_query("KCNA AND")
    with pytest.raises(PresswatchError):
        parse_query("KCNA AND")


@pytest.mark.parametrize(
    "query",
    ["NOT (NOT a)", "(a OR NOT b) c", "a NOT b", "NOT b a"],
)
def test_negations_with_a_required_term_are_accepted(query):
    assert parse_query(query)


def test_terms_in_query_order_and_distinct():
    node = parse_query('KCNA ("human scum" OR KCNA) NOT sports OR 로동신문')
    assert terms(node) == [W("KCNA"), P("human scum"), W("sports"), W("로동신문")]


def test_positive_terms_leave_out_negated_ones():
    node = parse_query("a NOT b (c OR NOT NOT d) NOT (e AND NOT f)")
    assert positive_terms(node) == [W("a"), W("c"), W("d"), W("f")]


def test_terms_take_near_sides_and_leave_out_metadata():
    node = parse_query("(rape OR 성폭력) NEAR/5 guards NOT title:KCNA lang:en")
    assert terms(node) == [W("rape"), W("성폭력"), W("guards"), T("KCNA", "title")]
    assert positive_terms(node) == [W("rape"), W("성폭력"), W("guards")]
    assert metas(node) == [Meta("lang", "en")]
    assert W("provoc*").prefix and P("sexual viol*").prefix and not W("KCNA").prefix
    assert W("=scum").exact and P("=human scum").exact and not W("scum").exact


@pytest.mark.parametrize(("text", "term"), [
    ("Kim Jong Un", P("Kim Jong Un")),
    ("  Kim   Jong-un ", P("Kim Jong-un")),
    ("김정은", W("김정은")),
    ('"North Korea"', P("North Korea")),
    ("provoc*", W("provoc*")),
    ("U.N.", W("U.N.")),
    ("=scum", W("=scum")),
    ('="human scum"', P("=human scum")),
    ("= human  scum", P("=human scum")),
])
def test_parse_term_reads_a_synonym(text, term):
    assert parse_term(text) == term


@pytest.mark.parametrize(("text", "message"), [
    ("", "has no letters or digits"),
    (" -- ", "has no letters or digits"),
    ("pro*voc", 'column 4: expected a "*" only at the end of a term'),
    ("*", "has no letters or digits"),
    ("=", "has no letters or digits"),
    ("=provoc*", 'column 1: expected a whole word after "=", or a prefix without it'),
])
def test_parse_term_refuses(text, message):
    with pytest.raises(QuerySyntaxError, match=re.escape(message)):
        parse_term(text)


EVALUATIONS = [
    ("a b OR c", {"a", "b"}, True),
    ("a b OR c", {"a"}, False),
    ("a b OR c", {"c"}, True),
    ("a NOT b", {"a"}, True),
    ("a NOT b", {"a", "b"}, False),
    ("(a OR b) NOT (c d)", {"b", "c"}, True),
    ("(a OR b) NOT (c d)", {"b", "c", "d"}, False),
    # without a NEAR judge, a NEAR holds when both sides are present
    ("a NEAR/3 b", {"a", "b"}, True),
    ("a NEAR/3 (b OR c)", {"a", "c"}, True),
    ("a NEAR/3 b", {"a"}, False),
    # without a metadata judge, source: and lang: fail
    ("a lang:en", {"a"}, False),
    ("a NOT lang:en", {"a"}, True),
]


@pytest.mark.parametrize(("query", "present", "result"), EVALUATIONS)
def test_evaluate(query, present, result):
    assert evaluate(parse_query(query), lambda term: term.text in present) is result


def test_a_query_nested_too_deep_is_a_syntax_error_not_a_crash():
    with pytest.raises(QuerySyntaxError, match="too deeply nested"):
        parse_query("(" * 5000 + "a" + ")" * 5000)

"""The rule query parser: trees for valid queries, a column and a sentence for invalid ones."""

import pytest

from presswatch.config.errors import PresswatchError
from presswatch.config.query import (
    And,
    Not,
    Or,
    QuerySyntaxError,
    Term,
    evaluate,
    parse_query,
    positive_terms,
    terms,
)


def W(text):
    return Term(text, phrase=False)


def P(text):
    return Term(text, phrase=True)


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


EVALUATIONS = [
    ("a b OR c", {"a", "b"}, True),
    ("a b OR c", {"a"}, False),
    ("a b OR c", {"c"}, True),
    ("a NOT b", {"a"}, True),
    ("a NOT b", {"a", "b"}, False),
    ("(a OR b) NOT (c d)", {"b", "c"}, True),
    ("(a OR b) NOT (c d)", {"b", "c", "d"}, False),
]


@pytest.mark.parametrize(("query", "present", "result"), EVALUATIONS)
def test_evaluate(query, present, result):
    assert evaluate(parse_query(query), lambda term: term.text in present) is result

"""Match analysts' keyword rules against articles, and show where they matched.

All rules (parsed by ``presswatch.config.query``) are compiled once into one matcher.
Text is compared normalised (NFKC, casefold, typographic quotes and dashes folded), with
every run of spaces and hyphens read as one space, so "Kim Jong-un" finds "Kim Jong Un".
Latin terms match on word boundaries ("rape" never matches "grape"); Hangul has no
boundary, because Korean attaches particles to the word (성폭력 matches 성폭력을, and HRW
matches HRW는); a prefix (``provoc*``) may go on to the end of its word; a term's last
English word also finds its regular plural ("human scum" finds "human scums"), unless the
term is exact (``=scum``). A rule's synonym sets make any member used in its query find
every other member.

Matching an article costs about the same for ten rules as for ten thousand: its words are
looked up in one set of every rule's plain words, and one Aho-Corasick automaton finds every
other literal (phrases, Hangul, prefixes) in one pass, the word boundaries then checked at
each hit; only the rules one of whose required terms occurred are evaluated. ``NEAR/n``
measures words between occurrences, counted by the spaces between them. A ``Match`` per
rule carries the terms that occurred and a snippet of the original text, marked «like this».

How terms are normalised and found is in ``terms``; snippets in ``snippet``. This module is
a pure function of its inputs. Deciding which articles to match (new
stories, changed texts), storing matches and sending alerts are left to the writer
(`stories.ingest`), the store and the scheduler.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import ahocorasick

from presswatch.config.errors import ConfigError
from presswatch.config.query import (
    And,
    Meta,
    Near,
    Node,
    Not,
    Or,
    QuerySyntaxError,
    Term,
    metas,
    parse_query,
    parse_term,
    positive_terms,
)
from presswatch.crawler.rules.snippet import SNIPPET_CHARS, make_snippet, mark_terms
from presswatch.crawler.rules.terms import (
    _BOUNDED_WORD,
    _bounded,
    _cost,
    _literals,
    _spans,
    first_word,
    normalize,
    searchable,
    term_pattern,
    term_words,
)

_SET_OF_FIELD = {None: "A", "title": "T", "text": "X"}

__all__ = [
    "SNIPPET_CHARS",
    "Match",
    "RuleMatcher",
    "make_snippet",
    "mark_terms",
    "normalize",
    "searchable",
    "term_pattern",
]

@dataclass(frozen=True)
class Match:
    """One rule that matched one article."""

    rule_id: str
    terms: tuple[str, ...]  # the rule's terms (not those under NOT) that occurred, in query order
    snippet: str


@dataclass
class _Found:
    """What one article holds: the terms (atoms) found in each field, and its metadata."""

    texts: dict[str, str]  # searchable title and text
    title: set[int]
    text: set[int]
    source: str | None
    language: str | None
    outlets: int | None
    any: set[int] = field(init=False)

    def __post_init__(self) -> None:
        self.any = self.title | self.text

    def in_field(self, field_name: str) -> set[int]:
        return self.title if field_name == "title" else self.text

    def word_spans(self, term: tuple[str, ...], field_name: str) -> list[tuple[int, int]]:
        """(first word, last word) of each occurrence of a term, words counted by the spaces before them."""
        text = self.texts[field_name]
        spans, words, counted = [], 0, 0
        for start, end in _spans(text, term):
            words += text.count(" ", counted, start)
            counted = start
            spans.append((words, words + text.count(" ", start, end)))
        return spans


@dataclass(frozen=True)
class _CompiledRule:
    id: str
    test: Callable[[_Found, set[int], set[int], set[int]], bool]  # (found, any, title, text)
    reported: tuple[tuple[str, int, str | None], ...]  # positive terms: (text, atom, field)
    sources: frozenset[str]
    languages: tuple[str, ...]
    min_outlets: int

    @property
    def filtered(self) -> bool:
        return bool(self.sources or self.languages or self.min_outlets > 1)

    def admits(self, found: _Found) -> bool:
        """The rule's filters: sources, languages, outlets of the story."""
        if self.sources and found.source not in self.sources:
            return False
        if self.languages and not any(same_language(found.language, lang) for lang in self.languages):
            return False
        return self.min_outlets <= 1 or (found.outlets or 0) >= self.min_outlets


class RuleMatcher:
    """Rules compiled once into one matcher, matched against any number of articles."""

    def __init__(self, rules: Iterable[object], snippet_chars: int = SNIPPET_CHARS):
        self._snippet_chars = snippet_chars
        self._atoms: dict[tuple[str, ...], int] = {}  # a term's normalised words -> its atom
        self._words_of: list[tuple[str, ...]] = []  # by atom
        self._costs: list[float] = []  # by atom: a guess of how often it occurs
        self._words: dict[str, list[int]] = {}  # whole Latin words -> atoms
        self._literals: dict[str, list[tuple]] = {}  # other literals -> (atom, length, checks, confirm)
        self._by_atom: dict[int, list[int]] = {}  # atom -> rules it can set off
        self._rules: list[_CompiledRule] = []
        self._calls: list[Callable[[_Found], bool]] = []  # NEAR and metadata tests, called by number
        self.needs_facts = False  # whether any rule reads an article's source, language or outlets
        for rule in rules:
            if getattr(rule, "enabled", True) is not False:
                self._add_rule(rule)
        self._automaton = _automaton(self._literals)

    def match(self, title: str, text: str, *, source: str | None = None, language: str | None = None,
              outlets: int | None = None) -> list[Match]:
        """The rules the article matches, in rule order.

        ``source`` (its source id), ``language`` and ``outlets`` (how many outlets its story
        has) feed the rules' filters and their source: and lang: terms; a rule that filters
        on one of them not given does not match.
        """
        found = self._find(title or "", text or "", source, language, outlets)
        return [self._make_match(rule, found, title or "", text or "") for rule in self._matching(found)]

    def rule_ids(self, title: str, text: str, *, source: str | None = None, language: str | None = None,
                 outlets: int | None = None) -> list[str]:
        """The ids of the rules the article matches, like ``match`` without the snippets."""
        return [rule.id for rule in self._matching(self._find(title or "", text or "", source, language, outlets))]

    def _matching(self, found: _Found) -> list[_CompiledRule]:
        candidates = set()
        for atom in found.any:
            candidates.update(self._by_atom.get(atom, ()))
        sets = found.any, found.title, found.text
        rules = (self._rules[index] for index in sorted(candidates))
        return [rule for rule in rules if rule.test(found, *sets) and (not rule.filtered or rule.admits(found))]

    def _find(self, title: str, text: str, source, language, outlets) -> _Found:
        texts = {"title": searchable(title), "text": searchable(text)}
        return _Found(texts, self._scan(texts["title"]), self._scan(texts["text"]), source, language, outlets)

    def _scan(self, text: str) -> set[int]:
        """The atoms that occur in one searchable field."""
        found: set[int] = set()
        for word in self._words.keys() & set(_BOUNDED_WORD.findall(text)):
            found.update(self._words[word])
        if self._automaton is None:
            return found
        tried: set[int] = set()
        last = len(text) - 1
        for end, entries in self._automaton.iter(text):
            for atom, length, check_before, check_after, confirm in entries:
                if atom in found:
                    continue
                start = end - length + 1
                if (check_before and start and _bounded(text[start - 1])) or (
                        check_after and end < last and _bounded(text[end + 1])):
                    continue
                if confirm is not None:  # a literal of the term only: look for the whole term once
                    if atom in tried:
                        continue
                    tried.add(atom)
                    if not _spans(text, confirm):
                        continue
                found.add(atom)
        return found

    def _make_match(self, rule: _CompiledRule, found: _Found, title: str, text: str) -> Match:
        words: dict[int, str] = {}
        in_text = False
        for term_text, atom, scope in rule.reported:
            where = found.any if scope is None else found.in_field(scope)
            # Terms that differ only in case or hyphenation ("DPRK", "dprk") count once.
            if atom in words or atom not in where:
                continue
            words[atom] = term_text
            in_text = in_text or (scope != "title" and atom in found.text)
        terms = tuple(words.values())
        return Match(rule.id, terms, make_snippet(text if in_text else title, terms, self._snippet_chars))

    # --- compiling ------------------------------------------------------------

    def _add_rule(self, rule: object) -> None:
        rule_id = str(rule.id)
        try:
            node = _with_synonyms(parse_query(rule.query), _synonym_groups(getattr(rule, "synonyms", ()) or ()))
        except QuerySyntaxError as error:
            raise ConfigError([f'rule "{rule_id}": {error}']) from error
        index = len(self._rules)
        compiled = _CompiledRule(
            rule_id, self._function(rule_id, node),
            tuple((t.text.strip(), self._atom(t), t.field) for t in positive_terms(node)),
            frozenset(getattr(rule, "sources", ()) or ()), tuple(getattr(rule, "languages", ()) or ()),
            int(getattr(rule, "min_outlets", 1) or 1),
        )
        self._rules.append(compiled)
        self.needs_facts = self.needs_facts or bool(
            compiled.sources or compiled.languages or compiled.min_outlets > 1 or metas(node))
        trigger = self._trigger(node) or {self._atom(t) for t in positive_terms(node)}
        for atom in trigger:
            self._by_atom.setdefault(atom, []).append(index)

    def _atom(self, term: Term) -> int:
        """The id of what a term finds, shared by every term that normalises alike."""
        words = term_words(term.text)
        atom = self._atoms.get(words)
        if atom is not None:
            return atom
        atom = self._atoms[words] = len(self._words_of)
        self._words_of.append(words)
        literals, check_before, check_after = _literals(words)
        self._costs.append(_cost(words))
        # A single word (in any of its forms) is looked up among the article's whole words.
        if literals is not None and check_after and all(_BOUNDED_WORD.fullmatch(lit) for lit in literals):
            for literal in literals:
                self._words.setdefault(literal, []).append(atom)
            return atom
        confirm = None
        if literals is None:  # too many spellings: find its first word, then look for the term
            literals, check_after, confirm = [first_word(words)], False, words
        for literal in literals:
            entry = (atom, len(literal), check_before, check_after, confirm)
            self._literals.setdefault(literal, []).append(entry)
        return atom

    def _function(self, rule_id: str, node: Node) -> Callable[[_Found, set, set, set], bool]:
        """The query as one Python function of what an article holds.

        Evaluated for hundreds of rules an article, a compiled expression costs a fraction
        of walking the tree. Its source is made here of atom numbers, set names and
        operators only; no text of the query gets into it.
        """
        try:
            return eval(f"lambda f, A, T, X: {self._expression(node)}", {"C": self._calls})
        except (RecursionError, SyntaxError, MemoryError) as error:
            raise ConfigError([f'rule "{rule_id}": the query nests too deeply']) from error

    def _expression(self, node: Node) -> str:
        if isinstance(node, Term):
            return f"{self._atom(node)} in {_SET_OF_FIELD[node.field]}"
        if isinstance(node, (Meta, Near)):
            self._calls.append(_meta_test(node) if isinstance(node, Meta) else self._compile_near(node))
            return f"C[{len(self._calls) - 1}](f)"
        if isinstance(node, Not):
            return f"not ({self._expression(node.item)})"
        joiner = " and " if isinstance(node, And) else " or "
        return joiner.join(f"({self._expression(item)})" for item in node.items)

    def _compile_near(self, node: Near) -> Callable[[_Found], bool]:
        left, right = self._side(node.left), self._side(node.right)
        scope = _side_terms(node.left)[0].field
        fields = (scope,) if scope else ("title", "text")
        distance = node.distance

        def spans(found: _Found, atoms: list[int], name: str) -> list[tuple[int, int]]:
            present = found.in_field(name)
            return [s for atom in atoms if atom in present for s in found.word_spans(self._words_of[atom], name)]

        def near(found: _Found) -> bool:
            for name in fields:
                present = found.in_field(name)
                if not any(a in present for a in left) or not any(a in present for a in right):
                    continue
                rights = spans(found, right, name)
                if any(_apart(a, b) <= distance for a in spans(found, left, name) for b in rights if a != b):
                    return True
            return False

        return near

    def _side(self, node: Node) -> list[int]:
        return list(dict.fromkeys(self._atom(term) for term in _side_terms(node)))

    def _trigger(self, node: Node) -> set[int] | None:
        """Atoms one of which must occur for the query to hold (None: not known), as rare as can be told."""
        if isinstance(node, Term):
            return {self._atom(node)}
        if isinstance(node, (Meta, Not)):
            return None
        children = [node.left, node.right] if isinstance(node, Near) else list(node.items)
        triggers = [self._trigger(child) for child in children]
        if isinstance(node, Or):
            return None if None in triggers else set().union(*triggers)
        # Every item of an And (and both sides of a NEAR) must hold: any one's trigger will do.
        known = [t for t in triggers if t is not None]
        return min(known, key=lambda atoms: sum(self._costs[a] for a in atoms), default=None)


def _side_terms(node: Node) -> list[Term]:
    if isinstance(node, Term):
        return [node]
    return [term for item in node.items for term in _side_terms(item)]


def _apart(a: tuple[int, int], b: tuple[int, int]) -> int:
    """Words from one occurrence to the other: 1 for neighbours, 0 when they overlap."""
    if a[1] < b[0]:
        return b[0] - a[1]
    if b[1] < a[0]:
        return a[0] - b[1]
    return 0


def same_language(language: str | None, wanted: str) -> bool:
    """Whether an article's language tag is ``wanted`` ("en" takes "en-GB"); unknown is no language."""
    if not language:
        return False
    language, wanted = language.lower().replace("_", "-"), wanted.lower()
    return language == wanted or language.startswith(wanted + "-")


def _meta_test(meta: Meta) -> Callable[[_Found], bool]:
    value = meta.value
    if meta.field == "lang":
        return lambda found: same_language(found.language, value)
    if value.endswith("*"):
        stem = value[:-1]
        return lambda found: found.source is not None and found.source.startswith(stem)
    return lambda found: found.source == value


def _automaton(literals: dict[str, list[tuple]]):
    if not literals:
        return None
    automaton = ahocorasick.Automaton()
    for literal, entries in literals.items():
        automaton.add_word(literal, tuple(entries))
    automaton.make_automaton()
    return automaton


# --- synonyms ---------------------------------------------------------------


def _synonym_groups(sets: Iterable[Iterable[str]]) -> dict[tuple[str, ...], tuple[Term, ...]]:
    """Each member's words -> every member of its set(s); sets sharing a member are joined."""
    groups: dict[tuple[str, ...], tuple[Term, ...]] = {}
    for members in sets:
        try:
            group = [parse_term(member) for member in members]
        except QuerySyntaxError as error:
            raise QuerySyntaxError(f"synonyms: {error}", error.column, error.expected) from error
        for term in list(group):
            group += groups.get(term_words(term.text), ())
        group = tuple(dict.fromkeys(group))
        for term in group:
            groups[term_words(term.text)] = group
    return groups


def _with_synonyms(node: Node, groups: dict[tuple[str, ...], tuple[Term, ...]]) -> Node:
    """The query with each term that is in a synonym set replaced by an OR of the set."""
    if not groups or isinstance(node, Meta):
        return node
    if isinstance(node, Term):
        words = term_words(node.text)
        others = [replace(t, field=node.field) for t in groups.get(words, ()) if term_words(t.text) != words]
        return Or((node, *others)) if others else node
    if isinstance(node, Not):
        return Not(_with_synonyms(node.item, groups))
    if isinstance(node, Near):
        return Near(_with_synonyms(node.left, groups), _with_synonyms(node.right, groups), node.distance)
    return type(node)(tuple(_with_synonyms(item, groups) for item in node.items))

"""Checks across keys, written once on plain mappings.

Unique ids, rules and health naming channels that exist, rules naming sources that exist,
and which keys a source or a channel takes given the others. The loader runs `cross_check`
on the raw file, so these problems are found even when some fields are invalid; the models
in `schema` run the same functions through `raise_cross`, so a Config built in code is held
to them too. Checks of single values are `checks`'.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from pydantic_core import PydanticCustomError

from presswatch.config.checks import CONSOLE, follow_kind
from presswatch.config.duration import format_duration, parse_duration
from presswatch.config.alerts import tag_problems
from presswatch.config.problems import Loc, Problem, did_you_mean
from presswatch.config.query import QuerySyntaxError, metas, parse_query

CROSS_CHECK = "cross_check"
"""The pydantic error type of checks the loader already ran on the raw file."""


def cross_check(data: Mapping) -> list[Problem]:
    """The problems between keys of a whole config, read from its raw mapping.

    Tolerant of anything malformed: wrong types are left to field validation.
    """
    problems = [*_duplicate_ids(data), *_unknown_channels(data), *_unknown_rule_sources(data),
                *tag_problems(data), *_unknown_reacts_to(data)]
    problems += _surge_windows(data)
    for index, source in _entries(data, "sources"):
        problems += source_problems(source, ("sources", index))
    for index, channel in _entries(data, "channels"):
        problems += channel_problems(channel, ("channels", index))
    return problems


def source_problems(source: Mapping, loc: Loc = ()) -> list[Problem]:
    """Which keys a source needs and takes depend on its kind.

    A feed or a sitemap has one `url`; a site has `url` or `urls` (its listing pages) and
    needs `follow`; a sitemap may filter its URLs with a `follow` regex.
    """
    kind, follow = source.get("kind"), source.get("follow")
    url, urls = source.get("url"), source.get("urls")
    problems = []
    if kind == "site" and url is not None and urls and not (
            isinstance(urls, (list, tuple)) and urls[0] == url):
        problems.append(Problem(loc, "give either url or urls, not both"))
    elif url is None and not (kind == "site" and urls):
        needs = "url (the listing page) or urls (a list of them)" if kind == "site" else "url"
        problems.append(Problem((*loc, "url"), f"required, but missing: a {kind or 'source'} needs {needs}"))
    if kind in ("feed", "sitemap") and urls:
        problems.append(Problem((*loc, "urls"), "only a site source takes urls; give one url"))
    if kind == "feed" and follow is not None:
        problems.append(Problem((*loc, "follow"), "only a site source takes follow; a feed lists its own articles"))
    if kind == "site" and follow is None:
        problems.append(Problem((*loc, "follow"), "a site source needs follow: a regex matching its article links"))
    if kind == "sitemap" and isinstance(follow, str) and follow_kind(follow)[0] != "regex":
        problems.append(Problem((*loc, "follow"), "a sitemap's follow is a regex over its URLs, not a selector"))
    if kind == "feed" and source.get("ignore") is not None:
        problems.append(Problem((*loc, "ignore"), "only site and sitemap sources take ignore"))
    if kind != "site" and source.get("next_css") is not None:
        problems.append(Problem((*loc, "next_css"), "only a site source takes next_css"))
    if source.get("http_only") and any(str(u).lower().startswith("https:") for u in (url, *(urls or ()))):
        problems.append(Problem((*loc, "http_only"), "an http_only source's url and urls must start with http://"))
    fallback = source.get("fallback")
    if fallback is not None and kind in ("site", "sitemap"):
        problems.append(Problem((*loc, "fallback"), "only a feed source takes a fallback"))
    elif isinstance(fallback, Mapping) and fallback.get("kind") in FALLBACK_KINDS:
        problems += source_problems(fallback, (*loc, "fallback"))
    return problems


FALLBACK_KINDS = ("site", "sitemap")
"""What a feed source may fall back on when its feed is gone."""


def channel_problems(channel: Mapping, loc: Loc = ()) -> list[Problem]:
    """A channel has either `url` or `urls`, and at least one URL."""
    has_url, has_urls = channel.get("url") is not None, bool(channel.get("urls"))
    if has_url and has_urls:
        return [Problem(loc, "give either url or urls, not both")]
    if not has_url and not has_urls:
        return [Problem(loc, "needs url (an Apprise URL) or urls (a list of them)")]
    return []


def _entries(data: Mapping, key: str) -> Iterator[tuple[int, Mapping]]:
    items = data.get(key)
    if isinstance(items, (list, tuple)):
        yield from ((i, item) for i, item in enumerate(items) if isinstance(item, Mapping))


def _duplicate_ids(data: Mapping) -> Iterator[Problem]:
    for key in ("sources", "rules", "channels"):
        first: dict[str, int] = {}
        for index, entry in _entries(data, key):
            entry_id = entry.get("id")
            if not isinstance(entry_id, str):
                continue
            if entry_id in first:
                message = f"{{value}} is already the id of {key}[{first[entry_id]}]; ids must be unique"
                yield Problem((key, index, "id"), message, entry_id)
            first.setdefault(entry_id, index)


def _unknown_channels(data: Mapping) -> Iterator[Problem]:
    known = [c["id"] for _, c in _entries(data, "channels") if isinstance(c.get("id"), str)] + [CONSOLE]
    users = [(("rules", index), rule) for index, rule in _entries(data, "rules")]
    if isinstance(data.get("health"), Mapping):
        users.append((("health",), data["health"]))
    for loc, user in users:
        names = user.get("channels")
        if not isinstance(names, (list, tuple)):
            continue
        for position, name in enumerate(names):
            if isinstance(name, str) and name not in known:
                hint = did_you_mean(name, known) or f" (defined: {', '.join(known)})"
                yield Problem((*loc, "channels", position), f"{{value}} is not a channel{hint}", name)


def _unknown_rule_sources(data: Mapping) -> Iterator[Problem]:
    """A rule's sources, and the source: ids in its query, must name configured sources."""
    known = [s["id"] for _, s in _entries(data, "sources") if isinstance(s.get("id"), str)]
    for index, rule in _entries(data, "rules"):
        names = rule.get("sources")
        for position, name in enumerate(names if isinstance(names, (list, tuple)) else ()):
            if isinstance(name, str) and name not in known:
                hint = did_you_mean(name, known) or f" (defined: {', '.join(known) or 'none'})"
                yield Problem(("rules", index, "sources", position), f"{{value}} is not a source{hint}", name)
        for name in _query_sources(rule.get("query")):
            if not any(s == name or (name.endswith("*") and s.startswith(name[:-1])) for s in known):
                hint = did_you_mean(name, known) or f" (defined: {', '.join(known) or 'none'})"
                yield Problem(("rules", index, "query"), f"source:{name} names no source{hint}")


def _surge_windows(data: Mapping) -> list[Problem]:
    """A rule's own surge window must be shorter than the baseline its usual share is taken
    over, and its min_ratio no lower than surges.calm_ratio (a surge would be calm as told)."""
    surges = data.get("surges") if isinstance(data.get("surges"), Mapping) else {}
    baseline, calm = surges.get("baseline", "14d"), surges.get("calm_ratio", 1.5)
    problems = []
    for index, rule in _entries(data, "rules"):
        surge = rule.get("surge")
        if not isinstance(surge, Mapping):
            continue
        loc = ("rules", index, "surge")
        ratio = surge.get("min_ratio")
        if _number(ratio) and _number(calm) and ratio < calm:
            problems.append(Problem((*loc, "min_ratio"), f"{{value}} is below surges.calm_ratio ({calm:g}): "
                                    "a surge would be calm as it is told", ratio))
        if surge.get("window") is None:
            continue
        try:
            window, usual = parse_duration(surge["window"]), parse_duration(baseline)
        except ValueError:
            continue  # reported by the field's own check
        if window >= usual:
            problems.append(Problem((*loc, "window"),
                                    f"{{value}} is not shorter than surges.baseline ({format_duration(usual)})",
                                    surge["window"]))
    return problems


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _unknown_reacts_to(data: Mapping) -> Iterator[Problem]:
    """A rule's reacts_to names other configured rules."""
    known = [r["id"] for _, r in _entries(data, "rules") if isinstance(r.get("id"), str)]
    for index, rule in _entries(data, "rules"):
        names = rule.get("reacts_to")
        for position, name in enumerate(names if isinstance(names, (list, tuple)) else ()):
            loc = ("rules", index, "reacts_to", position)
            if name == rule.get("id"):
                yield Problem(loc, "{value} is this rule itself; a rule reacts to other rules", name)
            elif isinstance(name, str) and name not in known:
                hint = did_you_mean(name, known) or f" (defined: {', '.join(known) or 'none'})"
                yield Problem(loc, f"{{value}} is not a rule{hint}", name)


def _query_sources(query: object) -> list[str]:
    """The ids a query's source: terms name; none for an invalid query (reported elsewhere)."""
    if not isinstance(query, str):
        return []
    try:
        node = parse_query(query)
    except QuerySyntaxError:
        return []
    return [meta.value for meta in metas(node) if meta.field == "source"]


def raise_cross(problems: list[Problem]) -> None:
    """Raise `problems` from a model validator, as one error the loader knows it already reported."""
    if problems:
        text = "; ".join(problem.text() for problem in problems)
        raise PydanticCustomError(CROSS_CHECK, "{text}", {"text": text})

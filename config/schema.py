"""The configuration schema: every key with its default and its help, as frozen pydantic models.

It checks single values (a duration, an id, a regex, a query, an Apprise URL) and the
relations between keys (unique ids, rules naming existing channels, `follow` on site
sources only). Reading YAML, filling ${ENV} references, resolving the database path
against the file's folder and phrasing problems for people are the loader's job.

Messages raised here may hold the placeholder ``{value}``: the loader replaces it with the
offending value, or with a neutral phrase when that value came from the environment and
may be a secret. Checks that span several keys are written once, on plain mappings
(`cross_check`), so the loader can run them on the raw file even when some fields are
invalid; the models run the same functions so a Config built in code is held to them too.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import apprise
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    create_model,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from presswatch.config.duration import (
    DURATION_HINT,
    SIZE_HINT,
    format_duration,
    format_size,
    parse_duration,
    parse_size,
)
from presswatch.config.query import QuerySyntaxError, parse_query

CONSOLE = "console"
"""The built-in channel: alerts logged and printed. Rules without channels use it."""

CROSS_CHECK = "cross_check"
"""The pydantic error type of checks the loader already ran on the raw file."""

ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]*")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")

Loc = tuple[str | int, ...]


# --- problems -------------------------------------------------------------------------


FROM_ENVIRONMENT = "the value from the environment"
"""Stands in problem messages for a value filled in from the environment: it may be a secret."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a config: where (keys and list indexes) and what.

    `message` may hold ``{value}``, which stands for `value` as the reader should see it.
    `detail` comes from elsewhere (the re module, the query parser) and may quote parts
    of the value, so it is left out with the value when that is secret.
    """

    loc: Loc
    message: str
    value: Any = None
    detail: str = ""

    def text(self, value_is_secret: bool = False) -> str:
        """`path: sentence`, quoting the value unless it is secret."""
        shown = FROM_ENVIRONMENT if value_is_secret else describe_value(self.value)
        message = self.message.replace("{value}", shown)
        if self.detail and not value_is_secret:
            message += f": {self.detail}"
        return f"{format_path(self.loc)}: {message}"


class Invalid(ValueError):
    """A value the schema refuses; the loader turns it into a Problem.

    `message` may hold ``{value}``; `detail` is an explanation from another library.
    """

    def __init__(self, message: str, detail: str = ""):
        # str() serves code that builds models directly and sees pydantic's own report.
        plain = message.replace("{value}", "the value")
        super().__init__(f"{plain}: {detail}" if detail else plain)
        self.message = message
        self.detail = detail


def format_path(loc: Loc) -> str:
    """("sources", 3, "every") -> "sources[3].every"; the empty path is the whole config."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "config"


def describe_value(value: Any) -> str:
    """A value as a problem message quotes it: strings in double quotes, YAML spellings."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, timedelta):
        return f'"{format_duration(value)}"'
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "a group of keys"
    return _quote(str(value))


def _quote(text: str) -> str:
    # '"Human Rights Watch" AND' reads better than "\"Human Rights Watch\" AND".
    if '"' in text and "'" not in text and text.isprintable():
        return f"'{text}'"
    return json.dumps(text, ensure_ascii=False)


def did_you_mean(word: str, choices: list[str]) -> str:
    """'; did you mean "every"?' when a choice is close to `word`, else ''."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f'; did you mean "{close[0]}"?' if close else ""


# --- single values ----------------------------------------------------------------------


def _duration_checker(minimum: timedelta):
    def check(value: Any) -> timedelta:
        try:
            parsed = parse_duration(value)
        except ValueError:
            raise Invalid(f"{{value}} is not a duration ({DURATION_HINT})") from None
        if parsed < minimum:
            raise Invalid(f"{{value}} is shorter than the minimum of {format_duration(minimum)}")
        return parsed

    return check


def duration_type(minimum: timedelta = timedelta(0)) -> Any:
    """A timedelta field written as "15m", "1h30m" or seconds, at least `minimum`."""
    return Annotated[
        timedelta,
        BeforeValidator(_duration_checker(minimum)),
        PlainSerializer(format_duration, return_type=str),
    ]


Duration = duration_type()
PositiveDuration = duration_type(timedelta(seconds=1))
Interval = duration_type(timedelta(seconds=10))  # between two fetches of one source


def _check_size(value: Any) -> int:
    try:
        size = parse_size(value)
    except ValueError:
        raise Invalid(f"{{value}} is not a size ({SIZE_HINT})") from None
    if size < 1:
        raise Invalid("{value} is too small: a size is at least 1 byte")
    return size


Size = Annotated[int, BeforeValidator(_check_size), PlainSerializer(format_size, return_type=str)]


def _refuse_bool(value: Any) -> Any:
    # YAML reads yes/no/on/off as booleans, which int() would quietly take as 1 and 0.
    if isinstance(value, bool):
        raise Invalid("{value} is not a whole number")
    return value


Count = Annotated[int, BeforeValidator(_refuse_bool)]


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _check_id(value: str) -> str:
    if not ID_PATTERN.fullmatch(value):
        raise Invalid(
            "{value} is not a valid id (use lowercase letters, digits and -, starting with a letter or digit)"
        )
    return value


Id = Annotated[str, AfterValidator(_check_id)]


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or re.search(r"\s", value):
        raise Invalid("{value} is not an http:// or https:// URL")
    return value


HttpUrl = Annotated[str, AfterValidator(_check_http_url)]


def _check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as error:
        raise Invalid("{value} is not a valid regular expression", str(error)) from None
    return value


Regex = Annotated[str, AfterValidator(_check_regex)]


FOLLOW_PREFIXES = ("css:", "xpath:")
"""`follow: css:a.headline` and `follow: xpath://h2/a` select links; any other value is a regex."""


def follow_kind(value: str) -> tuple[str, str]:
    """("regex" | "css" | "xpath", the expression without its prefix)."""
    for prefix in FOLLOW_PREFIXES:
        if value.startswith(prefix):
            return prefix[:-1], value[len(prefix):].strip()
    return "regex", value


def _check_css(value: str) -> str:
    from cssselect import GenericTranslator, SelectorError

    try:
        GenericTranslator().css_to_xpath(value)
    except SelectorError as error:
        raise Invalid("{value} is not a valid CSS selector", str(error)) from None
    return value


def _check_xpath(value: str) -> str:
    from lxml import etree

    try:
        etree.XPath(value)
    except etree.XPathSyntaxError as error:
        raise Invalid("{value} is not a valid XPath expression", str(error)) from None
    return value


def _check_follow(value: str) -> str:
    kind, expression = follow_kind(value)
    if not expression:
        raise Invalid(f"{{value}} has no {kind} expression after its prefix")
    {"regex": _check_regex, "css": _check_css, "xpath": _check_xpath}[kind](expression)
    return value


Follow = Annotated[str, AfterValidator(_check_follow)]
CssSelector = Annotated[str, AfterValidator(_check_css)]


def _check_query(value: str) -> str:
    try:
        parse_query(value)
    except QuerySyntaxError as error:
        raise Invalid("{value} is not a valid query", str(error)) from None
    return value


Query = Annotated[str, AfterValidator(_check_query)]


def _check_language(value: str) -> str:
    if not _LANGUAGE.fullmatch(value):
        raise Invalid("{value} is not a language code (use e.g. en, ko)")
    return value


Language = Annotated[str, AfterValidator(_check_language)]


def check_apprise_url(url: str) -> str:
    """`url` if Apprise can parse it; the error never repeats the URL, which may hold a secret."""
    if not _apprise_accepts(url):
        raise ValueError(f"Apprise cannot parse this URL ({_scheme_note(url)}){_mailto_hint(url)}")
    return url


def _apprise_accepts(url: str) -> bool:
    # Apprise logs the URLs it rejects, masked only in part: keep a secret's pieces out of the log.
    logger = logging.getLogger("apprise")
    was_disabled, logger.disabled = logger.disabled, True
    try:
        return bool(apprise.Apprise().add(url))
    finally:
        logger.disabled = was_disabled


def _scheme_note(url: str) -> str:
    found = _SCHEME.match(url)
    return f'scheme "{found[1]}://"' if found else "it does not start with a scheme such as json:// or mailto://"


def _mailto_hint(url: str) -> str:
    # Apprise derives the sender from user@host, which is no address when the host is an IP.
    scheme = _SCHEME.match(url)
    if scheme and scheme[1].lower() in ("mailto", "mailtos") and "from=" not in url.lower():
        return "; if its host is an IP address, add a sender such as from=presswatch@example.org"
    return ""


AppriseUrl = Annotated[str, AfterValidator(check_apprise_url)]


def default_user_agent() -> str:
    """presswatch/<installed version> (+project URL)."""
    try:
        installed = version("presswatch")
    except PackageNotFoundError:
        installed = "0"
    return f"presswatch/{installed} (+https://github.com/presswatch/presswatch)"


# --- checks across keys, on plain mappings ----------------------------------------------


def cross_check(data: Mapping) -> list[Problem]:
    """The problems between keys of a whole config, read from its raw mapping.

    Tolerant of anything malformed: wrong types are left to field validation.
    """
    problems = [*_duplicate_ids(data), *_unknown_channels(data)]
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


def _raise_cross(problems: list[Problem]) -> None:
    if problems:
        text = "; ".join(problem.text() for problem in problems)
        raise PydanticCustomError(CROSS_CHECK, "{text}", {"text": text})


# --- the models -------------------------------------------------------------------------


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Crawl(_Section):
    """How sources are fetched: timeouts, politeness and limits."""

    timeout: PositiveDuration = Field(
        timedelta(seconds=30), description="Give up on a request after this long."
    )
    retries: Count = Field(2, ge=0, description="Retries of a request that failed or timed out.")
    delay: Duration = Field(
        timedelta(seconds=1), description="Pause between two requests to the same domain."
    )
    concurrency_per_domain: Count = Field(2, ge=1, description="Requests in flight to one domain at most.")
    max_response_size: Size = Field(
        10_000_000,
        description="Largest response read, in bytes or with a unit: 512KB, 10MB, 1GiB "
        "(KB/MB/GB are powers of 1000, KiB/MiB/GiB powers of 1024).",
    )
    robots: bool = Field(True, description="Obey each site's robots.txt; a source's robots overrides it.")
    redirect_other_hosts: bool = Field(
        False, description="Follow a source's redirects to another host (a leading www. aside); "
                           "a source's redirect_other_hosts overrides it. Links a feed lists are "
                           "always followed through their redirector.")
    max_redirects: Count = Field(10, ge=0, description="Redirects followed for one request at most.")
    max_retry_after: Duration = Field(
        timedelta(minutes=10),
        description="A 429/503 asking to wait longer than this (Retry-After) is given up for the run.")
    max_articles: Count = Field(
        50, ge=1, description="Article pages fetched per source per run, newest links first."
    )
    jitter: float = Field(
        0.05, ge=0, le=0.5, description="Random shift of each run, as a fraction of the source's interval."
    )


class Delivery(_Section):
    """How alerts leave the outbox: pace, retries and backoff."""

    every: PositiveDuration = Field(
        timedelta(seconds=5), description="How often the outbox is checked for alerts to send."
    )
    max_tries: Count = Field(
        60, ge=1,
        description="Attempts to send one alert before it is marked dead (with the default "
                    "backoff, about two days of a service being down).")
    backoff: PositiveDuration = Field(
        timedelta(seconds=30), description="Wait before the first retry; doubled after each failed try."
    )
    max_backoff: PositiveDuration = Field(
        timedelta(hours=1), description="Longest wait between two tries."
    )
    timeout: PositiveDuration = Field(
        timedelta(seconds=30), description="Give up on one notification after this long."
    )

    @field_validator("max_backoff")
    @classmethod
    def _not_below_backoff(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        backoff = info.data.get("backoff")
        if backoff is not None and value < backoff:
            raise ValueError("must not be shorter than backoff")
        return value


class Health(_Section):
    """How each source's health is judged, and where a change of it is reported."""

    channels: tuple[Id, ...] = Field(
        (), description="Channels told when a source turns failing, quiet or recovered; "
                        "empty means the console.")
    failing_after: Count = Field(
        3, ge=1, description="Consecutive failed runs after which a source is failing.")
    quiet_factor: float = Field(
        4.0, ge=1, description="A source is quiet when nothing new came for this many times its usual gap.")
    min_quiet: PositiveDuration = Field(
        timedelta(days=1), description="Never call a source quiet before this long without anything new.")
    max_backoff: PositiveDuration = Field(
        timedelta(hours=6), description="The longest a failing source waits between runs; it is never given up.")


class Log(_Section):
    """What the daemon logs, and how."""

    level: Annotated[Literal["debug", "info", "warning", "error"], BeforeValidator(_lower)] = Field(
        "info", description="The least severe messages logged: debug, info, warning or error."
    )
    format: Annotated[Literal["text", "json"], BeforeValidator(_lower)] = Field(
        "text", description="text for people, json for one JSON object a line."
    )


class Source(_Section):
    """A feed, a news site or a sitemap to watch."""

    id: Id = Field(description="Short unique name of the source: lowercase letters, digits and -.")
    kind: Literal["feed", "site", "sitemap"] = Field(
        description="feed: an RSS/Atom feed; site: listing pages whose links are followed; "
                    "sitemap: a sitemap, sitemap index or news sitemap (or a robots.txt naming them)."
    )
    url: HttpUrl | None = Field(
        None, description="The feed's, the listing page's or the sitemap's http(s) URL (required, "
                          "except for a site given urls)."
    )
    urls: tuple[HttpUrl, ...] = Field(
        (), description="Sites only, instead of url: several listing pages (url is then the first)."
    )
    name: str = Field("", description="The outlet as shown in alerts; defaults to the id.")
    every: Interval = Field(
        timedelta(minutes=30), description="How often to fetch it: 15m, 1h, 1h30m (at least 10s)."
    )
    fetch_articles: bool = Field(
        False, description="Feeds only: follow each entry's link and extract the full article."
    )
    follow: Follow | None = Field(
        None, description="Sites (required there): the article links, as a regex over their URLs, "
                          "or css:SELECTOR or xpath:EXPRESSION selecting the links; sitemaps: an "
                          "optional regex the URLs must match."
    )
    ignore: Regex | None = Field(
        None, description="Sites and sitemaps: a regex of URLs never fetched, even when follow matches."
    )
    listing_pages: Count = Field(
        1, ge=1, description="Sites: listing pages read per start page a run, following its next links."
    )
    next_css: CssSelector | None = Field(
        None, description="Sites: a CSS selector for a listing's next link, when rel=next and "
                          "links reading Next / 다음 / » / › do not find it."
    )
    since: PositiveDuration = Field(
        timedelta(days=2), description="Sitemaps: only URLs dated (lastmod or news publication date) "
                                       "within this long before now; undated URLs are kept."
    )
    enabled: bool = Field(True, description="false skips the source without deleting it.")
    language: Language | None = Field(
        None, description='Language code (en, ko) assumed when a page does not state its own.'
    )
    robots: bool | None = Field(
        None, description="Obey robots.txt for this source's requests; unset means crawl.robots."
    )
    redirect_other_hosts: bool | None = Field(
        None, description="Follow redirects of this source's own requests to another host; "
                          "unset means crawl.redirect_other_hosts."
    )
    fallback: Fallback | None = Field(
        None, description="Feeds only: a site or sitemap crawled instead, under the same id, while "
                          "the feed is gone (404/410, not a feed, failing, or empty for far longer "
                          "than usual); the feed is still tried first every run. Takes kind "
                          "(site or sitemap) and the keys of that kind: url or urls, follow, "
                          "ignore, listing_pages, next_css, since."
    )

    @property
    def on_fallback(self) -> Source | None:
        """The source as its fallback crawls it (same id, name and limits), or None."""
        fallback = self.fallback
        if fallback is None:
            return None
        update = {name: getattr(fallback, name) for name in type(fallback).model_fields}
        update["url"] = fallback.url or (fallback.urls[0] if fallback.urls else None)
        return self.model_copy(update={**update, "fallback": None, "fetch_articles": False})

    @property
    def start_urls(self) -> tuple[str, ...]:
        """The pages a crawl of the source starts from: its urls, else its url."""
        if self.urls:
            return self.urls
        return (self.url,) if self.url is not None else ()

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        if not data.get("name") and isinstance(data.get("id"), str):
            data = {**data, "name": data["id"]}
        # A site given urls only has its first as url: the source's address in the store and logs.
        urls = data.get("urls")
        if data.get("url") is None and isinstance(urls, (list, tuple)) and urls and isinstance(urls[0], str):
            data = {**data, "url": urls[0]}
        return data

    @model_validator(mode="after")
    def _keys_match_kind(self) -> Source:
        _raise_cross(source_problems(self.model_dump()))
        return self


_FALLBACK_FIELDS = ("url", "urls", "follow", "ignore", "listing_pages", "next_css", "since")


def _fallback_fields() -> type[BaseModel]:
    """A fallback takes the fields of a site or sitemap source, declared once on Source."""
    fields: dict[str, Any] = {
        "kind": (Literal["site", "sitemap"], Field(
            description="site: listing pages whose links are followed; sitemap: a sitemap.")),
    }
    for name in _FALLBACK_FIELDS:
        info = Source.model_fields[name]
        annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        fields[name] = (annotation, Field(info.default, description=info.description))
    return create_model("FallbackFields", __base__=_Section, **fields)


class Fallback(_fallback_fields()):
    """What a feed source crawls while its feed is gone: a site or a sitemap."""

    @model_validator(mode="before")
    @classmethod
    def _url_from_urls(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("url") is None:
            urls = data.get("urls")
            if isinstance(urls, (list, tuple)) and urls and isinstance(urls[0], str):
                data = {**data, "url": urls[0]}
        return data

    @model_validator(mode="after")
    def _keys_match_kind(self) -> Fallback:
        _raise_cross(source_problems(self.model_dump()))
        return self


Source.model_rebuild()


class Rule(_Section):
    """A keyword query; its matches become alerts."""

    id: Id = Field(description="Short unique name of the rule: lowercase letters, digits and -.")
    query: Query = Field(
        description='AND, OR, NOT, parentheses and "quoted phrases"; adjacent terms are ANDed; '
        "case-insensitive; Hangul also matches inside words."
    )
    channels: tuple[str, ...] = Field(
        (), description="Ids of the channels its alerts go to; none means the console."
    )
    enabled: bool = Field(True, description="false stops the rule without deleting it.")

    @field_validator("channels", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return () if value is None else value


def _not_console(value: str) -> str:
    if value == CONSOLE:
        raise Invalid("{value} is reserved for the built-in console channel; choose another id")
    return value


class Channel(_Section):
    """Where alerts are sent: one or more Apprise URLs."""

    id: Annotated[Id, AfterValidator(_not_console)] = Field(
        description='Short unique name that rules use; "console" is built in.'
    )
    url: AppriseUrl | None = Field(
        None, repr=False, description="One Apprise URL; write secrets as ${VARIABLE}."
    )
    urls: tuple[AppriseUrl, ...] = Field(
        (), repr=False, description="Several Apprise URLs, instead of url."
    )

    @property
    def apprise_urls(self) -> tuple[str, ...]:
        """The channel's URLs, whichever key held them."""
        return (self.url,) if self.url is not None else self.urls

    @model_validator(mode="after")
    def _one_of_url_urls(self) -> Channel:
        _raise_cross(channel_problems(self.model_dump()))
        return self


_SECTIONS = ("crawl", "delivery", "log", "sources", "rules", "channels")


class Config(_Section):
    """The whole configuration of a presswatch daemon."""

    database: Path = Field(
        Path("presswatch.db"),
        validate_default=True,
        description="The SQLite file; a relative path is relative to the config file's folder.",
    )
    user_agent: str = Field(
        default_factory=default_user_agent, description="The User-Agent header sent with every request."
    )
    contact: str = Field(
        "", description="An email or URL added to the User-Agent so site owners can reach you."
    )
    crawl: Crawl = Field(default_factory=Crawl, description=Crawl.__doc__)
    delivery: Delivery = Field(default_factory=Delivery, description=Delivery.__doc__)
    log: Log = Field(default_factory=Log, description=Log.__doc__)
    health: Health = Field(default_factory=Health, description=Health.__doc__)
    sources: tuple[Source, ...] = Field((), description="The feeds and sites to watch.")
    rules: tuple[Rule, ...] = Field((), description="The keyword rules matched against new stories.")
    channels: tuple[Channel, ...] = Field((), description="Where alerts are sent, besides the console.")

    _secrets: frozenset[str] = PrivateAttr(default_factory=frozenset)

    @property
    def secrets(self) -> frozenset[str]:
        """The values filled in from the environment, for the logs to redact."""
        return self._secrets

    def with_secrets(self, secrets: frozenset[str]) -> Config:
        """A copy that carries `secrets`."""
        copy = self.model_copy()
        copy._secrets = frozenset(secrets)
        return copy

    @property
    def enabled_sources(self) -> tuple[Source, ...]:
        return tuple(source for source in self.sources if source.enabled)

    @property
    def enabled_rules(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.enabled)

    @model_validator(mode="before")
    @classmethod
    def _empty_section_is_default(cls, data: Any) -> Any:
        # "channels:" with every entry commented out reads as None: mean "none", not an error.
        if isinstance(data, Mapping):
            return {key: value for key, value in data.items() if not (key in _SECTIONS and value is None)}
        return data

    @field_validator("database")
    @classmethod
    def _resolve_database(cls, value: Path, info: ValidationInfo) -> Path:
        if str(value) in ("", "."):
            raise Invalid("{value} is not a file path")
        base = (info.context or {}).get("base_dir")
        if base is None or str(value) == ":memory:":
            return value
        value = value.expanduser()
        return value if value.is_absolute() else Path(base) / value

    @model_validator(mode="after")
    def _keys_agree(self) -> Config:
        _raise_cross(cross_check(self.model_dump()))
        return self

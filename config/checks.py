"""Checks of single values: the annotated types the schema's fields are declared with.

Each type parses or refuses one value (a duration, a size, an id, a URL, a regex, a
`follow` expression, a query, a language code, an Apprise URL) and raises `Invalid` with a
message for people when it refuses. Relations between keys are `crosscheck`'s; the
models that put these types together are `schema`'s.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from itertools import pairwise
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, PlainSerializer

from presswatch.config.duration import (
    DURATION_HINT,
    SIZE_HINT,
    format_duration,
    format_size,
    parse_duration,
    parse_size,
)
from presswatch.config.problems import Invalid
from presswatch.config.query import QuerySyntaxError, parse_query

CONSOLE = "console"
"""The built-in channel: alerts logged and printed. Rules without channels use it."""

ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]*")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


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


def _refuse_bool_number(value: Any) -> Any:
    # float() would take yes/no as 1.0 and 0.0 as quietly as int() takes them as 1 and 0.
    if isinstance(value, bool):
        raise Invalid("{value} is not a number")
    return value


def _check_similarity(value: float) -> float:
    if not 0 < value <= 1:
        raise Invalid("{value} is not a similarity (use a number above 0 and at most 1, such as 0.5)")
    return value


Similarity = Annotated[float, BeforeValidator(_refuse_bool_number), AfterValidator(_check_similarity)]
"""A share of matching shingles: more than 0, at most 1 (identical)."""


def _check_increasing(values: tuple[int, ...]) -> tuple[int, ...]:
    for earlier, later in pairwise(values):
        if later <= earlier:
            raise Invalid(f"must be strictly increasing, as in [5, 20]; {later} comes after {earlier}")
    return values


def increasing(item: Any) -> Any:
    """A list of `item`s, each larger than the one before; written [5, 20], held as a tuple."""
    return Annotated[tuple[item, ...], AfterValidator(_check_increasing)]


def lowercase(value: Any) -> Any:
    """Text in lower case, so `level: INFO` means info; anything else is left to the field's type."""
    return value.lower() if isinstance(value, str) else value


def _check_id(value: str) -> str:
    if not ID_PATTERN.fullmatch(value):
        raise Invalid(
            "{value} is not a valid id (use lowercase letters, digits and -, starting with a letter or digit)"
        )
    return value


Id = Annotated[str, AfterValidator(_check_id)]


def _not_console(value: str) -> str:
    if value == CONSOLE:
        raise Invalid("{value} is reserved for the built-in console channel; choose another id")
    return value


ChannelId = Annotated[Id, AfterValidator(_not_console)]


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
    # Imported here to keep `presswatch --help` fast: with lxml's XPath, about 7 ms.
    from cssselect import GenericTranslator, SelectorError

    try:
        GenericTranslator().css_to_xpath(value)
    except SelectorError as error:
        raise Invalid("{value} is not a valid CSS selector", str(error)) from None
    return value


def _check_xpath(value: str) -> str:
    # Imported here to keep `presswatch --help` fast: with cssselect, about 7 ms.
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
    # imported here: Apprise costs about 60 ms at every start and only a config with channels needs it
    import apprise

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

"""Datelines: the place and date an agency story opens with, and the year they leave out.

Forms read, at the start of one of the first lines only (a date further down is about something else):

- ``Pyongyang, November 14 (KCNA) --`` and without the dashes; ``SEOUL, Nov. 4 (Yonhap) --``;
  ``Pyongyang, November 14, 2018 (KCNA) --``;
- ``(Seoul, November 1, 2018) –`` (HRW-style releases: the place and the full date in brackets);
- Korean: ``평양 11월 14일발 조선중앙통신`` (also in brackets, and with ``2018년`` before the month).

Rodong Sinmun's English articles carry no dateline: their date is in the article URL
(``newsID=2021-06-17-0001``, or since 2022 a base64 token), which the extraction reads.

The dates state media print next to a headline are read here too: :func:`dotted_date` reads
"[2026.7.19.]" (KCNA's listings, Rodong Sinmun's pages of 2022-2024) and "[Juche 113.1.12.]";
:func:`written_date` reads "Feb. 19, 2026 Thursday" (Rodong Sinmun since 2025).

KCNA datelines give no year. :func:`resolve` takes it from a reference time (the feed entry's
date, else the fetch time) and picks the year that does not put the date in the future:
"December 31" read on January 2 is last year's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["Dateline", "dotted_date", "find_dateline", "plausible_utc", "resolve", "written_date"]

# Korea is UTC+9: a dateline may be up to a day ahead of the reference time in UTC.
_AHEAD = timedelta(days=1)
_HEAD = 300  # characters of the text where a dateline can be
_LINES = 3  # a headline and a caption may come first

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}
_MONTH = (
    r"(?P<month>Jan(?:uary|\.)?|Feb(?:ruary|\.)?|Mar(?:ch|\.)?|Apr(?:il|\.)?|May|June?|July?"
    r"|Aug(?:ust|\.)?|Sep(?:tember|t\.|\.)?|Oct(?:ober|\.)?|Nov(?:ember|\.)?|Dec(?:ember|\.)?)"
)
_PLACE = r"[A-Z][A-Za-z'.-]+(?:[ -][A-Za-z'.-]+){0,3}"
_DASH = r"(?:--|-|\u2013|\u2014|\u2015)"
_DAY_YEAR = r"(?P<day>\d{1,2})(?:,?\s+(?P<year>\d{4}))?"

_AGENCY_FORM = re.compile(  # Pyongyang, November 14 (KCNA) --
    rf"^\W{{0,3}}{_PLACE},\s+{_MONTH}\s+{_DAY_YEAR}\s*\((?P<agency>[A-Za-z][\w .&-]{{0,30}})\)\s*(?:{_DASH})?",
    re.IGNORECASE,
)
_BRACKET_FORM = re.compile(  # (Seoul, November 1, 2018) –
    rf"^\W{{0,3}}\(\s*{_PLACE},\s+{_MONTH}\s+{_DAY_YEAR}\s*\)\s*{_DASH}",
    re.IGNORECASE,
)
_KOREAN_FORM = re.compile(  # 평양 11월 14일발 조선중앙통신
    r"^\W{0,3}[(\[【〔]?\s*[\uac00-\ud7a3]{2,8}\s+(?:(?P<year>\d{4})\s*년\s*)?"
    r"(?P<month>\d{1,2})\s*월\s*(?P<day>\d{1,2})\s*일\s*발\s+[\uac00-\ud7a3]{2,12}"
)


_DOTTED = re.compile(
    r"(?<![\d.])(?:(?P<juche>Juche)\s*)?(?P<year>\d{1,4})\s*\.\s*(?P<month>\d{1,2})\s*\.\s*(?P<day>\d{1,2})\b\.?(?!\d)")
_JUCHE_OFFSET = 1911  # Juche 1 = 1912
_WRITTEN = re.compile(rf"\b{_MONTH}\s+(?P<day>\d{{1,2}}),?\s+(?P<year>\d{{4}})\b", re.IGNORECASE)


def dotted_date(text: str) -> datetime | None:
    """The first date written "2026.7.19." or "Juche 113.1.12." in ``text``, as midnight UTC."""
    for match in _DOTTED.finditer(text):
        year = int(match["year"])
        if match["juche"]:
            year += _JUCHE_OFFSET
        elif year < 1900:
            continue  # a version or section number, not a year
        found = _date(Dateline(int(match["month"]), int(match["day"])), year)
        if found is not None:
            return found
    return None


def written_date(text: str) -> datetime | None:
    """The first date written "Feb. 19, 2026" (a weekday may follow) in ``text``, midnight UTC."""
    match = _WRITTEN.search(text)
    if match is None:
        return None
    return _date(Dateline(_MONTHS[match["month"][:3].lower()], int(match["day"])), int(match["year"]))


@dataclass(frozen=True)
class Dateline:
    """A dateline's date; ``year`` is None when the dateline does not give it."""

    month: int
    day: int
    year: int | None = None


def find_dateline(text: str) -> Dateline | None:
    """The dateline the text opens with, if any.

    It may follow a headline or a caption: the first lines of the first few hundred characters
    are tried, each from its start.
    """
    for line in text[:_HEAD].lstrip().splitlines()[:_LINES]:
        for pattern in (_AGENCY_FORM, _BRACKET_FORM, _KOREAN_FORM):
            match = pattern.match(line.strip())
            if match is None:
                continue
            month = match["month"]
            month_number = int(month) if month.isdigit() else _MONTHS[month[:3].lower()]
            dateline = Dateline(month_number, int(match["day"]), int(match["year"]) if match["year"] else None)
            if _valid(dateline, dateline.year or 2000):  # 2000 is a leap year: February 29 passes
                return dateline
    return None


def resolve(dateline: Dateline, reference: datetime | None = None) -> datetime | None:
    """The dateline as midnight UTC of its day; a missing year is taken from ``reference``.

    ``reference`` (default: now) is the feed's date or the fetch time. Of its year and the year
    before, the later one that does not put the date more than a day after ``reference`` wins.
    """
    if dateline.year is not None:
        return _date(dateline, dateline.year)
    reference = _aware(reference or datetime.now(UTC))
    for year in (reference.year + 1, reference.year, reference.year - 1):
        found = _date(dateline, year)
        if found is not None and found <= reference + _AHEAD:
            return found
    return None


def _date(dateline: Dateline, year: int) -> datetime | None:
    try:
        return datetime(year, dateline.month, dateline.day, tzinfo=UTC)
    except ValueError:  # February 29 of a common year, day 31 of a short month
        return None


def _valid(dateline: Dateline, year: int) -> bool:
    return 1 <= dateline.month <= 12 and _date(dateline, year) is not None


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# A page may be a day ahead of UTC (Korea is UTC+9) but not more: later dates are template
# junk such as an event calendar or a copyright year.
MAX_FUTURE = timedelta(days=1)


def plausible_utc(value: datetime | None) -> datetime | None:
    """Make ``value`` aware UTC (no offset means UTC); None if implausibly in the future."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value if value <= datetime.now(UTC) + MAX_FUTURE else None

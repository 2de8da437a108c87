"""Durations and sizes as people write them in a config file: "1h30m", "15m", "10MB".

Parsing and formatting only; which fields hold durations or sizes, and their bounds,
is the schema's business.
"""

from __future__ import annotations

import re
from datetime import timedelta

DURATION_HINT = "use e.g. 30s, 15m, 2h, 1d"
SIZE_HINT = "use e.g. 512KB, 10MB, 1GiB"

_NUMBER = r"\d+(?:\.\d+)?"
# Units in falling order, each at most once: "1h30m" yes, "30m1h" or "1h1h" no, because
# an out-of-order duration is more likely a typo than a deliberate sum.
_DURATION = re.compile(
    rf"^(?:(?P<d>{_NUMBER})d)?(?:(?P<h>{_NUMBER})h)?(?:(?P<m>{_NUMBER})m)?(?:(?P<s>{_NUMBER})s)?$"
)
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}

# KB, MB, GB are powers of 1000 and KiB, MiB, GiB powers of 1024, as the SI and IEC say.
_SIZE = re.compile(rf"^(?P<n>{_NUMBER})\s*(?P<unit>[kmgt]?i?b?)$", re.IGNORECASE)
_SIZE_PREFIX = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}
_SIZE_UNITS = ("TB", "TiB", "GB", "GiB", "MB", "MiB", "KB", "KiB")


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """A timedelta from "15m", "1h30m", "2d", "45s" or a plain number of seconds."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ValueError(f"{text!r} is not a duration ({DURATION_HINT})")
    if isinstance(text, (int, float)):
        return _seconds(text, text)
    compact = re.sub(r"\s+", "", text).lower()
    if re.fullmatch(_NUMBER, compact):
        return _seconds(float(compact), text)
    found = _DURATION.match(compact)
    if not compact or not found:
        raise ValueError(f'"{text}" is not a duration ({DURATION_HINT})')
    total = sum(float(found[unit]) * seconds for unit, seconds in _UNIT_SECONDS.items() if found[unit])
    return timedelta(seconds=total)


def _seconds(number: float, original: object) -> timedelta:
    if number < 0:
        raise ValueError(f"{original!r} is not a duration: it is negative")
    return timedelta(seconds=number)


def format_duration(duration: timedelta) -> str:
    """The shortest text that parse_duration reads back as `duration`: "1h30m", "0s"."""
    remaining = duration.total_seconds()
    if remaining < 0:
        raise ValueError(f"{duration!r} is negative")
    parts = []
    for unit, seconds in _UNIT_SECONDS.items():
        whole = int(remaining // seconds) if unit != "s" else remaining
        if whole:
            parts.append(f"{_number_text(whole)}{unit}")
            remaining -= whole * seconds
    return "".join(parts) or "0s"


def parse_size(text: str | int) -> int:
    """A number of bytes from 10MB, 512KB, 1GiB, 2048B or a plain integer."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise ValueError(f"{text!r} is not a size ({SIZE_HINT})")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"{text} is not a size: it is negative")
        return text
    found = _SIZE.match(text.strip())
    if not found or (found["unit"].lower() in ("i", "ib")):
        raise ValueError(f'"{text}" is not a size ({SIZE_HINT})')
    return round(float(found["n"]) * _unit_bytes(found["unit"]))


def _unit_bytes(unit: str) -> int:
    unit = unit.lower()
    base = 1024 if "i" in unit else 1000
    return base ** _SIZE_PREFIX[unit[:1] if unit[:1] in "kmgt" else ""]


def format_size(size: int) -> str:
    """The largest unit that states `size` exactly: 10_000_000 -> "10MB", 1536 -> "1536B"."""
    for unit in _SIZE_UNITS:
        bytes_per_unit = _unit_bytes(unit)
        if size and size % bytes_per_unit == 0:
            return f"{size // bytes_per_unit}{unit}"
    return f"{size}B"


def _number_text(number: float) -> str:
    """2.0 -> "2", 1.5 -> "1.5": no trailing ".0" in formatted durations."""
    return f"{number:.6f}".rstrip("0").rstrip(".")

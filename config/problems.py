"""Problems in a config, and how they are phrased for people.

A `Problem` is one thing wrong at one path (`sources[3].every`), shown with the id of each
list entry on the way when the config is at hand (`sources[3] (kcna).every`); `Invalid` is
what a field check raises so the loader can turn it into one. Messages may hold the placeholder
``{value}``, which stands for the offending value as the reader should see it, or for a
neutral phrase when that value came from the environment and may be a secret. Which
values are wrong is the business of the checks (`checks`, `crosscheck`); finding the
problems in a file and listing them is the loader's.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from presswatch.config.duration import format_duration

Loc = tuple[str | int, ...]

# Only an id as the schema takes it names an entry in a path: anything else ("${SOURCE_ID}",
# "Bad Id", a number) could not be searched for in the file, and is reported at its own path.
_ENTRY_ID = re.compile(r"[a-z0-9][a-z0-9-]*")

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

    def text(self, value_is_secret: bool = False, config: Any = None) -> str:
        """`path: sentence`, quoting the value unless it is secret.

        Given the `config` as written (its raw mapping), the path names the entries of lists
        by their ids.
        """
        shown = FROM_ENVIRONMENT if value_is_secret else describe_value(self.value)
        message = self.message.replace("{value}", shown)
        if self.detail and not value_is_secret:
            message += f": {self.detail}"
        return f"{format_path(self.loc, config)}: {message}"


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


def format_path(loc: Loc, config: Any = None) -> str:
    """("sources", 3, "every") -> "sources[3].every"; the empty path is the whole config.

    With the raw `config`, a list entry that has an id is named after its index, at any
    depth: "rules[0] (ko-violence).query"; entries without one keep the index alone.
    """
    path, node = "", config
    for part in loc:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and -len(node) <= part < len(node) else None
            path += f"[{part}]" + (f" ({entry_id})" if (entry_id := _entry_id(node)) else "")
        else:
            node = node.get(part) if isinstance(node, Mapping) else None
            path += f".{part}" if path else str(part)
    return path or "config"


def _entry_id(entry: Any) -> str | None:
    value = entry.get("id") if isinstance(entry, Mapping) else None
    return value if isinstance(value, str) and _ENTRY_ID.fullmatch(value) else None


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
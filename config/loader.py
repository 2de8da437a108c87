"""Loading a config file: YAML in, a frozen Config out, or every problem at once.

It reads the file (or the shipped default), fills ``${VAR}`` references from the
environment (the only place presswatch reads it), resolves the database path against the
file's folder, and turns every complaint into one line `path: plain sentence`. What is
valid is the schema's business; redacting secrets from logs is the logging layer's, which
gets them from `Config.secrets`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from presswatch.config.errors import ConfigError
from presswatch.config.schema import (
    CROSS_CHECK,
    Config,
    Invalid,
    Loc,
    Problem,
    cross_check,
    did_you_mean,
)

DEFAULT_CONFIG = "default.yaml"

# $${ is a literal "${"; ${NAME} and ${NAME:-default} are references; any other "${" is a typo.
_REFERENCE = re.compile(r"\$\$\{|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|\$\{")

# Secrets shorter than this are not redacted from problem lines by the last-resort pass
# (a secret "1" would garble every index); the first line of defence, not quoting values
# that came from the environment, covers them.
_MIN_REDACTED = 4

_PYDANTIC_MESSAGES = {
    "string_type": "{value} is not text (put it in quotes)",
    "int_type": "{value} is not a whole number",
    "int_parsing": "{value} is not a whole number",
    "int_from_float": "{value} is not a whole number",
    "float_type": "{value} is not a number",
    "float_parsing": "{value} is not a number",
    "finite_number": "{value} is not a finite number",
    "bool_type": "{value} is not true or false",
    "bool_parsing": "{value} is not true or false",
    "literal_error": "{value} is not allowed; use {expected}",
    "greater_than_equal": "{value} is too small (the minimum is {ge})",
    "greater_than": "{value} is too small (it must be more than {gt})",
    "less_than_equal": "{value} is too large (the maximum is {le})",
    "less_than": "{value} is too large (it must be less than {lt})",
    "tuple_type": "{value} is not a list (write [a, b], or one '- item' a line)",
    "list_type": "{value} is not a list (write [a, b], or one '- item' a line)",
    "model_type": "{value} is not a group of keys (write key: value lines)",
    "model_attributes_type": "{value} is not a group of keys (write key: value lines)",
    "dict_type": "{value} is not a group of keys (write key: value lines)",
    "path_type": "{value} is not a file path",
}


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """The validated Config in `path` (None: the shipped default), with ${VAR}s from `environ`.

    Raises ConfigError listing every problem found, each as `path: sentence`.
    """
    environ = os.environ if environ is None else environ
    text, name, base_dir = _read(path)
    raw = _parse_yaml(text, name)
    filled = fill_environment(raw, environ)
    config, invalid = _validate(filled.data, base_dir, environ)
    problems = _drop_shadowed(filled.problems, invalid + cross_check(filled.data))
    if problems:
        raise ConfigError(_lines(problems, filled, raw))
    return config.with_secrets(filled.secrets)


def default_config_text() -> str:
    """The shipped default config, comments and all (what `presswatch init` writes)."""
    return files("presswatch.config").joinpath(DEFAULT_CONFIG).read_text(encoding="utf-8")


# --- reading ----------------------------------------------------------------------------


def _read(path: str | Path | None) -> tuple[str, str, Path]:
    """The text, the name to cite in problems, and the folder relative paths start from."""
    if path is None:
        return default_config_text(), DEFAULT_CONFIG, Path.cwd()
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8"), str(path), path.resolve().parent
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{path}: is a folder, not a config file"]) from None
    except UnicodeDecodeError as error:
        raise ConfigError([f"{path}: is not UTF-8 text (byte {error.start})"]) from None
    except OSError as error:
        raise ConfigError([f"{path}: cannot be read ({error.strerror})"]) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key repeated in one mapping.

    Plain YAML keeps the last one silently, so a second `every:` would quietly win.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` merges are meant to be overridden
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f'the key "{key}" appears twice', key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def _parse_yaml(text: str, name: str) -> dict:
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as error:
        raise ConfigError([f"{name}: {_yaml_error_text(error)}"]) from error
    if data is None:
        raise ConfigError([f"{name}: the file is empty (presswatch init writes a commented example)"])
    if not isinstance(data, dict):
        shape = "a list" if isinstance(data, list) else "a single value"
        raise ConfigError([f"{name}: the top level must be keys such as sources: and rules:, not {shape}"])
    return data


def _yaml_error_text(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    if mark is None:
        return f"invalid YAML: {problem}"
    context = getattr(error, "context", None)
    context_mark = getattr(error, "context_mark", None)
    where = f" ({context} at line {context_mark.line + 1})" if context and context_mark else ""
    return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}{where}"


# --- the environment ----------------------------------------------------------------------


@dataclass
class Filled:
    """The raw config with ${VAR}s filled in, and what the filling learnt on the way."""

    data: Any
    secrets: set[str] = field(default_factory=set)
    tainted: set[Loc] = field(default_factory=set)  # where a value came from the environment
    problems: list[Problem] = field(default_factory=list)


def fill_environment(raw: Any, environ: Mapping[str, str]) -> Filled:
    """`raw` with every ${VAR} / ${VAR:-default} in its string values filled from `environ`."""
    filled = Filled(data=None)
    filled.data = _fill(raw, (), environ, filled)
    return filled


def _fill(value: Any, loc: Loc, environ: Mapping[str, str], filled: Filled) -> Any:
    if isinstance(value, dict):
        return {key: _fill(item, (*loc, key), environ, filled) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, (*loc, index), environ, filled) for index, item in enumerate(value)]
    if isinstance(value, str) and "${" in value:
        return _REFERENCE.sub(lambda match: _substitute(match, value, loc, environ, filled), value)
    return value


def _substitute(match: re.Match, text: str, loc: Loc, environ: Mapping[str, str], filled: Filled) -> str:
    if match[0] == "$${":
        return "${"
    name, default = match["name"], match["default"]
    if name is None:
        message = "{value} has an unfinished ${...} reference (write $${ for a literal ${)"
        filled.problems.append(Problem(loc, message, text))
        return match[0]
    value = environ.get(name)
    # As in the shell, ${VAR:-default} also takes the default when VAR is set but empty.
    if default is not None and not value:
        return default
    if value is None:
        filled.problems.append(Problem(loc, f"environment variable {name} is not set"))
        return ""
    if value:
        filled.secrets.add(value)
        filled.tainted.add(loc)
    return value


# --- validation -------------------------------------------------------------------------


def _validate(data: dict, base_dir: Path, environ: Mapping[str, str]) -> tuple[Config | None, list[Problem]]:
    try:
        return Config.model_validate(data, context={"base_dir": base_dir, "environ": environ}), []
    except ValidationError as error:
        # Checks across keys were already run on the raw data, even where fields failed.
        found = error.errors(include_url=False)
        return None, [_problem_from(item) for item in found if item["type"] != CROSS_CHECK]


def _problem_from(error: Mapping) -> Problem:
    """A pydantic error as a Problem in plain words."""
    loc, kind, value = tuple(error["loc"]), error["type"], error.get("input")
    if kind == "extra_forbidden":
        return Problem(loc, _unknown_key_message(loc))
    if kind == "missing":
        return Problem(loc, "required, but missing")
    if kind == "invalid_key":
        return Problem(loc[:-1], "{value} is not a valid key: keys are names such as every or url", value)
    if kind in ("value_error", "assertion_error"):
        cause = error["ctx"]["error"]
        if isinstance(cause, Invalid):
            return Problem(loc, cause.message, value, cause.detail)
        return Problem(loc, str(cause), value)
    if value is None:
        return Problem(loc, "no value given")
    message = _PYDANTIC_MESSAGES.get(kind, "{value} is not valid here")
    for name, detail in (error.get("ctx") or {}).items():
        message = message.replace(f"{{{name}}}", _ctx_text(detail))
    return Problem(loc, message, value)


def _ctx_text(detail: Any) -> str:
    # literal_error lists its choices as "'feed' or 'site'"; double quotes match the rest.
    return str(detail).replace("'", '"')


def _unknown_key_message(loc: Loc) -> str:
    model = _model_at(loc[:-1])
    if model is None:
        return "unknown key"
    known = list(model.model_fields)
    return "unknown key" + (did_you_mean(str(loc[-1]), known) or f" (known keys: {', '.join(known)})")


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The model that validates the mapping at `loc`, e.g. Source for ("sources", 2)."""
    model: type[BaseModel] | None = Config
    for part in loc:
        if model is None:
            return None
        if isinstance(part, str):
            found = model.model_fields.get(part)
            model = _model_in(found.annotation) if found else None
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for m in map(_model_in, get_args(annotation)) if m is not None), None)


# --- reporting --------------------------------------------------------------------------


def _drop_shadowed(first: list[Problem], later: list[Problem]) -> list[Problem]:
    """`first` and those of `later` not at a path `first` already explains.

    A variable that is not set leaves an empty value behind, which the schema would
    also reject: one problem per path is enough.
    """
    explained = {problem.loc for problem in first}
    return first + [problem for problem in later if problem.loc not in explained]


def _lines(problems: list[Problem], filled: Filled, raw: Mapping) -> list[str]:
    """One line per problem, in the file's order, without duplicates or secrets.

    Paths name list entries by the ids written in the file (`raw`), never by a value
    filled in from the environment.
    """
    order = _file_order(filled.data)
    lines = []
    for problem in sorted(problems, key=lambda p: order(p.loc)):
        line = _redact(problem.text(_is_tainted(problem.loc, filled.tainted), raw), filled.secrets)
        if line not in lines:
            lines.append(line)
    return lines


def _file_order(data: Mapping):
    """A sort key putting problems in the order of the file's sections and list entries.

    Within one entry the order found is kept (the schema's field order).
    """
    keys = {key: position for position, key in enumerate(data)}

    def key(loc: Loc) -> tuple[int, int]:
        if not loc:
            return (-1, -1)
        index = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else -1
        return (keys.get(loc[0], len(keys)), index)

    return key


def _is_tainted(loc: Loc, tainted: set[Loc]) -> bool:
    """True when the value at `loc` came from the environment.

    Only strings are filled in, and a container is never quoted, so the exact path suffices.
    """
    return loc in tainted


def _redact(line: str, secrets: set[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= _MIN_REDACTED:
            line = line.replace(secret, "[secret]")
    return line

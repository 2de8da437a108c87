"""The configuration reference (docs/configuration.md), rendered from the schema's descriptions.

Each key's help is written once, as the `description` of its field in `schema` (and
`pacing` for digests and channel URLs); this module only lays those out as Markdown
tables, with each default as a config file would write it. Run it to rewrite the page:

    python -m presswatch.config.reference > docs/configuration.md

tests/test_docs.py fails when the page and the schema disagree. The prose pages in docs/
explain what the keys do together; this page is the list.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from presswatch.config.checks import default_user_agent
from presswatch.config.alerts import ChannelUrl, Digest
from presswatch.config.schema import Channel, Config, Fallback, Rule, RuleSurge, Source

COMMAND = "python -m presswatch.config.reference > docs/configuration.md"

INTRO = f"""\
# Configuration reference

<!-- Generated from config/schema.py by `{COMMAND}`: edit the descriptions there, not here.
tests/test_docs.py fails when this page and the schema disagree. -->

A config is one YAML file. `presswatch init presswatch.yaml` writes the shipped default (the
mission's sources, rules and channels, every key commented) to start from;
`presswatch check-config --config presswatch.yaml` lists every problem with its path and exits 2
if there are any. `--config FILE`, else the `PRESSWATCH_CONFIG` environment variable, names
the file; with neither, the shipped default is used.

- Every key is optional except the ids, kinds and urls of sources, the ids and queries of
  rules, and the ids and URLs of channels.
- Relative paths are relative to the config file's folder; `database: ":memory:"` keeps
  nothing between runs.
- Durations: `30s`, `15m`, `2h`, `1d`, or combined (`1h30m`); a plain number is seconds.
  Sizes: `512KB`, `10MB`, `1GiB` or a plain number of bytes (KB/MB/GB count in 1000s,
  KiB/MiB/GiB in 1024s).
- `${{VAR}}` anywhere in a value is replaced by the environment variable `VAR`,
  `${{VAR:-default}}` by `default` when `VAR` is unset or empty; `$${{` writes a literal `${{`.
  Keep secrets such as Apprise URLs in the environment: values that came from it never
  appear in logs, error messages or the database.
- A section left empty (`channels:` with every entry commented out) means its default.

Every problem is reported at once, in the order of the file, and nothing is written:

    $ presswatch check-config --config broken.yaml
    presswatch: broken.yaml has 6 problem(s):
      sources[0] (hrw).every: "5 minuts" is not a duration (use e.g. 30s, 15m, 2h, 1d)
      sources[1] (kcna).evrey: unknown key; did you mean "every"?
      sources[1] (kcna).follow: a site source needs follow: a regex matching its article links
      rules[0] (hrw-report).query: '"Human Rights Watch" AND (' is not a valid query: column 27: expected a term, got the end of the query
      rules[0] (hrw-report).channels[0]: "analyst" is not a channel; did you mean "analysts"?
      channels[0] (analysts).url: Apprise cannot parse this URL (scheme "notaservice://")

A path counts list entries from 0 and names each entry by its `id` as written in the file
(`rules[0] (hrw-report).query`), at any depth; an entry whose id is missing, invalid or filled
in from the environment is named by its index alone (`sources[2].every`).

What the keys do together: [sources](sources.md), [rules](rules.md),
[alerts and channels](alerts.md), [operations](operations.md), [scaling](scaling.md).

The tables below are written from the descriptions in `config/schema.py`: to change a key's
help, change it there and run `{COMMAND}` (tests/test_docs.py fails until the page matches).
"""

# The page explaining each section's keys together.
SECTION_PAGES = {
    "crawl": "sources.md#what-a-run-fetches",
    "delivery": "alerts.md#delivery-the-outbox-exactly-once",
    "log": "operations.md#logs",
    "health": "sources.md#source-health",
    "stories": "data-model.md#stories-not-copies",
    "monitor": "operations.md#monitoring-healthz-and-metrics",
    "retention": "operations.md#backups-retention-and-vacuum",
    "workers": "operations.md#remote-workers",
    "surges": "alerts.md#surges",
}

# (heading, key prefix, model, page explaining it) for each list of entries and its parts.
ENTRY_TABLES = (
    ("Sources", "sources[].", Source, "sources.md"),
    ("A source's fallback", "sources[].fallback.", Fallback, "sources.md#a-feed-that-is-gone-fallback"),
    ("Rules", "rules[].", Rule, "rules.md"),
    ("A rule's digest", "rules[].digest.", Digest, "alerts.md#digests"),
    ("A rule's surge", "rules[].surge.", RuleSurge, "alerts.md#surges"),
    ("Channels", "channels[].", Channel, "alerts.md"),
    ("A channel's URLs", "channels[].urls[].", ChannelUrl, "alerts.md#tags"),
)


def render_reference() -> str:
    """docs/configuration.md as the schema describes the configuration now."""
    parts = [INTRO, *_top_level(), *_sections()]
    for heading, prefix, model, page in ENTRY_TABLES:
        parts.append(_table(f"{heading} (`{prefix.rstrip('.')}`)", _doc(model), page, prefix, model))
    return "\n".join(parts)


def _top_level() -> Iterator[str]:
    plain = [name for name, info in Config.model_fields.items() if not _is_section(info)]
    rows = [_row(name, Config.model_fields[name]) for name in plain]
    yield _block("Top level", "Keys at the top of the file.", None, rows)


def _sections() -> Iterator[str]:
    for name, info in Config.model_fields.items():
        model = _section_model(info)
        if model is not None:
            yield _table(f"`{name}`", _doc(model), SECTION_PAGES.get(name), f"{name}.", model)


def _table(heading: str, about: str, page: str | None, prefix: str, model: type[BaseModel]) -> str:
    rows = [_row(prefix + name, info) for name, info in model.model_fields.items()]
    return _block(heading, about, page, rows)


def _block(heading: str, about: str, page: str | None, rows: list[str]) -> str:
    more = f" More in [{page.split('#')[0]}]({page})." if page else ""
    head = ["| key | default | meaning |", "|---|---|---|"]
    return "\n".join([f"## {heading}", "", about + more, "", *head, *rows, ""])


def _row(key: str, info: FieldInfo) -> str:
    description = " ".join((info.description or "").split()).replace("|", "\\|")
    return f"| `{key}` | {_default(info)} | {description} |"


def _default(info: FieldInfo) -> str:
    """The default as a config file writes it: `30s`, `10MB`, `[5, 20]`; or required, unset."""
    if info.is_required():
        return "required"
    if info.default_factory is default_user_agent:
        return "`presswatch/VERSION (+https://github.com/presswatch/presswatch)`"
    value = info.default if info.default is not PydanticUndefined else info.default_factory()
    if value is None:
        return "unset"
    annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return f"`{_yaml(TypeAdapter(annotation).dump_python(value, mode='json'))}`"


def _yaml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value else '""'
    return json.dumps(value, ensure_ascii=False)


def _doc(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").split()).replace("`", "")


def _section_model(info: FieldInfo) -> type[BaseModel] | None:
    annotation = info.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _is_section(info: FieldInfo) -> bool:
    return _section_model(info) is not None or getattr(info.annotation, "__origin__", None) is tuple


if __name__ == "__main__":
    sys.stdout.write(render_reference())

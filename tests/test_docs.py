"""The docs cannot drift: the configuration page is the schema rendered, every setting, table,
column and module is documented, every command and option shown exists, every config example
is a valid config, every link resolves."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import click
import pytest
import yaml

from presswatch.config import Config, ConfigError, default_config_text, load_config
from presswatch.config.reference import ENTRY_TABLES, render_reference
from presswatch.crawler.store.database import Store
from presswatch.scheduler.cli import main

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
CONFIGURATION = (DOCS / "configuration.md").read_text(encoding="utf-8")


def _text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def test_configuration_page_is_the_schema_rendered_now():
    assert CONFIGURATION == render_reference(), (
        "docs/configuration.md differs from the schema: run "
        "python -m presswatch.config.reference > docs/configuration.md")


def test_every_setting_is_in_the_configuration_page():
    for name, info in Config.model_fields.items():
        model = info.annotation
        if isinstance(model, type) and hasattr(model, "model_fields"):
            for key in model.model_fields:
                assert f"| `{name}.{key}` |" in CONFIGURATION, f"{name}.{key}"
        elif name not in {"sources", "rules", "channels"}:
            assert f"| `{name}` |" in CONFIGURATION, name
    for _, prefix, model, _ in ENTRY_TABLES:
        for key in model.model_fields:
            assert f"| `{prefix}{key}` |" in CONFIGURATION, f"{prefix}{key}"


def test_every_key_has_a_meaning():
    rows = [row for row in CONFIGURATION.splitlines() if row.startswith("| `")]
    assert len(rows) > 80
    for row in rows:
        meaning = row.rstrip(" |").rsplit(" | ", 1)[1]
        assert len(meaning) > 10, f"no description in the schema for {row.split('`')[1]}"


def test_a_described_key_shows_its_schema_description():
    # The page is built from the descriptions, not beside them: a changed description shows.
    described = Config.model_fields["contact"].description
    assert f"| `contact` | `\"\"` | {described} |" in CONFIGURATION


def _shown_commands(text: str) -> list[str]:
    """`presswatch ...` as code shows it: inline code spans and lines of code blocks."""
    spans = re.findall(r"`([^`\n]+)`", text)
    blocks = re.findall(r"^(?: {4}|\$ ).*$", text, re.M)
    fenced = re.findall(r"^```(?:sh|bash|console)?\n(.*?)^```", text, re.M | re.S)
    lines = [*spans, *blocks, *(line for block in fenced for line in block.splitlines())]
    return [found for line in lines for found in re.findall(r"presswatch( [a-z][^`|;&#]*)", line)]


def _resolve(words: list[str]) -> tuple[click.Command, list[str]]:
    command, rest = main, words
    while isinstance(command, click.Group) and rest and rest[0] in command.commands:
        command, rest = command.commands[rest[0]], rest[1:]
    return command, rest


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_command_and_option_shown_exists(page):
    for shown in _shown_commands(_text(page)):
        words = [word.rstrip(",.:)") for word in shown.split()]
        command, rest = _resolve(words)
        assert command is not main, f"{page.name}: `presswatch{shown}`: no such command"
        if isinstance(command, click.Group) and rest and re.fullmatch(r"[a-z]+", rest[0]):
            assert rest[0] in command.commands, f"{page.name}: `presswatch{shown}`: no {rest[0]!r}"
        options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        for word in rest:
            option = word.split("=")[0]
            if option.startswith("--"):
                assert option in options | {"--help"}, f"{page.name}: `presswatch{shown}`: no {option}"


def test_every_command_is_in_the_commands_page():
    names = {found.split()[0] for found in _shown_commands(_text(DOCS / "commands.md"))}
    assert set(main.commands) <= names, sorted(set(main.commands) - names)


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = heading.strip().lower()
    text = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LN")
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    return {_slug(heading) for heading in re.findall(r"^#+ (.+)$", _text(page), re.M)}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_link_between_pages_resolves(page):
    for target in re.findall(r"\]\(([^)\s]+)\)", _text(page)):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name} links to {target}: no such file"
        if anchor and linked.suffix == ".md":
            assert anchor in _anchors(linked), f"{page.name} links to {target}: no such heading"


def test_data_model_names_every_table_and_the_columns_of_articles_and_sources(tmp_path):
    page = _text(DOCS / "data-model.md")
    store = Store(str(tmp_path / "fresh.db"))
    try:
        tables = [name for name in store.db.table_names() if not name.startswith("articles_fts_")]
        for table in tables:
            assert f"`{table}`" in page, table
        for table in ("articles", "sources"):
            for column in store.db[table].columns:
                assert f"`{column.name}`" in page, f"{table}.{column.name}"
    finally:
        store.close()


def test_architecture_maps_every_module_and_only_modules_that_exist():
    page = _text(DOCS / "architecture.md")
    modules = [path.relative_to(ROOT).as_posix() for folder in ("config", "crawler", "scheduler")
               for path in (ROOT / folder).rglob("*.py") if path.name not in {"__init__.py", "__main__.py"}
               and path.parent.name != "spiders" and path.parent.name != "downloadermiddlewares"]
    for module in modules:
        assert f"`{module}`" in page, f"docs/architecture.md does not map {module}"
    rows = [row.split("|") for row in page.splitlines() if row.startswith("| ") and "`" in row]
    mapped = [row[3].strip().strip("`") for row in rows if len(row) > 4 and "/" in row[3]]
    assert mapped
    for path in mapped:
        assert (ROOT / path).exists(), f"docs/architecture.md names {path}, which does not exist"


class _AnyEnvironment(dict):
    """Every ${VAR} an example names is set, to a URL any channel accepts."""

    def __missing__(self, name: str) -> str:
        return "json://127.0.0.1:9/hook"

    def __contains__(self, name: object) -> bool:
        return True

    def get(self, name, default=None):
        return self[name]


def _config_examples() -> list[tuple[str, dict]]:
    found = []
    for page in PAGES:
        for block in re.findall(r"^```yaml\n(.*?)^```", _text(page), re.M | re.S):
            data = yaml.safe_load(block)
            if isinstance(data, dict) and set(data) <= set(Config.model_fields):
                found.append((page.name, data))
    return found


def _beside_the_default(example: dict, readme: dict) -> dict:
    """The example in a whole config: the shipped default's entries and the README's channels
    complete the lists, so a rule may name the default's sources and the README's channel."""
    base = {**yaml.safe_load(default_config_text()), "channels": readme["channels"]}
    merged = {**base, **example}
    for key in ("sources", "rules", "channels"):
        own = example.get(key) or []
        ids = {entry.get("id") for entry in own}
        merged[key] = [*own, *(entry for entry in base.get(key) or [] if entry.get("id") not in ids)]
    return merged


def test_every_config_example_in_the_docs_is_a_valid_config(tmp_path):
    examples = _config_examples()
    readme = next(data for name, data in examples if name == "README.md")
    assert len(examples) >= 6
    for number, (name, example) in enumerate(examples):
        path = tmp_path / f"example-{number}.yaml"
        path.write_text(yaml.safe_dump(_beside_the_default(example, readme), allow_unicode=True))
        try:
            load_config(path, _AnyEnvironment())
        except ConfigError as error:
            pytest.fail(f"{name}: a config example is refused: {error}")

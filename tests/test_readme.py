"""The README is the truth: its commands exist, its test command is CI's, every setting is in it."""

from __future__ import annotations

import re
from pathlib import Path

from presswatch.config import Channel, Config, Crawl, Delivery, Health, Log, Rule, Source, Stories
from presswatch.config.schema import Monitor, Retention, Workers
from presswatch.scheduler.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    command = re.search(r'^TEST_COMMAND="(.+)"$', ci, re.M).group(1)
    assert f"    {command}\n" in README


def test_every_command_the_readme_shows_exists():
    shown = set(re.findall(r"presswatch ([a-z][a-z-]+)", README))
    assert shown, "the README shows no command"
    missing = {name for name in shown if name not in main.commands}
    assert not missing, f"README shows commands the CLI lacks: {sorted(missing)}"
    undocumented = set(main.commands) - shown
    assert not undocumented, f"commands missing from the README: {sorted(undocumented)}"


def test_every_setting_is_documented():
    sections = {"crawl": Crawl, "delivery": Delivery, "log": Log, "health": Health, "stories": Stories,
                "monitor": Monitor, "retention": Retention, "workers": Workers}
    for name in Config.model_fields:
        if name in sections or name in {"sources", "rules", "channels"}:
            continue
        assert f"`{name}`" in README, name
    for section, model in sections.items():
        for name in model.model_fields:
            assert f"`{section}.{name}`" in README, f"{section}.{name}"
    for model in (Source, Rule, Channel):
        for name in model.model_fields:
            assert f"`{name}`" in README, f"{model.__name__}.{name}"

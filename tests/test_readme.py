"""The README is the truth: its commands exist, its test command is CI's, it leads to every docs page."""

from __future__ import annotations

import re
from pathlib import Path

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


def test_the_readme_is_short_and_leads_to_the_docs():
    # Reference lives in docs/ (tests/test_docs.py keeps it true); the README stays a first read.
    assert len(README.splitlines()) < 250
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"](docs/{page.name})" in README, f"the README does not link docs/{page.name}"

"""The base of every error presswatch raises on purpose, and the config's own.

Each layer keeps its errors under this one base: `ConfigError` here,
`presswatch.crawler.errors` for fetching and the store; the scheduler raises these or
click's. Each also inherits the built-in it resembles, so callers may catch either.
Only the CLI turns them into exit codes and sentences.
"""


class PresswatchError(Exception):
    """Base of every error presswatch raises on purpose."""


class ConfigError(PresswatchError, ValueError):
    """The configuration is invalid; ``problems`` lists each one with its path."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


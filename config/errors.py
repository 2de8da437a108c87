"""The exceptions of presswatch: one base, one class per layer's failures.

Each also inherits the built-in it resembles, so callers may catch either. Only the
CLI turns them into exit codes and sentences.
"""


class PresswatchError(Exception):
    """Base of every error presswatch raises on purpose."""


class ConfigError(PresswatchError, ValueError):
    """The configuration is invalid; ``problems`` lists each one with its path."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class FetchError(PresswatchError, OSError):
    """A source could not be fetched or parsed."""


class StoreError(PresswatchError, RuntimeError):
    """The database refused an operation or is in an unexpected state."""


class AlertError(PresswatchError, RuntimeError):
    """A notification could not be built or sent."""

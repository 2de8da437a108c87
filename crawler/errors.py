"""The crawler's errors: a page or feed that holds nothing to read, a store that refuses.

Both sit under `PresswatchError` (config's, the bottom layer). A source's failure is a value
recorded on the source, not a crash: the writer's run (`stories.run.SourceIngest`)
catches these and records the reason.
"""

from presswatch.config.errors import PresswatchError


class FetchError(PresswatchError, OSError):
    """A source could not be fetched or parsed."""


class StoreError(PresswatchError, RuntimeError):
    """The database refused an operation or is in an unexpected state."""

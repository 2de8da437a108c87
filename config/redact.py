"""Redacting secrets: the values the config filled in from the environment.

Apprise URLs with tokens, passwords, API keys in a source URL: wherever presswatch writes
text (logs, the database, error messages), these are replaced by `***`.
"""

from __future__ import annotations

from collections.abc import Iterable

REDACTED = "***"


class Redactor:
    """Replaces each secret in a text; the empty Redactor changes nothing."""

    def __init__(self, secrets: Iterable[str] = ()):
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

"""Logging for the daemon: one line per event, as text or JSON, with secrets redacted.

Secrets are the values the config filled in from the environment (Apprise URLs with
tokens, passwords): they are replaced by `***` in every line, whichever library wrote it.

presswatch's own messages start with their facts as key=value pairs (`source=hrw run ok
new=2 seen=5 errors=0 duration=0.4s`), free text after the first ": ". The text form
prints them as they are, a message's line breaks escaped (a feed's title cannot forge a
line); the JSON form also carries those pairs as fields of the object: whole numbers as
numbers, durations like 0.4s as seconds.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

from presswatch.config.redact import Redactor

# Libraries that chat at INFO; their warnings still come through.
QUIET_LOGGERS = ("scrapy", "twisted", "apprise", "trafilatura", "htmldate", "courlan",
                 "apscheduler", "filelock", "asyncio", "readability", "justext")


# A key=value pair in a message's head; the keys of the JSON object's own fields are not taken.
FIELD = re.compile(r"(?:^|\s)([a-z_][a-z0-9_]*)=(\S+)")
RESERVED = frozenset({"time", "level", "logger", "message", "error"})
INTEGER = re.compile(r"-?\d+")
SECONDS = re.compile(r"(\d+(?:\.\d+)?)s")


def message_fields(message: str) -> dict[str, int | float | str]:
    """The key=value pairs before a message's first ": " (after it comes free text)."""
    fields: dict[str, int | float | str] = {}
    for key, value in FIELD.findall(message.split(": ", 1)[0]):
        if key not in RESERVED and key not in fields:
            fields[key] = _typed(value)
    return fields


def _typed(value: str) -> int | float | str:
    if INTEGER.fullmatch(value):
        return int(value)
    if seconds := SECONDS.fullmatch(value):
        return float(seconds.group(1))
    return value


def one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


class TextFormatter(logging.Formatter):
    def __init__(self, redact: Redactor):
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self.redact = redact

    def formatTime(self, record, datefmt=None):  # noqa: N802 (logging's name)
        return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def formatMessage(self, record):  # noqa: N802 (logging's name)
        # The event's own line; a traceback, when there is one, follows on its lines.
        return one_line(super().formatMessage(record))

    def format(self, record):
        return self.redact(super().format(record))


class JsonFormatter(TextFormatter):
    def format(self, record):
        message = self.redact(record.getMessage())
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
            **message_fields(message),
        }
        if record.exc_info:
            entry["error"] = self.redact(self.formatException(record.exc_info))
        # Redacted before encoding too: JSON escapes a secret's quotes or backslashes.
        return self.redact(json.dumps(entry, ensure_ascii=False))


def setup_logging(level: str = "info", fmt: str = "text", secrets: Iterable[str] = (),
                  stream=None) -> Redactor:
    """Route every logger to one handler on stderr; returns the redactor for other uses."""
    redact = Redactor(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(redact) if fmt == "json" else TextFormatter(redact))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    quiet = max(logging.WARNING, root.level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
    # Scrapy's "Gave up retrying" repeats what the source's own failure line says.
    logging.getLogger("scrapy.downloadermiddlewares.retry").setLevel(logging.CRITICAL)
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.ERROR)
    return redact

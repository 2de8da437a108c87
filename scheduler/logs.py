"""Logging for the daemon: one line per event, as text or JSON, with secrets redacted.

Secrets are the values the config filled in from the environment (Apprise URLs with
tokens, passwords): they are replaced by `***` in every line, whichever library wrote it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

from presswatch.config.redact import Redactor

# Libraries that chat at INFO; their warnings still come through.
QUIET_LOGGERS = ("scrapy", "twisted", "apprise", "trafilatura", "htmldate", "courlan",
                 "apscheduler", "filelock", "asyncio", "readability", "justext")


class TextFormatter(logging.Formatter):
    def __init__(self, redact: Redactor):
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self.redact = redact

    def formatTime(self, record, datefmt=None):  # noqa: N802 (logging's name)
        return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def format(self, record):
        return self.redact(super().format(record))


class JsonFormatter(TextFormatter):
    def format(self, record):
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
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

"""Logging setup: human or JSON lines, with every known secret masked."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Final

import orjson

MASK: Final = "***"


class RedactingFormatter(logging.Formatter):
    """Masks secrets in the final line, whichever logger (Apprise, urllib3) wrote it."""

    def __init__(self, secrets: Iterable[str], json: bool = False) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        # Longest first, so a URL is masked whole before a token inside it.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)
        self._json = json

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def format(self, record: logging.LogRecord) -> str:
        if not self._json:
            return self.redact(super().format(record))
        line = {
            "time": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return self.redact(orjson.dumps(line).decode())


def setup(secrets: Iterable[str], *, json: bool = False, verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(secrets, json=json))
    handler.addFilter(_quiet_libraries)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in ("urllib3", "trio-websocket", "trio_websocket"):
        logging.getLogger(name).setLevel(logging.WARNING)


_LIBRARIES: Final = ("apprise", "urllib3", "trio-websocket", "trio_websocket")


def _quiet_libraries(record: logging.LogRecord) -> bool:
    """Apprise and urllib3 log request details (URLs carry bot tokens) at INFO and
    DEBUG; Apprise's must still be created (a send reads its own), but only
    warnings reach the console, and the formatter redacts those too."""
    return record.levelno >= logging.WARNING or not record.name.startswith(_LIBRARIES)

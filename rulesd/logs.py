"""Logging setup: human or JSON lines, with every known secret masked."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final

from pythonjsonlogger.json import JsonFormatter

from rulesd.inert import inert
from rulesd.redact import Redactor

_UNSAFE: Final = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f"
                            "\u202a-\u202e\u2066-\u2069]")


class _JsonLines(JsonFormatter):
    """One JSON object a line (python-json-logger): `time` (ISO 8601, UTC), `level`,
    `logger`, `message`, then the record's structured fields (`source`, `stream`,
    `rule`, `notifier`, `alert_id`, `event`, given with `extra=`), `exception`."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s %(message)s",
                         rename_fields={"levelname": "level", "name": "logger",
                                        "exc_info": "exception"})

    def add_fields(self, log_record: dict[str, Any], record: logging.LogRecord,
                   message_dict: dict[str, Any]) -> None:
        log_record["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(
            timespec="milliseconds").replace("+00:00", "Z")
        super().add_fields(log_record, record, message_dict)
        log_record["level"] = str(log_record.get("level", "")).lower()


class RedactingFormatter(logging.Formatter):
    """Masks secrets in the final line, whichever logger (Apprise, urllib3) wrote it."""

    def __init__(self, secrets: Iterable[str], json: bool = False) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        self.redact = Redactor(secrets)
        self._json = json
        self._lines = _JsonLines()

    def format(self, record: logging.LogRecord) -> str:
        # One record, one line: text a vendor sent (an error message, a field) must
        # not forge a log line or drive the terminal. Tracebacks stay as they are.
        message = record.getMessage()
        if _UNSAFE.search(message):
            record = logging.makeLogRecord({**record.__dict__, "msg": inert(message),
                                            "args": None})
        if not self._json:
            return self.redact(super().format(record))
        return self.redact(self._lines.format(record))


LEVELS: Final = ("debug", "info", "warning", "error")
_HANDLER: Final = "rulesd"


def setup(secrets: Iterable[str], *, json: bool = False, verbose: bool = False,
          level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(secrets, json=json))
    handler.addFilter(_quiet_libraries)
    handler.set_name(_HANDLER)
    root = logging.getLogger()
    for old in list(root.handlers):  # ours from before; others (a test's) are kept
        if old.get_name() == _HANDLER:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else getattr(logging, level.upper()))
    # httpx logs every request's URL at INFO (a bot's token is in its URLs).
    for name in ("urllib3", "trio-websocket", "trio_websocket", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def learn(secrets: Iterable[str]) -> None:
    """Mask these in every later line too (a reloaded file's new keys)."""
    for handler in logging.getLogger().handlers:
        if handler.get_name() == _HANDLER and isinstance(handler.formatter, RedactingFormatter):
            handler.formatter.redact.learn(secrets)


_LIBRARIES: Final = ("apprise", "urllib3", "trio-websocket", "trio_websocket")


def _quiet_libraries(record: logging.LogRecord) -> bool:
    """Apprise and urllib3 log request details (URLs carry bot tokens) at INFO and
    DEBUG: only their warnings reach the console, and the formatter redacts those
    too."""
    return record.levelno >= logging.WARNING or not record.name.startswith(_LIBRARIES)

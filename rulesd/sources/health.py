"""Per-connection health and counters, logged once per kind of fault."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import attrs
import orjson

log = logging.getLogger("rulesd.sources")


class Malformed(Exception):
    """A frame or item that cannot be used; `kind` names the fault for counting."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


def json_object(text: str | bytes) -> dict[str, Any]:
    """A frame's JSON object; raise Malformed for anything else."""
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise Malformed("invalid_json", str(exc)) from exc
    if not isinstance(message, dict):
        raise Malformed("unknown_shape", f"a JSON {type(message).__name__} is not a message")
    return message


@attrs.define
class SourceHealth:
    """What one supervised connection has been doing; read by tests and /healthz."""

    name: str
    state: str = "starting"  # starting | up | down | fatal
    connects: int = 0
    failures: int = 0
    frames: int = 0
    events: int = 0
    last_error: str | None = None
    faults: Counter[str] = attrs.field(factory=Counter)

    def fault(self, kind: str, detail: str) -> None:
        """Count a malformed frame; log the first of each kind (the stream goes on)."""
        self.faults[kind] += 1
        if self.faults[kind] == 1:
            log.warning("%s: skipped a malformed frame (%s): %s; further %s faults are "
                        "counted, not logged", self.name, kind, detail, kind)

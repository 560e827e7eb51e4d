"""Per-connection health and counters, logged once per kind of fault."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from typing import Any, Final

import attrs
import orjson

from rulesd.events import Event

log = logging.getLogger("rulesd.sources")


class Malformed(Exception):
    """A frame or item that cannot be used; `kind` names the fault for counting."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


# How far ahead of our clock a vendor's time may be (clock drift); further is a fault.
MAX_AHEAD_S: Final = 300.0
_LONE_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _repaired(value: Any) -> Any:
    """`value` with lone UTF-16 surrogates in its strings replaced by U+FFFD."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_repaired(v) for v in value]
    if isinstance(value, dict):
        return {_repaired(k): _repaired(v) for k, v in value.items()}
    return value


def loads(text: str | bytes) -> Any:
    """A frame's JSON; raise Malformed. A lone surrogate escape (`"gm \\ud83d"`, what
    JavaScript writes for text cut mid-emoji) costs a replacement character, not the
    frame: orjson refuses it, so such a frame is read again by the standard library."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            raise Malformed("invalid_json", str(exc)) from exc
        return _repaired(value)


def json_object(text: str | bytes) -> dict[str, Any]:
    """A frame's JSON object; raise Malformed for anything else."""
    message = loads(text)
    if not isinstance(message, dict):
        raise Malformed("unknown_shape", f"a JSON {type(message).__name__} is not a message")
    return message


@attrs.define
class SourceHealth:
    """What one supervised connection has been doing: for /metrics, the status API and
    page, and tests."""

    name: str
    state: str = "starting"  # starting | up | down | fatal
    connects: int = 0
    failures: int = 0
    frames: int = 0
    size: int = 0  # characters of text frames and bytes of binary ones received
    last_frame: float | None = None  # when the last frame came (epoch seconds)
    events: int = 0
    last_error: str | None = None
    faults: Counter[str] = attrs.field(factory=Counter)
    # Asked when needed, not held open (a REST API): not what readiness waits for.
    on_demand: bool = False

    @property
    def source(self) -> str:
        """The vendor this connection belongs to (`dexscreener token-boosts/latest`)."""
        return self.name.split(" ", 1)[0]

    def saw(self, frame: str | bytes, received: float) -> None:
        self.frames += 1
        self.size += len(frame)
        self.last_frame = received

    def timely(self, event: Event) -> Event:
        """`event` with its vendor time taken as the receive time when it lies further
        ahead than clocks drift (counted): one tick stamped years ahead must not make
        every later observation of its series look out of order."""
        if event.ts - event.received <= MAX_AHEAD_S:
            return event
        self.fault("time_ahead", f"a {event.kind} stamped {event.ts - event.received:.0f}s "
                                 "ahead of its receipt; taken at its receipt")
        return attrs.evolve(event, ts=event.received)

    def fault(self, kind: str, detail: str) -> None:
        """Count a malformed frame; log the first of each kind (the stream goes on)."""
        self.faults[kind] += 1
        if self.faults[kind] == 1:
            log.warning("%s: skipped a malformed frame (%s): %s; further %s faults are "
                        "counted, not logged", self.name, kind, detail, kind)

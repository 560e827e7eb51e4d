"""A tap on raw frames, for `rulesd record`: every source reports what it receives.

Set in a context variable by the recorder before the sources start (trio tasks
inherit it); the sources call `tap_frame`/`tap_connected`, which do nothing when
no recorder listens.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

# (source, stream, frame or None for "connected")
Tap = Callable[[str, str, str | bytes | None], None]
TAP: ContextVar[Tap | None] = ContextVar("rulesd_tap", default=None)


def tap_frame(source: str, stream: str, frame: str | bytes) -> None:
    recorder = TAP.get()
    if recorder is not None:
        recorder(source, stream, frame)


def tap_connected(source: str, stream: str) -> None:
    recorder = TAP.get()
    if recorder is not None:
        recorder(source, stream, None)

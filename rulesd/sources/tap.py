"""A tap on raw frames, for `rulesd record`: every source reports what it receives.

A source's `run` takes it as `tap=` and calls it with each frame as received (and
with None when a connection opens); the daemon passes `no_tap`.
"""

from __future__ import annotations

from collections.abc import Callable

# (source, stream, frame or None for "connected")
Tap = Callable[[str, str, str | bytes | None], None]


def no_tap(source: str, stream: str, frame: str | bytes | None) -> None:
    """Nobody records."""

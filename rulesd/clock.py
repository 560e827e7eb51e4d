"""The one injected wall clock: epoch seconds, from the system or from trio's clock."""

from __future__ import annotations

import time
from typing import Protocol

import trio


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock epoch seconds."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class TrioClock:
    """Epoch seconds that advance with trio's clock, so MockClock drives them in tests."""

    def __init__(self, epoch: float = 1_700_000_000.0) -> None:
        self._epoch = epoch
        self._start = trio.current_time()

    def now(self) -> float:
        return self._epoch + (trio.current_time() - self._start)

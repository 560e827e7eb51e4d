"""One request budget per host: `count` requests in any `window` seconds, never more.

Requests take their turn in order (a FIFO lock); each waits until it is both
`window / count` after the previous one (no bursts) and `window` after the
request `count` before it (never more than `count` in any window). A 429 pauses
the whole host for as long as it asked (`Retry-After`) or an exponential
back-off; everything behind it waits, in order. Time is trio's, so the tests run
it on MockClock.
"""

from __future__ import annotations

import collections
from typing import Final

import attrs
import trio

# Back-off after a 429 that names no wait: doubles per 429 in a row, up to the cap.
FIRST_BACKOFF_S: Final = 2.0
MAX_BACKOFF_S: Final = 120.0


@attrs.define
class BudgetStats:
    requests: int = 0
    throttled: int = 0  # 429 answers
    waited_s: float = 0.0  # time requests spent waiting for their turn


class Budget:
    def __init__(self, count: int, window_s: float) -> None:
        if count < 1 or window_s <= 0:
            raise ValueError("a budget needs a positive count and window")
        self.count = count
        self.window_s = window_s
        self.stats = BudgetStats()
        self._spacing = window_s / count
        self._recent: collections.deque[float] = collections.deque(maxlen=count)
        self._lock = trio.StrictFIFOLock()
        self._paused_until = 0.0
        self._backoff = FIRST_BACKOFF_S

    def resize(self, count: int, window_s: float) -> None:
        self.count, self.window_s = count, window_s
        self._spacing = window_s / count
        self._recent = collections.deque(self._recent, maxlen=count)

    @property
    def per_s(self) -> float:
        return self.count / self.window_s

    async def turn(self) -> None:
        """Wait for this request's turn; it counts as sent when this returns."""
        asked = trio.current_time()
        async with self._lock:
            while True:
                due = self._due()
                if due <= trio.current_time():
                    break
                await trio.sleep_until(due)  # a 429 meanwhile may move `due` on
            now = trio.current_time()
            self._recent.append(now)
            self.stats.requests += 1
            self.stats.waited_s += now - asked

    def _due(self) -> float:
        due = self._paused_until
        if self._recent:
            due = max(due, self._recent[-1] + self._spacing)
            if len(self._recent) == self.count:
                due = max(due, self._recent[0] + self.window_s)
        return due

    def throttled(self, retry_after_s: float | None) -> float:
        """The host answered 429: pause every request for the wait it asked (or the
        back-off); returns the pause."""
        self.stats.throttled += 1
        if retry_after_s is None or retry_after_s <= 0:
            pause, self._backoff = self._backoff, min(self._backoff * 2, MAX_BACKOFF_S)
        else:
            pause = min(retry_after_s, MAX_BACKOFF_S * 5)
        self._paused_until = max(self._paused_until, trio.current_time() + pause)
        return pause

    def answered(self) -> None:
        """A request was answered (not 429): the back-off starts over."""
        self._backoff = FIRST_BACKOFF_S

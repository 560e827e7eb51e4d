"""Compact time series: parallel arrays of times and values, trimmed to what rules need.

Each observation costs 16 bytes (two doubles). A series keeps the longest
window any rule needs and the one point before it (the reference of a change
over that window); older points are dropped as new ones arrive, a few at a
time; idle series are dropped by `prune`.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from typing import Final

Point = tuple[float, float]

# Trim the front of an array only once this many points are stale, so trimming
# (a copy) is amortized over several appends.
_TRIM_BATCH: Final = 8


class Series:
    """One series' observations in time order; `born` is its first observation's time."""

    __slots__ = ("born", "times", "touched", "values")

    def __init__(self, born: float) -> None:
        self.born = born
        self.times = array("d")
        self.values = array("d")
        self.touched = 0.0  # receive time of the newest observation, for idle eviction

    def add(self, t: float, value: float, keep_s: float) -> bool:
        """Record an observation; whether it is the series' newest point now. Points
        before the last one at or before `t - keep_s` are no longer needed.

        Rule for vendor timestamps: an observation older than the newest is
        dropped (out of order); one at the newest's time replaces its value.
        """
        if self.times and t < self.times[-1]:
            return False
        if self.times and t == self.times[-1]:
            self.values[-1] = value
        else:
            self.times.append(t)
            self.values.append(value)
        # Keep the reference (the last point at or before t - keep_s) and the previous
        # observation whatever its age (`crosses` compares with it).
        stale = min(bisect_right(self.times, t - keep_s) - 1, len(self.times) - 2)
        if stale >= _TRIM_BATCH or (stale > 0 and stale == len(self.times) - 2):
            del self.times[:stale]
            del self.values[:stale]
        return True

    def last(self) -> Point | None:
        return (self.times[-1], self.values[-1]) if self.times else None

    def previous(self) -> Point | None:
        """The observation before the newest, if any."""
        return (self.times[-2], self.values[-2]) if len(self.times) > 1 else None

    def at_or_before(self, t: float) -> Point | None:
        i = bisect_right(self.times, t)
        return (self.times[i - 1], self.values[i - 1]) if i else None

    def first(self) -> Point | None:
        return (self.times[0], self.values[0]) if self.times else None

    def reference(self, now: float, window_s: float) -> Point | None:
        """The value one window ago: the last observation at or before now - window;
        the first observation while the series is younger than the window; None
        across a gap (the reference would be older than 2 x window)."""
        if self.born > now - window_s:
            return self.first()
        point = self.at_or_before(now - window_s)
        if point is None or point[0] < now - 2 * window_s:
            return None
        return point


class TimeLog:
    """Times of events (one log per token and kind), for counts within a window."""

    __slots__ = ("times",)

    def __init__(self) -> None:
        self.times = array("d")

    def add(self, t: float, keep_s: float) -> None:
        if self.times and t < self.times[-1]:
            t = self.times[-1]  # the receive clock stepped back: keep the log sorted
        self.times.append(t)
        stale = bisect_left(self.times, t - keep_s)
        if stale >= _TRIM_BATCH:
            del self.times[:stale]

    def count_since(self, t: float) -> int:
        return len(self.times) - bisect_left(self.times, t)

    def newest(self) -> float:
        return self.times[-1] if self.times else -math.inf

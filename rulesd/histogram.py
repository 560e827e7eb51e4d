"""A fixed-bucket histogram of seconds, kept as plain counts (exported by /metrics)."""

from __future__ import annotations

import bisect
from typing import Final

import attrs

# Seconds: from a quick local send to a platform that made rulesd wait minutes.
BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                  60.0, 300.0)


@attrs.define
class Histogram:
    buckets: tuple[float, ...] = BUCKETS
    counts: list[int] = attrs.field(init=False)  # one per bucket, then +Inf
    total: float = 0.0
    count: int = 0

    def __attrs_post_init__(self) -> None:
        self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self.total += seconds
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """(upper bound, observations at or below it), as Prometheus lists them."""
        out, running = [], 0
        for bound, n in zip([*map(str, self.buckets), "+Inf"], self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out

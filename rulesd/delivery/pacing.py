"""Per-target rate limits: a token bucket on trio's clock (rates: platforms.TRAITS)."""

from __future__ import annotations

import math
from typing import Final

import attrs
import trio

# How many messages may go out back to back before the rate applies.
_BURST_S: Final = 3.0


@attrs.define
class TokenBucket:
    """`rate` tokens a second, at most `capacity` saved up."""

    rate: float
    capacity: float = 0.0
    tokens: float = attrs.field(init=False)
    _stamp: float | None = attrs.field(init=False, default=None)  # set on first use

    def __attrs_post_init__(self) -> None:
        if not self.capacity:  # an unlimited rate (the console) never waits
            self.capacity = math.inf if math.isinf(self.rate) else \
                max(1.0, math.floor(self.rate * _BURST_S))
        self.tokens = self.capacity

    def _refill(self) -> None:
        now = trio.current_time()
        if self._stamp is not None:
            self.tokens = min(self.capacity, self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def available(self) -> float:
        self._refill()
        return self.tokens

    async def take(self) -> None:
        """Wait for a token and spend it."""
        self._refill()
        if self.tokens < 1:
            await trio.sleep((1 - self.tokens) / self.rate)
            self._refill()
        self.tokens -= 1

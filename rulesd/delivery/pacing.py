"""Per-notifier rate limits: a token bucket on trio's clock, defaults by Apprise scheme."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

import attrs
import trio

# Messages per second the platforms accept (DESIGN §5): Telegram ~1/s per chat
# and 20/min in groups (we assume a group: the stricter), Discord webhooks
# ~30/min, Slack ~1/s. Anything else (webhooks, json://, e-mail, ...) has no
# documented limit: 5/s keeps a burst from hammering it.
SCHEME_RATES: Final[dict[str, float]] = {
    "tgram": 20 / 60, "discord": 30 / 60, "slack": 1.0,
}
DEFAULT_RATE: Final = 5.0
# How many messages may go out back to back before the rate applies.
_BURST_S: Final = 3.0


def default_rate(urls: Iterable[str]) -> float:
    """The strictest platform rate among a notifier's URLs."""
    rates = [SCHEME_RATES.get(urlsplit(u).scheme, DEFAULT_RATE) for u in urls]
    return min(rates, default=DEFAULT_RATE)


@attrs.define
class TokenBucket:
    """`rate` tokens a second, at most `capacity` saved up."""

    rate: float
    capacity: float = 0.0
    tokens: float = attrs.field(init=False)
    _stamp: float | None = attrs.field(init=False, default=None)  # set on first use

    def __attrs_post_init__(self) -> None:
        if not self.capacity:
            self.capacity = max(1.0, math.floor(self.rate * _BURST_S))
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

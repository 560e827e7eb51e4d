"""Per-notifier rate limits: a token bucket on trio's clock, defaults by Apprise scheme."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

import attrs
import trio

_RATE: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d*)\s*(s|sec|m|min|h|hour)\s*$")
_UNIT_S: Final = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hour": 3600.0}

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


def parse_rate(text: str) -> float:
    """Messages per second in "20/min", "1/s", "2 / 10s"; raise ValueError."""
    match = _RATE.match(text)
    if not match:
        raise ValueError(f"expected a rate like 1/s or 20/min, got {text!r}")
    count, per, unit = float(match.group(1)), match.group(2), match.group(3)
    seconds = (float(per) if per else 1.0) * _UNIT_S[unit]
    if count <= 0 or seconds <= 0:
        raise ValueError(f"a rate must be positive, got {text!r}")
    return count / seconds


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

"""Durations as users write them (`30s`, `10m`, `1h30m`, `2d`, or plain seconds),
times, and rates (`20/min`)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Final, NewType

# Seconds, parsed from what users write (a distinct type for the config converter).
Duration = NewType("Duration", float)

_PART: Final = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_S: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> float:
    """Seconds in `value`; raise ValueError with a readable reason."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30s, 10m or 1h, got {value!r}")
    if isinstance(value, int | float):
        seconds = _bounded(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        parts = _PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"expected a duration like 30s, 10m or 1h, got {value!r}")
        seconds = _bounded(sum(float(n) * _UNIT_S[u] for n, u in parts))
    else:
        raise ValueError(f"expected a duration like 30s, 10m or 1h, got {value!r}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    return seconds


# Longer than any window, cooldown or timeout makes sense for (and than trio sleeps).
MAX_DURATION_S: Final = 10 * 365 * 86400.0


def _bounded(value: float) -> float:
    try:
        seconds = float(value)
    except OverflowError:
        seconds = math.inf
    if math.isnan(seconds) or abs(seconds) > MAX_DURATION_S:
        raise ValueError("a duration must be a number of seconds up to 10 years, got "
                         f"{str(value)[:40]}")
    return seconds


def format_duration(seconds: float) -> str:
    """A short human form: 90 → `1m30s`."""
    if 0 < seconds < 1:
        return f"{seconds * 1000:g}ms"
    out, rest = [], round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out) or "0s"


def parse_time(text: str) -> float:
    """Epoch seconds, or an ISO 8601 time (UTC when it names no zone); raise ValueError."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"expected epoch seconds or an ISO 8601 time such as "
                         f"2025-11-21T10:00:00Z, got {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


_RATE: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d*)\s*(s|sec|m|min|h|hour)\s*$")
_RATE_UNIT_S: Final = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hour": 3600.0}


def parse_rate(text: str) -> float:
    """Messages per second in "20/min", "1/s", "2 / 10s"; raise ValueError."""
    count, seconds = parse_rate_window(text)
    return count / seconds


def parse_rate_window(text: str) -> tuple[float, float]:
    """A rate as written: (count, seconds) of "300/min" is (300, 60); raise ValueError."""
    match = _RATE.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"expected a rate like 1/s or 20/min, got {text!r}")
    count, per, unit = float(match.group(1)), match.group(2), match.group(3)
    seconds = (float(per) if per else 1.0) * _RATE_UNIT_S[unit]
    if count <= 0 or seconds <= 0:
        raise ValueError(f"a rate must be positive, got {text!r}")
    return count, seconds

"""Why a condition over time held, typed per condition and written once: the values an
alert carries (`why.change.pct` in a template, `why` in the status API), its line in the
default message (`why_text`), and the sample `rulesd check` renders templates against."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

import attrs


class Reason(Protocol):
    name: ClassVar[str]

    def text(self) -> str:
        """One line of the default message."""
        ...

    def values(self) -> dict[str, Any]:
        """What templates and the API see under `why.<name>`."""
        ...


@attrs.frozen
class Change:
    name: ClassVar[str] = "change"
    of: str
    window: str  # as written: 5m
    before: float  # the reference value, one window ago
    before_ts: float
    now: float
    delta: float
    pct: float | None  # None: from zero

    def text(self) -> str:
        amount = f"{self.pct:+.2f}%" if self.pct is not None else f"{self.delta:+g}"
        return f"{self.of} {amount} in {self.window}: {self.before:,.8g} → {self.now:,.8g}"

    def values(self) -> dict[str, Any]:
        return {"of": self.of, "window": self.window, "from": self.before,
                "from_ts": self.before_ts, "to": self.now, "delta": self.delta, "pct": self.pct}


@attrs.frozen
class Crosses:
    name: ClassVar[str] = "crosses"
    of: str
    side: str  # above | below
    level: float
    before: float
    now: float

    def text(self) -> str:
        return (f"{self.of} crossed {self.side} {self.level:,.8g}: {self.before:,.8g} → "
                f"{self.now:,.8g}")

    def values(self) -> dict[str, Any]:
        return {"of": self.of, "side": self.side, "level": self.level, "from": self.before,
                "to": self.now}


@attrs.frozen
class Count:
    name: ClassVar[str] = "count"
    count: int
    window: str
    kinds: tuple[str, ...]

    def text(self) -> str:
        return f"{self.count} {'/'.join(self.kinds)} events in {self.window}"

    def values(self) -> dict[str, Any]:
        return {"count": self.count, "window": self.window, "kinds": list(self.kinds)}


@attrs.frozen
class Seen:
    name: ClassVar[str] = "seen"
    kind: str
    at: float
    ago: str

    def text(self) -> str:
        return f"{self.kind} seen {self.ago} ago"

    def values(self) -> dict[str, Any]:
        return _as_dict(self)


@attrs.frozen
class FirstSeen:
    name: ClassVar[str] = "first_seen"
    at: float
    ago: str

    def text(self) -> str:
        return f"first seen {self.ago} ago"

    def values(self) -> dict[str, Any]:
        return _as_dict(self)


@attrs.frozen
class Absent:
    name: ClassVar[str] = "absent"
    window: str
    last: float
    ago: str

    def text(self) -> str:
        return f"nothing for {self.window} (last {self.ago} ago)"

    def values(self) -> dict[str, Any]:
        return _as_dict(self)


@attrs.frozen
class Rearm:
    name: ClassVar[str] = "rearm"
    value: float  # what the value is now
    was: float  # what the last alert of this episode told
    at: float  # when it told it
    percent: bool  # the value is a change in percent

    def text(self) -> str:
        def shown(v: float) -> str:
            return f"{v:+.2f}%" if self.percent else f"{v:,.8g}"
        when = time.strftime("%H:%M", time.gmtime(self.at))
        return f"{shown(self.value)}, was {shown(self.was)} at {when} UTC"

    def values(self) -> dict[str, Any]:
        return {"value": self.value, "was": self.was, "at": self.at}


def _as_dict(reason: Any) -> dict[str, Any]:
    """A reason's fields by their names."""
    return attrs.asdict(reason)


# The order of the lines in a message.
ORDER: tuple[str, ...] = ("rearm", "change", "crosses", "count", "seen", "first_seen",
                          "absent")


def text(reasons: Mapping[str, Reason]) -> str:
    """One line per condition that held, in a fixed order."""
    return "\n".join(reasons[name].text() for name in ORDER if name in reasons)


def values(reasons: Mapping[str, Reason]) -> dict[str, Any]:
    return {name: reason.values() for name, reason in reasons.items()}


def sample(kind: str) -> dict[str, Any]:
    """Every reason, as `rulesd check` renders a template against it."""
    return values({r.name: r for r in (
        Change("price", "5m", 1.0, 0.0, 1.1, 0.1, 10.0),
        Crosses("price", "above", 1.0, 0.9, 1.1),
        Count(3, "1h", (kind,)),
        Seen("boost", 0.0, "5m"),
        FirstSeen(0.0, "5m"),
        Absent("5m", 0.0, "5m"),
        Rearm(20.0, 10.0, 0.0, True),
    )})

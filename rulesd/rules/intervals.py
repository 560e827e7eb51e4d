"""Time intervals in Alertmanager's syntax: when a rule is muted (`mute_during`) or
allowed to speak (`active_during`).

```yaml
time_intervals:
  - name: night
    time_intervals:
      - times: [{start_time: "22:00", end_time: "24:00"}, {start_time: "00:00", end_time: "07:00"}]
        weekdays: ["monday:friday"]
        location: Europe/Berlin
```

An interval holds when every field it gives holds (a field not given: any): `times`
(any of its ranges, start included, end excluded, `24:00` the end of the day),
`weekdays` (`monday:friday`, `sunday`), `days_of_month` (`1:5`, `-3:-1` counts
from the month's end), `months` (`january:march`, `12`), `years` (`2025:2026`),
read on the wall clock of `location` (an IANA zone; default UTC) — so `22:00` is
22:00 in Berlin in winter and in summer. A named interval holds when any of its
`time_intervals` does. Pure: a time in, true or false out.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from rulesd.suggest import did_you_mean
from rulesd.yaml_loader import Path, Report

WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                   "sunday")
MONTHS: Final = ("january", "february", "march", "april", "may", "june", "july", "august",
                 "september", "october", "november", "december")
_TIME: Final = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
_KEYS: Final = ("times", "weekdays", "days_of_month", "months", "years", "location")

Ranges = tuple[tuple[int, int], ...]


@attrs.frozen
class Interval:
    times: tuple[tuple[int, int], ...]  # minutes of the day, [start, end)
    weekdays: Ranges  # 0 = Monday
    days_of_month: Ranges  # 1-based; negative: from the month's end (-1: its last day)
    months: Ranges  # 1 = January
    years: Ranges
    location: ZoneInfo

    def holds(self, epoch: float) -> bool:
        now = datetime.fromtimestamp(epoch, self.location)
        minute = now.hour * 60 + now.minute
        if self.times and not any(a <= minute < b for a, b in self.times):
            return False
        if self.weekdays and not _within(now.weekday(), self.weekdays):
            return False
        if self.months and not _within(now.month, self.months):
            return False
        if self.years and not _within(now.year, self.years):
            return False
        if self.days_of_month:
            last = calendar.monthrange(now.year, now.month)[1]
            days = tuple((_day(a, last), _day(b, last)) for a, b in self.days_of_month)
            if not _within(now.day, days):
                return False
        return True


@attrs.frozen
class TimeInterval:
    name: str
    intervals: tuple[Interval, ...]

    def holds(self, epoch: float) -> bool:
        return any(interval.holds(epoch) for interval in self.intervals)


def quiet(mute: Sequence[TimeInterval], active: Sequence[TimeInterval], now: float
          ) -> str | None:
    """Why something muted during `mute`, or active only during `active`, is quiet now
    (`during night`, `outside trading-hours`), if it is."""
    for interval in mute:
        if interval.holds(now):
            return f"during {interval.name}"
    if active and not any(interval.holds(now) for interval in active):
        return f"outside {', '.join(i.name for i in active)}"
    return None


def _within(value: int, ranges: Ranges) -> bool:
    return any(a <= value <= b for a, b in ranges)


def _day(day: int, last: int) -> int:
    return last + 1 + day if day < 0 else day


def _names(value: str, names: Sequence[str]) -> int | None:
    """A weekday or month by name (or a month by number), 0- or 1-based as `names`."""
    text = value.strip().lower()
    if text in names:
        return names.index(text)
    return None


def _ranges(raw: Any, read: Any, path: Path, report: Report, what: str) -> Ranges:
    if not isinstance(raw, list) or not raw:
        report(path, f"`{what}` is a list, e.g. [\"{_EXAMPLE[what]}\"]")
        return ()
    out = []
    for i, item in enumerate(raw):
        parts = str(item).split(":") if isinstance(item, str | int) and not isinstance(
            item, bool) else []
        values = [read(p) for p in parts] if len(parts) in (1, 2) else [None]
        known = [v for v in values if v is not None]
        if len(known) != len(values):
            report((*path, i), f"{item!r} is not a {what.removesuffix('s')} or a range of "
                               f"them, e.g. \"{_EXAMPLE[what]}\"")
            continue
        a, b = known[0], known[-1]
        # A day range may run from a day to a day counted from the end (`20:-1`).
        if a > b and not (what == "days_of_month" and (a > 0) != (b > 0)):
            report((*path, i), f"{item!r}: the range ends before it starts")
            continue
        out.append((a, b))
    return tuple(out)


_EXAMPLE: Final = {"weekdays": "monday:friday", "days_of_month": "1:5",
                   "months": "january:march", "years": "2025:2026"}


def _weekday(text: str) -> int | None:
    return _names(text, WEEKDAYS)


def _month(text: str) -> int | None:
    found = _names(text, MONTHS)
    if found is not None:
        return found + 1
    return int(text) if text.strip().isdigit() and 1 <= int(text) <= 12 else None


def _day_of_month(text: str) -> int | None:
    try:
        day = int(text)
    except ValueError:
        return None
    return day if 1 <= abs(day) <= 31 else None


def _year(text: str) -> int | None:
    return int(text) if text.strip().isdigit() and 1970 <= int(text) <= 9999 else None


def _minutes(text: Any) -> int | None:
    match = _TIME.match(text) if isinstance(text, str) else None
    if not match:
        return None
    minutes = int(match[1]) * 60 + int(match[2])
    return minutes if minutes <= 24 * 60 else None


def _interval(raw: Any, path: Path, report: Report) -> Interval | None:
    if not isinstance(raw, Mapping):
        report(path, "an interval is a mapping of `times`, `weekdays`, `days_of_month`, "
                     "`months`, `years`, `location`")
        return None
    for key in raw:
        if key not in _KEYS:
            report((*path, key), f"unknown key {key!r}{did_you_mean(str(key), _KEYS)}")
    times = []
    for i, span in enumerate(raw.get("times") or []):
        start = _minutes(span.get("start_time")) if isinstance(span, Mapping) else None
        end = _minutes(span.get("end_time")) if isinstance(span, Mapping) else None
        if start is None or end is None:
            report((*path, "times", i), "a time range is {start_time: \"HH:MM\", end_time: "
                                        "\"HH:MM\"} (24:00 ends the day)")
        elif start >= end:
            report((*path, "times", i), "`end_time` must be after `start_time` (a range "
                                        "across midnight is two: 22:00-24:00 and "
                                        "00:00-07:00)")
        else:
            times.append((start, end))
    location = raw.get("location", "UTC")
    try:
        zone = ZoneInfo(location) if isinstance(location, str) and location else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    if zone is None:
        report((*path, "location"), f"unknown time zone {location!r}: an IANA name such as "
                                    "Europe/Berlin or America/New_York")
        zone = ZoneInfo("UTC")

    def ranges(key: str, read: Any) -> Ranges:
        return _ranges(raw[key], read, (*path, key), report, key) if key in raw else ()

    return Interval(tuple(times), ranges("weekdays", _weekday),
                    ranges("days_of_month", _day_of_month), ranges("months", _month),
                    ranges("years", _year), zone)


def compile_intervals(raw: Any, report: Report) -> dict[str, TimeInterval]:
    """`time_intervals:` by name; every problem reported at its place."""
    out: dict[str, TimeInterval] = {}
    if raw is None:
        return out
    if not isinstance(raw, list):
        report(("time_intervals",), "`time_intervals` is a list of {name, time_intervals}")
        return out
    for i, entry in enumerate(raw):
        here: Path = ("time_intervals", i)
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if not isinstance(name, str) or not name:
            report(here, "a time interval needs a `name` and its `time_intervals`")
            continue
        if name in out:
            report((*here, "name"), f"time interval {name!r} is named twice")
        for key in entry:
            if key not in ("name", "time_intervals"):
                report((*here, key), f"unknown key {key!r}"
                                     f"{did_you_mean(str(key), ('name', 'time_intervals'))}")
        spans = entry.get("time_intervals")
        if not isinstance(spans, list) or not spans:
            report((*here, "time_intervals"), "a list of intervals, e.g. [{times: "
                                              "[{start_time: \"22:00\", end_time: \"24:00\"}]}]")
            continue
        parsed = [_interval(span, (*here, "time_intervals", j), report)
                  for j, span in enumerate(spans)]
        out[name] = TimeInterval(name, tuple(p for p in parsed if p is not None))
    return out

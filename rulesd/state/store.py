"""StateStore: everything rules remember between events.

Seen-sets decide "not seen before"; series hold the recent values of the
fields that `change`/`crosses` rules watch; time logs count events; firing
state, cooldowns and first-seen times persist. The store is pure memory and
journals what must persist, so the daemon writes it (see `db.py`) in one
transaction.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, NamedTuple

import attrs

from rulesd.events import Event, Occurrence, SeriesKey, series_key
from rulesd.state.series import Series, TimeLog

log = logging.getLogger(__name__)

# Seen-set entries and first-seen times not refreshed for this long are
# forgotten: vendors' "latest" lists rotate within hours.
SEEN_RETENTION_S: Final = 7 * 86400.0
# Items a stream's seen-set remembers at most: a week of a busy "latest" list.
SEEN_LIMIT: Final = 50_000
# last_seen is persisted only when it moved by this much, to spare writes.
_TOUCH_PERSIST_S: Final = 3600.0

Version = float | str | None


@attrs.define
class SeenEntry:
    version: Version
    last_seen: float


class Firing(NamedTuple):
    """A level condition or an absence that is true: since when, and whether it was
    notified (a cooldown or a silence held it back: no "resolved" either)."""

    since: float
    notified: bool


class Watch(NamedTuple):
    """A token a rule with `watch` fired for: polled until `until`, every `every`
    seconds; `price` is the price the alert told (None: the first poll's)."""

    since: float
    until: float
    every: float
    price: float | None
    chain: str
    address: str
    symbol: str | None


def _watch(value: Any) -> Watch:
    return Watch(*value)


def _firing(value: Any) -> Firing:
    since, notified = value
    return Firing(since, notified)


class Journaled:
    """A persisted mapping: assignments and deletions are journaled by key; `decode`
    turns a stored value back into its type."""

    def __init__(self, namespace: str,
                 decode: Callable[[Any], Any] | None = None) -> None:
        self.namespace = namespace
        self._decode = decode
        self._data: dict[Any, Any] = {}
        self.dirty: set[Any] = set()
        self.deleted: set[Any] = set()

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def get(self, key: Any, default: Any = None) -> Any:
        return self._data.get(key, default)

    def __contains__(self, key: Any) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._data))

    def items(self) -> list[tuple[Any, Any]]:
        return list(self._data.items())

    def __setitem__(self, key: Any, value: Any) -> None:
        self._data[key] = value
        self.dirty.add(key)
        self.deleted.discard(key)

    def discard(self, key: Any) -> None:
        if key in self._data:
            del self._data[key]
            self.deleted.add(key)
            self.dirty.discard(key)

    def written(self, key: Any, value: Any) -> None:
        """Hold `value` (None: nothing) for `key` as the database has it already (written
        elsewhere, in a transaction of its own): not journaled again."""
        if value is None:
            self._data.pop(key, None)
        else:
            self._data[key] = value
        self.dirty.discard(key)
        self.deleted.discard(key)

    def restore(self, key: Any, value: Any) -> None:
        """Load a persisted entry (not journaled)."""
        self._data[key] = self._decode(value) if self._decode is not None else value


@attrs.frozen
class Changes:
    """What changed since the last `take_changes`, for persistence."""

    seen_upserts: list[tuple[str, str, Version, float]]
    seen_deletes: list[tuple[str, str]]
    upserts: list[tuple[str, Any, Any]]  # (namespace, key, value)
    deletes: list[tuple[str, Any]]

    def __bool__(self) -> bool:
        return bool(self.seen_upserts or self.seen_deletes or self.upserts or self.deletes)


_NO_CHANGES: Final = Changes([], [], [], [])


@attrs.frozen
class Needs:
    """What the loaded rules need remembered, and for how long (seconds)."""

    series: Mapping[str, float] = attrs.field(factory=dict)  # field → longest window
    counts_s: float = 0.0  # longest `count` window
    kinds_s: float = 0.0  # longest `seen` window


def is_newer(previous: Version, current: Version) -> bool:
    """Whether `current` makes a known item news again (see Occurrence)."""
    if current is None:
        return False
    if isinstance(current, float | int) and isinstance(previous, float | int):
        return current > previous
    return current != previous


@attrs.define
class StateStore:
    seen: dict[str, dict[str, SeenEntry]] = attrs.field(factory=dict)
    seen_limit: int = SEEN_LIMIT
    bounded: set[str] = attrs.field(factory=set)  # scopes that reached their limit
    needs: Needs = attrs.field(factory=Needs)
    series: dict[tuple[SeriesKey, str], Series] = attrs.field(factory=dict)
    # Whether the current event's observation is its series' newest (per field).
    in_order: dict[str, bool] = attrs.field(factory=dict)
    event_times: dict[tuple[str, str], TimeLog] = attrs.field(factory=dict)
    kind_seen: dict[tuple[str, str], float] = attrs.field(factory=dict)
    last_fired: Journaled = attrs.field(factory=lambda: Journaled("fired"))
    firing: Journaled = attrs.field(factory=lambda: Journaled("firing", _firing))
    first_seen: Journaled = attrs.field(factory=lambda: Journaled("first_seen"))
    presence: Journaled = attrs.field(factory=lambda: Journaled("presence"))
    # (rule, key) → the cooldown's current wait, where it grows (`cooldown: {factor}`).
    cooldown_waits: Journaled = attrs.field(factory=lambda: Journaled("cooldown_wait"))
    # (rule, firing key) → (value, at, up): the last rung a `rearm` ladder alerted at.
    ladders: Journaled = attrs.field(factory=lambda: Journaled("ladder"))
    # (inhibition id, match) → until (epoch s; -1: while the source alert fires).
    inhibitors: Journaled = attrs.field(factory=lambda: Journaled("inhibit"))
    # rule → [why, how many, keys (the first few), since]: what a mute held, for its
    # digest when it ends (`on_unmute: digest`).
    muted: Journaled = attrs.field(factory=lambda: Journaled("muted"))
    # scope → when its baseline was taken: the first snapshot of a stream is a baseline
    # (even an empty one); an emptied seen-set (forgetting) is not a new stream.
    baselines: Journaled = attrs.field(factory=lambda: Journaled("baseline"))
    # What the control bot keeps: Telegram's update offset (`rulesd.control`).
    control: Journaled = attrs.field(factory=lambda: Journaled("control"))
    # (source, stream) of each stream down now (`source_down` inhibitions).
    down: Journaled = attrs.field(factory=lambda: Journaled("down"))
    # (rule, token key) → Watch: what the watches poll (`rulesd.enrich.watch`).
    watches: Journaled = attrs.field(factory=lambda: Journaled("watches", _watch))
    _baseline_batch: dict[str, str] = attrs.field(factory=dict)
    # Items of a baseline being recorded, by scope: said once the baseline is over.
    _baseline_size: dict[str, int] = attrs.field(factory=dict)
    _members_batch: dict[str, str | None] = attrs.field(factory=dict)
    _dirty_seen: set[tuple[str, str]] = attrs.field(factory=set)
    _deleted_seen: set[tuple[str, str]] = attrs.field(factory=set)

    def journals(self) -> tuple[Journaled, ...]:
        return (self.last_fired, self.firing, self.first_seen, self.presence, self.watches,
                self.cooldown_waits, self.ladders, self.inhibitors, self.down, self.muted,
                self.control, self.baselines)

    def apply(self, event: Event, now: float) -> bool:
        """Record `event`; whether it is news (always, unless a repeated occurrence)."""
        occ = event.occurrence
        if occ is not None and not self._observe(occ, now):
            if event.token is not None and event.token.key not in self.first_seen:
                self.first_seen[event.token.key] = now
            return False
        self._remember(event, now)
        return True

    def _remember(self, event: Event, now: float) -> None:
        key = event.key
        if event.token is not None:
            first = self.first_seen.get(key)
            if first is None or now - first > SEEN_RETENTION_S:
                self.first_seen[key] = now
        self.in_order.clear()
        for field, window in self.needs.series.items():
            value = event.fields.get(field)
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not math.isfinite(value):
                continue
            skey = (series_key(event), field)
            series = self.series.get(skey)
            if series is None:
                series = self.series[skey] = Series(event.ts)
            self.in_order[field] = series.add(event.ts, float(value), window)
            series.touched = now
        if self.needs.counts_s:
            log = self.event_times.get((key, event.kind))
            if log is None:
                log = self.event_times[(key, event.kind)] = TimeLog()
            log.add(now, self.needs.counts_s)
        if self.needs.kinds_s:
            self.kind_seen[(key, event.kind)] = now

    def _observe(self, occ: Occurrence, now: float) -> bool:
        entries = self.seen.setdefault(occ.scope, {})
        if occ.empty:
            if occ.scope not in self.baselines:
                self.baselines[occ.scope] = now
                log.info("%s: its first snapshot is empty: what appears in it from now on "
                         "is alerted", occ.scope,
                         extra={"event": "baseline", "stream": occ.scope})
            return False
        if occ.leave:
            if entries.pop(occ.id, None) is not None:
                self._deleted_seen.add((occ.scope, occ.id))
                self._dirty_seen.discard((occ.scope, occ.id))
            return True
        if occ.members is not None and self._members_batch.get(occ.scope, "") != occ.batch:
            # Once per snapshot: what is not in it has left the list.
            self._members_batch[occ.scope] = occ.batch
            for gone in [i for i in entries if i not in occ.members]:
                del entries[gone]
                self._deleted_seen.add((occ.scope, gone))
                self._dirty_seen.discard((occ.scope, gone))
        taken = occ.scope in self.baselines or bool(entries)
        baseline = not taken or (
            occ.batch is not None and self._baseline_batch.get(occ.scope) == occ.batch
        )
        if baseline and occ.scope not in self.baselines:
            self.baselines[occ.scope] = now
        if baseline and occ.batch is not None:
            self._baseline_batch[occ.scope] = occ.batch
        if baseline:
            self._baseline_size[occ.scope] = self._baseline_size.get(occ.scope, 0) + 1
        elif self._baseline_size:
            size = self._baseline_size.pop(occ.scope, None)
            if size is not None:
                log.info("%s: baseline of %d item(s) recorded; what comes new from now on "
                         "is alerted", occ.scope, size,
                         extra={"event": "baseline", "stream": occ.scope})
        previous = entries.get(occ.id)
        news = previous is None or is_newer(previous.version, occ.version)
        if previous is None or news or previous.version != occ.version:
            entries[occ.id] = SeenEntry(occ.version, now)
            self._dirty_seen.add((occ.scope, occ.id))
            if previous is None and len(entries) > self.seen_limit:
                self._forget_oldest(occ.scope, entries)
        elif now - previous.last_seen > _TOUCH_PERSIST_S:
            previous.last_seen = now
            self._dirty_seen.add((occ.scope, occ.id))
        else:
            previous.last_seen = now
        return news and not baseline

    def _forget_oldest(self, scope: str, entries: dict[str, SeenEntry]) -> None:
        """Keep a stream's seen-set bounded: a vendor sending only items never seen
        before must not grow memory and the state file without end."""
        oldest = next(iter(entries))
        del entries[oldest]
        self._deleted_seen.add((scope, oldest))
        self._dirty_seen.discard((scope, oldest))
        if scope not in self.bounded:
            self.bounded.add(scope)
            log.warning("%s: %d items seen; the oldest are forgotten from now on (an item "
                        "forgotten and sent again is news again)", scope, self.seen_limit)

    def series_of(self, event: Event, field: str) -> Series | None:
        return self.series.get((series_key(event), field))

    def count(self, key: str, kinds: tuple[str, ...], since: float) -> int:
        return sum(log.count_since(since) for kind in kinds
                   if (log := self.event_times.get((key, kind))) is not None)

    def in_cooldown(self, rule: str, key: str, cooldown_s: float, now: float) -> bool:
        last = self.last_fired.get((rule, key))
        wait = self.cooldown_waits.get((rule, key), cooldown_s)
        return last is not None and now - last < wait

    def fired(self, rule: str, key: str, now: float,
              growth: tuple[float, float, float] | None = None) -> None:
        """`rule` alerted for `key`; with a growing cooldown (start, factor, max) the next
        wait is `factor` times this one — from `start` again once the rule stayed quiet
        for `max` after the wait ended."""
        if growth is not None:
            start, factor, longest = growth
            last = self.last_fired.get((rule, key))
            wait = self.cooldown_waits.get((rule, key))
            if last is None or wait is None or now - last >= wait + longest:
                self.cooldown_waits[(rule, key)] = start
            else:
                self.cooldown_waits[(rule, key)] = min(wait * factor, longest)
        self.last_fired[(rule, key)] = now

    def prune(self, now: float) -> None:
        """Forget what no rule can need any more: old seen entries, idle series."""
        horizon = now - SEEN_RETENTION_S
        for scope, entries in self.seen.items():
            for item in [i for i, e in entries.items() if e.last_seen < horizon]:
                del entries[item]
                self._deleted_seen.add((scope, item))
        for journal in (self.last_fired, self.first_seen):
            for key in [k for k, t in journal.items() if t < horizon]:
                journal.discard(key)
        for key in [k for k in self.cooldown_waits if k not in self.last_fired]:
            self.cooldown_waits.discard(key)
        for skey, series in list(self.series.items()):
            if series.touched < now - 2 * self.needs.series.get(skey[1], 0.0):
                del self.series[skey]  # idle: every point is past the longest window
        for lkey, log in list(self.event_times.items()):
            if log.newest() < now - self.needs.counts_s:
                del self.event_times[lkey]
        for kkey in [k for k, t in self.kind_seen.items() if t < now - self.needs.kinds_s]:
            del self.kind_seen[kkey]

    @property
    def changed(self) -> bool:
        """Whether something is to be written (checked per event: cheap)."""
        return bool(self._dirty_seen or self._deleted_seen or self.last_fired.dirty
                    or self.last_fired.deleted or self.firing.dirty or self.firing.deleted
                    or self.first_seen.dirty or self.first_seen.deleted
                    or self.presence.dirty or self.presence.deleted
                    or self.watches.dirty or self.watches.deleted
                    or self.cooldown_waits.dirty or self.cooldown_waits.deleted
                    or self.ladders.dirty or self.ladders.deleted
                    or self.inhibitors.dirty or self.inhibitors.deleted
                    or self.down.dirty or self.down.deleted
                    or self.muted.dirty or self.muted.deleted
                    or self.baselines.dirty or self.baselines.deleted)

    def take_changes(self) -> Changes:
        if not self.changed:
            return _NO_CHANGES  # the common case under load: checked, not built
        changes = Changes(
            [(s, i, self.seen[s][i].version, self.seen[s][i].last_seen)
             for s, i in self._dirty_seen],
            sorted(self._deleted_seen),
            [(j.namespace, k, j[k]) for j in self.journals() for k in j.dirty],
            [(j.namespace, k) for j in self.journals() for k in j.deleted],
        )
        self._dirty_seen.clear()
        self._deleted_seen.clear()
        for journal in self.journals():
            journal.dirty.clear()
            journal.deleted.clear()
        return changes

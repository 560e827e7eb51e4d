"""StateStore: seen-sets ("not seen before"), each series' latest value, cooldown times.

The store is pure memory; it journals what changed so the daemon can persist
it (see `statedb.py`) in one transaction after each event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from rulesd.events import Event, Occurrence, SeriesKey, series_key

# Seen-set entries not observed for this long are forgotten: vendors' "latest"
# lists rotate within hours, so an entry this old cannot be re-sent as news.
SEEN_RETENTION_S: Final = 7 * 86400.0
# last_seen is persisted only when it moved by this much, to spare writes.
_TOUCH_PERSIST_S: Final = 3600.0

Version = float | str | None


@attrs.define
class SeenEntry:
    version: Version
    last_seen: float


@attrs.frozen
class Changes:
    """What changed since the last `take_changes`, for persistence."""

    seen_upserts: list[tuple[str, str, Version, float]]
    seen_deletes: list[tuple[str, str]]
    cooldowns: list[tuple[str, str, float]]

    def __bool__(self) -> bool:
        return bool(self.seen_upserts or self.seen_deletes or self.cooldowns)


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
    # The latest observation of each series (token, source, venue).
    latest: dict[SeriesKey, tuple[float, Mapping[str, Any]]] = attrs.field(factory=dict)
    last_fired: dict[tuple[str, str], float] = attrs.field(factory=dict)
    _baseline_batch: dict[str, str] = attrs.field(factory=dict)
    _members_batch: dict[str, str | None] = attrs.field(factory=dict)
    _dirty_seen: set[tuple[str, str]] = attrs.field(factory=set)
    _deleted_seen: set[tuple[str, str]] = attrs.field(factory=set)
    _dirty_fired: set[tuple[str, str]] = attrs.field(factory=set)

    def apply(self, event: Event, now: float) -> bool:
        """Record `event`; whether it is news (an occurrence not seen before)."""
        occ = event.occurrence
        if occ is None:
            self.latest[series_key(event)] = (event.ts, event.fields)
            return True
        entries = self.seen.setdefault(occ.scope, {})
        if occ.members is not None and self._members_batch.get(occ.scope, "") != occ.batch:
            # Once per snapshot: what is not in it has left the list.
            self._members_batch[occ.scope] = occ.batch
            self._forget_absent(occ, entries)
        baseline = not entries or (
            occ.batch is not None and self._baseline_batch.get(occ.scope) == occ.batch
        )
        if baseline and occ.batch is not None:
            self._baseline_batch[occ.scope] = occ.batch
        previous = entries.get(occ.id)
        news = previous is None or is_newer(previous.version, occ.version)
        if previous is None or news or previous.version != occ.version:
            entries[occ.id] = SeenEntry(occ.version, now)
            self._dirty_seen.add((occ.scope, occ.id))
        elif now - previous.last_seen > _TOUCH_PERSIST_S:
            previous.last_seen = now
            self._dirty_seen.add((occ.scope, occ.id))
        else:
            previous.last_seen = now
        return news and not baseline

    def _forget_absent(self, occ: Occurrence, entries: dict[str, SeenEntry]) -> None:
        assert occ.members is not None
        for gone in [i for i in entries if i not in occ.members]:
            del entries[gone]
            self._deleted_seen.add((occ.scope, gone))
            self._dirty_seen.discard((occ.scope, gone))

    def in_cooldown(self, rule: str, key: str, cooldown_s: float, now: float) -> bool:
        last = self.last_fired.get((rule, key))
        return last is not None and now - last < cooldown_s

    def fired(self, rule: str, key: str, now: float) -> None:
        self.last_fired[(rule, key)] = now
        self._dirty_fired.add((rule, key))

    def prune(self, now: float) -> None:
        """Forget seen entries and firing times older than the retention."""
        horizon = now - SEEN_RETENTION_S
        for scope, entries in self.seen.items():
            for item in [i for i, e in entries.items() if e.last_seen < horizon]:
                del entries[item]
                self._deleted_seen.add((scope, item))
        for key in [k for k, t in self.last_fired.items() if t < horizon]:
            del self.last_fired[key]
        for series in [k for k, (ts, _) in self.latest.items() if ts < horizon]:
            del self.latest[series]

    def take_changes(self) -> Changes:
        changes = Changes(
            [(s, i, self.seen[s][i].version, self.seen[s][i].last_seen)
             for s, i in self._dirty_seen],
            sorted(self._deleted_seen),
            [(r, k, self.last_fired[(r, k)]) for r, k in self._dirty_fired
             if (r, k) in self.last_fired],
        )
        self._dirty_seen.clear()
        self._deleted_seen.clear()
        self._dirty_fired.clear()
        return changes

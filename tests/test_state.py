"""Seen-sets: baseline, news, growth, membership, retention, persistence."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rulesd.events import Event, Occurrence
from rulesd.state import SEEN_RETENTION_S, StateStore
from rulesd.state.backend import StateBackend
from rulesd.state.db import StateDB


def event(item: str, version: float | str | None = None, batch: str | None = "c1#1",
          scope: str = "dex:boosts", members: frozenset[str] | None = None) -> Event:
    return Event("boost", "dex", "boosts", None, 0.0, 0.0, {},
                 Occurrence(scope, item, version, batch, members))


def test_first_batch_into_an_empty_set_is_a_baseline() -> None:
    store = StateStore()
    assert [store.apply(event(i, 1.0), 0) for i in "abc"] == [False, False, False]
    # The next snapshot repeats them and brings d.
    assert [store.apply(event(i, 1.0, "c1#2"), 1) for i in "dabc"] == [
        True, False, False, False]


def test_numeric_versions_are_news_only_when_they_grow() -> None:
    store = StateStore()
    store.apply(event("a", 100.0), 0)
    assert store.apply(event("a", 150.0, "c1#2"), 1)
    assert not store.apply(event("a", 150.0, "c1#3"), 2)
    assert not store.apply(event("a", 120.0, "c1#4"), 3)  # shrank (expired boosts)
    assert store.apply(event("a", 130.0, "c1#5"), 4)  # grew from what we last saw


def test_string_versions_are_news_when_they_change() -> None:
    store = StateStore()
    store.apply(event("a", "2026-01-01T00:00:00Z"), 0)
    assert not store.apply(event("a", "2026-01-01T00:00:00Z", "2"), 1)
    assert store.apply(event("a", "2026-02-01T00:00:00Z", "3"), 2)


def test_items_without_a_batch_are_a_baseline_only_into_an_empty_set() -> None:
    store = StateStore()
    assert not store.apply(event("a", batch=None), 0)
    assert store.apply(event("b", batch=None), 1)


def test_a_new_scope_gets_its_own_baseline() -> None:
    store = StateStore()
    store.apply(event("a"), 0)
    assert not store.apply(event("a", scope="dex:claims", batch="c9#1"), 1)


def test_membership_lists_alert_again_on_re_entry() -> None:
    store = StateStore()
    store.apply(event("a", members=frozenset("ab")), 0)
    store.apply(event("b", members=frozenset("ab")), 0)
    assert not store.apply(event("b", batch="2", members=frozenset("b")), 1)  # a left
    assert store.apply(event("a", batch="3", members=frozenset("ab")), 2)  # a is back


def test_entries_not_seen_for_the_retention_are_forgotten() -> None:
    store = StateStore()
    store.apply(event("a"), 0)
    store.apply(event("b"), SEEN_RETENTION_S)
    store.prune(SEEN_RETENTION_S + 1)
    assert set(store.seen["dex:boosts"]) == {"b"}


def test_seen_sets_and_cooldowns_survive_a_restart(
        open_backend: Callable[[], StateBackend]) -> None:
    db = open_backend()
    store = db.load()
    store.apply(event("a", 100.0), 0)
    store.fired("rule", "solana:a", 5.0)
    db.save(store.take_changes())
    db.close()
    db = open_backend()
    again = db.load()
    assert not again.apply(event("a", 100.0, "new-connection#1"), 10)
    assert again.apply(event("a", 200.0, "new-connection#1"), 10)
    assert again.in_cooldown("rule", "solana:a", 60, 30)
    assert not again.in_cooldown("rule", "solana:a", 60, 70)
    db.close()


@settings(max_examples=300)
@given(st.lists(st.tuples(st.floats(0.1, 100), st.floats(-1e6, 1e6)), min_size=1,
                max_size=200), st.floats(1, 500))
def test_a_series_keeps_one_window_and_a_point_and_answers_as_if_it_kept_all(
        steps: list[tuple[float, float]], window: float) -> None:
    from rulesd.state.series import _TRIM_BATCH, Series

    series, everything, t = None, [], 0.0
    for gap, value in steps:
        t += gap
        if series is None:
            series = Series(t)
        series.add(t, value, window)
        everything.append((t, value))
        before = [p for p in everything if p[0] <= t - window]
        if series.born > t - window:
            expected = everything[0]
        else:
            expected = before[-1] if before and before[-1][0] >= t - 2 * window else None
        assert series.reference(t, window) == expected
        assert series.previous() == (everything[-2] if len(everything) > 1 else None)
        inside = sum(1 for p in everything if p[0] > t - window)
        assert len(series.times) <= inside + 2 + _TRIM_BATCH


def test_a_flood_of_new_items_keeps_the_seen_set_bounded(caplog: Any) -> None:
    store = StateStore(seen_limit=100)
    for i in range(150):
        store.apply(event(f"i{i}", 1.0, f"c1#{i}"), float(i))
    assert len(store.seen["dex:boosts"]) == 100
    assert "i0" not in store.seen["dex:boosts"] and "i149" in store.seen["dex:boosts"]
    assert len(store.take_changes().seen_deletes) >= 50  # forgotten in the file too
    (warning,) = [r for r in caplog.records if "oldest are forgotten" in r.getMessage()]
    assert warning.levelname == "WARNING"


def test_the_schema_is_versioned_older_files_migrate_newer_ones_are_refused(
        tmp_path: Path) -> None:
    import sqlite3

    from rulesd.state.db import SCHEMA_VERSION, StateDBError

    old = tmp_path / "old.db"
    with sqlite3.connect(old) as db:  # what rulesd wrote before silences existed
        db.execute("CREATE TABLE seen (scope TEXT NOT NULL, item TEXT NOT NULL, version, "
                   "last_seen REAL NOT NULL, PRIMARY KEY (scope, item))")
    migrated = StateDB(str(old))
    assert migrated.silences() == []
    migrated.close()
    with sqlite3.connect(old) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StateDBError) as info:
        StateDB(str(old))
    assert f"was written by a newer rulesd (schema {SCHEMA_VERSION + 1}" in str(info.value)

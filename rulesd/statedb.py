"""The SQLite state database: seen-sets and cooldowns that survive restarts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from rulesd.state import Changes, SeenEntry, StateStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (
    scope TEXT NOT NULL, item TEXT NOT NULL, version, last_seen REAL NOT NULL,
    PRIMARY KEY (scope, item)
);
CREATE TABLE IF NOT EXISTS fired (
    rule TEXT NOT NULL, key TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (rule, key)
);
"""


class StateDBError(Exception):
    """The state database cannot be opened or written."""


class StateDB:
    """A small synchronous wrapper: the writes are a few rows per event."""

    def __init__(self, path: str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StateDBError(f"cannot open the state database {path}: {exc}") from exc

    def load(self) -> StateStore:
        store = StateStore()
        for scope, item, version, last_seen in self._db.execute(
            "SELECT scope, item, version, last_seen FROM seen"
        ):
            store.seen.setdefault(scope, {})[item] = SeenEntry(version, last_seen)
        for rule, key, at in self._db.execute("SELECT rule, key, at FROM fired"):
            store.last_fired[(rule, key)] = at
        return store

    def save(self, changes: Changes) -> None:
        if not changes:
            return
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT OR REPLACE INTO seen (scope, item, version, last_seen) "
                    "VALUES (?,?,?,?)", changes.seen_upserts)
                self._db.executemany("DELETE FROM seen WHERE scope=? AND item=?",
                                     changes.seen_deletes)
                self._db.executemany(
                    "INSERT OR REPLACE INTO fired (rule, key, at) VALUES (?,?,?)",
                    changes.cooldowns)
        except sqlite3.Error as exc:
            raise StateDBError(f"cannot write the state database: {exc}") from exc

    def close(self) -> None:
        self._db.close()

"""The SQLite state database: what rules remember across restarts.

Seen-sets have their own table; everything else the store journals (firing
state, cooldowns, first-seen times, presence for `absent`) is a JSON key and
value in one namespaced table.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson

from rulesd.state import Changes, SeenEntry, StateStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (
    scope TEXT NOT NULL, item TEXT NOT NULL, version, last_seen REAL NOT NULL,
    PRIMARY KEY (scope, item)
);
CREATE TABLE IF NOT EXISTS memory (
    ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (ns, key)
);
"""


class StateDBError(Exception):
    """The state database cannot be opened or written."""


def _key(key: Any) -> str:
    return orjson.dumps(key).decode()


def _unkey(text: str) -> Any:
    value = orjson.loads(text)
    return tuple(value) if isinstance(value, list) else value


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
        journals = {j.namespace: j for j in store.journals()}
        for ns, key, value in self._db.execute("SELECT ns, key, value FROM memory"):
            if ns in journals:
                journals[ns].restore(_unkey(key), _unkey(value))
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
                    "INSERT OR REPLACE INTO memory (ns, key, value) VALUES (?,?,?)",
                    [(ns, _key(k), _key(v)) for ns, k, v in changes.upserts])
                self._db.executemany("DELETE FROM memory WHERE ns=? AND key=?",
                                     [(ns, _key(k)) for ns, k in changes.deletes])
        except sqlite3.Error as exc:
            raise StateDBError(f"cannot write the state database: {exc}") from exc

    def close(self) -> None:
        self._db.close()

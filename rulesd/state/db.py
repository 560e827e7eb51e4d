"""The SQLite state database: what rules remember across restarts.

Seen-sets have their own table; everything else the store journals (firing
state, cooldowns, first-seen times, presence for `absent`) is a JSON key and
value in one namespaced table.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import orjson

from rulesd.silences import Silence
from rulesd.state import outbox
from rulesd.state.outbox import Delivery, OutboxRow
from rulesd.state.store import Changes, SeenEntry, StateStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (
    scope TEXT NOT NULL, item TEXT NOT NULL, version, last_seen REAL NOT NULL,
    PRIMARY KEY (scope, item)
);
CREATE TABLE IF NOT EXISTS memory (
    ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (ns, key)
);
CREATE TABLE IF NOT EXISTS silences (
    id TEXT PRIMARY KEY, rule TEXT NOT NULL, starts REAL NOT NULL, ends REAL NOT NULL,
    token TEXT, chain TEXT, source TEXT, comment TEXT NOT NULL DEFAULT ''
);
"""


# The schema this rulesd writes (SQLite's user_version): 1 (and 0) seen-sets, memory
# and the outbox; 2 adds silences (and outbox rows in state `silenced`).
SCHEMA_VERSION: Final = 2
_HEADER: Final = b"SQLite format 3\x00"  # what every SQLite file starts with


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
        self.path = path
        self.in_memory = path == ":memory:"
        self._inode: int | None = None
        if not self.in_memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            # Used from one worker thread at a time (the daemon serializes calls).
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives a crash of rulesd (not a power cut),
            # which is what "an alert is in the outbox before it is sent" needs.
            self._db.execute("PRAGMA synchronous=NORMAL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StateDBError(
                    f"the state database {path} was written by a newer rulesd (schema "
                    f"{version}; this rulesd reads up to {SCHEMA_VERSION}): upgrade rulesd, "
                    f"or move the file aside (mv {path} {path}.newer) to start on a fresh "
                    "baseline")
            # Creates what an older schema lacks: that is every migration so far.
            self._db.executescript(_SCHEMA + outbox.SCHEMA)
            if version < SCHEMA_VERSION:
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            if not self.in_memory:
                self._inode = os.stat(path).st_ino
        except sqlite3.DatabaseError as exc:
            raise StateDBError(
                f"cannot open the state database {path}: {exc}. If the file is damaged, "
                f"move it aside (mv {path} {path}.damaged) and start again: rulesd then "
                "begins on a fresh baseline (nothing already listed is announced) and its "
                "unsent alerts stay in the moved file") from exc
        except sqlite3.Error as exc:
            raise StateDBError(f"cannot open the state database {path}: {exc}") from exc

    def trouble(self) -> str | None:
        """What is wrong with the database file under a running daemon, if anything:
        deleted or replaced (SQLite would go on writing to a file nobody will read
        again), or damaged."""
        if self.in_memory:
            return None
        try:
            inode = os.stat(self.path).st_ino
        except OSError:
            return (f"the state database {self.path} was deleted while rulesd runs: what "
                    "it remembers (seen items, cooldowns, unsent alerts) is lost at the "
                    "next restart unless rulesd is restarted now")
        if inode != self._inode:
            return (f"the state database {self.path} was replaced while rulesd runs: "
                    "rulesd keeps writing the old file; restart it to use the new one")
        try:
            with open(self.path, "rb") as file:
                header = file.read(len(_HEADER))
            result = self._db.execute("PRAGMA quick_check").fetchone() \
                if header == _HEADER else ("not an SQLite file any more",)
        except (OSError, sqlite3.Error) as exc:
            result = (str(exc),)
        if result is None or result[0] != "ok":
            detail = result[0] if result else "no answer"
            return (f"the state database {self.path} is damaged ({detail}): stop rulesd, "
                    "move the file aside and start again on a fresh baseline")
        return None

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

    def save(self, changes: Changes, deliveries: Sequence[Delivery] = ()) -> None:
        """State changes and new deliveries in one transaction: an alert is durable
        in the outbox exactly when the state that produced it is."""
        if not changes and not deliveries:
            return
        try:
            with self._db:
                self._db.execute("BEGIN")
                outbox.insert(self._db, deliveries)
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

    def _write(self, what: str, action: Callable[[], object]) -> None:
        try:
            with self._db:
                self._db.execute("BEGIN")
                action()
        except sqlite3.Error as exc:
            raise StateDBError(f"cannot {what}: {exc}") from exc

    def delivered(self, keys: Sequence[tuple[str, str]], at: float) -> None:
        self._write("mark alerts delivered",
                    lambda: outbox.mark(self._db, keys, outbox.DELIVERED, at))

    def failed(self, keys: Sequence[tuple[str, str]], error: str) -> None:
        self._write("record a failed send", lambda: outbox.failed(self._db, keys, error))

    def dead(self, keys: Sequence[tuple[str, str]], at: float, error: str) -> None:
        self._write("dead-letter alerts",
                    lambda: outbox.mark(self._db, keys, outbox.DEAD, at, error))

    def outbox(self, *states: str) -> list[OutboxRow]:
        return outbox.rows(self._db, states or (outbox.PENDING,))

    def silences(self) -> list[Silence]:
        return [Silence(*row) for row in self._db.execute(
            "SELECT id, rule, starts, ends, token, chain, source, comment FROM silences "
            "ORDER BY starts")]

    def save_silence(self, silence: Silence) -> None:
        s = silence
        self._write("save a silence", lambda: self._db.execute(
            "INSERT OR REPLACE INTO silences (id, rule, starts, ends, token, chain, source, "
            "comment) VALUES (?,?,?,?,?,?,?,?)",
            (s.id, s.rule, s.starts, s.ends, s.token, s.chain, s.source, s.comment)))

    def recent(self, limit: int = 50) -> list[OutboxRow]:
        return outbox.recent(self._db, limit)

    def outbox_counts(self) -> dict[str, int]:
        return outbox.counts(self._db)

    def requeue_dead(self) -> int:
        count = 0

        def run() -> None:
            nonlocal count
            count = outbox.requeue_dead(self._db)

        self._write("requeue dead-lettered alerts", run)
        return count

    def forget_delivered(self, before: float) -> None:
        self._write("trim the outbox", lambda: outbox.forget_delivered(self._db, before))

    def close(self) -> None:
        self._db.close()

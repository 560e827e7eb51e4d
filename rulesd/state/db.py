"""The SQLite state database: what rules remember across restarts, for one daemon.

Seen-sets have their own table; everything else the store journals (firing
state, cooldowns, first-seen times, presence for `absent`) is a JSON key and
value in one namespaced table. The operations are `StateBackend`'s; this file
opens the file, migrates its schema and checks it under a running daemon.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

from rulesd.state.backend import NotLeader, StateBackend, StateDBError
from rulesd.state.sql import SCHEMA_VERSION, Sql, newer_schema
from rulesd.state.store import Version

__all__ = ["SCHEMA_VERSION", "NotLeader", "StateDB", "StateDBError"]

_SCHEMA: Final = """
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
CREATE TABLE IF NOT EXISTS outbox (
    alert_id TEXT NOT NULL, notifier TEXT NOT NULL, created REAL NOT NULL,
    rule TEXT NOT NULL, kind TEXT NOT NULL, grp TEXT,
    title TEXT NOT NULL, body TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT, done_at REAL, epoch INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (alert_id, notifier)
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, created);
"""
_HEADER: Final = b"SQLite format 3\x00"  # what every SQLite file starts with


class _Sqlite:
    """`Sql` over sqlite3 (whose placeholders are `?` already)."""

    insertion_order = "rowid"

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._db.execute(sql, params).rowcount

    def many(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        self._db.executemany(sql, params)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, params).fetchall()

    def version_in(self, version: Version) -> Any:
        return version  # the column is untyped: a number stays a number

    def version_out(self, stored: Any) -> Version:
        return stored  # type: ignore[no-any-return]


class StateDB(StateBackend):
    """A small synchronous wrapper: the writes are a few rows per event."""

    def __init__(self, path: str) -> None:
        self.path = self.where = path
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
                    f"{newer_schema(path, version)}, or move the file aside (mv {path} "
                    f"{path}.newer) to start on a fresh baseline")
            self._migrate(version)
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

    def _migrate(self, version: int) -> None:
        """Bring an older file to SCHEMA_VERSION (in one transaction)."""
        if version == SCHEMA_VERSION:
            return
        with self._db:
            self._db.execute("BEGIN")
            outbox_columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
            if outbox_columns and "epoch" not in outbox_columns:  # schema 1 and 2
                self._db.execute(
                    "ALTER TABLE outbox ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0")
            for statement in _SCHEMA.split(";"):  # what an older file lacks
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextlib.contextmanager
    def _read(self) -> Iterator[Sql]:
        try:
            yield _Sqlite(self._db)
        except sqlite3.Error as exc:
            raise StateDBError(f"cannot read the state database {self.path}: {exc}") from exc

    @contextlib.contextmanager
    def _write(self, what: str, fenced: bool = True) -> Iterator[Sql]:
        try:
            with self._db:
                self._db.execute("BEGIN")
                yield _Sqlite(self._db)
        except sqlite3.Error as exc:
            raise StateDBError(f"cannot {what}: {exc}") from exc

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

    def close(self) -> None:
        self._db.close()

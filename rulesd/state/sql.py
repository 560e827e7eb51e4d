"""The tables both state backends hold, in SQL both SQLite and PostgreSQL run.

A backend hands these functions an `Sql`: its connection inside one transaction,
taking `?` placeholders. The schemas differ only in types (PostgreSQL has no
untyped column, and its REAL is single precision), so each backend keeps its own
`CREATE TABLE` text; what is read and written is the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Protocol

import orjson

from rulesd.silences import Silence
from rulesd.state.store import Changes, SeenEntry, StateStore, Version

# The schema this rulesd writes: 1 (and 0) seen-sets, memory and the outbox; 2 adds
# silences (and outbox rows in state `silenced`); 3 adds the outbox's `epoch` (the
# leadership term that claimed a row). SQLite keeps it in `PRAGMA user_version`,
# PostgreSQL in the table `schema_version`.
SCHEMA_VERSION: Final = 3


class Sql(Protocol):
    """One connection in one transaction, with `?` placeholders."""

    insertion_order: str  # the column that orders rows as they were inserted

    def run(self, sql: str, params: Sequence[Any] = ()) -> int: ...  # rows changed
    def many(self, sql: str, params: Sequence[Sequence[Any]]) -> None: ...
    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
    def version_in(self, version: Version) -> Any: ...  # a seen item's version, stored
    def version_out(self, stored: Any) -> Version: ...


def newer_schema(where: str, version: int) -> str:
    return (f"the state database {where} was written by a newer rulesd (schema {version}; "
            f"this rulesd reads up to {SCHEMA_VERSION}): upgrade rulesd")


def key(value: Any) -> str:
    return orjson.dumps(value, default=_plain).decode()


def _plain(value: Any) -> Any:
    """A typed record (a NamedTuple, e.g. Firing) as the JSON array it is stored as."""
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot store a {type(value).__name__}")


def unkey(text: str) -> Any:
    value = orjson.loads(text)
    return tuple(value) if isinstance(value, list) else value


def load(db: Sql) -> StateStore:
    store = StateStore()
    for scope, item, version, last_seen in db.rows(
            "SELECT scope, item, version, last_seen FROM seen"):
        store.seen.setdefault(scope, {})[item] = SeenEntry(db.version_out(version), last_seen)
    journals = {j.namespace: j for j in store.journals()}
    for ns, k, value in db.rows("SELECT ns, key, value FROM memory"):
        if ns in journals:
            journals[ns].restore(unkey(k), unkey(value))
    for scope, entries in store.seen.items():  # written before baselines were their own
        if entries and scope not in store.baselines:  # fact: a seen-set had taken it
            store.baselines[scope] = min(e.last_seen for e in entries.values())
    return store


def save(db: Sql, changes: Changes) -> None:
    db.many("INSERT INTO seen (scope, item, version, last_seen) VALUES (?,?,?,?) "
            "ON CONFLICT (scope, item) DO UPDATE SET version=excluded.version, "
            "last_seen=excluded.last_seen",
            [(scope, item, db.version_in(version), last_seen)
             for scope, item, version, last_seen in changes.seen_upserts])
    db.many("DELETE FROM seen WHERE scope=? AND item=?", changes.seen_deletes)
    db.many("INSERT INTO memory (ns, key, value) VALUES (?,?,?) "
            "ON CONFLICT (ns, key) DO UPDATE SET value=excluded.value",
            [(ns, key(k), key(v)) for ns, k, v in changes.upserts])
    db.many("DELETE FROM memory WHERE ns=? AND key=?",
            [(ns, key(k)) for ns, k in changes.deletes])


def silences(db: Sql) -> list[Silence]:
    return [Silence(*row) for row in db.rows(
        "SELECT id, rule, starts, ends, token, chain, source, comment FROM silences "
        "ORDER BY starts, id")]


def save_silence(db: Sql, s: Silence) -> None:
    db.run("INSERT INTO silences (id, rule, starts, ends, token, chain, source, comment) "
           "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET rule=excluded.rule, "
           "starts=excluded.starts, ends=excluded.ends, token=excluded.token, "
           "chain=excluded.chain, source=excluded.source, comment=excluded.comment",
           (s.id, s.rule, s.starts, s.ends, s.token, s.chain, s.source, s.comment))


def seen_rows(db: Sql) -> list[tuple[Any, ...]]:
    """Every seen item as (scope, item, version, last_seen) (`rulesd state migrate`)."""
    return [(scope, item, db.version_out(version), last_seen) for scope, item, version,
            last_seen in db.rows("SELECT scope, item, version, last_seen FROM seen")]


def memory_rows(db: Sql) -> list[tuple[Any, ...]]:
    return db.rows("SELECT ns, key, value FROM memory")


def copy(db: Sql, seen: Sequence[tuple[Any, ...]], memory: Sequence[tuple[Any, ...]],
         silenced: Sequence[Silence]) -> None:
    db.many("INSERT INTO seen (scope, item, version, last_seen) VALUES (?,?,?,?)",
            [(s, i, db.version_in(v), t) for s, i, v, t in seen])
    db.many("INSERT INTO memory (ns, key, value) VALUES (?,?,?)", memory)
    for silence in silenced:
        save_silence(db, silence)


def counts(db: Sql) -> dict[str, int]:
    """Rows per table: what `rulesd state migrate` moved, and whether a target is empty."""
    return {table: int(db.rows(f"SELECT count(*) FROM {table}")[0][0])
            for table in ("seen", "memory", "silences", "outbox")}

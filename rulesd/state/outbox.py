"""The durable outbox: one row per alert and notifier, written before any send.

The primary key (alert id, notifier) guards against doubles: an alert that is
evaluated again (after a crash, from a re-sent snapshot) is ignored if it is
already in the outbox, whatever its state.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Final

import attrs

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS outbox (
    alert_id TEXT NOT NULL, notifier TEXT NOT NULL, created REAL NOT NULL,
    rule TEXT NOT NULL, kind TEXT NOT NULL, grp TEXT,
    title TEXT NOT NULL, body TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT, done_at REAL,
    PRIMARY KEY (alert_id, notifier)
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, created);
"""

PENDING: Final = "pending"
DELIVERED: Final = "delivered"
DEAD: Final = "dead"
SILENCED: Final = "silenced"  # recorded, never sent


@attrs.frozen
class Delivery:
    """One alert, rendered for one notifier."""

    alert_id: str
    notifier: str
    created: float
    rule: str
    kind: str
    group: str | None
    title: str
    body: str
    attempts: int = 0
    silenced: str | None = None  # the silence that held it (its row is not sent)

    @property
    def key(self) -> tuple[str, str]:
        return (self.alert_id, self.notifier)


@attrs.frozen
class OutboxRow:
    delivery: Delivery
    state: str
    last_error: str | None
    done_at: float | None


def insert(db: sqlite3.Connection, deliveries: Iterable[Delivery]) -> None:
    db.executemany(
        "INSERT OR IGNORE INTO outbox (alert_id, notifier, created, rule, kind, grp, title, "
        "body, state, last_error) VALUES (?,?,?,?,?,?,?,?,?,?)",
        [(d.alert_id, d.notifier, d.created, d.rule, d.kind, d.group, d.title, d.body,
          SILENCED if d.silenced else PENDING,
          f"silenced by {d.silenced}" if d.silenced else None)
         for d in deliveries])


def mark(db: sqlite3.Connection, keys: Sequence[tuple[str, str]], state: str, at: float,
         error: str | None = None) -> None:
    db.executemany(
        "UPDATE outbox SET state=?, done_at=?, last_error=coalesce(?, last_error) "
        "WHERE alert_id=? AND notifier=?",
        [(state, at, error, a, n) for a, n in keys])


def failed(db: sqlite3.Connection, keys: Sequence[tuple[str, str]], error: str) -> None:
    db.executemany(
        "UPDATE outbox SET attempts=attempts+1, last_error=? WHERE alert_id=? AND notifier=?",
        [(error, a, n) for a, n in keys])


def rows(db: sqlite3.Connection, states: Sequence[str]) -> list[OutboxRow]:
    marks = ",".join("?" * len(states))
    out = []
    for (alert_id, notifier, created, rule, kind, grp, title, body, state, attempts,
         last_error, done_at) in db.execute(
            "SELECT alert_id, notifier, created, rule, kind, grp, title, body, state, "
            f"attempts, last_error, done_at FROM outbox WHERE state IN ({marks}) "
            "ORDER BY created, rowid", list(states)):
        delivery = Delivery(alert_id, notifier, created, rule, kind, grp, title, body, attempts)
        out.append(OutboxRow(delivery, state, last_error, done_at))
    return out


def recent(db: sqlite3.Connection, limit: int) -> list[OutboxRow]:
    """The newest rows, whatever their state (newest first)."""
    out = []
    for (alert_id, notifier, created, rule, kind, grp, title, body, state, attempts,
         last_error, done_at) in db.execute(
            "SELECT alert_id, notifier, created, rule, kind, grp, title, body, state, "
            "attempts, last_error, done_at FROM outbox ORDER BY created DESC, rowid DESC "
            "LIMIT ?", (limit,)):
        delivery = Delivery(alert_id, notifier, created, rule, kind, grp, title, body, attempts)
        out.append(OutboxRow(delivery, state, last_error, done_at))
    return out


def counts(db: sqlite3.Connection) -> dict[str, int]:
    """Rows by state."""
    return dict(db.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())


def requeue_dead(db: sqlite3.Connection) -> int:
    return db.execute(
        f"UPDATE outbox SET state='{PENDING}', done_at=NULL WHERE state='{DEAD}'").rowcount


def forget_delivered(db: sqlite3.Connection, before: float) -> None:
    db.execute(f"DELETE FROM outbox WHERE state='{DELIVERED}' AND done_at < ?", (before,))

"""The durable outbox: one row per alert and notifier, written before any send.

The primary key (alert id, notifier) guards against doubles: an alert that is
evaluated again (after a crash, from a re-sent snapshot) is ignored if it is
already in the outbox, whatever its state. `epoch` is the leadership term that
claimed a row (0 on SQLite): a new leader claims every pending row at takeover.
The SQL runs on either backend (`rulesd.state.sql`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

import attrs

from rulesd.state.sql import Sql

PENDING: Final = "pending"
DELIVERED: Final = "delivered"
DEAD: Final = "dead"
SILENCED: Final = "silenced"  # recorded, never sent
INHIBITED: Final = "inhibited"  # recorded, never sent: a source alert held it
MUTED: Final = "muted"  # recorded, never sent itself: a time interval held it


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


_COLUMNS: Final = ("alert_id, notifier, created, rule, kind, grp, title, body, state, "
                   "attempts, last_error, done_at")


def insert(db: Sql, deliveries: Iterable[Delivery], epoch: int = 0) -> None:
    db.many(
        "INSERT INTO outbox (alert_id, notifier, created, rule, kind, grp, title, body, "
        "state, last_error, epoch) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
        [(d.alert_id, d.notifier, d.created, d.rule, d.kind, d.group, d.title, d.body,
          _held(d.silenced)[0], _held(d.silenced)[1], epoch)
         for d in deliveries])


def _held(by: str | None) -> tuple[str, str | None]:
    """A row's state and why, for an alert a silence or an inhibition held (or none)."""
    if by is None:
        return PENDING, None
    if by.startswith(f"{INHIBITED}:"):
        return INHIBITED, f"inhibited by {by.split(':', 1)[1]}"
    if by.startswith(f"{MUTED}:"):
        return MUTED, f"muted: {by.split(':', 1)[1]}"
    return SILENCED, f"silenced by {by}"


def mark(db: Sql, keys: Sequence[tuple[str, str]], state: str, at: float,
         error: str | None = None) -> None:
    db.many(
        "UPDATE outbox SET state=?, done_at=?, last_error=coalesce(?, last_error) "
        "WHERE alert_id=? AND notifier=?",
        [(state, at, error, a, n) for a, n in keys])


def failed(db: Sql, keys: Sequence[tuple[str, str]], error: str) -> None:
    db.many(
        "UPDATE outbox SET attempts=attempts+1, last_error=? WHERE alert_id=? AND notifier=?",
        [(error, a, n) for a, n in keys])


def claim(db: Sql, epoch: int) -> int:
    """A new leader takes over every pending row (claimed by an earlier term)."""
    return db.run(f"UPDATE outbox SET epoch=? WHERE state='{PENDING}' AND epoch<>?",
                  (epoch, epoch))


def _row(values: Sequence[Any]) -> OutboxRow:
    (alert_id, notifier, created, rule, kind, grp, title, body, state, attempts,
     last_error, done_at) = values
    delivery = Delivery(alert_id, notifier, created, rule, kind, grp, title, body, attempts)
    return OutboxRow(delivery, state, last_error, done_at)


def rows(db: Sql, states: Sequence[str]) -> list[OutboxRow]:
    marks = ",".join("?" * len(states))
    return [_row(r) for r in db.rows(
        f"SELECT {_COLUMNS} FROM outbox WHERE state IN ({marks}) "
        f"ORDER BY created, {db.insertion_order}", list(states))]


def recent(db: Sql, limit: int) -> list[OutboxRow]:
    """The newest rows, whatever their state (newest first)."""
    return [_row(r) for r in db.rows(
        f"SELECT {_COLUMNS} FROM outbox ORDER BY created DESC, {db.insertion_order} DESC "
        "LIMIT ?", (limit,))]


def everything(db: Sql) -> list[tuple[OutboxRow, int]]:
    """Every row with its epoch, in insertion order (`rulesd state migrate`)."""
    return [(_row(r[:-1]), r[-1]) for r in db.rows(
        f"SELECT {_COLUMNS}, epoch FROM outbox ORDER BY created, {db.insertion_order}")]


def copy(db: Sql, rows: Sequence[tuple[OutboxRow, int]]) -> None:
    db.many(
        f"INSERT INTO outbox ({_COLUMNS}, epoch) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT DO NOTHING",
        [(r.delivery.alert_id, r.delivery.notifier, r.delivery.created, r.delivery.rule,
          r.delivery.kind, r.delivery.group, r.delivery.title, r.delivery.body, r.state,
          r.delivery.attempts, r.last_error, r.done_at, epoch) for r, epoch in rows])


def counts(db: Sql) -> dict[str, int]:
    """Rows by state."""
    return {state: int(n) for state, n in db.rows(
        "SELECT state, count(*) FROM outbox GROUP BY state")}


def requeue_dead(db: Sql) -> int:
    return db.run(f"UPDATE outbox SET state='{PENDING}', done_at=NULL WHERE state='{DEAD}'")


def forget_delivered(db: Sql, before: float) -> None:
    db.run(f"DELETE FROM outbox WHERE state='{DELIVERED}' AND done_at < ?", (before,))

"""What a state backend offers the daemon and the commands, written once over `Sql`.

Two backends hold the same things (seen-sets, the store's journals — firing state,
cooldowns, first-seen, presence —, silences, the outbox and its dead letters): the
SQLite file (`db.py`, one daemon) and PostgreSQL (`postgres.py`, several daemons,
one leader). Each supplies a connection in a transaction; every method below runs
in a worker thread, one call at a time (the daemon's `DeliveryService.call`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import ClassVar

from rulesd.silences import Silence
from rulesd.state import outbox, sql
from rulesd.state.outbox import Delivery, OutboxRow
from rulesd.state.sql import Sql
from rulesd.state.store import Changes, StateStore


class StateDBError(Exception):
    """The state database cannot be opened, reached or written."""


class NotLeader(StateDBError):
    """A write of a leader whose term has ended (another instance took the lease)."""


class StateBackend:
    """The operations; a backend provides `_read` and `_write`."""

    # Several daemons share it: one leads (a lease), and an alert is sent only once
    # it is written (another instance must be able to take it over).
    shared: ClassVar[bool] = False
    in_memory: bool = False
    where: str  # for messages: the file, or the URL in its privacy form
    epoch: int = 0  # the leadership term writing (0: no leadership)

    def _read(self) -> contextlib.AbstractContextManager[Sql]:
        raise NotImplementedError

    def _write(self, what: str, fenced: bool = True) -> contextlib.AbstractContextManager[Sql]:
        """A transaction; StateDBError("cannot <what>: ...") when it fails. A fenced
        write of a leader fails with NotLeader once its term has ended."""
        raise NotImplementedError

    def trouble(self) -> str | None:
        """What is wrong under a running daemon, if anything (checked every minute)."""
        return None

    def close(self) -> None:
        pass

    def load(self) -> StateStore:
        with self._read() as db:
            return sql.load(db)

    def save(self, changes: Changes, deliveries: Sequence[Delivery] = ()) -> None:
        """State changes and new deliveries in one transaction: an alert is durable
        in the outbox exactly when the state that produced it is."""
        if not changes and not deliveries:
            return
        with self._write("write the state database") as db:
            outbox.insert(db, deliveries, self.epoch)
            sql.save(db, changes)

    def claim(self) -> int:
        """Take over the pending outbox rows of earlier terms; how many there were."""
        with self._write("take over the outbox") as db:
            return outbox.claim(db, self.epoch)

    def delivered(self, keys: Sequence[tuple[str, str]], at: float) -> None:
        with self._write("mark alerts delivered") as db:
            outbox.mark(db, keys, outbox.DELIVERED, at)

    def failed(self, keys: Sequence[tuple[str, str]], error: str) -> None:
        with self._write("record a failed send") as db:
            outbox.failed(db, keys, error)

    def dead(self, keys: Sequence[tuple[str, str]], at: float, error: str) -> None:
        with self._write("dead-letter alerts") as db:
            outbox.mark(db, keys, outbox.DEAD, at, error)

    def outbox(self, *states: str) -> list[OutboxRow]:
        with self._read() as db:
            return outbox.rows(db, states or (outbox.PENDING,))

    def recent(self, limit: int = 50) -> list[OutboxRow]:
        with self._read() as db:
            return outbox.recent(db, limit)

    def outbox_counts(self) -> dict[str, int]:
        with self._read() as db:
            return outbox.counts(db)

    def requeue_dead(self) -> int:
        with self._write("requeue dead-lettered alerts") as db:
            return outbox.requeue_dead(db)

    def forget_delivered(self, before: float) -> None:
        with self._write("trim the outbox") as db:
            outbox.forget_delivered(db, before)

    def silences(self) -> list[Silence]:
        with self._read() as db:
            return sql.silences(db)

    def save_silence(self, silence: Silence) -> None:
        """Any instance may (a standby's API, the command line): the leader reads the
        table again every few seconds."""
        with self._write("save a silence", fenced=False) as db:
            sql.save_silence(db, silence)

    def save_command(self, changes: Changes, silences: Sequence[Silence]) -> None:
        """A chat command's effects with the update offset past it, in one transaction
        fenced like the engine's: after a crash or a failover the next leader neither
        loses nor repeats it."""
        with self._write("record a chat command") as db:
            sql.save(db, changes)
            for silence in silences:
                sql.save_silence(db, silence)

    # `rulesd state migrate`
    def counts(self) -> dict[str, int]:
        with self._read() as db:
            return sql.counts(db)

    def copy_from(self, other: StateBackend) -> dict[str, int]:
        """Everything `other` holds, into this (empty) backend, in one transaction."""
        with other._read() as source:
            seen, memory = sql.seen_rows(source), sql.memory_rows(source)
            silenced, rows = sql.silences(source), outbox.everything(source)
        with self._write("copy the state") as db:
            sql.copy(db, seen, memory, silenced)
            outbox.copy(db, rows)
        return {"seen": len(seen), "memory": len(memory), "silences": len(silenced),
                "outbox": len(rows)}

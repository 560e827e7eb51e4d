"""The one writer of the state database in a running daemon.

The engine's commits (state changes and the deliveries they produced, in one
transaction) and the workers' marks (delivered, failed, dead) go through here, in the
order they were made. A write the database refuses is kept, and written first once it
is writable again (a full disk loses nothing: a restart then neither repeats nor
forgets); the outage is said once. On a shared database an alert goes to the workers
only once it is written (another instance may take over from what is written), so
those wait here, in order; on a daemon's own file a full disk must not stop alerts.
A term that lost its lease (NotLeader) writes nothing more and ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Final

import trio

from rulesd.redact import Redactor
from rulesd.state.backend import NotLeader, StateDBError
from rulesd.state.outbox import Delivery
from rulesd.state.store import Changes
from rulesd.state.thread import DatabaseThread

log = logging.getLogger("rulesd.daemon")

# On a shared database: how often the leader retries writes that failed (alerts wait
# for them) when no event comes to retry them.
RETRY_WRITES_S: Final = 1.0


class StateWriter:
    def __init__(self, thread: DatabaseThread, redact: Redactor,
                 lost: Callable[[str], None] | None = None) -> None:
        self._thread = thread
        self._db = thread.db
        self._redact = redact
        self._lost = lost  # the term lost its lease (a shared database)
        self._unwritten: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
        self._lock = trio.Lock()  # the engine and the workers write in turn
        self._failing = False
        self._held: list[Delivery] = []  # on a shared database: written, then sent

    @property
    def unwritten(self) -> int:
        """Writes waiting for the database to be writable again."""
        return len(self._unwritten)

    async def commit(self, changes: Changes, deliveries: Sequence[Delivery]) -> list[Delivery]:
        """State changes and new deliveries in one transaction. What may go to the
        workers now, in order (a silenced alert is recorded, not sent)."""
        written = await self._written(self._db.save, changes, deliveries)
        if not written and self._db.shared:
            self._held.extend(deliveries)  # sent once written, in order
            return []
        return self._release(deliveries)

    async def retry(self) -> list[Delivery]:
        """Write what earlier failures left; what it held back may go out now."""
        if self._unwritten and await self._written():
            return self._release([])
        return []

    async def keep_retrying(self, deliveries: trio.MemorySendChannel[Delivery]) -> None:
        """On a shared database, retry every RETRY_WRITES_S even when no event comes; the
        alerts held for those writes go to the workers once written."""
        async with deliveries:
            while True:
                await trio.sleep(RETRY_WRITES_S)
                for delivery in await self.retry():
                    await deliveries.send(delivery)

    def _release(self, deliveries: Sequence[Delivery]) -> list[Delivery]:
        held, self._held = self._held, []
        return [d for d in [*held, *deliveries] if d.silenced is None]

    async def _written(self, fn: Callable[..., None] | None = None, *args: Any) -> bool:
        """Write (or only what earlier failures left); False when the database refuses,
        said once per outage."""
        try:
            async with self._lock:
                if fn is not None:
                    self._unwritten.append((fn, args))
                await self._flush()
        except NotLeader as exc:
            if self._lost is not None:
                self._lost(str(exc))
            return False
        except StateDBError as exc:
            if not self._failing:
                then = ("alerts wait in memory and are written, then sent, once it is back"
                        if self._db.shared else "alerts go on, and what cannot be written "
                        "now is kept and written once the database is writable again")
                log.error("%s; %s", exc, then)
            self._failing = True
            return False
        if self._failing:
            log.info("state database writable again")
        self._failing = False
        return True

    async def _flush(self) -> None:
        while self._unwritten:
            fn, args = self._unwritten[0]
            await self._thread.call(fn, *args)
            self._unwritten.pop(0)

    # The workers' marks (dispatcher.OutboxWriter): a failing database must not stop
    # deliveries; what cannot be written is kept (the engine's commits say the outage).
    async def _mark(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            async with self._lock:
                self._unwritten.append((fn, args))
                await self._flush()
        except NotLeader:  # its successor owns the rows
            self._unwritten.clear()
        except StateDBError:
            pass

    async def delivered(self, keys: Sequence[tuple[str, str]], at: float) -> None:
        await self._mark(self._db.delivered, keys, at)

    # A platform's reason may echo a token: masked before it reaches the outbox (and so
    # `rulesd outbox`, the status API and page).
    async def failed(self, keys: Sequence[tuple[str, str]], error: str) -> None:
        await self._mark(self._db.failed, keys, self._redact(error))

    async def dead(self, keys: Sequence[tuple[str, str]], at: float, error: str) -> None:
        await self._mark(self._db.dead, keys, at, self._redact(error))

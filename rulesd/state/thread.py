"""The state database's worker thread: one call at a time (an SQLite connection must
not be used by two threads at once), long-lived across a daemon's terms."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from rulesd.state.backend import StateBackend

T = TypeVar("T")


class DatabaseThread:
    def __init__(self, db: StateBackend) -> None:
        self.db = db
        self._limiter = trio.CapacityLimiter(1)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a state-backend method in the database's worker thread — or inline for an
        in-memory database, which never waits on a disk (and so dry-runs stay on trio's
        clock alone, deterministic under MockClock)."""
        if self.db.in_memory:
            await trio.lowlevel.checkpoint()
            return fn(*args)
        return await trio.to_thread.run_sync(functools.partial(fn, *args),
                                             limiter=self._limiter)

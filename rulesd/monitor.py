"""What a running daemon says of itself: how the engine keeps up (for /metrics and the
status page), the summary line now and then (`summary.py` makes it) and the state
file's trouble (deleted, replaced or damaged under it)."""

from __future__ import annotations

import collections
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from rulesd import summary
from rulesd.events import Event
from rulesd.state.backend import StateBackend

log = logging.getLogger("rulesd.daemon")


@attrs.define
class EngineStats:
    """How the engine keeps up: for /metrics and the status page."""

    events: int = 0
    commits: int = 0
    queue_depth: int = 0  # events waiting behind the one just processed
    lag_s: float = 0.0  # how long the event just processed waited after it was received
    max_lag_s: float = 0.0

    by_kind: collections.Counter[str] = attrs.field(factory=collections.Counter)

    def saw(self, event: Event, now: float) -> None:
        self.events += 1
        self.by_kind[event.kind] += 1
        self.lag_s = now - event.received
        if self.lag_s > self.max_lag_s:
            self.max_lag_s = self.lag_s


async def summaries(interval_s: float, totals: Callable[[], summary.Totals],
                    waiting: Callable[[], int]) -> None:
    """Every `interval_s` one info line: what the sources and delivery did since the
    last one, so "connected, nothing new" can be told from "stuck"."""
    before = totals()
    while True:
        await trio.sleep(interval_s)
        after = totals()
        log.info("%s", summary.line(before, after, interval_s, waiting()))
        before = after


async def watch_database(db: StateBackend, call: Callable[..., Awaitable[Any]],
                         interval_s: float) -> None:
    """Say at once when the state file is deleted, replaced or damaged under us (once
    per kind of trouble, and again when it clears)."""
    said: str | None = None
    while True:
        await trio.sleep(interval_s)
        trouble = await call(db.trouble)
        if trouble != said:
            if trouble is not None:
                log.error("%s", trouble)
            else:
                log.info("state database %s looks right again", db.where)
            said = trouble

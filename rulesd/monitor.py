"""What a running daemon says of itself now and then: the summary line (`summary.py`
makes it) and the state file's trouble (deleted, replaced or damaged under it)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from rulesd import summary
from rulesd.state.backend import StateBackend

log = logging.getLogger("rulesd.daemon")


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

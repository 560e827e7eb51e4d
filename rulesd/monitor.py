"""What a running daemon says of itself: how the engine keeps up (for /metrics and the
status page), what the chat's control bot did, the summary line now and then
(`summary.py` makes it) and the state file's trouble (deleted, replaced or damaged
under it)."""

from __future__ import annotations

import collections
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

import attrs
import trio

from rulesd import summary
from rulesd.events import Event
from rulesd.inert import inert
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


# How many of the last actions are shown.
CONTROL_ACTIONS_KEPT: Final = 50


@attrs.frozen
class ControlAction:
    at: float
    user: int | None
    asked: str  # the command as typed (one line, cut), or the button pressed
    result: str  # the reply's first line


@attrs.define
class ControlActivity:
    """What the chat's control bot is doing and did (`rulesd.control`): whether it polls
    Telegram, and its last actions with the user who asked — kept in memory by the
    instance that did them (a standby shows what it did while it led)."""

    state: str = "off"  # off (no bot configured), starting, up, down
    last_error: str | None = None
    handled: int = 0
    refused: int = 0
    actions: collections.deque[ControlAction] = attrs.field(
        factory=lambda: collections.deque(maxlen=CONTROL_ACTIONS_KEPT))

    # Masks what the file holds secret (an admin may paste a key into the chat).
    mask: Callable[[str], str] = str

    def did(self, at: float, user: int | None, asked: str, result: str) -> None:
        self.actions.append(ControlAction(
            at, user, self.mask(inert(" ".join(asked.split())))[:200],
            self.mask(inert(result.split("\n", 1)[0]))[:200]))

    def view(self) -> dict[str, Any]:
        """The status API's `control` block (newest action first)."""
        return {"telegram": self.state, "error": self.last_error,
                "handled": self.handled, "refused": self.refused,
                "actions": [{"at": a.at, "user": a.user, "asked": a.asked,
                             "result": a.result} for a in reversed(self.actions)]}


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

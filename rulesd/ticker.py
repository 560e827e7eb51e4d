"""The clock of time-driven rules (`for`, `absent`, `repeat`): the engine is ticked on a
grid of TICK_INTERVAL_S, skipping the grid ticks where nothing can come due, so a quiet
week in a replay is a handful of ticks and what fires fires on the same tick as if every
tick had run. An event wakes it to the shortest window; a reload to the new rules."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Final

import trio

from rulesd.clock import Clock
from rulesd.rules.alert import Alert
from rulesd.rules.engine import Engine

# How often `for` and `absent` are evaluated between events, at the most.
TICK_INTERVAL_S: Final = 1.0


def grid(origin: float, at: float) -> float:
    """The first tick of the grid from `origin` at or after `at` and after now (trio's
    clock), forgiving float noise of a microsecond."""
    if at == math.inf:
        return at
    ticks = max(math.ceil((at - origin) / TICK_INTERVAL_S - 1e-6),
                math.floor((trio.current_time() - origin) / TICK_INTERVAL_S + 1e-6) + 1)
    return origin + ticks * TICK_INTERVAL_S


class Ticker:
    """Ticks the engine it is handed (the current one: a reload or a new term swaps it)
    and commits what fires."""

    def __init__(self, engine: Callable[[], Engine], clock: Clock,
                 commit: Callable[[list[Alert]], Awaitable[None]]) -> None:
        self._engine = engine
        self._clock = clock
        self._commit = commit
        self.ticks = 0  # evaluations of time-driven rules
        self.events = 0  # events the engine took (told by `event_came`)
        self._reloaded = False  # since the ticker last looked
        self._wake_on_reload = trio.CancelScope()
        self._wake_on_event: trio.Event | None = None  # set while it waits for one

    def event_came(self) -> None:
        """The engine took an event: what it started may come due sooner."""
        self.events += 1
        if self._wake_on_event is not None:
            self._wake_on_event.set()

    def reloaded(self) -> None:
        """New rules: they tick from the next grid tick on."""
        self._reloaded = True
        self._wake_on_reload.cancel()

    async def run(self) -> None:
        """Tick until cancelled (the term ends with the engine)."""
        origin = trio.current_time()
        while True:
            engine = self._engine()
            ruleset = engine.ruleset
            if ruleset.time_driven:
                now, seen = self._clock.now(), self.events
                fired = engine.tick(now)
                self.ticks += 1
                if fired:
                    await self._commit(fired)
                due = engine.runtime.next_due
                if self.events != seen:  # events came in meanwhile
                    due = min(due, now + ruleset.min_wait)
                at = trio.current_time() + (due - self._clock.now())
                if await self._wait(origin, at, ruleset.min_wait):
                    continue
            else:  # no rule fires on the clock: nothing to do until a reload
                await self._wait(origin, math.inf, None)
            await trio.sleep_until(grid(origin, trio.current_time()))

    async def _wait(self, origin: float, at: float, min_wait: float | None) -> bool:
        """Sleep until the grid tick at or after `at` (trio's clock; inf: for ever),
        sooner if the engine takes an event (what it starts comes due `min_wait` after
        it at the soonest; None: events do not matter). False when a reload cut the
        wait short."""
        if not self._reloaded:
            with trio.CancelScope() as self._wake_on_reload:
                wake = self._wake_on_event = None if min_wait is None else trio.Event()
                try:
                    with trio.move_on_at(grid(origin, at)):
                        if wake is None:
                            await trio.sleep_forever()
                        await wake.wait()
                        self._wake_on_event = None
                        assert min_wait is not None
                        at = min(at, trio.current_time() + min_wait)
                        await trio.sleep_until(grid(origin, at))
                finally:
                    self._wake_on_event = None
        reloaded, self._reloaded = self._reloaded, False
        return not reloaded

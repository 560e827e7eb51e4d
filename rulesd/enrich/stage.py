"""The events that wait for their market data, and only those.

The intake hands over an event whose kind some rule waits on (it names `market.`
fields) after the other rules saw it. Here it waits for its token's market
values, at most `timeout`; then those rules see it with `market` filled in — or,
when the lookup failed or took too long, with every market value unknown (null:
no condition on them holds), counted as a timeout. Each waiting event is a task
of its own: one slow chain never holds up another's events.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from rulesd.clock import Clock
from rulesd.enrich.lookup import MarketLookup, answer
from rulesd.events import Event
from rulesd.histogram import Histogram
from rulesd.sources.dexscreener.market import UNKNOWN, aged


@attrs.define
class WaitStats:
    waited: int = 0  # events that waited for market data
    waiting: int = 0  # waiting now
    timed_out: int = 0  # evaluated with unknown market data (timeout or failure)
    wait: Histogram = attrs.field(factory=Histogram)


class Enricher:
    def __init__(self, lookup: MarketLookup, timeout_s: float, clock: Clock,
                 evaluate: Callable[[Event], Awaitable[None]]) -> None:
        self.lookup = lookup
        self.timeout_s = timeout_s
        self.stats = WaitStats()
        self._clock = clock
        self._evaluate = evaluate  # the waiting rules, on the event with its market
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Serve until cancelled (the term's end): what still waits then is dropped
        with the term, as the stream frames not yet read are."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.lookup.run)
            self._nursery = nursery
            task_status.started()
            while True:
                await trio.sleep(max(self.lookup.ttl_s, 1.0))
                self.lookup.forget_expired()

    def submit(self, event: Event) -> None:
        """Let `event` wait for its market data (called in the source's task: returns
        at once)."""
        assert self._nursery is not None, "Enricher.run is not running"
        self.stats.waited += 1
        self.stats.waiting += 1
        token = event.token
        asked = None
        if token is not None and token.chain and token.address:
            asked = self.lookup.ask(token.chain, token.address)
        self._nursery.start_soon(self._wait, event, asked)

    async def _wait(self, event: Event, asked: Any) -> None:
        started = trio.current_time()
        market: Any = None
        if asked is not None:
            with trio.move_on_after(self.timeout_s):
                market = await answer(asked)
        self.stats.wait.observe(trio.current_time() - started)
        self.stats.waiting -= 1
        if market is None:
            self.stats.timed_out += 1
            market = UNKNOWN
        fields = {**event.fields, "market": aged(market, self._clock.now())}
        await self._evaluate(attrs.evolve(event, fields=fields))

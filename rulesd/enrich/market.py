"""`market.` values of an event's token, from DEX Screener's REST API, bounded in time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import trio

from rulesd.clock import Clock
from rulesd.enrich.lookup import Lookup, answer
from rulesd.events import TokenRef
from rulesd.sources.dexscreener.market import UNKNOWN, aged


class MarketAnswers:
    def __init__(self, lookup: Lookup, timeout_s: float, clock: Clock) -> None:
        self.lookup = lookup
        self.timeout_s = timeout_s
        self.timed_out = 0  # events that saw unknown market data (timeout or failure)
        self._clock = clock

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(self.lookup.run)
            task_status.started()
            while True:
                await trio.sleep(max(self.lookup.ttl_s, 1.0))
                self.lookup.forget_expired()

    def ask(self, token: TokenRef) -> Any:
        if token.chain and token.address:
            return self.lookup.ask(token.chain, token.address)
        return None

    async def answer(self, asked: Any) -> Mapping[str, Any]:
        market = None
        if asked is not None:
            with trio.move_on_after(self.timeout_s):
                market = await answer(asked)
        if market is None:
            self.timed_out += 1
            market = UNKNOWN
        return aged(market, self._clock.now())

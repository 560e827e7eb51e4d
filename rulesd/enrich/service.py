"""The market stage of a term: DEX Screener's REST API behind `market.*` and watches.

One budget, one client and one cache serve both the events that wait for their
market data and the watched tokens' polls. Built per term (only a leader asks);
nothing is asked until a rule needs it. `fetch` replaces the API (a replay's
recorded answers).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import trio

from rulesd.clock import Clock
from rulesd.enrich.budget import Budget
from rulesd.enrich.client import MarketClient
from rulesd.enrich.lookup import Fetch, MarketLookup
from rulesd.enrich.stage import Enricher
from rulesd.enrich.watch import Watcher
from rulesd.events import Event
from rulesd.rules.engine import Engine
from rulesd.sources.dexscreener.config import DexScreenerConfig, MarketConfig
from rulesd.sources.health import SourceHealth
from rulesd.sources.tap import Tap, no_tap
from rulesd.state import StateStore

NAME = "dexscreener market"


def market_config(sources: Mapping[str, Any]) -> MarketConfig:
    """The `market` settings of the file's DEX Screener section (defaults without one)."""
    dex = sources.get("dexscreener")
    return dex.market if isinstance(dex, DexScreenerConfig) else MarketConfig()


class MarketService:
    def __init__(self, config: MarketConfig, clock: Clock, state: Callable[[], StateStore],
                 emit: Callable[[Event], Awaitable[None]],
                 evaluate: Callable[[Event], Awaitable[None]], *, tap: Tap = no_tap,
                 fetch: Fetch | None = None) -> None:
        count, window_s = config.budget()
        self.config = config
        self.budget = Budget(count, window_s)
        self.health = SourceHealth(NAME, on_demand=True)
        self.client = MarketClient(config.url, self.budget, config.timeout, clock,
                                   self.health, tap=tap, emit=emit)
        ask = fetch or self.client.tokens
        self.lookup = MarketLookup(ask, config.ttl)
        self.enricher = Enricher(self.lookup, config.timeout, clock, evaluate)
        self.watcher = Watcher(ask, state, clock, emit, budget_per_s=self.budget.per_s,
                               max_watched=config.max_watched)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(self.enricher.run)
                nursery.start_soon(self.watcher.run)
                task_status.started()
        finally:
            with trio.CancelScope(shield=True):
                await self.client.aclose()

    def reconfigure(self, config: MarketConfig) -> None:
        """A reloaded file's `market` settings, applied to what is running."""
        if config == self.config:
            return
        self.config = config
        count, window_s = config.budget()
        self.budget.resize(count, window_s)
        self.client.url = config.url.rstrip("/")
        self.client.timeout_s = config.timeout
        self.lookup.ttl_s = config.ttl
        self.enricher.timeout_s = config.timeout
        self.watcher.resize(self.budget.per_s, config.max_watched)

    def follow(self, engine: Engine, healths: dict[str, SourceHealth]) -> None:
        """Show the API as a connection while some rule asks for it (or a watch is on)."""
        ruleset = engine.ruleset
        if ruleset.waiting_kinds or ruleset.watching or len(engine.state.watches):
            healths[NAME] = self.health
        else:
            healths.pop(NAME, None)

    def view(self) -> dict[str, Any]:
        """What the status API and page show of it."""
        budget, lookup = self.budget.stats, self.lookup.stats
        waits, watches = self.enricher.stats, self.watcher.stats
        return {
            "rate": self.config.rate, "requests": budget.requests,
            "throttled": budget.throttled, "lookups": lookup.asked,
            "cache_hits": lookup.cache_hits, "asked_alone": lookup.alone,
            "waited": waits.waited, "waiting": waits.waiting, "timeouts": waits.timed_out,
            "watched": watches.watched, "watch_polls": watches.polls,
            "watch_interval_s": None if watches.interval_s is None
            else round(watches.interval_s, 3),
        }

    def submit(self, event: Event) -> None:
        """`event` waits for its token's market data, then its waiting rules see it."""
        self.enricher.submit(event)

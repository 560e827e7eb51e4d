"""The lookups of a term: DEX Screener's REST API behind `market.` fields and watches,
GoPlus and RugCheck behind `security.` fields.

One budget, one client and one cache per host, shared by the events that wait and
(for DEX Screener) the watched tokens' polls. Built per term (only a leader asks);
nothing is asked until a rule needs it. `replay` serves a capture's answers in
place of the services.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import trio

from rulesd.clock import Clock
from rulesd.enrich.budget import Budget
from rulesd.enrich.client import MarketClient
from rulesd.enrich.config import SERVICES, ServiceConfig
from rulesd.enrich.lookup import Lookup
from rulesd.enrich.market import MarketAnswers
from rulesd.enrich.recorded import RecordedAnswers
from rulesd.enrich.safety import GoPlusClient, RugCheckClient, SafetyAnswers, Service, lookup_for
from rulesd.enrich.stage import Enricher
from rulesd.enrich.watch import Watcher
from rulesd.events import Event
from rulesd.rules.engine import Engine
from rulesd.sources.dexscreener.config import DexScreenerConfig, MarketConfig
from rulesd.sources.health import SourceHealth
from rulesd.sources.tap import Tap, no_tap
from rulesd.state import StateStore

NAME: Final = "dexscreener market"
_CLIENTS: Final[dict[str, type[GoPlusClient] | type[RugCheckClient]]] = {
    "goplus": GoPlusClient, "rugcheck": RugCheckClient}
_KEY_HEADERS: Final = {"goplus": "Authorization", "rugcheck": "X-API-KEY"}


def market_config(sources: Mapping[str, Any]) -> MarketConfig:
    """The `market` settings of the file's DEX Screener section (defaults without one)."""
    dex = sources.get("dexscreener")
    return dex.market if isinstance(dex, DexScreenerConfig) else MarketConfig()


class Enrichment:
    def __init__(self, market: MarketConfig, safety: Mapping[str, ServiceConfig],
                 clock: Clock, state: Callable[[], StateStore],
                 needs: Callable[[str], frozenset[str]],
                 emit: Callable[[Event], Awaitable[None]],
                 evaluate: Callable[[Event], Awaitable[None]], *, tap: Tap = no_tap,
                 replay: RecordedAnswers | None = None) -> None:
        count, window_s = market.budget()
        self.config = market
        self.budget = Budget(count, window_s)
        self.health = SourceHealth(NAME, on_demand=True)
        self.client = MarketClient("dexscreener", "market", market.url, self.budget,
                                   market.timeout, clock, self.health, tap=tap, emit=emit,
                                   replay=replay)
        self.lookup = Lookup(self.client.tokens, market.ttl)
        self.market = MarketAnswers(self.lookup, market.timeout, clock)
        self.watcher = Watcher(self.client.tokens, state, clock, emit,
                               budget_per_s=self.budget.per_s,
                               max_watched=market.max_watched)
        self.safety = SafetyAnswers({
            name: _service(name, config, clock, tap, emit, replay)
            for name, config in safety.items()})
        self.enricher = Enricher({"market": self.market, "security": self.safety}, needs,
                                 evaluate)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(self.enricher.run)
                nursery.start_soon(self.watcher.run)
                task_status.started()
        finally:
            with trio.CancelScope(shield=True):
                for client in (self.client, *(s.client for s in self.safety.services.values())):
                    await client.aclose()

    def reconfigure(self, config: MarketConfig) -> None:
        """A reloaded file's `market` settings, applied to what is running (the safety
        services' settings apply from the next start)."""
        if config == self.config:
            return
        self.config = config
        count, window_s = config.budget()
        self.budget.resize(count, window_s)
        self.client.url = config.url.rstrip("/")
        self.client.timeout_s = config.timeout
        self.lookup.ttl_s = config.ttl
        self.market.timeout_s = config.timeout
        self.watcher.resize(self.budget.per_s, config.max_watched)

    def follow(self, engine: Engine, healths: dict[str, SourceHealth]) -> None:
        """Show each service as a connection while some rule asks for it."""
        ruleset = engine.ruleset
        wanted = frozenset().union(*ruleset.waiting_kinds.values())
        shown = {NAME: self.health} if "market" in wanted or ruleset.watching \
            or len(engine.state.watches) else {}
        if "security" in wanted:
            shown.update({s.health.name: s.health for s in self.safety.services.values()})
        for health in (self.health, *(s.health for s in self.safety.services.values())):
            if health.name in shown:
                healths[health.name] = health
            else:
                healths.pop(health.name, None)

    def view(self, healths: Mapping[str, SourceHealth]) -> dict[str, Any]:
        """What the status API and page show of the services in use."""
        out: dict[str, Any] = {}
        if NAME in healths:
            budget, lookup, watches = self.budget.stats, self.lookup.stats, self.watcher.stats
            out["market"] = {
                "rate": self.config.rate, "requests": budget.requests,
                "throttled": budget.throttled, "lookups": lookup.asked,
                "cache_hits": lookup.cache_hits, "asked_alone": lookup.alone,
                "timeouts": self.market.timed_out, "watched": watches.watched,
                "watch_polls": watches.polls,
                "watch_interval_s": None if watches.interval_s is None
                else round(watches.interval_s, 3)}
        for name, service in self.safety.services.items():
            if service.health.name in healths:
                budget, lookup = service.budget.stats, service.lookup.stats
                out[name] = {"requests": budget.requests, "throttled": budget.throttled,
                             "errors": service.health.failures, "lookups": lookup.asked,
                             "cache_hits": lookup.cache_hits, "timeouts": service.timed_out}
        if out:
            waits = self.enricher.stats
            out["events"] = {"waited": waits.waited, "waiting": waits.waiting}
        return out

    def submit(self, event: Event) -> None:
        """`event` waits for its lookups, then its waiting rules see it."""
        self.enricher.submit(event)


def _service(name: str, config: ServiceConfig, clock: Clock, tap: Tap,
             emit: Callable[[Event], Awaitable[None]], replay: RecordedAnswers | None
             ) -> Service:
    count, window_s = config.budget()
    headers = {_KEY_HEADERS[name]: config.api_key} if config.api_key else {}
    client: GoPlusClient | RugCheckClient = _CLIENTS[name](
        name, "security", config.url, Budget(count, window_s), config.timeout, clock,
        SourceHealth(name, on_demand=True), tap=tap, emit=emit, headers=headers,
        not_found=True, replay=replay)
    return Service(name, client, lookup_for(name, client, config.ttl), config.timeout)


def safety_configs(lookups: Mapping[str, Any]) -> dict[str, ServiceConfig]:
    """The configured safety services' sections."""
    return {name: config for name, config in lookups.items()
            if name in SERVICES and isinstance(config, ServiceConfig)}

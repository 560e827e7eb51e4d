"""Watches: the tokens rules with `watch` fired for, polled until their time is up.

The engine records a watch when such a rule fires (`StateStore.watches`, persisted
like firing state, so a restart or a failover goes on watching). Here they are
polled through the same client and budget as the lookups, batched per chain, and
each answer becomes a `price` event from `dexscreener` (stream `watch`) with the
market values at the top level and `watch.rule`, `watch.since`, `watch.price`,
`watch.change` — so `change`, `crosses`, `for` and `absent` follow what the
channel was told about.

Watches get at most `SHARE` of the host's budget (the rest serves the events that
wait). When that cannot poll every watched token at its `every`, every interval
stretches by the same factor; `stats.interval_s` says what is achieved.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, Final

import attrs
import trio

from rulesd.clock import Clock
from rulesd.enrich.rest import LookupFailed
from rulesd.events import Event, TokenRef
from rulesd.sources.dexscreener.market import BATCH_LIMIT, aged, markets
from rulesd.state import StateStore
from rulesd.state.store import Watch

log = logging.getLogger("rulesd.enrich")

SHARE: Final = 0.5

Fetch = Callable[[str, list[str]], Awaitable[Any]]
WatchKey = tuple[str, str]  # (rule, token key)


@attrs.define
class WatchStats:
    watched: int = 0
    polls: int = 0  # price events made
    failed: int = 0  # polls that got no answer
    dropped: int = 0  # watches dropped for `max_watched`
    stretch: float = 1.0  # how much longer than `every` the intervals are
    interval_s: float | None = None  # the shortest interval achieved


def change_pct(now: float | None, then: float | None) -> float | None:
    if now is None or then is None or then <= 0:
        return None
    return (now / then - 1.0) * 100.0


class Watcher:
    def __init__(self, fetch: Fetch, state: Callable[[], StateStore], clock: Clock,
                 emit: Callable[[Event], Awaitable[None]], *, budget_per_s: float,
                 max_watched: int) -> None:
        self._fetch = fetch
        self._state = state  # the engine's (a reload keeps it; a new term brings another)
        self._clock = clock
        self._emit = emit
        self._supply = budget_per_s * SHARE
        self.max_watched = max_watched
        self.stats = WatchStats()
        self._next: dict[WatchKey, float] = {}  # trio time of each watch's next poll
        self._poked = trio.Event()
        self._warned = False

    def resize(self, budget_per_s: float, max_watched: int) -> None:
        self._supply = budget_per_s * SHARE
        self.max_watched = max_watched

    def poke(self) -> None:
        """The watch list changed (a rule with `watch` fired): look at it again."""
        self._poked.set()

    async def run(self) -> None:
        while True:
            due = self._due()
            if due:
                await self._poll(due)
            nearest = min(self._next.values(), default=math.inf)
            with trio.move_on_at(nearest):
                await self._poked.wait()
            self._poked = trio.Event()

    def _due(self) -> list[tuple[WatchKey, Watch]]:
        """The watches to poll now; ended and surplus watches are dropped."""
        watches = self._state().watches
        now, t = self._clock.now(), trio.current_time()
        for key, watch in watches.items():
            if watch.until <= now:
                watches.discard(key)
        if len(watches) > self.max_watched:
            surplus = sorted(watches.items(), key=lambda kv: kv[1].since)
            for key, _ in surplus[:len(watches) - self.max_watched]:
                watches.discard(key)
                self.stats.dropped += 1
            if not self._warned:
                self._warned = True
                log.warning("more than %d tokens are watched: the oldest watches are "
                            "dropped (sources.dexscreener.market.max_watched)",
                            self.max_watched)
        live = watches.items()
        self.stats.watched = len(live)
        for key in [k for k in self._next if k not in watches]:
            del self._next[key]
        self._stretch(live)
        return [(key, watch) for key, watch in live if self._next.get(key, t) <= t]

    def _stretch(self, live: list[tuple[WatchKey, Watch]]) -> None:
        """The factor every interval takes so the polls fit their share of the budget."""
        by_chain: dict[str, list[float]] = defaultdict(list)
        for _, watch in live:
            by_chain[watch.chain].append(watch.every)
        demand = sum(math.ceil(len(everys) / BATCH_LIMIT) / min(everys)
                     for everys in by_chain.values())
        self.stats.stretch = max(1.0, demand / self._supply) if demand else 1.0
        shortest = min((w.every for _, w in live), default=None)
        self.stats.interval_s = None if shortest is None else shortest * self.stats.stretch

    async def _poll(self, due: list[tuple[WatchKey, Watch]]) -> None:
        by_chain: dict[str, dict[str, list[tuple[WatchKey, Watch]]]] = defaultdict(dict)
        for key, watch in due:
            by_chain[watch.chain].setdefault(watch.address, []).append((key, watch))
            self._next[key] = trio.current_time() + watch.every * self.stats.stretch
        for chain, tokens in by_chain.items():
            addresses = list(tokens)
            for start in range(0, len(addresses), BATCH_LIMIT):
                batch = addresses[start:start + BATCH_LIMIT]
                try:
                    answer = await self._fetch(chain, batch)
                except LookupFailed:
                    self.stats.failed += len(batch)
                    continue
                found = markets(answer, batch)
                for address in batch:
                    market = found.get(address)
                    if market is None:
                        continue  # unknown this time (cut from the answer): next poll
                    for key, watch in tokens[address]:
                        await self._emit(self._event(key, watch, market))

    def _event(self, key: WatchKey, watch: Watch, market: dict[str, Any]) -> Event:
        now = self._clock.now()
        price = market.get("price")
        reference = watch.price
        watches = self._state().watches
        if reference is None and price is not None and key in watches:
            reference = price  # the alert told no price: the first poll's is the start
            watches[key] = watch._replace(price=price)
        self.stats.polls += 1
        fields = {**aged(market, now),
                  "watch": {"rule": key[0], "since": watch.since, "price": reference,
                            "change": change_pct(price, reference)}}
        token = TokenRef.on_chain(watch.chain, watch.address, symbol=watch.symbol)
        return Event("price", "dexscreener", "watch", token, now, now, fields)

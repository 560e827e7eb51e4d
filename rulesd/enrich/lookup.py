"""What a service says of a token: batched per chain, cached for `ttl`, asked once at
a time (DEX Screener's market data, GoPlus's and RugCheck's safety reports).

A token asked for joins its chain's next batch; a batch is sent when it holds
`limit` addresses or `collect_s` after its first, whichever comes first. Who asks
for a token already on its way waits for that answer. `parse(answer, addresses)`
gives the values of the tokens the answer covers. DEX Screener's answer lists
pairs and may be cut (see the reference's batching caveat): there (`alone`
given) a token absent from a batch answer is asked again alone, and only absent
from its own answer is it `alone()` (pairless). Elsewhere an absent token is
unknown. A failed request leaves its tokens unknown (None) and uncached, so the
next event asks again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import attrs
import trio

from rulesd.enrich.rest import LookupFailed
from rulesd.sources.dexscreener.market import BATCH_LIMIT, markets, values

# How long a batch gathers tokens after its first (a burst of events shares requests).
COLLECT_S: Final = 0.25

Fetch = Callable[[str, list[str]], Awaitable[Any]]  # (chain, addresses) → answer
Market = Mapping[str, Any]  # what a service says of one token (market or safety values)


@attrs.define
class LookupStats:
    asked: int = 0  # tokens looked up
    cache_hits: int = 0
    batches: int = 0  # requests of several tokens
    alone: int = 0  # tokens asked again alone (absent from a batch answer)
    failed: int = 0  # tokens whose request failed


class _Waiter:
    __slots__ = ("done", "market")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.market: Market | None = None


async def answer(asked: Market | _Waiter) -> Market | None:
    """What `Lookup.ask` gave, once answered; None: unknown (the request failed)."""
    if not isinstance(asked, _Waiter):
        return asked
    await asked.done.wait()
    return asked.market


class _Batch:
    __slots__ = ("addresses", "full")

    def __init__(self) -> None:
        self.addresses: list[str] = []
        self.full = trio.Event()


class Lookup:
    def __init__(self, fetch: Fetch, ttl_s: float, collect_s: float = COLLECT_S, *,
                 parse: Callable[[Any, list[str]], Mapping[str, Market]] = markets,
                 limit: int | Callable[[str], int] = BATCH_LIMIT,
                 alone: Callable[[], Market] | None = lambda: values(None, 0)) -> None:
        self._fetch = fetch
        self._parse = parse
        # Addresses a request may name, per chain.
        self._limit: Callable[[str], int] = limit if callable(limit) else lambda _: limit
        self._alone = alone
        self.ttl_s = ttl_s
        self._collect_s = collect_s
        self.stats = LookupStats()
        self._cache: dict[tuple[str, str], tuple[Market, float]] = {}
        self._asked: dict[tuple[str, str], _Waiter] = {}  # on their way
        self._gathering: dict[str, _Batch] = {}  # chain → its next batch
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Serve lookups until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    def cached(self, chain: str, address: str) -> Market | None:
        hit = self._cache.get((chain, address))
        if hit is None:
            return None
        if trio.current_time() - hit[1] >= self.ttl_s:
            del self._cache[(chain, address)]
            return None
        return hit[0]

    def ask(self, chain: str, address: str) -> Market | _Waiter:
        """The token's cached values, or what to wait on for them: the token
        joins its chain's next batch now, so batches hold tokens in the order asked."""
        self.stats.asked += 1
        hit = self.cached(chain, address)
        if hit is not None:
            self.stats.cache_hits += 1
            return hit
        waiter = self._asked.get((chain, address))
        if waiter is None:
            waiter = self._asked[(chain, address)] = _Waiter()
            self._gather(chain, address)
        return waiter

    async def market(self, chain: str, address: str) -> Market | None:
        """The token's values; None: unknown (the request failed, or the service does
        not know the token)."""
        return await answer(self.ask(chain, address))

    def _gather(self, chain: str, address: str) -> None:
        assert self._nursery is not None, "Lookup.run is not running"
        batch = self._gathering.get(chain)
        if batch is None:
            batch = self._gathering[chain] = _Batch()
            self._nursery.start_soon(self._send_batch, chain, batch)
        batch.addresses.append(address)
        if len(batch.addresses) >= self._limit(chain):
            del self._gathering[chain]
            batch.full.set()

    async def _send_batch(self, chain: str, batch: _Batch) -> None:
        with trio.move_on_after(self._collect_s):
            await batch.full.wait()
        if self._gathering.get(chain) is batch:
            del self._gathering[chain]
        await self._ask(chain, batch.addresses)

    async def _ask(self, chain: str, addresses: list[str]) -> None:
        if len(addresses) > 1:
            self.stats.batches += 1
        try:
            answer = await self._fetch(chain, addresses)
        except LookupFailed:
            self.stats.failed += len(addresses)
            for address in addresses:
                self._resolve(chain, address, None)
            return
        found = self._parse(answer, addresses)
        now = trio.current_time()
        for address in addresses:
            market = found.get(address)
            if market is None and self._alone is not None and len(addresses) > 1:
                self.stats.alone += 1
                assert self._nursery is not None
                self._nursery.start_soon(self._ask, chain, [address])
                continue
            if market is None and self._alone is not None:
                market = self._alone()
            if market is not None:
                self._cache[(chain, address)] = (market, now)
            self._resolve(chain, address, market)

    def _resolve(self, chain: str, address: str, market: Market | None) -> None:
        waiter = self._asked.pop((chain, address), None)
        if waiter is not None:
            waiter.market = market
            waiter.done.set()

    def forget_expired(self) -> None:
        """Drop cached answers older than `ttl` (called now and then: bounded memory)."""
        now = trio.current_time()
        for key in [k for k, (_, at) in self._cache.items() if now - at >= self.ttl_s]:
            del self._cache[key]

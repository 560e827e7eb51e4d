"""`security.` values of an event's token: GoPlus and RugCheck, each where it covers
the token's chain, asked at once, each bounded by its own timeout, then made one
(`rulesd.security.combine`: unknown is never safe)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs
import trio

from rulesd import security
from rulesd.enrich.budget import Budget
from rulesd.enrich.lookup import Lookup, answer
from rulesd.enrich.rest import LookupFailed, RestClient
from rulesd.events import TokenRef
from rulesd.sources.health import SourceHealth

# Addresses one GoPlus request names (EVM); its Solana endpoint is asked one mint a time.
GOPLUS_BATCH: Final = 20
# GoPlus answers HTTP 200 with its own code when a client asks too often.
GOPLUS_TOO_MANY: Final = 4029


def goplus_path(chain: str, addresses: list[str]) -> str:
    joined = ",".join(addresses)
    if chain == security.SOLANA:
        return f"api/v1/solana/token_security?contract_addresses={joined}"
    return f"api/v1/token_security/{security.GOPLUS_CHAINS[chain]}?contract_addresses={joined}"


class GoPlusClient(RestClient):
    async def tokens(self, chain: str, addresses: list[str]) -> Mapping[str, Any]:
        """What GoPlus says of these tokens (absent: it does not know them)."""
        data = await self.get(goplus_path(chain, addresses))
        if isinstance(data, Mapping) and data.get("code") == GOPLUS_TOO_MANY:
            self.budget.throttled(None)
        try:
            return security.goplus_results(data, addresses, chain == security.SOLANA)
        except ValueError as exc:
            raise LookupFailed(f"GoPlus: {exc}") from None


class RugCheckClient(RestClient):
    async def tokens(self, chain: str, addresses: list[str]) -> Mapping[str, Any]:
        """RugCheck's report of one mint (a 404: it has none — unknown)."""
        (mint,) = addresses
        values = security.rugcheck(await self.get(f"v1/tokens/{mint}/report"))
        return {} if values is None else {mint: values}


@attrs.define
class Service:
    """One safety service of a term: its budget, connection and per-token cache."""

    name: str
    client: RestClient
    lookup: Lookup
    timeout_s: float
    timed_out: int = 0

    @property
    def health(self) -> SourceHealth:
        return self.client.health

    @property
    def budget(self) -> Budget:
        return self.client.budget


def _found(answer: Any, addresses: list[str]) -> Any:
    return answer  # the clients parse their own answers


def lookup_for(name: str, client: GoPlusClient | RugCheckClient, ttl_s: float) -> Lookup:
    limit = (lambda chain: 1 if chain == security.SOLANA else GOPLUS_BATCH) \
        if name == "goplus" else (lambda chain: 1)
    return Lookup(client.tokens, ttl_s, parse=_found, limit=limit, alone=None)


class SafetyAnswers:
    def __init__(self, services: Mapping[str, Service]) -> None:
        self.services = services

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        async with trio.open_nursery() as nursery:
            for service in self.services.values():
                await nursery.start(service.lookup.run)
            task_status.started()
            while True:
                await trio.sleep(max(60.0, min((s.lookup.ttl_s for s in
                                                self.services.values()), default=60.0)))
                for service in self.services.values():
                    service.lookup.forget_expired()

    def ask(self, token: TokenRef) -> Any:
        if not (token.chain and token.address):
            return {}
        return {name: service.lookup.ask(token.chain, token.address)
                for name, service in self.services.items()
                if security.covers(name, token.chain)}

    async def answer(self, asked: Any) -> Mapping[str, Any]:
        said: dict[str, Any] = {}

        async def one(name: str) -> None:
            service = self.services[name]
            with trio.move_on_after(service.timeout_s):
                said[name] = await answer(asked[name])
                return
            service.timed_out += 1

        async with trio.open_nursery() as nursery:
            for name in asked or {}:
                nursery.start_soon(one, name)
        return security.combine(said)

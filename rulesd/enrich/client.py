"""DEX Screener's REST API behind `market.` fields and watches."""

from __future__ import annotations

from typing import Any

from rulesd.enrich.rest import RestClient


def tokens_path(chain: str, addresses: list[str]) -> str:
    """The request's path, as captures name it (`tokens/v1/solana/a,b`)."""
    return f"tokens/v1/{chain}/{','.join(addresses)}"


class MarketClient(RestClient):
    async def tokens(self, chain: str, addresses: list[str]) -> Any:
        """The pairs DEX Screener lists for these tokens of one chain; raise LookupFailed."""
        return await self.get(tokens_path(chain, addresses))

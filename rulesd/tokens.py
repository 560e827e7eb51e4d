"""Chain aliases and canonical token keys shared by every vendor."""

from __future__ import annotations

import re
from typing import Final

# DEX Screener's chain names are the canonical ones. Other vendors' chain
# identifiers map onto them through this table (extended by later sources).
CHAIN_ALIASES: Final[dict[str, str]] = {
    "solana:solana": "solana",
    "evm:1": "ethereum",
    "evm:56": "bsc",
    "evm:8453": "base",
    "evm:137": "polygon",
    "evm:42161": "arbitrum",
    "evm:10": "optimism",
    "evm:43114": "avalanche",
}

# CoinMarketCap's numeric DEX platform ids (`platform_id`, `pid` in pushes). The
# document names these two; `sources.coinmarketcap.platforms` adds more.
CMC_PLATFORMS: Final[dict[int, str]] = {14: "bsc", 16: "solana"}

_EVM_ADDRESS: Final = re.compile(r"^0x[0-9a-fA-F]{40}$")


def canonical_chain(chain: str) -> str:
    """The canonical (DEX Screener) name of a vendor's chain identifier."""
    return CHAIN_ALIASES.get(chain, chain.strip().lower())


def canonical_address(address: str) -> str:
    """EVM hex addresses compare lower-case; anything else (base58) is case-sensitive."""
    address = address.strip()
    if _EVM_ADDRESS.match(address):
        return address.lower()
    return address


def token_key(chain: str, address: str) -> str:
    """The canonical `<chain>:<address>` key that joins vendors on one token."""
    return f"{canonical_chain(chain)}:{canonical_address(address)}"

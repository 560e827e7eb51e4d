"""CoinMarketCap's WebSocket channels (required params, what counts as one subscription)
and the document's table of common coin ids."""

from __future__ import annotations

from typing import Final

import attrs

SUBSCRIPTIONS_PER_CONNECTION: Final = 100
MAX_CONNECTIONS: Final = 10


@attrs.frozen
class Channel:
    required: tuple[str, ...]
    # The param whose every value is one subscription (an id or an address).
    counted: str


CHANNELS: Final[dict[str, Channel]] = {
    "market@crypto_latest_price": Channel(("crypto_ids",), "crypto_ids"),
    "onchain@token_agg_event": Channel(("platform_id", "address"), "address"),
    "onchain@transaction": Channel(("platform_id", "address"), "address"),
    "onchain@liquidity_event": Channel(("platform_id", "address"), "address"),
    "onchain@kline": Channel(("platform_id", "address", "interval"), "address"),
    "onchain@token_metric": Channel(("platform_id", "address"), "address"),
    "onchain@pool_metric": Channel(("platform_id", "pool_address"),
                                   "pool_address"),
    "onchain@unique_trader": Channel(("platform_id", "address", "interval"),
                                     "address"),
    "onchain@holders_metrics": Channel(("platform_id", "address"), "address"),
    "onchain@holder_wallet_update": Channel(("platform_id", "wallet_address"),
                                            "wallet_address"),
}

# The document's table of common ids, so market pushes (which carry only `cid`)
# name their coin. `sources.coinmarketcap.ids` adds more.
COMMON_IDS: Final[dict[int, tuple[str, str]]] = {
    1: ("BTC", "Bitcoin"),
    1027: ("ETH", "Ethereum"),
    1839: ("BNB", "BNB"),
    5426: ("SOL", "Solana"),
    2010: ("ADA", "Cardano"),
    52: ("XRP", "XRP"),
    74: ("DOGE", "Dogecoin"),
    6636: ("DOT", "Polkadot"),
    3408: ("USDC", "USDC"),
    825: ("USDT", "Tether"),
}


def values_of(params: object, key: str) -> list[object]:
    """The values of a counted param, which may be one value or a list."""
    if not isinstance(params, dict) or key not in params:
        return []
    value = params[key]
    return list(value) if isinstance(value, list) else [value]

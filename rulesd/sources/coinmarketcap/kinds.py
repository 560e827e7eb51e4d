"""CoinMarketCap's pushes, channel by channel: vendor keys → typed fields.

Mapped from CMC's per-channel payload reference (`coinmarketcap-channels.md`).
Where the reference only infers a meaning from a key and an example (its tag
I), the field's meaning says "inferred". Percentages are on CMC's 0-100 scale
(2.33 means 2.33 %); times are epoch seconds (CMC sends milliseconds). Keys a
push carries beyond these are kept under `extra`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from rulesd.schema import EXTRA, Field, Kind, boolean, number, string, time

Keys = Mapping[str, tuple[str, Field]]  # vendor key → (field, schema)

_CHANNEL: Final = string("the CoinMarketCap channel that pushed it")
_ONCHAIN: Final[Mapping[str, Field]] = {"channel": _CHANNEL, "extra": EXTRA}
_PCT: Final = "%"
_USD: Final = "USD"

MARKET: Final[Keys] = {
    "p": ("price", number("spot price", _USD)),
    "vu": ("volume_24h", number("trading volume (24 h is inferred from CMC's example)",
                                _USD)),
    "mc": ("market_cap", number("market capitalization", _USD)),
    "cs": ("circulating_supply", number("circulating supply, in coins")),
    "p24h": ("change_24h", number("price change over 24 hours", _PCT)),
    "p7d": ("change_7d", number("price change over 7 days", _PCT)),
    "p30d": ("change_30d", number("price change over 30 days", _PCT)),
    "p60d": ("change_60d", number("price change over 60 days", _PCT)),
    "p3m": ("change_3m", number("price change over 3 months", _PCT)),
    "p1y": ("change_1y", number("price change over 1 year", _PCT)),
    "pytd": ("change_ytd", number("price change since the start of the year", _PCT)),
    "pall": ("change_all", number("price change over all time (may be millions of %)",
                                  _PCT)),
    "fdv24h": ("fdv_change_24h", number("24 h change of the fully diluted market cap "
                                        "(a change, not a dollar value)", _PCT)),
}
TOKEN_AGG: Final[Keys] = {
    "ap": ("price", number("the token's price, aggregated across its pools", _USD)),
    "p": ("pool_price", number("the price in one pool (CMC does not say which)", _USD)),
    "lu": ("liquidity_usd", number("liquidity (USD is inferred from CMC's naming)", _USD)),
}
# The pair's two sides, as swaps and liquidity events carry them.
_PAIR: Final[Keys] = {
    "t0a": ("token0_address", string("token0's address (inferred)")),
    "t1a": ("token1_address", string("token1's address (inferred)")),
    "t0s": ("token0_symbol", string("token0's symbol (inferred)")),
    "t1s": ("token1_symbol", string("token1's symbol (inferred)")),
    "a0": ("token0_amount", number("token0's amount (inferred)")),
    "a1": ("token1_amount", number("token1's amount (inferred)")),
}
# The subscribed token's side of a swap is picked by address: `price`, `amount`.
TRANSACTION: Final[Keys] = {
    "tp": ("side", string("buy or sell, relative to the pair")),
    "vu": ("volume_usd", number("the swap's value (inferred)", _USD)),
    "tx": ("tx", string("the transaction hash")),
    "lgid": ("log_index", number("the log index: with tx, the swap's identity")),
    "iix": ("instruction_index", number("the instruction index: with tx, a Solana swap's "
                                        "identity")),
    "ex": ("excluded", boolean("true when CMC excludes the swap from its aggregates")),
    "txtp": ("exclusion_code", number("CMC's code for why a swap is excluded (the code "
                                      "table is not published)")),
    "pa": ("pool_address", string("the pool (pair) address (inferred)")),
    "f": ("wallet", string("the wallet that sent the swap (inferred)")),
    "bh": ("block", number("the block height or slot (inferred)")),
    **_PAIR,
    "t0pu": ("token0_price_usd", number("token0's price at the swap (inferred)", _USD)),
    "t1pu": ("token1_price_usd", number("token1's price at the swap (inferred)", _USD)),
}
TRANSACTION_SIDE: Final[Mapping[str, Field]] = {
    "price": number("the subscribed token's price at the swap: t0pu or t1pu, whichever "
                    "side's address is the subscribed one (inferred)", _USD),
    "amount": number("the subscribed token's amount in the swap (inferred)"),
}
LIQUIDITY: Final[Keys] = {
    "tp": ("type", string("add, remove or migrate")),
    "tx": ("tx", string("the transaction hash")),
    "lgid": ("log_index", number("the log index: with tx, the event's identity")),
    "iix": ("instruction_index", number("the instruction index (Solana)")),
    "f": ("wallet", string("the wallet that made the change (inferred)")),
    "vu": ("value_usd", number("the change's value (inferred)", _USD)),
    **_PAIR,
}
KLINE: Final[Keys] = {
    "o": ("open", number("open price", _USD)),
    "h": ("high", number("high price", _USD)),
    "l": ("low", number("low price (USD inferred)", _USD)),
    "c": ("close", number("close price (USD inferred)", _USD)),
    "vu": ("volume_usd", number("volume in the candle (USD inferred)", _USD)),
    "ot": ("open_time", time("when the candle opened", "epoch seconds")),
}
UNIQUE_TRADER: Final[Keys] = {
    "ut": ("unique_traders", number("distinct traders in the interval")),
    "ot": ("open_time", time("when the interval opened", "epoch seconds")),
}
TOKEN_METRIC: Final[Keys] = {
    "p": ("price", number("the token's price (inferred)", _USD)),
    "mc": ("market_cap", number("market capitalization (inferred; often null)", _USD)),
    "lu": ("liquidity_usd", number("liquidity (inferred; often null)", _USD)),
}
TOKEN_METRIC_WINDOWS: Final = ("1m", "5m", "1h", "4h", "24h")
TOKEN_WINDOW: Final[Keys] = {
    "pc": ("change", number("price change over the window", _PCT)),
    "h": ("high", number("high price in the window", _USD)),
    "l": ("low", number("low price in the window (inferred)", _USD)),
    "vu": ("volume_usd", number("volume in the window (inferred)", _USD)),
    "vn": ("volume_native", number("volume in native units (inferred)")),
    "txs": ("txs", number("transactions in the window (inferred)")),
    "bc": ("buys", number("buys in the window")),
    "sc": ("sells", number("sells in the window")),
    "bvu": ("buy_volume_usd", number("buy volume (inferred)", _USD)),
    "svu": ("sell_volume_usd", number("sell volume (inferred)", _USD)),
    "bvn": ("buy_volume_native", number("buy volume in native units (inferred)")),
    "svn": ("sell_volume_native", number("sell volume in native units (inferred)")),
    "ut": ("unique_traders", number("unique traders (inferred)")),
    "but": ("buyers", number("unique buyers (inferred)")),
    "sut": ("sellers", number("unique sellers (inferred)")),
}
# The reference shows 5m, 1h, 4h and 24h; the overview adds 7d.
POOL_METRIC_WINDOWS: Final = ("5m", "1h", "4h", "24h", "7d")
POOL_WINDOW: Final[Keys] = {
    "bvu": ("buy_volume_usd", number("buy volume (inferred)", _USD)),
    "svu": ("sell_volume_usd", number("sell volume (inferred)", _USD)),
    "bvn": ("buy_volume_native", number("buy volume in native units (inferred)")),
    "svn": ("sell_volume_native", number("sell volume in native units (inferred)")),
    "ut": ("unique_traders", number("unique traders (inferred)")),
    "but": ("buyers", number("unique buyers (inferred)")),
    "sut": ("sellers", number("unique sellers (inferred)")),
}
POOL_METRIC: Final[Keys] = {"pa": ("pool_address", string("the pool's address"))}
HOLDERS: Final[Keys] = {
    "tp": ("type", string("the variant: tag_distribution, holder_count, top_share, tag_pnl "
                          "or tag_balance")),
    "devp": ("dev_share", number("share held by the developer (inferred)", _PCT)),
    "khc": ("kol_holders", number("KOL holders (inferred)")),
    "whc": ("whale_holders", number("whale holders (inferred)")),
    "shc": ("sniper_holders", number("sniper holders (inferred)")),
    "bhc": ("bot_holders", number("bot holders (inferred)")),
    "smhc": ("smart_money_holders", number("smart-money holders (inferred)")),
    "t10p": ("top_10_share", number("share held by the top 10 holders (top_share, "
                                    "inferred)", _PCT)),
    "t50p": ("top_50_share", number("share held by the top 50 holders (inferred)", _PCT)),
    "t100p": ("top_100_share", number("share held by the top 100 holders (inferred)",
                                      _PCT)),
}
WALLET: Final[Keys] = {
    "tp": ("type", string("the variant: token_balance, native_balance, pnl_stats, "
                          "last_active or position_time")),
    "wa": ("wallet", string("the watched wallet's address")),
    "a": ("token_address", string("the token's address (inferred)")),
    "b": ("balance", number("the token balance (inferred)")),
    "hp": ("holding_share", number("the wallet's share of the supply (inferred)", _PCT)),
    "bh": ("block", number("the block height or slot (inferred)")),
    "lat": ("last_active", time("when the wallet was last active (inferred)",
                                "epoch seconds")),
}
# Keys that name the push's token or platform: they make the TokenRef, not fields.
IDENTITY: Final = frozenset({"cid", "pid", "a", "ts"})


def _windowed(windows: tuple[str, ...], keys: Keys) -> dict[str, Field]:
    return {f"{name}_{w}": Field(field.type, f"{field.meaning} ({w})", field.unit)
            for w in windows for name, field in keys.values()}


def _fields(keys: Keys, **more: Field) -> dict[str, Field]:
    return {**{name: field for name, field in keys.values()}, **more}


# channel → the kind it emits, with the fields its pushes carry.
CHANNEL_KINDS: Final[dict[str, Kind]] = {
    "market@crypto_latest_price": Kind(
        "price", "a CEX spot quote [CoinMarketCap market@crypto_latest_price]",
        _fields(MARKET, channel=_CHANNEL, extra=EXTRA), occurrence=False,
        headline=("price", "change_24h")),
    "onchain@token_agg_event": Kind(
        "price", "the token's price aggregated over its pools, on each swap "
        "[CoinMarketCap onchain@token_agg_event]",
        _fields(TOKEN_AGG, **_ONCHAIN), occurrence=False,
        headline=("price", "liquidity_usd")),
    "onchain@transaction": Kind(
        "trade", "a swap of the token [CoinMarketCap onchain@transaction]",
        _fields(TRANSACTION, **TRANSACTION_SIDE, **_ONCHAIN), occurrence=True,
        headline=("side", "price", "amount", "volume_usd")),
    "onchain@liquidity_event": Kind(
        "liquidity", "liquidity added, removed or migrated "
        "[CoinMarketCap onchain@liquidity_event]",
        _fields(LIQUIDITY, **_ONCHAIN), occurrence=True, headline=("type", "value_usd")),
    "onchain@kline": Kind(
        "kline", "a closed candle [CoinMarketCap onchain@kline]",
        _fields(KLINE, interval=string("the candle interval (1m, 5m, ...)"), **_ONCHAIN),
        occurrence=False, headline=("interval", "close", "volume_usd")),
    "onchain@token_metric": Kind(
        "token_metric", "the token's rolling-window statistics "
        "[CoinMarketCap onchain@token_metric]",
        _fields(TOKEN_METRIC, **_windowed(TOKEN_METRIC_WINDOWS, TOKEN_WINDOW), **_ONCHAIN),
        occurrence=False, headline=("price", "change_1h", "change_24h")),
    "onchain@pool_metric": Kind(
        "pool_metric", "a pool's rolling-window statistics [CoinMarketCap onchain@pool_metric]",
        _fields(POOL_METRIC, **_windowed(POOL_METRIC_WINDOWS, POOL_WINDOW), **_ONCHAIN),
        occurrence=False, headline=("buy_volume_usd_1h", "sell_volume_usd_1h")),
    "onchain@unique_trader": Kind(
        "unique_traders", "distinct traders per interval [CoinMarketCap onchain@unique_trader]",
        _fields(UNIQUE_TRADER, interval=string("the interval (1m, 5m, ...)"), **_ONCHAIN),
        occurrence=False, headline=("interval", "unique_traders")),
    "onchain@holders_metrics": Kind(
        "holders", "holder metrics [CoinMarketCap onchain@holders_metrics]",
        _fields(HOLDERS, **_ONCHAIN), occurrence=False, headline=("type",)),
    "onchain@holder_wallet_update": Kind(
        "wallet", "a watched wallet's update [CoinMarketCap onchain@holder_wallet_update]",
        _fields(WALLET, **_ONCHAIN), occurrence=False, headline=("type", "balance")),
}
KINDS: Final = tuple(CHANNEL_KINDS.values())
# Per channel: the keys mapped at the top level of `data`.
CHANNEL_KEYS: Final[dict[str, Keys]] = {
    "market@crypto_latest_price": MARKET, "onchain@token_agg_event": TOKEN_AGG,
    "onchain@transaction": TRANSACTION, "onchain@liquidity_event": LIQUIDITY,
    "onchain@kline": KLINE, "onchain@token_metric": TOKEN_METRIC,
    "onchain@pool_metric": POOL_METRIC, "onchain@unique_trader": UNIQUE_TRADER,
    "onchain@holders_metrics": HOLDERS, "onchain@holder_wallet_update": WALLET,
}

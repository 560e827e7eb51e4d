"""DEX Screener's REST answers (`/tokens/v1/{chain}/{addresses}`): a token's market.

Pure: an answer (a JSON array of pairs) in, each asked token's market values out.
The token's pair is the one with the most USD liquidity among the pairs where the
token is the *base* token; `pairs` counts every pair the answer lists for the token
(base or quote). Anything the vendor did not give is None (unknown, never zero):
prices come as decimal strings, every other number as a JSON number, and any of
them may be missing or null (see `../shared/vendors/dexscreener-rest.md`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from rulesd.numbers import finite
from rulesd.schema import Field, duration, number, string, time
from rulesd.tokens import canonical_address

# The windows DEX Screener gives volume, price change and transactions over.
WINDOWS: Final = {"5m": "m5", "1h": "h1", "6h": "h6", "24h": "h24"}
# The most addresses one `/tokens/v1` request may name.
BATCH_LIMIT: Final = 30

# The market values, as names of their own (a `price` event of a watch carries them at
# the top level; a token event carries them under `market.`).
VALUES: Final[dict[str, Field]] = {
    "price": number("the price of the token's pair in US dollars", "USD"),
    "liquidity": number("the pair's liquidity in US dollars", "USD"),
    "fdv": number("fully diluted valuation, as DEX Screener gives it", "USD"),
    "market_cap": number("market capitalization, as DEX Screener gives it (may exceed fdv)",
                         "USD"),
    **{f"volume_{w}": number(f"the pair's trading volume over the last {w}", "USD")
       for w in WINDOWS},
    **{f"change_{w}": number(f"the pair's price change over the last {w}", "%")
       for w in WINDOWS},
    **{f"buys_{w}": number(f"buy transactions in the pair over the last {w}") for w in WINDOWS},
    **{f"sells_{w}": number(f"sell transactions in the pair over the last {w}")
       for w in WINDOWS},
    "pair_age": duration("how long ago the pair was created (compare with durations: "
                         "`{lt: 24h}`)", "seconds"),
    "pair_created": time("when the pair was created", "epoch seconds"),
    "dex": string("the DEX of the pair (`raydium`, `uniswap`, ...; sometimes an address)"),
    "pair": string("the pair's address"),
    "pair_url": string("the pair's page on dexscreener.com"),
    "quote": string("the symbol of the pair's quote token (`SOL`, `WETH`, ...)"),
    "pairs": number("how many pairs the token has in DEX Screener's answer"),
}
# On DEX Screener's token events: the same values under `market.`.
MARKET_FIELDS: Final[dict[str, Field]] = {
    f"market.{name}": attrs.evolve(field, meaning=f"{field.meaning} [market context]")
    for name, field in VALUES.items()}
# A market of which nothing is known (the lookup failed or timed out).
UNKNOWN: Final[Mapping[str, Any]] = dict.fromkeys(VALUES)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _window(pair: Mapping[str, Any], key: str, vendor_window: str) -> Any:
    windows = pair.get(key)
    return windows.get(vendor_window) if isinstance(windows, Mapping) else None


def _same(address: Any, token: str) -> bool:
    return isinstance(address, str) and canonical_address(address) == token


def pairs_of(answer: Any) -> list[Mapping[str, Any]]:
    """The pair objects of an answer (an array; `{"pairs": [...]}` too); others dropped."""
    if isinstance(answer, Mapping):
        answer = answer.get("pairs")
    if not isinstance(answer, list):
        return []
    return [pair for pair in answer if isinstance(pair, Mapping)]


def _base(pair: Mapping[str, Any]) -> Any:
    base = pair.get("baseToken")
    return base.get("address") if isinstance(base, Mapping) else None


def _quote(pair: Mapping[str, Any]) -> Mapping[str, Any]:
    quote = pair.get("quoteToken")
    return quote if isinstance(quote, Mapping) else {}


def _liquidity(pair: Mapping[str, Any]) -> float:
    liquidity = pair.get("liquidity")
    usd = finite(liquidity.get("usd")) if isinstance(liquidity, Mapping) else None
    return -1.0 if usd is None else usd


def markets(answer: Any, addresses: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The market of each asked address (canonical form) the answer lists at all:
    addresses absent from it are not in the result (unknown: the answer may be cut)."""
    asked = {canonical_address(a): a for a in addresses}
    mine: dict[str, list[Mapping[str, Any]]] = {}
    counts: dict[str, int] = {}
    for pair in pairs_of(answer):
        base, quote = _base(pair), _quote(pair).get("address")
        for token in {t for t in (base, quote) if isinstance(t, str)}:
            token = canonical_address(token)
            if token in asked:
                counts[token] = counts.get(token, 0) + 1
                if _same(base, token):
                    mine.setdefault(token, []).append(pair)
    return {token: values(max(mine[token], key=_liquidity) if token in mine else None,
                          counts[token])
            for token in counts}


def values(pair: Mapping[str, Any] | None, count: int) -> dict[str, Any]:
    """The market values of the token's pair (None: it has no pair as the base token);
    `pair_age` is left to the moment it is used (`aged`)."""
    out: dict[str, Any] = {**UNKNOWN, "pairs": count}
    if pair is None:
        return out
    for ours, theirs in WINDOWS.items():
        out[f"volume_{ours}"] = finite(_window(pair, "volume", theirs))
        out[f"change_{ours}"] = finite(_window(pair, "priceChange", theirs))
        txns = _window(pair, "txns", theirs)
        if isinstance(txns, Mapping):
            out[f"buys_{ours}"] = finite(txns.get("buys"))
            out[f"sells_{ours}"] = finite(txns.get("sells"))
    liquidity = _liquidity(pair)
    created = finite(pair.get("pairCreatedAt"))
    out.update(
        price=finite(pair.get("priceUsd")),
        liquidity=None if liquidity < 0 else liquidity,
        fdv=finite(pair.get("fdv")),
        market_cap=finite(pair.get("marketCap")),
        pair_created=None if created is None or created <= 0 else created / 1000.0,
        dex=_text(pair.get("dexId")),
        pair=_text(pair.get("pairAddress")),
        pair_url=_text(pair.get("url")),
        quote=_text(_quote(pair).get("symbol")),
    )
    return out


def aged(market: Mapping[str, Any], now: float) -> dict[str, Any]:
    """`market` with `pair_age` as of `now` (None where the creation time is unknown)."""
    created = market.get("pair_created")
    return {**market, "pair_age": None if created is None else max(0.0, now - created)}

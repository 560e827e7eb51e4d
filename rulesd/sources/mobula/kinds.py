"""Mobula Pulse V2 token entries (TokenDataSchema) as typed fields of the pulse kinds.

Field names are Mobula's, in snake_case as Mobula's own filters spell them
(`top10HoldingsPercentage` → `top_10_holdings_percentage`); the nested `token`
object and the stats beside it share one flat namespace. Keys the schema does
not name are kept under `extra`.
"""

from __future__ import annotations

from typing import Final

from rulesd.schema import EXTRA, Field, Kind, boolean, listing, number, obj, string, time

WINDOWS: Final = ("1min", "5min", "15min", "1h", "4h", "6h", "12h", "24h")
_METRICS: Final = {
    "volume": ("volume", "USD"), "volume_buy": ("buy volume", "USD"),
    "volume_sell": ("sell volume", "USD"), "trades": ("trades", None),
    "buys": ("buys", None), "sells": ("sells", None), "buyers": ("unique buyers", None),
    "sellers": ("unique sellers", None), "traders": ("unique traders", None),
    "fees_paid": ("fees paid", "USD"),
}
_ORGANIC: Final = ("volume", "volume_buy", "volume_sell", "trades", "buys", "sells", "buyers",
                   "sellers", "traders")
_ISO: Final = "ISO 8601"


def _windowed() -> dict[str, Field]:
    out: dict[str, Field] = {}
    for metric, (what, unit) in _METRICS.items():
        for w in WINDOWS:
            out[f"{metric}_{w}"] = number(f"{what} over {w}", unit)
    for metric in _ORGANIC:
        what, unit = _METRICS[metric]
        for w in WINDOWS:
            out[f"organic_{metric}_{w}"] = number(f"organic {what} over {w} (no bots, no MEV)",
                                                  unit)
    for w in WINDOWS:
        if w != "15min":
            out[f"price_change_{w}"] = number(f"price change over {w}", "%")
            out[f"price_{w}_ago"] = number(f"the price {w} ago", "USD")
    return out


_HOLDINGS: Final = {
    **{f"top_{n}_holdings_percentage": number(f"share held by the top {n} holders", "%")
       for n in (10, 50, 100, 200)},
    **{f"{c}_holdings_percentage": number(f"share held by {c.replace('_', ' ')}", "%")
       for c in ("dev", "insiders", "bundlers", "snipers", "pro_traders", "fresh_traders",
                 "smart_traders")},
    **{f"{c}_count": number(f"{c.replace('_', ' ')} holding the token")
       for c in ("insiders", "bundlers", "snipers", "fresh_traders", "pro_traders",
                 "smart_traders")},
    **{f"{c}_buys": number(f"buys by {c.replace('_', ' ')}")
       for c in ("fresh_traders", "pro_traders", "smart_traders")},
}

PULSE_FIELDS: Final[dict[str, Field]] = {
    "view": string("the view (as named in the payload) the token is in"),
    "venue": string("the view again: each view's entries are a series of their own"),
    "chain_id": string("Mobula's chain id (solana:solana, evm:8453, ...)"),
    "price": number("the price (the token's, else latest_price)", "USD"),
    "latest_price": number("the latest price", "USD"),
    "market_cap": number("market capitalization", "USD"),
    "latest_market_cap": number("the latest market cap calculation", "USD"),
    "market_cap_diluted": number("fully diluted market cap", "USD"),
    "liquidity": number("liquidity", "USD"),
    "liquidity_max": number("the highest liquidity across the token's pools", "USD"),
    "approximate_reserve_usd": number("approximate pool reserve", "USD"),
    "approximate_reserve_token": number("approximate pool reserve, in tokens"),
    "approximate_reserve_token_raw": string("approximate pool reserve, raw units"),
    "price_token": number("the price in the pair's quote token"),
    "price_token_string": string("the price in the quote token, as a string"),
    "total_supply": number("total supply"),
    "circulating_supply": number("circulating supply"),
    "decimals": number("the token's decimals"),
    "id": number("Mobula's id of the asset, where it has one"),
    "ath": number("all-time high", "USD"),
    "atl": number("all-time low", "USD"),
    "holders_count": number("number of holders"),
    "bonding_percentage": number("bonding curve completion", "%"),
    "total_fees_paid_usd": number("total fees paid", "USD"),
    "fees_to_volume_ratio_24h": number("fees paid over volume, 24 h"),
    "twitter_reuses_count": number("times the token's Twitter handle was reused"),
    "twitter_rename_count": number("times the token's Twitter account was renamed"),
    "deployer_migrations_count": number("migrations by the deployer"),
    **_windowed(),
    **_HOLDINGS,
    "description": string("the token's description"),
    "logo": string("the logo URL"),
    "origin_logo_url": string("the original logo URL"),
    "factory": string("the factory address"),
    "token_source": string("the token's source or launchpad (Mobula's `source`)"),
    "source_factory": string("the factory of the token's source, as Mobula names it"),
    "pre_bonding_factory": string("the factory before bonding completed"),
    "bonding_curve_address": string("the bonding curve's address"),
    "pool_address": string("the primary pool (highest volume)"),
    "blockchain": string("the chain's display name"),
    "type": string("the asset's type, as Mobula names it"),
    "deployer": string("the deployer's address"),
    "dexscreener_header": string("the token's DEX Screener header image"),
    "bonded": boolean("whether the token finished its bonding curve"),
    "dexscreener_listed": boolean("whether the token is listed on DEX Screener"),
    "dexscreener_ad_paid": boolean("whether a DEX Screener ad was paid for"),
    "is_cashback_coin": boolean("enrolled in Mobula's cashback program"),
    "is_mayhem_mode": boolean("flagged for Mobula's Mayhem mode"),
    "is_agent_mode": boolean("flagged for Agent mode"),
    "is_og_coin": boolean("no older token on the chain has this name (null while unknown)"),
    "created_at": time("when the token was created", _ISO),
    "latest_trade_date": time("the last trade", _ISO),
    "bonded_at": time("when bonding completed", _ISO),
    "migrated_at": time("when the token migrated", _ISO),
    "ath_date": time("when the all-time high was", _ISO),
    "atl_date": time("when the all-time low was", _ISO),
    "socials": obj("twitter, website, telegram and others"),
    "security": obj("Mobula's security analysis (buyTax, sellTax, isBlacklisted, ...)"),
    "exchange": obj("the main exchange: name and logo"),
    "twitter_rename_history": listing("the Twitter account's earlier names"),
    "extra": EXTRA,
}
# Vendor keys whose snake_case would say something else than they mean here.
RENAMED: Final = {"source": "token_source"}
# Left out of events: big, and nothing to alert on.
DROPPED: Final = frozenset({"holders_list", "holdersList"})

_VIEW: Final = " [Mobula Pulse V2]"
KINDS: Final = (
    Kind("pulse_enter", "a token entering a view" + _VIEW, PULSE_FIELDS, occurrence=True,
         headline=("view", "price", "market_cap")),
    Kind("pulse_update", "a token's data changing in a view" + _VIEW, PULSE_FIELDS,
         occurrence=False, headline=("view", "price", "market_cap")),
    Kind("pulse_exit", "a token leaving a view" + _VIEW, PULSE_FIELDS, occurrence=True,
         headline=("view",)),
)

"""Normalized events, token identity and the kinds a rule may listen to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from rulesd.tokens import canonical_address, canonical_chain, token_key


@attrs.frozen
class TokenRef:
    """One token as vendors name it; `key` joins vendors."""

    key: str
    chain: str | None = None
    address: str | None = None
    symbol: str | None = None
    name: str | None = None
    cmc_id: int | None = None
    slug: str | None = None

    @classmethod
    def on_chain(cls, chain: str, address: str, **extra: Any) -> TokenRef:
        return cls(
            key=token_key(chain, address),
            chain=canonical_chain(chain),
            address=canonical_address(address),
            **extra,
        )

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class Occurrence:
    """What makes an occurrence "not seen before", decided against a seen-set.

    `scope` names the seen-set (one per source stream), `id` the item in it,
    `version` what must change for the item to count as new again (None: never;
    a number: when it grows; a string: when it differs). Items sharing a `batch`
    arrived in one snapshot: the first batch into an empty seen-set is a baseline.
    `members` is set on a full snapshot of a membership list (top boosts): ids
    absent from it have left the list and may enter it again.
    """

    scope: str
    id: str
    version: float | str | None = None
    batch: str | None = None
    members: frozenset[str] | None = None
    leave: bool = False  # the item left its list: forget it, so re-entry is news


@attrs.frozen
class Event:
    """One normalized observation from a source (or from the daemon itself)."""

    kind: str
    source: str
    stream: str
    token: TokenRef | None
    ts: float
    received: float
    fields: Mapping[str, Any] = attrs.field(factory=dict)
    occurrence: Occurrence | None = None

    def context(self) -> dict[str, Any]:
        """The values rules and templates see: fields plus event metadata."""
        ctx: dict[str, Any] = dict(self.fields)
        ctx.update(
            kind=self.kind,
            source=self.source,
            stream=self.stream,
            ts=self.ts,
            token=self.token.as_dict() if self.token else None,
        )
        return ctx


SeriesKey = tuple[str, str, str]


def series_key(event: Event) -> SeriesKey:
    """The series an observation belongs to: token, source and venue (exchange).

    Ticks of one token from different exchanges are different series, so
    interleaved venues never look like a price move.
    """
    venue = event.fields.get("venue")
    return (event.token.key if event.token else f"{event.source}:{event.stream}",
            event.source, venue if isinstance(venue, str) else "")


# The fields each kind carries (besides kind/source/stream/ts/token). Used by
# `rulesd check` to catch misspelled field names in conditions and templates.
_DEX_COMMON: Final = frozenset(
    {"chain", "address", "url", "icon", "header", "description", "links"}
)
_PULSE_WINDOWS: Final = ("1min", "5min", "15min", "1h", "4h", "6h", "12h", "24h")
_PULSE_METRICS: Final = (
    "volume", "volume_buy", "volume_sell", "trades", "buys", "sells", "buyers", "sellers",
    "traders", "fees_paid", *(f"organic_{m}" for m in (
        "volume", "volume_buy", "volume_sell", "trades", "buys", "sells", "buyers", "sellers",
        "traders")))
# Mobula Pulse V2 (TokenDataSchema): the stats in snake_case as sent, the token
# object's camelCase fields in snake_case (`top10HoldingsPercentage` →
# `top_10_holdings_percentage`, as Mobula's own filters spell them).
_PULSE: Final = frozenset({
    "view", "venue", "chain", "chain_id", "address",
    *(f"{m}_{w}" for m in _PULSE_METRICS for w in _PULSE_WINDOWS),
    *(f"price_change_{w}" for w in _PULSE_WINDOWS if w != "15min"),
    *(f"price_{w}_ago" for w in _PULSE_WINDOWS if w != "15min"),
    "latest_price", "market_cap", "latest_market_cap", "created_at", "latest_trade_date",
    "description", "socials", "security", "bonded_at", "migrated_at", "twitter_reuses_count",
    "twitter_rename_count", "twitter_rename_history", "deployer_migrations_count",
    "dexscreener_listed", "dexscreener_header", "dexscreener_ad_paid", "total_fees_paid_usd",
    "is_cashback_coin", "is_mayhem_mode", "is_agent_mode", "is_og_coin",
    "symbol", "name", "decimals", "id", "price", "price_token", "price_token_string",
    "approximate_reserve_usd", "approximate_reserve_token_raw", "approximate_reserve_token",
    "total_supply", "circulating_supply", "market_cap_diluted", "logo", "origin_logo_url",
    "exchange", "factory", "source_factory", "liquidity", "liquidity_max", "bonded",
    "bonding_percentage", "bonding_curve_address", "pre_bonding_factory", "pool_address",
    "blockchain", "type", "deployer", "ath", "atl", "ath_date", "atl_date", "holders_count",
    *(f"top_{n}_holdings_percentage" for n in (10, 50, 100, 200)),
    *(f"{c}_holdings_percentage" for c in (
        "dev", "insiders", "bundlers", "snipers", "pro_traders", "fresh_traders",
        "smart_traders")),
    *(f"{c}_count" for c in (
        "insiders", "bundlers", "snipers", "fresh_traders", "pro_traders", "smart_traders")),
    *(f"{c}_buys" for c in ("fresh_traders", "pro_traders", "smart_traders")),
    "fees_to_volume_ratio_24h",
})
KIND_FIELDS: Final[dict[str, frozenset[str]]] = {
    "boost": _DEX_COMMON | {"amount", "total_amount"},
    "top_boost": _DEX_COMMON | {"amount", "total_amount"},
    "takeover": _DEX_COMMON | {"claim_date"},
    "profile": _DEX_COMMON,
    "profile_update": _DEX_COMMON,
    "ad": frozenset({"chain", "address", "url", "date", "type", "duration_hours", "impressions"}),
    # CoinMarketCap (market and on-chain channels) and Token Metrics.
    "price": frozenset({
        "price", "volume_24h", "market_cap", "circulating_supply", "fdv",
        *(f"change_{w}" for w in ("1h", "24h", "7d", "30d", "60d", "90d", "ytd")),
        "chain", "address", "venue", "channel", "raw",
        "volume", "exchange", "exchange_rank", "exchange_type", "instrument", "is_bid",
        "amount", "amount_in_usd", "side_amount", "transaction_type", "sequence",
    }),
    "trade": frozenset({"chain", "address", "channel", "raw", "tx", "log_index",
                        "instruction_index", "excluded", "exclusion_reason", "side", "price",
                        "volume_usd"}),
    "liquidity": frozenset({"chain", "address", "channel", "raw", "tx", "log_index",
                            "instruction_index", "type"}),
    "kline": frozenset({"chain", "address", "channel", "raw", "interval", "open", "high", "low",
                        "close", "volume_usd", "open_time"}),
    "token_metric": frozenset({"chain", "address", "channel", "raw", *(
        f"{name}_{w}" for name in ("buys", "sells", "volume_usd", "change")
        for w in ("5m", "1h", "4h", "24h"))}),
    "pool_metric": frozenset({"chain", "address", "channel", "raw", *(
        f"{name}_{w}" for name in ("buy_volume_usd", "sell_volume_usd", "unique_traders",
                                   "buyers", "sellers")
        for w in ("5m", "1h", "4h", "24h", "7d"))}),
    "unique_traders": frozenset({"chain", "address", "channel", "raw", "interval",
                                 "unique_traders", "open_time"}),
    "holders": frozenset({"chain", "address", "channel", "raw", "type", "top_10_share",
                          "top_50_share", "top_100_share"}),
    "wallet": frozenset({"chain", "address", "channel", "raw", "type"}),
    "pulse_enter": _PULSE, "pulse_update": _PULSE, "pulse_exit": _PULSE,
    "source_up": frozenset({"reason"}),
    "source_down": frozenset({"reason"}),
}
KINDS: Final[frozenset[str]] = frozenset(KIND_FIELDS)
CONTEXT_FIELDS: Final = frozenset({"kind", "source", "stream", "ts", "token"})
TOKEN_FIELDS: Final = frozenset(attrs.fields_dict(TokenRef))

# Occurrence kinds fire once per matching event (DESIGN §4); every other kind is
# a level: it fires when a rule's condition becomes true and re-arms once false.
OCCURRENCE_KINDS: Final = frozenset(
    {"boost", "top_boost", "takeover", "profile", "profile_update", "ad", "trade",
     "liquidity", "pulse_enter", "pulse_exit", "source_down", "source_up"}
)

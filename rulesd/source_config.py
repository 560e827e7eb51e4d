"""The `sources:` section of a rules file: one frozen class per vendor, and its checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from rulesd.durations import Duration
from rulesd.sources.coinmarketcap_channels import (
    CHANNELS as CMC_CHANNELS,
)
from rulesd.sources.coinmarketcap_channels import (
    MAX_CONNECTIONS as CMC_MAX_CONNECTIONS,
)
from rulesd.sources.coinmarketcap_channels import (
    SUBSCRIPTIONS_PER_CONNECTION as CMC_PER_CONNECTION,
)
from rulesd.sources.coinmarketcap_channels import (
    values_of,
)
from rulesd.sources.dexscreener_streams import STREAMS as DEX_STREAMS
from rulesd.suggest import did_you_mean
from rulesd.yaml_loader import Path, Report

_DEFAULT_MAX_MESSAGE: Final = 4 * 1024 * 1024


@attrs.frozen
class DexScreenerConfig:
    streams: tuple[str, ...] = tuple(DEX_STREAMS)
    url: str = "wss://api.dexscreener.com"
    headers: Mapping[str, str] = attrs.field(factory=dict)
    # Reconnect a stream that carried no data for this long, to re-snapshot.
    refresh: Duration = Duration(300.0)
    connect_timeout: Duration = Duration(10.0)
    ping_interval: Duration = Duration(20.0)
    max_message_size: int = _DEFAULT_MAX_MESSAGE


@attrs.frozen
class CmcSubscription:
    channel: str
    params: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class CmcId:
    symbol: str
    name: str | None = None


@attrs.frozen
class CoinMarketCapConfig:
    api_key: str
    subscriptions: tuple[CmcSubscription, ...] = ()
    url: str = "wss://pro-stream.coinmarketcap.com/v1"
    max_connections: int = CMC_MAX_CONNECTIONS
    # cid → symbol/name, on top of the document's common ids.
    ids: Mapping[str, CmcId] = attrs.field(factory=dict)
    # platform_id → chain name, on top of the document's (14 bsc, 16 solana).
    platforms: Mapping[str, str] = attrs.field(factory=dict)
    connect_timeout: Duration = Duration(10.0)
    max_message_size: int = _DEFAULT_MAX_MESSAGE


# Token Metrics' documented limits: concurrent connections, symbols per connection.
TOKENMETRICS_PLANS: Final[dict[str, tuple[int, int]]] = {
    "basic": (1, 15),
    "advanced": (3, 60),
    "premium": (6, 120),
    "vip": (12, 250),
}


@attrs.frozen
class TokenMetricsConfig:
    api_key: str
    tokens: tuple[str, ...]
    url: str = "wss://price.data-service.tokenmetrics.com"
    plan: str = "basic"
    connect_timeout: Duration = Duration(10.0)
    ping_interval: Duration = Duration(20.0)
    max_message_size: int = _DEFAULT_MAX_MESSAGE


# Mobula's documented Pulse V2 limits, and the views of `model: default`.
MOBULA_MAX_VIEWS: Final = 10
MOBULA_MAX_PER_VIEW: Final = 100
MOBULA_MAX_TOKENS: Final = 1000
MOBULA_DEFAULT_VIEWS: Final = {"new": 50, "bonding": 50, "bonded": 50}


@attrs.frozen
class MobulaConfig:
    api_key: str
    # Mobula's own clients use another host than the document's: set `url`.
    url: str = "wss://api.mobula.io"
    payload: Mapping[str, Any] = attrs.field(
        factory=lambda: {"model": "default", "assetMode": True})
    ping_interval: Duration = Duration(30.0)
    connect_timeout: Duration = Duration(10.0)
    # An init of 10 views x 100 tokens is several megabytes.
    max_message_size: int = 16 * 1024 * 1024
    # A compressed frame may inflate to at most this (a gzip bomb is refused).
    max_inflated_size: int = 64 * 1024 * 1024


def mobula_views(config: MobulaConfig) -> dict[str, int]:
    """View name → its token limit (100, Mobula's maximum, when it sets none)."""
    views = config.payload.get("views")
    if not isinstance(views, list):
        return dict(MOBULA_DEFAULT_VIEWS) if config.payload.get("model") == "default" else {}
    out: dict[str, int] = {}
    for view in views:
        if isinstance(view, Mapping) and isinstance(view.get("name"), str):
            limit = view.get("limit", MOBULA_MAX_PER_VIEW)
            out[view["name"]] = limit if isinstance(limit, int) else MOBULA_MAX_PER_VIEW
    return out


@attrs.frozen
class SourcesConfig:
    dexscreener: DexScreenerConfig | None = None
    coinmarketcap: CoinMarketCapConfig | None = None
    tokenmetrics: TokenMetricsConfig | None = None
    mobula: MobulaConfig | None = None


# Lower bounds that keep a source from hammering a vendor or itself.
_MINIMUMS: Final = {
    "refresh": (1.0, "1s"),
    "connect_timeout": (1.0, "1s"),
    "ping_interval": (0.1, "100ms"),
    "max_message_size": (1024, "1024 bytes"),
}


def _check_common(config: Any, here: Path, report: Report) -> None:
    if not config.url.startswith(("ws://", "wss://")):
        report((*here, "url"), "the url must start with ws:// or wss://")
    for key, (minimum, shown) in _MINIMUMS.items():
        if hasattr(config, key) and getattr(config, key) < minimum:
            report((*here, key), f"`{key}` must be at least {shown}")


def _check_dexscreener(dex: DexScreenerConfig, report: Report) -> None:
    here: Path = ("sources", "dexscreener")
    listed: set[str] = set()
    for i, stream in enumerate(dex.streams):
        name = stream.removesuffix("/v1")
        if name not in DEX_STREAMS:
            report((*here, "streams", i), f"unknown DEX Screener stream {stream!r}"
                                          f"{did_you_mean(stream, DEX_STREAMS)}")
        elif name in listed:
            report((*here, "streams", i), f"{stream!r} is listed twice")
        listed.add(name)
    _check_common(dex, here, report)


def cmc_subscription_count(cmc: CoinMarketCapConfig) -> int:
    """Subscriptions as CoinMarketCap counts them: one per id or address."""
    return sum(
        len(values_of(dict(s.params), CMC_CHANNELS[s.channel].counted))
        for s in cmc.subscriptions if s.channel in CMC_CHANNELS
    )


def _check_coinmarketcap(cmc: CoinMarketCapConfig, report: Report) -> None:
    here: Path = ("sources", "coinmarketcap")
    for i, sub in enumerate(cmc.subscriptions):
        at: Path = (*here, "subscriptions", i)
        channel = CMC_CHANNELS.get(sub.channel)
        if channel is None:
            report((*at, "channel"), f"unknown CoinMarketCap channel {sub.channel!r}"
                                     f"{did_you_mean(sub.channel, CMC_CHANNELS)}")
            continue
        for param in channel.required:
            if param not in sub.params:
                report(at, f"{sub.channel} needs the param `{param}`")
        for param in sub.params:
            if param not in channel.required:
                report((*at, "params", param), f"{sub.channel} takes no param {param!r}"
                                               f"{did_you_mean(param, channel.required)}",
                       at_key=True)
        if channel.counted in sub.params and not values_of(dict(sub.params), channel.counted):
            report((*at, "params", channel.counted), f"`{channel.counted}` is empty")
        platform = sub.params.get("platform_id")
        if "platform_id" in sub.params and (not isinstance(platform, int)
                                            or isinstance(platform, bool)):
            report((*at, "params", "platform_id"), "`platform_id` must be a number "
                                                   "(e.g. 14 for BSC, 16 for Solana)")
    if not 1 <= cmc.max_connections <= CMC_MAX_CONNECTIONS:
        report((*here, "max_connections"),
               f"`max_connections` must be 1 to {CMC_MAX_CONNECTIONS}")
    count = cmc_subscription_count(cmc)
    capacity = cmc.max_connections * CMC_PER_CONNECTION
    if count > capacity:
        report((*here, "subscriptions"),
               f"{count} subscriptions (one per id or address) exceed the limit of "
               f"{cmc.max_connections} connections x {CMC_PER_CONNECTION} = {capacity}")
    for cid in cmc.ids:
        if not cid.isdigit():
            report((*here, "ids", cid), f"`ids` keys are CoinMarketCap ids (numbers), "
                                        f"got {cid!r}")
    for pid in cmc.platforms:
        if not pid.isdigit():
            report((*here, "platforms", pid), f"`platforms` keys are platform ids (numbers), "
                                              f"got {pid!r}")
    _check_common(cmc, here, report)


def _check_tokenmetrics(tm: TokenMetricsConfig, report: Report) -> None:
    here: Path = ("sources", "tokenmetrics")
    limits = TOKENMETRICS_PLANS.get(tm.plan)
    if limits is None:
        report((*here, "plan"), f"unknown Token Metrics plan {tm.plan!r} (one of "
                                f"{', '.join(TOKENMETRICS_PLANS)})")
    else:
        connections, per_connection = limits
        if len(tm.tokens) > connections * per_connection:
            report((*here, "tokens"),
                   f"{len(tm.tokens)} tokens exceed the {tm.plan} plan's limit of "
                   f"{connections} connection(s) x {per_connection} symbols = "
                   f"{connections * per_connection}")
    if not tm.tokens:
        report((*here, "tokens"), "list at least one token slug (e.g. bitcoin)")
    seen: set[str] = set()
    for i, slug in enumerate(tm.tokens):
        if slug in seen:
            report((*here, "tokens", i), f"{slug!r} is listed twice")
        seen.add(slug)
    _check_common(tm, here, report)


def _check_mobula(mob: MobulaConfig, report: Report) -> None:
    here: Path = ("sources", "mobula", "payload")
    views = mob.payload.get("views")
    if views is None and mob.payload.get("model") != "default":
        report(here, "the payload needs `views` or `model: default`")
    if views is not None and not isinstance(views, list):
        report((*here, "views"), "`views` must be a list of views")
        views = []
    names: set[str] = set()
    for i, view in enumerate(views or []):
        at: Path = (*here, "views", i)
        if not isinstance(view, Mapping) or not isinstance(view.get("name"), str):
            report(at, "each view needs a `name`")
            continue
        if view["name"] in names:
            report((*at, "name"), f"view name {view['name']!r} is used twice")
        names.add(view["name"])
        limit = view.get("limit")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)
                                  or not 1 <= limit <= MOBULA_MAX_PER_VIEW):
            report((*at, "limit"), f"`limit` must be 1 to {MOBULA_MAX_PER_VIEW} "
                                   "(Mobula's maximum per view)")
    if views and len(views) > MOBULA_MAX_VIEWS:
        report((*here, "views"), f"{len(views)} views exceed Mobula's limit of "
                                 f"{MOBULA_MAX_VIEWS} per connection")
    total = sum(mobula_views(mob).values())
    if total > MOBULA_MAX_TOKENS:
        report((*here, "views"), f"the views' limits add up to {total} tokens, over Mobula's "
                                 f"{MOBULA_MAX_TOKENS} per connection (a view without "
                                 f"`limit` counts {MOBULA_MAX_PER_VIEW})")
    if not mob.api_key:
        report(("sources", "mobula", "api_key"), "`api_key` is empty")
    _check_common(mob, ("sources", "mobula"), report)


def check_sources(sources: SourcesConfig, report: Report) -> None:
    if sources.mobula is not None:
        _check_mobula(sources.mobula, report)
    if sources.dexscreener is not None:
        _check_dexscreener(sources.dexscreener, report)
    if sources.coinmarketcap is not None:
        _check_coinmarketcap(sources.coinmarketcap, report)
    if sources.tokenmetrics is not None:
        _check_tokenmetrics(sources.tokenmetrics, report)


def produced_kinds(sources: SourcesConfig) -> set[str]:
    """The event kinds the configured sources can produce."""
    kinds = {"source_up", "source_down"}
    if sources.dexscreener is not None:
        kinds |= {DEX_STREAMS[s.removesuffix("/v1")] for s in sources.dexscreener.streams
                  if s.removesuffix("/v1") in DEX_STREAMS}
    if sources.coinmarketcap is not None:
        kinds |= {CMC_CHANNELS[s.channel].kind for s in sources.coinmarketcap.subscriptions
                  if s.channel in CMC_CHANNELS}
    if sources.tokenmetrics is not None:
        kinds.add("price")
    if sources.mobula is not None:
        kinds |= {"pulse_enter", "pulse_update", "pulse_exit"}
    return kinds


def source_secrets(sources: SourcesConfig) -> set[str]:
    """API keys, masked in logs even when written into the file literally."""
    return {s.api_key for s in (sources.coinmarketcap, sources.tokenmetrics, sources.mobula)
            if s is not None and s.api_key}


def summary(sources: SourcesConfig) -> list[str]:
    parts = []
    if sources.dexscreener:
        parts.append(f"dexscreener ({len(sources.dexscreener.streams)} streams)")
    if sources.coinmarketcap:
        parts.append(f"coinmarketcap ({cmc_subscription_count(sources.coinmarketcap)} "
                     "subscriptions)")
    if sources.tokenmetrics:
        parts.append(f"tokenmetrics ({len(sources.tokenmetrics.tokens)} tokens)")
    if sources.mobula:
        parts.append(f"mobula ({len(mobula_views(sources.mobula))} views)")
    return parts

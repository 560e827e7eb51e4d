"""CoinMarketCap's `sources.coinmarketcap` section, and its checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from rulesd.durations import Duration
from rulesd.sources.checks import DEFAULT_MAX_MESSAGE, check_common
from rulesd.sources.coinmarketcap.channels import (
    CHANNELS,
    MAX_CONNECTIONS,
    SUBSCRIPTIONS_PER_CONNECTION,
    values_of,
)
from rulesd.suggest import did_you_mean
from rulesd.tokens import CMC_PLATFORMS
from rulesd.yaml_loader import Path, Report, describe_value


@attrs.frozen
class CmcSubscription:
    channel: str
    params: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class CmcId:
    symbol: str
    name: str | None = None

    @classmethod
    def from_short(cls, symbol: str) -> CmcId:
        """The short form in the file: just the symbol."""
        return cls(symbol=symbol)


@attrs.frozen
class CoinMarketCapConfig:
    api_key: str
    subscriptions: tuple[CmcSubscription, ...] = ()
    url: str = "wss://pro-stream.coinmarketcap.com/v1"
    max_connections: int = MAX_CONNECTIONS
    # cid → symbol/name, on top of the document's common ids.
    ids: Mapping[str, CmcId] = attrs.field(factory=dict)
    # platform_id → chain name, on top of the reference's (14 bsc, 16 solana).
    platforms: Mapping[str, str] = attrs.field(factory=dict)
    connect_timeout: Duration = Duration(10.0)
    max_message_size: int = DEFAULT_MAX_MESSAGE


def subscription_count(cmc: CoinMarketCapConfig) -> int:
    """Subscriptions as CoinMarketCap counts them: one per id or address."""
    return sum(
        len(values_of(dict(s.params), CHANNELS[s.channel].counted))
        for s in cmc.subscriptions if s.channel in CHANNELS
    )


_HERE: Path = ("sources", "coinmarketcap")


def check(cmc: CoinMarketCapConfig, report: Report) -> None:
    for i, sub in enumerate(cmc.subscriptions):
        at: Path = (*_HERE, "subscriptions", i)
        channel = CHANNELS.get(sub.channel)
        if channel is None:
            report((*at, "channel"), f"unknown CoinMarketCap channel {sub.channel!r}"
                                     f"{did_you_mean(sub.channel, CHANNELS)}")
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
        for param, value in sub.params.items():
            many = value if param == channel.counted and isinstance(value, list) else [value]
            if any(isinstance(v, bool) or not isinstance(v, int | str) for v in many):
                report((*at, "params", param), f"`{param}` takes "
                       f"{'one or a list of ' if param == channel.counted else ''}"
                       f"numbers or strings, got {describe_value(value)}")
        platform = sub.params.get("platform_id")
        if "platform_id" in sub.params and (not isinstance(platform, int)
                                            or isinstance(platform, bool)):
            report((*at, "params", "platform_id"), "`platform_id` must be a number "
                                                   "(e.g. 14 for BSC, 16 for Solana)")
    if not 1 <= cmc.max_connections <= MAX_CONNECTIONS:
        report((*_HERE, "max_connections"), f"`max_connections` must be 1 to {MAX_CONNECTIONS}")
    count = subscription_count(cmc)
    capacity = cmc.max_connections * SUBSCRIPTIONS_PER_CONNECTION
    if count > capacity:
        report((*_HERE, "subscriptions"),
               f"{count} subscriptions (one per id or address) exceed the limit of "
               f"{cmc.max_connections} connections x {SUBSCRIPTIONS_PER_CONNECTION} = {capacity}")
    for cid in cmc.ids:
        if not cid.isdigit():
            report((*_HERE, "ids", cid), f"`ids` keys are CoinMarketCap ids (numbers), "
                                         f"got {cid!r}")
    for pid in cmc.platforms:
        if not pid.isdigit():
            report((*_HERE, "platforms", pid), f"`platforms` keys are platform ids (numbers), "
                                               f"got {pid!r}")
    check_common(cmc, _HERE, report)


def warnings(cmc: CoinMarketCapConfig, report: Report) -> None:
    """A platform id no table names: its tokens get keys no other vendor joins on."""
    named = set(CMC_PLATFORMS) | {int(p) for p in cmc.platforms if p.isdigit()}
    for i, sub in enumerate(cmc.subscriptions):
        platform = sub.params.get("platform_id")
        if isinstance(platform, int) and not isinstance(platform, bool) \
                and platform not in named:
            report((*_HERE, "subscriptions", i, "params", "platform_id"),
                   f"warning: platform_id {platform} has no chain name, so its tokens get "
                   f"keys like cmc-platform-{platform}:<address> that no other source joins "
                   f"on; name it under `sources.coinmarketcap.platforms` "
                   f"(e.g. \"{platform}\": ethereum)")

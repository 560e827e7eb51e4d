"""CoinMarketCap's `sources.coinmarketcap` section, and its checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from rulesd.durations import Duration
from rulesd.sources.checks import DEFAULT_MAX_MESSAGE, check_common
from rulesd.sources.coinmarketcap.channels import (
    CHANNELS,
    COMMON_IDS,
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
            _check_values(param, value, param == channel.counted, (*at, "params", param),
                          report)
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


_BY_SYMBOL: Final = {symbol: cid for cid, (symbol, _) in COMMON_IDS.items()}


def _check_values(param: str, value: Any, counted: bool, at: Path, report: Report) -> None:
    """Each value of a param, located: `crypto_ids` are CoinMarketCap ids (integers;
    a symbol only fails live, against a paid key), the others numbers or strings."""
    many = value if counted and isinstance(value, list) else [value]
    for n, item in enumerate(many):
        where = (*at, n) if many is value else at
        if param == "crypto_ids":
            if isinstance(item, int) and not isinstance(item, bool) and item > 0:
                continue
            known = _BY_SYMBOL.get(item.upper()) if isinstance(item, str) else None
            if known:
                hint = f": {item!r} is a symbol, its id is {known}"
            elif isinstance(item, list | dict):
                hint = " (write one list: `crypto_ids: [1, 1027]`)"
            else:
                hint = " (a coin's id is on its CoinMarketCap page, or from the API's " \
                       "/v1/cryptocurrency/map)"
            report(where, f"`crypto_ids` takes CoinMarketCap ids, whole numbers such as 1 "
                          f"(BTC) or 1027 (ETH), got {describe_value(item)}{hint}")
        elif isinstance(item, bool) or not isinstance(item, int | str):
            report(where, f"`{param}` takes {'one or a list of ' if counted else ''}numbers "
                          f"or strings, got {describe_value(item)}"
                          f"{f' (item {n + 1} of the list)' if many is value else ''}")


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

"""DEX Screener's `sources.dexscreener` section, and its checks."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from rulesd.durations import Duration, parse_rate_window
from rulesd.sources.checks import DEFAULT_MAX_MESSAGE, check_common
from rulesd.sources.dexscreener.kinds import STREAMS
from rulesd.suggest import did_you_mean
from rulesd.yaml_loader import Path, Report


@attrs.frozen
class MarketConfig:
    """`sources.dexscreener.market`: the REST API behind `market.*` fields and watches."""

    url: str = "https://api.dexscreener.com"
    rate: str = "300/min"  # the host's whole budget (its documented limit)
    ttl: Duration = Duration(30.0)  # how long a token's answer is reused
    timeout: Duration = Duration(5.0)  # how long an event waits for its market data
    max_watched: int = 5000

    def budget(self) -> tuple[int, float]:
        """(requests, seconds) of `rate`; `check` has refused what does not parse."""
        count, seconds = parse_rate_window(self.rate)
        return max(1, int(count)), seconds


@attrs.frozen
class DexScreenerConfig:
    streams: tuple[str, ...] = tuple(STREAMS)
    url: str = "wss://api.dexscreener.com"
    headers: Mapping[str, str] = attrs.field(factory=dict)
    # Reconnect a stream that carried no data for this long, to re-snapshot.
    refresh: Duration = Duration(300.0)
    connect_timeout: Duration = Duration(10.0)
    ping_interval: Duration = Duration(20.0)
    max_message_size: int = DEFAULT_MAX_MESSAGE
    market: MarketConfig = MarketConfig()

    def stream_names(self) -> list[str]:
        """The configured stream paths without their `/v1`."""
        return [s.removesuffix("/v1") for s in self.streams]


def check(dex: DexScreenerConfig, report: Report) -> None:
    here: Path = ("sources", "dexscreener")
    listed: set[str] = set()
    for i, (stream, name) in enumerate(zip(dex.streams, dex.stream_names(), strict=True)):
        if name not in STREAMS:
            report((*here, "streams", i), f"unknown DEX Screener stream {stream!r}"
                                          f"{did_you_mean(stream, STREAMS)}")
        elif name in listed:
            report((*here, "streams", i), f"{stream!r} is listed twice")
        listed.add(name)
    check_common(dex, here, report)
    market = dex.market
    try:
        count, seconds = parse_rate_window(market.rate)
    except ValueError as exc:
        report((*here, "market", "rate"), str(exc))
    else:
        if count / seconds > 300 / 60:
            report((*here, "market", "rate"), f"{market.rate} is over DEX Screener's limit "
                   "of 300/min for every request from one address")
        elif count < 1:
            report((*here, "market", "rate"), "a budget needs at least one request")
    if not market.url.startswith(("https://", "http://")):
        report((*here, "market", "url"), f"expected an http(s) URL, got {market.url!r}")
    if market.timeout <= 0:
        report((*here, "market", "timeout"), "an event must be given some time to wait")
    if market.max_watched < 1:
        report((*here, "market", "max_watched"), "at least one token must be watchable")

"""DEX Screener's `sources.dexscreener` section, and its checks."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from rulesd.durations import Duration
from rulesd.sources.checks import DEFAULT_MAX_MESSAGE, check_common
from rulesd.sources.dexscreener.kinds import STREAMS
from rulesd.suggest import did_you_mean
from rulesd.yaml_loader import Path, Report


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

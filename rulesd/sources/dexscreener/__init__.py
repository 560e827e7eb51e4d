"""DEX Screener: token boosts, top boosts, takeovers, profiles and ads."""

from __future__ import annotations

from typing import Any, Final

from rulesd.sources.dexscreener.config import DexScreenerConfig, check
from rulesd.sources.dexscreener.kinds import KINDS, STREAMS
from rulesd.sources.dexscreener.parse import DexParser
from rulesd.sources.dexscreener.session import run
from rulesd.sources.supervisor import Closes
from rulesd.yaml_loader import Report


class DexScreener:
    name: Final = "dexscreener"
    config_type: Final = DexScreenerConfig
    kinds: Final = KINDS
    closes: Final[Closes] = {}  # DEX Screener documents none

    def check(self, config: DexScreenerConfig, report: Report) -> None:
        check(config, report)

    def warnings(self, config: DexScreenerConfig, report: Report) -> None:
        """Nothing DEX Screener accepts works otherwise than it reads."""

    def produces(self, config: DexScreenerConfig) -> set[str]:
        return {STREAMS[s].name for s in config.stream_names() if s in STREAMS}

    def secrets(self, config: DexScreenerConfig) -> set[str]:
        return set()

    def describe(self, config: DexScreenerConfig) -> str:
        return f"dexscreener ({len(config.streams)} streams)"

    def parser(self, config: Any) -> DexParser:
        return DexParser()

    run = staticmethod(run)


SOURCE: Final = DexScreener()

"""DEX Screener: token boosts, top boosts, takeovers, profiles and ads."""

from __future__ import annotations

from typing import Final

from rulesd.sources.base import Source
from rulesd.sources.dexscreener.config import DexScreenerConfig, check
from rulesd.sources.dexscreener.kinds import KINDS, STREAMS, WATCHED
from rulesd.sources.dexscreener.parse import DexParser
from rulesd.sources.dexscreener.session import run

__all__ = ["SOURCE", "WATCHED"]

SOURCE: Final = Source(
    name="dexscreener",
    config_type=DexScreenerConfig,
    kinds=KINDS,
    check=check,
    produces=lambda c: {STREAMS[s].name for s in c.stream_names() if s in STREAMS},
    describe=lambda c: f"dexscreener ({len(c.streams)} streams)",
    parser=lambda c: DexParser(),
    run=run,
)

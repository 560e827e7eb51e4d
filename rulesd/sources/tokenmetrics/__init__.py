"""Token Metrics: price ticks per exchange, subscribed by token slug."""

from __future__ import annotations

from typing import Final

from rulesd.sources.base import Source
from rulesd.sources.tokenmetrics.config import TokenMetricsConfig, check
from rulesd.sources.tokenmetrics.kinds import KINDS
from rulesd.sources.tokenmetrics.parse import TmParser
from rulesd.sources.tokenmetrics.session import CLOSES, run

SOURCE: Final = Source(
    name="tokenmetrics",
    config_type=TokenMetricsConfig,
    kinds=KINDS,
    check=check,
    produces=lambda c: {"price"},
    describe=lambda c: f"tokenmetrics ({len(c.tokens)} tokens)",
    parser=lambda c: TmParser(),
    run=run,
    closes=CLOSES,
)

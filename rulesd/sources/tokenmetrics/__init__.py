"""Token Metrics: price ticks per exchange, subscribed by token slug."""

from __future__ import annotations

from typing import Final

from rulesd.sources.tokenmetrics.config import TokenMetricsConfig, check
from rulesd.sources.tokenmetrics.kinds import KINDS
from rulesd.sources.tokenmetrics.parse import TmParser
from rulesd.sources.tokenmetrics.session import CLOSES, run
from rulesd.yaml_loader import Report


class TokenMetrics:
    name: Final = "tokenmetrics"
    config_type: Final = TokenMetricsConfig
    kinds: Final = KINDS
    closes: Final = CLOSES

    def check(self, config: TokenMetricsConfig, report: Report) -> None:
        check(config, report)

    def warnings(self, config: TokenMetricsConfig, report: Report) -> None:
        """Nothing Token Metrics accepts works otherwise than it reads."""

    def produces(self, config: TokenMetricsConfig) -> set[str]:
        return {"price"}

    def secrets(self, config: TokenMetricsConfig) -> set[str]:
        return {config.api_key} if config.api_key else set()

    def describe(self, config: TokenMetricsConfig) -> str:
        return f"tokenmetrics ({len(config.tokens)} tokens)"

    def parser(self, config: TokenMetricsConfig) -> TmParser:
        return TmParser()

    run = staticmethod(run)


SOURCE: Final = TokenMetrics()

"""CoinMarketCap: CEX spot prices and the on-chain channels, sharded over connections."""

from __future__ import annotations

from typing import Final

from rulesd.sources.coinmarketcap.config import (
    CoinMarketCapConfig,
    check,
    subscription_count,
    warnings,
)
from rulesd.sources.coinmarketcap.kinds import CHANNEL_KINDS, KINDS
from rulesd.sources.coinmarketcap.parse import CmcParser
from rulesd.sources.coinmarketcap.session import CLOSES, naming_of, run
from rulesd.yaml_loader import Report


class CoinMarketCap:
    name: Final = "coinmarketcap"
    config_type: Final = CoinMarketCapConfig
    kinds: Final = KINDS
    closes: Final = CLOSES

    def check(self, config: CoinMarketCapConfig, report: Report) -> None:
        check(config, report)

    def warnings(self, config: CoinMarketCapConfig, report: Report) -> None:
        warnings(config, report)

    def produces(self, config: CoinMarketCapConfig) -> set[str]:
        return {CHANNEL_KINDS[s.channel].name for s in config.subscriptions
                if s.channel in CHANNEL_KINDS}

    def secrets(self, config: CoinMarketCapConfig) -> set[str]:
        return {config.api_key} if config.api_key else set()

    def describe(self, config: CoinMarketCapConfig) -> str:
        return f"coinmarketcap ({subscription_count(config)} subscriptions)"

    def parser(self, config: CoinMarketCapConfig) -> CmcParser:
        return CmcParser(naming_of(config))

    run = staticmethod(run)


SOURCE: Final = CoinMarketCap()

"""CoinMarketCap: CEX spot prices and the on-chain channels, sharded over connections."""

from __future__ import annotations

from typing import Final

from rulesd.sources.base import Source
from rulesd.sources.coinmarketcap.config import (
    CoinMarketCapConfig,
    check,
    subscription_count,
    warnings,
)
from rulesd.sources.coinmarketcap.kinds import CHANNEL_KINDS, KINDS
from rulesd.sources.coinmarketcap.parse import CmcParser
from rulesd.sources.coinmarketcap.session import CLOSES, naming_of, run

SOURCE: Final = Source(
    name="coinmarketcap",
    config_type=CoinMarketCapConfig,
    kinds=KINDS,
    check=check,
    warnings=warnings,
    produces=lambda c: {CHANNEL_KINDS[s.channel].name for s in c.subscriptions
                        if s.channel in CHANNEL_KINDS},
    describe=lambda c: f"coinmarketcap ({subscription_count(c)} subscriptions)",
    parser=lambda c: CmcParser(naming_of(c)),
    run=run,
    closes=CLOSES,
)

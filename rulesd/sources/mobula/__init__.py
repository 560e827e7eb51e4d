"""Mobula Pulse Stream V2: tokens entering, changing in and leaving views."""

from __future__ import annotations

from typing import Final

from rulesd.sources.mobula.config import MobulaConfig, check, mobula_views
from rulesd.sources.mobula.kinds import KINDS
from rulesd.sources.mobula.parse import MobulaParser
from rulesd.sources.mobula.session import CLOSES, MobulaSource, run
from rulesd.yaml_loader import Report

__all__ = ["SOURCE", "Mobula", "MobulaSource"]


class Mobula:
    name: Final = "mobula"
    config_type: Final = MobulaConfig
    kinds: Final = KINDS
    closes: Final = CLOSES

    def check(self, config: MobulaConfig, report: Report) -> None:
        check(config, report)

    def warnings(self, config: MobulaConfig, report: Report) -> None:
        """Nothing Mobula accepts works otherwise than it reads."""

    def produces(self, config: MobulaConfig) -> set[str]:
        return {kind.name for kind in KINDS}

    def secrets(self, config: MobulaConfig) -> set[str]:
        return {config.api_key} if config.api_key else set()

    def describe(self, config: MobulaConfig) -> str:
        return f"mobula ({len(mobula_views(config))} views)"

    def parser(self, config: MobulaConfig) -> MobulaParser:
        return MobulaParser(config.max_inflated_size)

    run = staticmethod(run)


SOURCE: Final = Mobula()

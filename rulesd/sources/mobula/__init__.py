"""Mobula Pulse Stream V2: tokens entering, changing in and leaving views."""

from __future__ import annotations

from typing import Final

from rulesd.sources.base import Source
from rulesd.sources.mobula.config import MobulaConfig, check, mobula_views
from rulesd.sources.mobula.kinds import KINDS
from rulesd.sources.mobula.parse import MobulaParser
from rulesd.sources.mobula.session import CLOSES, MobulaSource, run

__all__ = ["SOURCE", "MobulaSource", "run"]

SOURCE: Final = Source(
    name="mobula",
    config_type=MobulaConfig,
    kinds=KINDS,
    check=check,
    produces=lambda c: {kind.name for kind in KINDS},
    describe=lambda c: f"mobula ({len(mobula_views(c))} views)",
    parser=lambda c: MobulaParser(c.max_inflated_size),
    run=run,
    closes=CLOSES,
)

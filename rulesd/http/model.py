"""What the endpoint reads of a running daemon: the daemon's parts it shows and the
three things it may ask (reload, add or expire a silence) — never the daemon itself,
so the web layer imports no wiring and a test can serve any object of this shape."""

from __future__ import annotations

import collections
from typing import Protocol

from rulesd.clock import Clock
from rulesd.delivery.service import DeliveryService
from rulesd.enrich.service import Enrichment
from rulesd.leadership import Leadership
from rulesd.loader import LoadedConfig
from rulesd.monitor import ControlActivity, EngineStats
from rulesd.reloading import ReloadResult
from rulesd.rules.engine import Engine
from rulesd.silencing import SilenceService
from rulesd.sources.health import SourceHealth
from rulesd.state.backend import StateBackend


class Served(Protocol):
    @property
    def loaded(self) -> LoadedConfig: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def db(self) -> StateBackend: ...
    @property
    def engine(self) -> Engine: ...
    @property
    def delivery(self) -> DeliveryService: ...
    @property
    def silences(self) -> SilenceService: ...
    @property
    def leadership(self) -> Leadership | None: ...
    @property
    def healths(self) -> dict[str, SourceHealth]: ...
    @property
    def engine_stats(self) -> EngineStats: ...
    @property
    def started_at(self) -> float: ...
    @property
    def reloads(self) -> collections.Counter[str]: ...
    @property
    def resumed(self) -> bool: ...
    @property
    def role(self) -> str: ...
    @property
    def enrichment(self) -> Enrichment | None: ...
    @property
    def control(self) -> ControlActivity: ...

    async def reload_file(self, path: str) -> ReloadResult: ...

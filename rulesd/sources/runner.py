"""The configured sources of a running daemon: each started with the daemon's `emit`
(which hands an event to the engine in the source's own task), followed through
reloads (kept, reconfigured on its live connections, or restarted), and told which
values the rules use."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs
import trio

from rulesd.clock import Clock
from rulesd.events import Event
from rulesd.sources import SOURCES, Running
from rulesd.sources.base import ValuesInUse
from rulesd.sources.health import SourceHealth
from rulesd.sources.tap import Tap, no_tap

log = logging.getLogger("rulesd.daemon")


@attrs.define
class _Started:
    """A running source: its config, the scope that stops it, what it started with."""

    config: object
    scope: trio.CancelScope
    handle: Running


class SourceRunner:
    """The sources of one term (a leader's, or a daemon on its own file)."""

    def __init__(self, clock: Clock, healths: dict[str, SourceHealth],
                 in_use: Callable[[], ValuesInUse],
                 emit: Callable[[Event], Awaitable[None]], tap: Tap = no_tap) -> None:
        self._clock = clock
        self._healths = healths
        self._in_use = in_use  # what the current rules use (a reload changes it)
        self._emit = emit  # every source's events go here, in the source's task
        self._tap = tap  # and every raw frame here (`rulesd record` beside the daemon)
        self._started: dict[str, _Started] = {}
        self._nursery: trio.Nursery | None = None

    async def run(self, sources: Mapping[str, Any], *,
                  task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Every source; started once each has connected or failed once; runs until
        cancelled."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                async with trio.open_nursery() as starting:
                    for name, config in sources.items():
                        starting.start_soon(self._start, name, config)
                task_status.started()
        finally:
            self._nursery = None
            self._started.clear()

    async def _start(self, name: str, config: object) -> None:
        assert self._nursery is not None
        started = self._started[name] = await self._nursery.start(self._source, name, config)
        await started.handle.follow_rules(self._in_use())

    async def _source(self, name: str, config: object, *,
                      task_status: trio.TaskStatus[_Started] = trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                run = functools.partial(SOURCES[name].run, tap=self._tap)
                handle = await nursery.start(run, config, self._emit, self._clock,
                                             self._healths)
                task_status.started(_Started(config, scope, handle))

    async def apply(self, sources: Mapping[str, Any]) -> None:
        """A reloaded file's sources: keep what did not change; reconfigure live
        connections where the source can; restart the rest. Not running (a standby):
        nothing; the next term starts what the file says."""
        if self._nursery is None:
            return
        for name in SOURCES:
            after = sources.get(name)
            started = self._started.get(name)
            if (started.config if started else None) == after:
                continue
            if started is not None and after is not None \
                    and await started.handle.reconfigure(after):
                started.config = after
                log.info("reload: %s updated on its live connections", name)
                continue
            if started is not None:
                started.scope.cancel()
                del self._started[name]
            if after is not None:
                log.info("reload: (re)starting %s", name)
                await self._start(name, after)

    async def follow_rules(self) -> None:
        """Tell each source what the (reloaded) rules use."""
        for started in list(self._started.values()):
            await started.handle.follow_rules(self._in_use())

"""The one shape every vendor source has: the Source, its Parser and its running handle.

A vendor package (`rulesd/sources/<vendor>/`) owns everything about the vendor:
its config class and checks, the kinds it produces with their typed schemas,
a pure parser (frames → events) and its session. The daemon, `record`, replay,
`rulesd test`, `check` and reload reach vendors only through this protocol and
the registry in `rulesd.sources`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, Protocol

import trio

from rulesd.clock import Clock
from rulesd.events import Event
from rulesd.schema import Kind
from rulesd.sources.health import SourceHealth
from rulesd.sources.supervisor import Closes, Emit
from rulesd.yaml_loader import Report

# A control message (ack, error, pong, welcome ...) handed to the live session;
# replay passes none and control messages are skipped.
Control = Callable[[dict[str, Any]], None]
# The values of a field that some loaded rule on these kinds can match; None: any.
ValuesInUse = Callable[[Collection[str], str], set[Any] | None]


class StreamParser(Protocol):
    """One connection's parser: frames in, events out; holds per-connection state."""

    def connected(self) -> None:
        """A (re)connection: the next frames start afresh (snapshots, baselines)."""

    def feed(self, frame: str | bytes, received: float) -> list[Event]:
        """The events of one raw frame; faults are counted on the connection's health,
        never raised (a bad item costs that item only)."""
        ...


class Parser(Protocol):
    """A source's parser: state shared by its connections (dedupe memory, views)."""

    def stream(self, stream: str, health: SourceHealth,
               control: Control | None = None) -> StreamParser:
        """The parser of one connection, named as captures name it."""
        ...


class Running(Protocol):
    """What a started source hands back, for reloads."""

    async def reconfigure(self, config: Any) -> bool:
        """Follow a changed config on the live connections; False: restart the source."""
        ...

    async def follow_rules(self, in_use: ValuesInUse) -> None:
        """Ask the vendor only for what the loaded rules can use (at start and after
        every reload), e.g. pause the Mobula views no rule names."""


class Source(Protocol):
    """A vendor, as the rest of rulesd sees it."""

    @property
    def name(self) -> str:
        """The key under `sources:` and in captures."""
        ...

    @property
    def config_type(self) -> type:
        """The frozen attrs class `sources.<name>` is structured into."""
        ...

    @property
    def kinds(self) -> tuple[Kind, ...]:
        """The kinds this vendor can produce, with their typed fields."""
        ...

    @property
    def closes(self) -> Closes:
        """The vendor's close codes: code → (fatal | limited, what it means)."""
        ...

    def check(self, config: Any, report: Report) -> None:
        """Report what is wrong with the config, with its path under `sources.<name>`."""

    def warnings(self, config: Any, report: Report) -> None:
        """Report what will work but probably not as the user meant."""

    def produces(self, config: Any) -> set[str]:
        """The kinds this configuration produces."""
        ...

    def secrets(self, config: Any) -> set[str]:
        """API keys to mask in every log line."""
        ...

    def describe(self, config: Any) -> str:
        """A few words for `check`'s summary, e.g. "dexscreener (3 streams)"."""
        ...

    def parser(self, config: Any) -> Parser:
        """A fresh parser for this configuration (live sessions and replay alike)."""
        ...

    async def run(self, config: Any, emit: Emit, clock: Clock,
                  healths: dict[str, SourceHealth], *,
                  task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep the source's connections until cancelled; started with its handle."""

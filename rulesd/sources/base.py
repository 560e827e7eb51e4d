"""The one shape every vendor source has: the Source, its Parser and its running handle.

A vendor package (`rulesd/sources/<vendor>/`) owns everything about the vendor:
its config class and checks, the kinds it produces with their typed schemas,
a pure parser (frames → events) and its session. The daemon, `record`, replay,
`rulesd test`, `check` and reload reach vendors only through this protocol and
the registry in `rulesd.sources`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Any, Protocol

import attrs

from rulesd.events import Event
from rulesd.schema import Kind
from rulesd.sources.health import SourceHealth
from rulesd.sources.supervisor import Closes
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
        """The events of one raw frame. Faults are counted on the connection's health,
        never raised (a bad item costs that item only); only what the live session's
        control callback raises (a refused key) comes out."""
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


def _no_warnings(config: Any, report: Report) -> None:
    """Nothing this vendor accepts works otherwise than it reads."""


@attrs.frozen
class Source:
    """A vendor, as the rest of rulesd sees it: each vendor package fills one in."""

    name: str  # the key under `sources:` and in captures
    config_type: type  # the frozen attrs class `sources.<name>` is structured into
    kinds: tuple[Kind, ...]  # the kinds it can produce, with their typed fields
    # Report what is wrong with a config, with its path under `sources.<name>`.
    check: Callable[[Any, Report], None]
    produces: Callable[[Any], set[str]]  # the kinds this configuration produces
    describe: Callable[[Any], str]  # a few words for `check`'s summary
    parser: Callable[[Any], Parser]  # a fresh parser: live sessions and replay alike
    # `run(config, emit, clock, healths, *, tap, task_status)`: keep the connections
    # until cancelled, each frame also to `tap` (sources/tap.py); started with the
    # source's Running handle.
    run: Callable[..., Awaitable[None]]
    # The vendor's close codes: code → (fatal | limited, what it means).
    closes: Closes = attrs.field(factory=dict)
    # Report what will work, but probably not as the user meant.
    warnings: Callable[[Any, Report], None] = _no_warnings
    # Keys of `sources.<name>` whose values are secrets (masked in every message, read
    # from the file before any check speaks).
    secret_keys: tuple[str, ...] = ("api_key",)

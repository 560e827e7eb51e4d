"""`rulesd record CONFIG --out FILE`: every raw frame the sources receive, to a capture."""

from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
from collections.abc import Collection
from typing import TextIO

import trio

from rulesd.capture import Writer
from rulesd.clock import SystemClock
from rulesd.commands.common import load_logging, typed
from rulesd.durations import parse_duration
from rulesd.enrich.service import Enrichment, market_config, safety_configs
from rulesd.events import Event
from rulesd.loader import LoadedConfig
from rulesd.rules.engine import Engine
from rulesd.sources import SOURCES
from rulesd.sources.health import SourceHealth
from rulesd.state import StateStore


def _progress(writer: Writer) -> str:
    parts = [f"{s}: {writer.frames[s]} frames, {writer.sizes[s] / 1024:.0f} KiB"
             for s in sorted(writer.frames)]
    return "; ".join(parts) or "no frames yet"


async def _record(loaded: LoadedConfig, writer: Writer, duration: float | None,
                  only: Collection[str], status: TextIO) -> dict[str, SourceHealth]:
    """Record until a signal or `duration`; the connections' health, for the last word.

    Rules that name `market.` fields or `watch` tokens need DEX Screener's REST answers
    to replay exactly: their events are evaluated here as the daemon would (alerts
    go nowhere) so that the same lookups and polls are made, and recorded."""
    engine = Engine(loaded.rules, StateStore())
    clock = writer.clock

    async def looked_up(event: Event) -> None:
        engine.evaluate(event, clock.now(), looked_up=True)

    market = Enrichment(market_config(loaded.sources), safety_configs(loaded.lookups), clock,
                        lambda: engine.state,
                        lambda kind: engine.ruleset.waiting_kinds.get(kind, frozenset()),
                        lambda event: take(event), looked_up, tap=writer.tap)

    async def take(event: Event) -> None:
        engine.process(event, clock.now(), market.submit)
        if engine.state.watches.dirty:
            market.watcher.poke()
        engine.state.take_changes()  # nothing is kept: no journal grows

    healths: dict[str, SourceHealth] = {}
    terminal = status.isatty()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(market.run)
            for name, config in loaded.sources.items():
                if not only or name in only:
                    run = functools.partial(SOURCES[name].run, tap=writer.tap)
                    nursery.start_soon(run, config, take, writer.clock, healths)

            async def stop_after(seconds: float) -> None:
                await trio.sleep(seconds)
                nursery.cancel_scope.cancel()

            async def show() -> None:
                while True:
                    await trio.sleep(1)
                    status.write(f"\r\x1b[Krecording: {_progress(writer)}")
                    status.flush()

            if duration:
                nursery.start_soon(stop_after, duration)
            if terminal:
                nursery.start_soon(show)
            async for _ in signals:
                break
            nursery.cancel_scope.cancel()
    return healths


def record(loaded: LoadedConfig, out: str, duration: float | None, only: Collection[str]
           ) -> int:
    unknown = [s for s in only if s not in SOURCES]
    if unknown:
        print(f"unknown source(s): {', '.join(unknown)} (one of {', '.join(SOURCES)})",
              file=sys.stderr)
        return 1
    existed = os.path.exists(out)
    with open(out, "a", encoding="utf-8") as file:
        writer = Writer(file, SystemClock())
        healths = trio.run(_record, loaded, writer, duration, only, sys.stderr)
    if writer.frames:
        print(f"\nrecorded to {out}: {_progress(writer)}", file=sys.stderr)
        return 0
    if not existed and os.path.getsize(out) == 0:
        os.remove(out)  # an empty capture is no capture
    down = [f"{h.name}: {h.last_error}" for h in healths.values() if h.last_error]
    print(f"\nrecorded nothing to {out}: no frame came"
          f"{' (' + '; '.join(down) + ')' if down else ''}", file=sys.stderr)
    return 1


def add(command: argparse.ArgumentParser, shared: argparse.ArgumentParser) -> None:
    command.add_argument("config", help="the rules file (YAML)")
    command.add_argument("--out", required=True, help="the capture file (JSONL, appended)")
    command.add_argument("--duration", type=typed(parse_duration),
                         help="stop after this long (e.g. 10m)")
    command.add_argument("--sources", help="only these sources, comma-separated")


def run(args: argparse.Namespace) -> int:
    loaded = load_logging(args)
    if loaded is None:
        return 1
    only = [s.strip() for s in (args.sources or "").split(",") if s.strip()]
    return record(loaded, args.out, args.duration, only)

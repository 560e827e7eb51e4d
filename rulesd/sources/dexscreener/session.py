"""DEX Screener's sessions: one connection per stream path, refreshed when silent.

Some clients see nothing new after the first snapshot, so a stream that carried
no data for `refresh` is reconnected to re-snapshot.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import attrs
import trio
import trio_websocket

from rulesd.clock import Clock
from rulesd.sources.base import ValuesInUse
from rulesd.sources.connection import Liveness, keepalive, open_connection
from rulesd.sources.dexscreener.config import DexScreenerConfig
from rulesd.sources.dexscreener.parse import SOURCE, DexParser, DexStreamParser
from rulesd.sources.health import SourceHealth
from rulesd.sources.supervisor import Connection, Emit, Session, supervise_all
from rulesd.sources.tap import Tap, no_tap

log = logging.getLogger("rulesd.sources.dexscreener")


def stream_url(base: str, stream: str) -> str:
    return f"{base.rstrip('/')}/{stream}/v1"


def stream_session(config: DexScreenerConfig, reader: DexStreamParser, emit: Emit,
                   clock: Clock, tap: Tap = no_tap) -> Session:
    """The session that keeps one stream: connect, read, refresh when silent."""
    stream, health = reader.stream, reader.health
    url = stream_url(config.url, stream)
    liveness = Liveness()

    async def session(connected: Callable[[], Awaitable[None]]) -> None:
        reader.connected()
        async with open_connection(
            url,
            headers=config.headers,
            max_message_size=config.max_message_size,
            connect_timeout_s=config.connect_timeout,
        ) as ws:
            tap(SOURCE, f"{stream}/v1", None)
            await connected()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(keepalive, ws, config.ping_interval, liveness)
                await _read(ws)
                nursery.cancel_scope.cancel()

    async def _read(ws: trio_websocket.WebSocketConnection) -> None:
        last_data = trio.current_time()
        while True:
            remaining = last_data + config.refresh - trio.current_time()
            if remaining <= 0:
                log.info("%s: no data for %gs; reconnecting to re-snapshot", health.name,
                         config.refresh)
                return
            message: str | bytes | None = None
            with trio.move_on_after(remaining):
                try:
                    message = await ws.get_message()
                except trio_websocket.ConnectionClosed as exc:
                    if exc.reason is not None and exc.reason.code == 1009:
                        health.fault("frame_too_large", "a frame over max_message_size")
                    raise
            if message is None:
                continue
            tap(SOURCE, f"{stream}/v1", message)
            before = reader.data_frames
            await liveness.hand_over(reader.feed(message, clock.now()), emit)
            if reader.data_frames != before:
                last_data = trio.current_time()

    return session


@attrs.define
class DexScreenerRunning:
    """DEX Screener keeps nothing to reconfigure: a changed config restarts it."""

    async def reconfigure(self, config: object) -> bool:
        return False

    async def follow_rules(self, in_use: ValuesInUse) -> None:
        """Every stream is needed as configured."""


async def run(config: DexScreenerConfig, emit: Emit, clock: Clock,
              healths: dict[str, SourceHealth], *, tap: Tap = no_tap,
              task_status: trio.TaskStatus[DexScreenerRunning] = trio.TASK_STATUS_IGNORED
              ) -> None:
    """One supervised connection per configured stream."""
    parser = DexParser()
    connections = []
    for stream in config.stream_names():
        name = f"{SOURCE} {stream}"
        health = healths.setdefault(name, SourceHealth(name))
        reader = parser.stream(stream, health)
        connections.append(Connection(stream, stream_session(config, reader, emit, clock, tap),
                                      health))
    await supervise_all(SOURCE, connections, emit, clock, started=DexScreenerRunning(),
                        task_status=task_status)

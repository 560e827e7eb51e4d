"""Mobula Pulse Stream V2: one subscription of views, kept in step with the server.

Subscribes with `{"type": "pulse-v2", "authorization": KEY, "payload": ...}`,
keeps the `subscriptionId` the server gives, pings with `{"event": "ping"}`
and takes a connection silent for two ping intervals as dead. Views that no
enabled rule uses are paused (`pulse-pause`) and unpaused when rules come back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final

import attrs
import orjson
import trio
import trio_websocket

from rulesd.clock import Clock
from rulesd.source_config import MobulaConfig, mobula_views
from rulesd.sources.connection import open_connection, receive
from rulesd.sources.health import Malformed, SourceHealth
from rulesd.sources.mobula_views import SOURCE, Views, decode
from rulesd.sources.supervisor import (
    Connection,
    DeadConnection,
    Emit,
    FatalSourceError,
    supervise_all,
)
from rulesd.sources.tap import tap_connected, tap_frame

log = logging.getLogger(__name__)

_AUTH_WORDS: Final = ("auth", "api key", "apikey", "unauthori", "forbidden", "invalid key")


@attrs.define
class MobulaSource:
    config: MobulaConfig
    emit: Emit
    clock: Clock
    health: SourceHealth
    views: Views = attrs.field(factory=Views)
    paused: set[str] = attrs.field(factory=set)
    _ws: trio_websocket.WebSocketConnection | None = None
    _last_heard: float = 0.0

    async def session(self, connected: Callable[[], Awaitable[None]]) -> None:
        async with open_connection(
            self.config.url, headers={}, max_message_size=self.config.max_message_size,
            connect_timeout_s=self.config.connect_timeout,
        ) as ws:
            await _send(ws, {"type": "pulse-v2", "authorization": self.config.api_key,
                             "payload": dict(self.config.payload)})
            if self.paused:
                await self._pause(ws, "pause", self.paused)
            self._ws = ws
            tap_connected(SOURCE, "pulse-v2")
            self._last_heard = trio.current_time()
            try:
                await connected()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._keepalive, ws)
                    await self._read(ws)
            finally:
                self._ws = None

    async def _keepalive(self, ws: trio_websocket.WebSocketConnection) -> None:
        interval = self.config.ping_interval
        while True:
            await trio.sleep(interval)
            silent = trio.current_time() - self._last_heard
            if silent > 2 * interval:
                raise DeadConnection(f"nothing heard for {silent:.0f}s")
            await _send(ws, {"event": "ping"})

    async def _read(self, ws: trio_websocket.WebSocketConnection) -> None:
        while True:
            frame = await receive(ws, "Mobula")
            self._last_heard = trio.current_time()
            tap_frame(SOURCE, "pulse-v2", frame)
            self.health.frames += 1
            try:
                message = decode(frame, self.config.max_inflated_size)
                events = self._handle(message)
            except Malformed as exc:
                self.health.fault(exc.kind, str(exc))
                continue
            self.health.events += len(events)
            for event in events:
                await self.emit(event)

    def _handle(self, message: dict[str, Any]) -> list[Any]:
        if message.get("event") == "pong" or message.get("type") == "pong":
            return []
        error = message.get("error") or (message.get("message")
                                         if message.get("type") == "error" else None)
        if error:
            text = str(error)
            if any(word in text.lower() for word in _AUTH_WORDS):
                raise FatalSourceError(f"Mobula refused the subscription: {text[:200]}")
            raise Malformed("server_error", text[:200])
        if message.get("type") in ("subscribed", "ack", "info"):
            return []
        return self.views.apply(message, self.clock.now())

    async def use_views(self, used: set[str] | None) -> None:
        """Pause the configured views no enabled rule uses; unpause the ones back in use.
        `used` None: every view is in use."""
        configured = set(mobula_views(self.config))
        wanted = set() if used is None else configured - used
        pause, unpause = wanted - self.paused, self.paused - wanted
        self.paused = wanted
        if self._ws is not None:
            if pause:
                await self._pause(self._ws, "pause", pause)
            if unpause:
                await self._pause(self._ws, "unpause", unpause)
        if pause or unpause:
            log.info("%s: paused views now %s", self.health.name, sorted(wanted) or "none")

    @staticmethod
    async def _pause(ws: trio_websocket.WebSocketConnection, action: str,
                     views: Iterable[str]) -> None:
        await _send(ws, {"type": "pulse-pause",
                         "payload": {"action": action, "views": sorted(views)}})


async def _send(ws: trio_websocket.WebSocketConnection, message: dict[str, Any]) -> None:
    await ws.send_message(orjson.dumps(message).decode())


async def run(
    config: MobulaConfig,
    emit: Emit,
    clock: Clock,
    healths: dict[str, SourceHealth],
    *,
    task_status: trio.TaskStatus[MobulaSource] = trio.TASK_STATUS_IGNORED,
) -> None:
    """One supervised Pulse V2 connection."""
    health = healths.setdefault(SOURCE, SourceHealth(SOURCE))
    source = MobulaSource(config, emit, clock, health)
    await supervise_all(SOURCE, [Connection("pulse-v2", source.session, health)], emit, clock,
                        started=source, task_status=task_status)

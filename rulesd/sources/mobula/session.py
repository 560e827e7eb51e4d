"""Mobula Pulse Stream V2: one subscription of views, kept in step with the server.

Subscribes with `{"type": "pulse-v2", "authorization": KEY, "payload": ...}`,
keeps the `subscriptionId` the server gives, pings with `{"event": "ping"}`
and takes a connection silent for two ping intervals as dead. Views that no
enabled rule uses are paused (`pulse-pause`) and unpaused when rules come back.

With no `url` configured, the document's host is tried first and then the host
Mobula's own SDK uses; the one that answered is logged and tried first next time.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final

import attrs
import orjson
import trio
import trio_websocket

from rulesd.clock import Clock
from rulesd.sources.base import ValuesInUse
from rulesd.sources.connection import Liveness, auth_closes, open_connection
from rulesd.sources.health import Malformed, SourceHealth
from rulesd.sources.mobula.config import MobulaConfig, mobula_views
from rulesd.sources.mobula.kinds import KINDS
from rulesd.sources.mobula.parse import SOURCE, MobulaParser, MobulaStreamParser
from rulesd.sources.supervisor import (
    EXPECTED_ERRORS,
    Connection,
    DeadConnection,
    Emit,
    FatalSourceError,
    describe,
    supervise_all,
)
from rulesd.sources.tap import Tap, no_tap

log = logging.getLogger("rulesd.sources.mobula")

# The Pulse V2 document's host, then the one Mobula's SDK and clients use.
DOCUMENTED_URL: Final = "wss://api.mobula.io"
SDK_URL: Final = "wss://pulse-v2-api.mobula.io"
# The document names no auth-failure close: the common auth codes are taken as one.
CLOSES: Final = auth_closes("Mobula")
PULSE_KINDS: Final = frozenset(kind.name for kind in KINDS)
_AUTH_WORDS: Final = ("auth", "api key", "apikey", "unauthori", "forbidden", "invalid key")


def urls_of(config: MobulaConfig) -> tuple[str, ...]:
    """The hosts to try, in order."""
    return (config.url,) if config.url else (DOCUMENTED_URL, SDK_URL)


@attrs.define
class MobulaSource:
    config: MobulaConfig
    emit: Emit
    clock: Clock
    reader: MobulaStreamParser
    urls: tuple[str, ...]
    tap: Tap = no_tap
    paused: set[str] = attrs.field(factory=set)
    _ws: trio_websocket.WebSocketConnection | None = None
    _answered: str | None = None
    _liveness: Liveness = attrs.field(factory=Liveness)

    @property
    def health(self) -> SourceHealth:
        return self.reader.health

    async def session(self, connected: Callable[[], Awaitable[None]]) -> None:
        async with contextlib.AsyncExitStack() as stack:
            ws = await self._connect(stack)
            await _send(ws, {"type": "pulse-v2", "authorization": self.config.api_key,
                             "payload": dict(self.config.payload)})
            if self.paused:
                await self._pause(ws, "pause", self.paused)
            self._ws = ws
            self.tap(SOURCE, "pulse-v2", None)
            self.reader.connected()
            self._liveness.heard()
            try:
                await connected()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._keepalive, ws)
                    await self._read(ws)
            finally:
                self._ws = None

    async def _connect(self, stack: contextlib.AsyncExitStack
                       ) -> trio_websocket.WebSocketConnection:
        """The first of the candidate hosts that accepts a connection (the one that
        answered last time first)."""
        order = sorted(self.urls, key=lambda u: u != self._answered)
        for url, after in zip(order, [*order[1:], None], strict=True):
            try:
                ws = await stack.enter_async_context(open_connection(
                    url, headers={}, max_message_size=self.config.max_message_size,
                    connect_timeout_s=self.config.connect_timeout))
            except EXPECTED_ERRORS as exc:
                if after is None:
                    raise
                log.info("%s: %s did not answer (%s); trying %s", self.health.name, url,
                         describe(exc), after)
                continue
            if len(order) > 1 and self._answered != url:
                log.info("%s: connected to %s", self.health.name, url)
            self._answered = url
            return ws
        raise AssertionError("no url to try")

    async def _keepalive(self, ws: trio_websocket.WebSocketConnection) -> None:
        interval = self.config.ping_interval
        while True:
            await trio.sleep(interval)
            silent = self._liveness.silent_for()
            if silent > 2 * interval:
                raise DeadConnection(f"nothing heard for {silent:.0f}s")
            await _send(ws, {"event": "ping"})

    async def _read(self, ws: trio_websocket.WebSocketConnection) -> None:
        while True:
            frame = await ws.get_message()
            self._liveness.heard()
            self.tap(SOURCE, "pulse-v2", frame)
            await self._liveness.hand_over(self.reader.feed(frame, self.clock.now()), self.emit)

    @staticmethod
    def control(message: dict[str, Any]) -> None:
        """Pongs and acks need nothing; a refused key is fatal, other errors a fault."""
        error = message.get("error") or (message.get("message")
                                         if message.get("type") == "error" else None)
        if error:
            text = str(error)
            if any(word in text.lower() for word in _AUTH_WORDS):
                raise FatalSourceError(f"Mobula refused the subscription: {text[:200]}")
            raise Malformed("server_error", text[:200])

    async def follow_rules(self, in_use: ValuesInUse) -> None:
        await self.use_views(in_use(PULSE_KINDS, "view"))

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

    async def reconfigure(self, config: object) -> bool:
        """A changed Pulse V2 payload needs a new subscription: restart."""
        return False

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
    urls: tuple[str, ...] | None = None,
    tap: Tap = no_tap,
    task_status: trio.TaskStatus[MobulaSource] = trio.TASK_STATUS_IGNORED,
) -> None:
    """One supervised Pulse V2 connection (`urls` replaces the hosts tried, for tests)."""
    health = healths.setdefault(SOURCE, SourceHealth(SOURCE))
    reader = MobulaParser(config.max_inflated_size).stream("pulse-v2", health,
                                                           MobulaSource.control)
    source = MobulaSource(config, emit, clock, reader, urls or urls_of(config), tap)
    await supervise_all(SOURCE, [Connection("pulse-v2", source.session, health)], emit, clock,
                        started=source, closes=CLOSES, task_status=task_status)

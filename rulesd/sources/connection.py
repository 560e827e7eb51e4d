"""Opening a vendor WebSocket with explicit limits, and WebSocket-ping keepalive."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Final
from urllib.parse import urlsplit

import attrs
import trio
import trio_websocket

from rulesd.events import Event
from rulesd.sources.supervisor import Closes, DeadConnection, Emit

# The reader task stops when this many messages wait for us; a stopped reader
# answers no pings, so the queue must absorb a snapshot while the engine works.
MESSAGE_QUEUE_SIZE: Final = 64
# trio-websocket reads 4 KiB at a time by default: 64 KiB takes a burst of pushes in
# a few reads (a bare receive loop goes from 12k to 17k CoinMarketCap frames/s).
RECEIVE_BUFFER_SIZE: Final = 64 * 1024
DISCONNECT_TIMEOUT_S: Final = 2.0


class Unreachable(OSError):
    """The network could not reach the vendor's host (name lookup, refused, no route):
    the reason names the host, which the resolver's own words never do."""


@asynccontextmanager
async def open_connection(
    url: str,
    *,
    headers: Mapping[str, str],
    max_message_size: int,
    connect_timeout_s: float,
) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """A client connection with every trio-websocket default that matters set explicitly;
    a network failure to connect raises Unreachable naming the host (never the path or
    query: a key may ride there)."""
    opened = False
    try:
        async with trio_websocket.open_websocket_url(
            url,
            extra_headers=[(k.encode(), v.encode()) for k, v in headers.items()],
            message_queue_size=MESSAGE_QUEUE_SIZE,
            max_message_size=max_message_size,
            connect_timeout=connect_timeout_s,
            disconnect_timeout=DISCONNECT_TIMEOUT_S,
            receive_buffer_size=RECEIVE_BUFFER_SIZE,
        ) as ws:
            opened = True
            yield ws
    except trio_websocket.HandshakeError as exc:
        cause = exc.__cause__
        if opened or not isinstance(cause, OSError) or isinstance(cause, Unreachable):
            raise
        raise Unreachable(cause.errno, f"cannot connect to {_host(url)}: "
                          f"{cause.strerror or cause}") from exc


def _host(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host


# Vendors that say only that a bad key's connection "will be closed": these
# closes (policy violation, and the 4xxx auth codes servers commonly use) are
# taken as a refused key.
AUTH_CLOSE_CODES: Final = (1008, 4001, 4003, 4401, 4403)


def auth_closes(vendor: str) -> Closes:
    """The close codes taken as a refused key, for a vendor that documents none."""
    return {code: ("fatal", f"{vendor} closed the connection: the API key was refused")
            for code in AUTH_CLOSE_CODES}


@attrs.define
class Liveness:
    """When a connection last showed life, and whether its session is busy handing
    events to a slow engine — then silence is ours (frames wait unread, pongs behind
    them), not the peer's, and must not be taken for a dead connection."""

    last_heard: float = attrs.field(factory=trio.current_time)
    emitting: bool = False

    def heard(self) -> None:
        self.last_heard = trio.current_time()

    def silent_for(self) -> float:
        """How long the peer has said nothing that we could have read."""
        return 0.0 if self.emitting else trio.current_time() - self.last_heard

    async def hand_over(self, events: Sequence[Event], emit: Emit) -> None:
        """Emit a frame's events; the time the engine (or a full queue) takes is ours,
        back-pressure on the vendor, not silence."""
        if not events:
            return
        self.emitting = True
        try:
            for event in events:
                await emit(event)
        finally:
            self.emitting = False
        self.heard()


async def keepalive(ws: trio_websocket.WebSocketConnection, interval_s: float,
                    liveness: Liveness) -> None:
    """Ping every interval; a pong missing for a whole interval means a dead peer —
    unless the session was busy handing events to the engine meanwhile."""
    while True:
        await trio.sleep(interval_s)
        with trio.move_on_after(interval_s) as scope:
            await ws.ping()
        if scope.cancelled_caught and not liveness.emitting:
            raise DeadConnection(f"no pong within {interval_s:g}s")

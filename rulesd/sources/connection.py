"""Opening a vendor WebSocket with explicit limits, and WebSocket-ping keepalive."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Final

import trio
import trio_websocket

from rulesd.sources.supervisor import Closes, DeadConnection

# The reader task stops when this many messages wait for us; a stopped reader
# answers no pings, so the queue must absorb a snapshot while the engine works.
MESSAGE_QUEUE_SIZE: Final = 64
# trio-websocket reads 4 KiB at a time by default: 64 KiB takes a burst of pushes in
# a few reads (a bare receive loop goes from 12k to 17k CoinMarketCap frames/s).
RECEIVE_BUFFER_SIZE: Final = 64 * 1024
DISCONNECT_TIMEOUT_S: Final = 2.0


def open_connection(
    url: str,
    *,
    headers: Mapping[str, str],
    max_message_size: int,
    connect_timeout_s: float,
) -> AbstractAsyncContextManager[trio_websocket.WebSocketConnection]:
    """A client connection with every trio-websocket default that matters set explicitly."""
    return trio_websocket.open_websocket_url(
        url,
        extra_headers=[(k.encode(), v.encode()) for k, v in headers.items()],
        message_queue_size=MESSAGE_QUEUE_SIZE,
        max_message_size=max_message_size,
        connect_timeout=connect_timeout_s,
        disconnect_timeout=DISCONNECT_TIMEOUT_S,
        receive_buffer_size=RECEIVE_BUFFER_SIZE,
    )


# Vendors that say only that a bad key's connection "will be closed": these
# closes (policy violation, and the 4xxx auth codes servers commonly use) are
# taken as a refused key.
AUTH_CLOSE_CODES: Final = (1008, 4001, 4003, 4401, 4403)


def auth_closes(vendor: str) -> Closes:
    """The close codes taken as a refused key, for a vendor that documents none."""
    return {code: ("fatal", f"{vendor} closed the connection: the API key was refused")
            for code in AUTH_CLOSE_CODES}


async def keepalive(ws: trio_websocket.WebSocketConnection, interval_s: float,
                    busy: Callable[[], bool] = lambda: False) -> None:
    """Ping every interval; a pong missing for a whole interval means a dead peer —
    unless the session is `busy` handing events to a slow engine: then the pong may
    wait behind frames we have not read, and the silence is ours, not the peer's."""
    while True:
        await trio.sleep(interval_s)
        with trio.move_on_after(interval_s) as scope:
            await ws.ping()
        if scope.cancelled_caught and not busy():
            raise DeadConnection(f"no pong within {interval_s:g}s")

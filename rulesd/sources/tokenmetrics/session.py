"""Token Metrics: price ticks per exchange, subscribed by token slug.

The plan's limits (symbols per connection, connections) decide the sharding;
`rulesd check` refuses more tokens than the plan allows. Every tick is a
`price` event whose venue is its exchange, so ticks from different exchanges
form separate series and never look like a move.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Final

import attrs
import orjson
import trio
import trio_websocket

from rulesd.clock import Clock
from rulesd.sources.base import ValuesInUse
from rulesd.sources.connection import Liveness, auth_closes, keepalive, open_connection
from rulesd.sources.health import SourceHealth
from rulesd.sources.supervisor import Connection, Emit, supervise_all
from rulesd.sources.tap import Tap, no_tap
from rulesd.sources.tokenmetrics.config import PLANS, TokenMetricsConfig
from rulesd.sources.tokenmetrics.parse import SOURCE, TmParser, TmStreamParser

log = logging.getLogger("rulesd.sources.tokenmetrics")

# The document says only that a bad key's connection "will be closed".
CLOSES: Final = auth_closes("Token Metrics")


def shard(config: TokenMetricsConfig) -> list[list[str]]:
    """Slugs per connection, within the plan's limits."""
    connections, per_connection = PLANS[config.plan]
    tokens = list(config.tokens)
    return [tokens[i:i + per_connection]
            for i in range(0, len(tokens), per_connection)][:connections]


@attrs.define
class TmConnection:
    """One supervised connection and the slugs it should carry."""

    config: TokenMetricsConfig
    tokens: list[str]
    emit: Emit
    clock: Clock
    reader: TmStreamParser
    tap: Tap = no_tap
    _ws: trio_websocket.WebSocketConnection | None = None
    liveness: Liveness = attrs.field(factory=Liveness)

    async def session(self, connected: Callable[[], Awaitable[None]]) -> None:
        async with open_connection(
            self.config.url,
            headers={"x-api-key": self.config.api_key},
            max_message_size=self.config.max_message_size,
            connect_timeout_s=self.config.connect_timeout,
        ) as ws:
            await _send(ws, 0, self.tokens)
            self.tap(SOURCE, self.reader.health.name, None)
            self.reader.connected()
            self._ws = ws
            try:
                await connected()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(keepalive, ws, self.config.ping_interval, self.liveness)
                    await self._read(ws)
            finally:
                self._ws = None

    async def retarget(self, tokens: list[str]) -> None:
        """Follow a reload: append what was added, or replace when any was removed."""
        old, self.tokens = self.tokens, tokens
        if self._ws is None or old == tokens:
            return
        added = [t for t in tokens if t not in old]
        if set(old) <= set(tokens):
            await _send(self._ws, 1, added)
        else:
            await _send(self._ws, 0, tokens)

    async def _read(self, ws: trio_websocket.WebSocketConnection) -> None:
        while True:
            text = await ws.get_message()
            self.tap(SOURCE, self.reader.health.name, text)
            await self.liveness.hand_over(self.reader.feed(text, self.clock.now()), self.emit)


async def _send(ws: trio_websocket.WebSocketConnection, append: int, tokens: list[str]) -> None:
    await ws.send_message(orjson.dumps({"is_append": append, "tokens": tokens}).decode())


@attrs.define
class TokenMetricsSource:
    connections: list[TmConnection]

    async def follow_rules(self, in_use: ValuesInUse) -> None:
        """The tokens are the config's: nothing follows the rules."""

    async def reconfigure(self, config: TokenMetricsConfig) -> bool:
        """Apply new tokens without reconnecting; False when a restart is needed."""
        new = shard(config)
        if len(new) != len(self.connections) or any(
                c.config.url != config.url or c.config.api_key != config.api_key
                for c in self.connections):
            return False
        for connection, tokens in zip(self.connections, new, strict=True):
            connection.config = config
            await connection.retarget(tokens)
        return True


async def run(
    config: TokenMetricsConfig,
    emit: Emit,
    clock: Clock,
    healths: dict[str, SourceHealth],
    *,
    tap: Tap = no_tap,
    task_status: trio.TaskStatus[TokenMetricsSource] = trio.TASK_STATUS_IGNORED,
) -> None:
    """One supervised connection per plan-sized share of the tokens."""
    parser = TmParser()
    connections = []
    for number, tokens in enumerate(shard(config), start=1):
        name = f"{SOURCE} #{number}"
        reader = parser.stream(name, healths.setdefault(name, SourceHealth(name)))
        connections.append(TmConnection(config, tokens, emit, clock, reader, tap))
    await supervise_all(
        SOURCE, [Connection(c.reader.health.name, c.session, c.reader.health)
                 for c in connections],
        emit, clock, started=TokenMetricsSource(connections), closes=CLOSES,
        task_status=task_status)

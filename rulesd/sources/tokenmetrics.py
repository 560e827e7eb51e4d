"""Token Metrics: price ticks per exchange, subscribed by token slug.

The plan's limits (symbols per connection, connections) decide the sharding;
`rulesd check` refuses more tokens than the plan allows. Every tick is a
`price` event whose venue is its exchange, so ticks from different exchanges
form separate series and never look like a move.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import attrs
import orjson
import trio
import trio_websocket

from rulesd.clock import Clock
from rulesd.events import Event, TokenRef
from rulesd.source_config import TOKENMETRICS_PLANS, TokenMetricsConfig
from rulesd.sources.coinmarketcap import RecentKeys
from rulesd.sources.connection import keepalive, open_connection, receive
from rulesd.sources.health import Malformed, SourceHealth
from rulesd.sources.supervisor import Connection, Emit, supervise_all
from rulesd.sources.tap import tap_connected, tap_frame

log = logging.getLogger(__name__)

SOURCE: Final = "tokenmetrics"
DEDUPE_MEMORY: Final = 10_000

_NUMBERS: Final = {
    "volume": "volume", "exchange_rank": "exchange_rank", "amount": "amount",
    "amount_in_usd": "amount_in_usd", "side_amount": "side_amount", "sequence": "sequence",
}
_STRINGS: Final = {
    "exchange": "exchange", "exchange_type": "exchange_type", "instrument": "instrument",
    "transaction_type": "transaction_type",
}



def _number(tick: Mapping[str, Any], key: str) -> float | None:
    value = tick.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Malformed("wrong_type", f"`{key}` is {type(value).__name__}, not a number")
    return value


def _string(tick: Mapping[str, Any], key: str) -> str | None:
    value = tick.get(key)
    if value is None or isinstance(value, str):
        return value
    raise Malformed("wrong_type", f"`{key}` is {type(value).__name__}, not a string")


def tick_event(tick: Any, received: float) -> Event:
    """One price tick as a `price` event; raise Malformed."""
    if not isinstance(tick, dict):
        raise Malformed("wrong_type", f"a tick is a {type(tick).__name__}, not an object")
    slug = _string(tick, "cg_id")
    symbol = _string(tick, "token_symbol")
    if not slug and not symbol:
        raise Malformed("missing_field", "a tick without `cg_id` or `token_symbol`")
    price = _number(tick, "price_in_usd")
    if price is None:
        price = _number(tick, "price")
    if price is None:
        raise Malformed("missing_field", "a tick without a price")
    token_id = _number(tick, "token_id")
    token = TokenRef(
        key=f"slug:{slug}" if slug else f"tokenmetrics:{symbol}",
        symbol=symbol, name=_string(tick, "token_name"), slug=slug,
        address=_string(tick, "token_address"),
    )
    fields: dict[str, Any] = {"price": price}
    fields.update({name: _number(tick, key) for key, name in _NUMBERS.items()})
    fields.update({name: _string(tick, key) for key, name in _STRINGS.items()})
    is_bid = tick.get("isBid")
    fields["is_bid"] = is_bid if isinstance(is_bid, bool) else None
    fields["venue"] = fields["exchange"]
    fields["token_id"] = token_id
    epoch = _number(tick, "epoch")
    return Event("price", SOURCE, "price", token, epoch / 1000.0 if epoch else received,
                 received, fields)


def message_ticks(text: str | bytes) -> list[Any]:
    """The ticks in one message: the tick, then its `last_5s_messages`, oldest first."""
    if isinstance(text, bytes):
        raise Malformed("binary_frame", f"binary frame of {len(text)} bytes")
    try:
        payload = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise Malformed("invalid_json", str(exc)) from exc
    ticks = payload if isinstance(payload, list) else [payload]
    out: list[Any] = []
    for tick in ticks:
        if isinstance(tick, dict) and isinstance(tick.get("last_5s_messages"), list):
            out.extend(tick["last_5s_messages"])
        out.append(tick)
    return out


def message_events(text: str | bytes, received: float, recent: RecentKeys,
                   health: SourceHealth) -> list[Event]:
    """The new ticks of one message as events; faults counted on `health`."""
    health.frames += 1
    try:
        ticks = message_ticks(text)
    except Malformed as exc:
        health.fault(exc.kind, str(exc))
        return []
    out = []
    for tick in ticks:
        try:
            event = tick_event(tick, received)
        except Malformed as exc:
            health.fault(exc.kind, str(exc))
            continue
        if recent.add(_tick_key(event)):
            out.append(event)
    health.events += len(out)
    return out


def _tick_key(event: Event) -> str:
    f = event.fields
    return f"{event.token.key if event.token else ''}|{f['venue']}|{event.ts}|{f['sequence']}" \
           f"|{f['price']}"


def shard(config: TokenMetricsConfig) -> list[list[str]]:
    """Slugs per connection, within the plan's limits."""
    connections, per_connection = TOKENMETRICS_PLANS[config.plan]
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
    health: SourceHealth
    recent: RecentKeys
    _ws: trio_websocket.WebSocketConnection | None = None

    async def session(self, connected: Callable[[], Awaitable[None]]) -> None:
        async with open_connection(
            self.config.url,
            headers={"x-api-key": self.config.api_key},
            max_message_size=self.config.max_message_size,
            connect_timeout_s=self.config.connect_timeout,
        ) as ws:
            await _send(ws, 0, self.tokens)
            tap_connected(SOURCE, self.health.name)
            self._ws = ws
            try:
                await connected()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(keepalive, ws, self.config.ping_interval)
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
            text = await receive(ws, "Token Metrics")
            tap_frame(SOURCE, self.health.name, text)
            for event in message_events(text, self.clock.now(), self.recent, self.health):
                await self.emit(event)


async def _send(ws: trio_websocket.WebSocketConnection, append: int, tokens: list[str]) -> None:
    await ws.send_message(orjson.dumps({"is_append": append, "tokens": tokens}).decode())


@attrs.define
class TokenMetricsSource:
    connections: list[TmConnection]

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
    task_status: trio.TaskStatus[TokenMetricsSource] = trio.TASK_STATUS_IGNORED,
) -> None:
    """One supervised connection per plan-sized share of the tokens."""
    recent = RecentKeys(DEDUPE_MEMORY)
    connections = []
    for number, tokens in enumerate(shard(config), start=1):
        name = f"{SOURCE} #{number}"
        health = healths.setdefault(name, SourceHealth(name))
        connections.append(TmConnection(config, tokens, emit, clock, health, recent))
    await supervise_all(
        SOURCE, [Connection(c.health.name, c.session, c.health) for c in connections],
        emit, clock, started=TokenMetricsSource(connections), task_status=task_status)

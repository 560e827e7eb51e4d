"""CoinMarketCap: sharded connections, subscriptions with acks, ping keepalive.

Subscriptions are split into units (one id or address each) and packed at
most 100 to a connection over at most `max_connections` connections. Every
connection is supervised on its own and re-subscribes after each reconnect.
Pushes are routed by `channel` + `params`, never by request id.
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, Final

import attrs
import orjson
import trio
import trio_websocket

from rulesd.clock import Clock
from rulesd.sources.base import ValuesInUse
from rulesd.sources.coinmarketcap.channels import CHANNELS, SUBSCRIPTIONS_PER_CONNECTION
from rulesd.sources.coinmarketcap.config import CoinMarketCapConfig
from rulesd.sources.coinmarketcap.parse import (
    SOURCE,
    CmcParser,
    CmcStreamParser,
    Naming,
    route_key,
)
from rulesd.sources.connection import Liveness, open_connection
from rulesd.sources.health import Malformed, SourceHealth
from rulesd.sources.supervisor import (
    Closes,
    Connection,
    DeadConnection,
    Emit,
    FatalSourceError,
    SourceLimited,
    supervise_all,
)
from rulesd.sources.tap import Tap, no_tap

log = logging.getLogger("rulesd.sources.coinmarketcap")

DEFAULT_PING_INTERVAL_S: Final = 10.0
MIN_PING_INTERVAL_S: Final = 1.0
# The documented close codes: a refused key whichever call sees the close, and the
# connection limit.
CLOSES: Final[Closes] = {
    4100: ("fatal", "CoinMarketCap closed the connection: API key invalid"),
    4101: ("fatal", "CoinMarketCap closed the connection: API key disabled"),
    4102: ("fatal", "CoinMarketCap closed the connection: the plan does not include "
                    "WebSocket (Startup and above)"),
    4004: ("limited", "CoinMarketCap: too many connections for this API key"),
}


@attrs.frozen
class Unit:
    """One subscription as CoinMarketCap counts them: one id or one address."""

    channel: str
    fixed: tuple[tuple[str, Any], ...]
    counted: str
    value: Any

    def route(self) -> tuple[Any, ...]:
        return route_key(self.channel, {**dict(self.fixed), self.counted: self.value})

    def describe(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in (*self.fixed, (self.counted, self.value)))
        return f"{self.channel} {{{params}}}"


def units_of(config: CoinMarketCapConfig) -> list[Unit]:
    out: list[Unit] = []
    for sub in config.subscriptions:
        channel = CHANNELS[sub.channel]
        fixed = tuple(sorted((k, v) for k, v in sub.params.items() if k != channel.counted))
        value = sub.params.get(channel.counted)
        for item in value if isinstance(value, list) else [value]:
            out.append(Unit(sub.channel, fixed, channel.counted, item))
    return list(dict.fromkeys(out))  # a unit listed twice is one subscription


def shard(units: list[Unit], max_connections: int) -> list[list[Unit]]:
    """Pack units 100 to a connection, in order, over at most `max_connections`."""
    per = SUBSCRIPTIONS_PER_CONNECTION
    shards = [units[i:i + per] for i in range(0, len(units), per)]
    return shards[:max_connections]


def subscribe_requests(units: Iterable[Unit], method: str = "subscribe"
                       ) -> list[dict[str, Any]]:
    """One request per channel and fixed params, listing its ids or addresses."""
    groups: dict[tuple[str, tuple[tuple[str, Any], ...], str], list[Any]] = {}
    for unit in units:
        groups.setdefault((unit.channel, unit.fixed, unit.counted), []).append(unit.value)
    return [
        {"method": method, "channel": channel,
         "params": {**dict(fixed), counted: values}}
        for (channel, fixed, counted), values in groups.items()
    ]


@attrs.define
class _Link:
    """One live connection's protocol state."""

    ws: trio_websocket.WebSocketConnection
    ping_interval_s: float = DEFAULT_PING_INTERVAL_S
    liveness: Liveness = attrs.field(factory=Liveness)
    pending: dict[int, dict[str, Any]] = attrs.field(factory=dict)
    subscribed: bool = False


@attrs.define
class Shard:
    """One connection's share of the subscriptions, its parser and its live link."""

    units: list[Unit]
    reader: CmcStreamParser
    link: _Link | None = None

    def __attrs_post_init__(self) -> None:
        self.place(self.units)

    @property
    def health(self) -> SourceHealth:
        return self.reader.health

    def place(self, units: list[Unit]) -> None:
        """Carry these units; pushes are routed against them (computed once, here)."""
        self.units = units
        self.reader.routes = frozenset(unit.route() for unit in units)


@attrs.define
class CmcSource:
    """Everything the shards of one CoinMarketCap source share."""

    config: CoinMarketCapConfig
    emit: Emit
    clock: Clock
    parser: CmcParser
    tap: Tap = no_tap
    shards: list[Shard] = attrs.field(factory=list)
    reported: set[tuple[str, int]] = attrs.field(factory=set)
    _ids: Iterator[int] = attrs.field(factory=lambda: itertools.count(1))

    def next_id(self) -> int:
        return next(self._ids)

    async def session(self, shard: Shard, connected: Callable[[], Awaitable[None]]) -> None:
        async with open_connection(
            self.config.url,
            headers={"X-CMC_PRO_API_KEY": self.config.api_key},
            max_message_size=self.config.max_message_size,
            connect_timeout_s=self.config.connect_timeout,
        ) as ws:
            link = _Link(ws)
            self.tap(SOURCE, shard.health.name, None)
            shard.reader.connected()
            await self._request(link, subscribe_requests(shard.units))
            shard.link = link
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._keepalive, link)
                    await self._read(link, shard, connected)
            finally:
                shard.link = None

    async def _request(self, link: _Link, requests: list[dict[str, Any]]) -> None:
        for request in requests:
            request_id = self.next_id()
            link.pending[request_id] = request
            await link.ws.send_message(orjson.dumps({"id": request_id, **request}).decode())

    async def reconfigure(self, config: CoinMarketCapConfig) -> bool:
        """Follow a reload on the live connections: unsubscribe what was removed,
        subscribe what was added. False when only a restart can apply it."""
        old = self.config
        if (old.url, old.api_key, old.max_connections) != (
                config.url, config.api_key, config.max_connections):
            return False
        wanted = units_of(config)
        removed = {u for s in self.shards for u in s.units} - set(wanted)
        placed = {u for s in self.shards for u in s.units} - removed
        added = [u for u in wanted if u not in placed]
        plans: list[tuple[Shard, list[Unit], list[Unit]]] = []
        for shard in self.shards:
            gone = [u for u in shard.units if u in removed]
            room = SUBSCRIPTIONS_PER_CONNECTION - (len(shard.units) - len(gone))
            joining, added = added[:room], added[room:]
            plans.append((shard, gone, joining))
        if added:
            return False  # more connections needed: restart to re-shard
        self.config = config
        self.parser.naming = naming_of(config)
        for shard, gone, joining in plans:
            shard.place([u for u in shard.units if u not in gone] + joining)
            if shard.link is not None:
                await self._request(shard.link, subscribe_requests(gone, "unsubscribe"))
                await self._request(shard.link, subscribe_requests(joining))
        return True

    async def follow_rules(self, in_use: ValuesInUse) -> None:
        """The subscriptions are the config's: nothing follows the rules."""

    async def _keepalive(self, link: _Link) -> None:
        """`{"method": "ping"}` each interval; silence for two intervals is a dead link."""
        while True:
            await trio.sleep(link.ping_interval_s)
            silent = link.liveness.silent_for()
            if silent > 2 * link.ping_interval_s:
                raise DeadConnection(f"no data or pong for {silent:.0f}s")
            await link.ws.send_message(
                orjson.dumps({"id": self.next_id(), "method": "ping"}).decode())

    async def _read(self, link: _Link, shard: Shard,
                    connected: Callable[[], Awaitable[None]]) -> None:
        shard.reader.control = functools.partial(self._control, link, shard.health)
        while True:
            text = await link.ws.get_message()
            link.liveness.heard()
            self.tap(SOURCE, shard.health.name, text)
            events = shard.reader.feed(text, self.clock.now())
            if not link.subscribed and (events or not link.pending):
                link.subscribed = True
                await connected()
            await link.liveness.hand_over(events, self.emit)

    def _control(self, link: _Link, health: SourceHealth, message: dict[str, Any]) -> None:
        """Acks, errors, the welcome and pongs (data pushes are the parser's)."""
        kind = message.get("type")
        if "ping_interval_ms" in message:
            _set_interval(link, message["ping_interval_ms"])
        if kind == "ack":
            request = _answered(link, message)
            if request is not None and message.get("duplicate"):
                log.debug("%s: %s was already subscribed", health.name, request["channel"])
        elif kind == "error":
            self._error(message, link, health)
        elif kind not in ("pong", "welcome", "info") and "ping_interval_ms" not in message:
            raise Malformed("unknown_type", f"a message of type {kind!r}")

    def _error(self, message: dict[str, Any], link: _Link, health: SourceHealth) -> None:
        status = message.get("status") if isinstance(message.get("status"), dict) else {}
        assert isinstance(status, dict)
        try:
            code = int(status.get("error_code", 0))
        except (TypeError, ValueError):
            code = 0
        text = str(status.get("error_message") or "error")
        detail = status.get("error_detail")
        reason = f"CoinMarketCap error {code}: {text}" + (f" {detail}" if detail else "")
        if 1001 <= code <= 1010:
            raise FatalSourceError(reason)
        if code == 2304:
            raise SourceLimited(reason)
        request = _answered(link, message)
        what = (f"subscription {request['channel']} {request['params']}" if request
                else "a request")
        if (what, code) not in self.reported:
            self.reported.add((what, code))
            log.error("%s: %s refused: %s", health.name, what, reason)


def _answered(link: _Link, message: dict[str, Any]) -> dict[str, Any] | None:
    """The pending request a reply answers; a reply with an id of any other shape
    (a list, an object: nothing we sent) answers none."""
    rid = message.get("id")
    return link.pending.pop(rid, None) if type(rid) is int else None


def _set_interval(link: _Link, value: Any) -> None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        link.ping_interval_s = max(MIN_PING_INTERVAL_S, value / 1000.0)


def naming_of(config: CoinMarketCapConfig) -> Naming:
    return Naming(
        ids={int(k): (v.symbol, v.name) for k, v in config.ids.items()},
        platforms={int(k): v for k, v in config.platforms.items()},
    )


async def run(
    config: CoinMarketCapConfig,
    emit: Emit,
    clock: Clock,
    healths: dict[str, SourceHealth],
    *,
    tap: Tap = no_tap,
    task_status: trio.TaskStatus[CmcSource] = trio.TASK_STATUS_IGNORED,
) -> None:
    """One supervised connection per shard of the subscriptions."""
    source = CmcSource(config, emit, clock, CmcParser(naming_of(config)), tap)
    connections = []
    for number, units in enumerate(shard(units_of(config), config.max_connections), start=1):
        name = f"{SOURCE} #{number}"
        reader = source.parser.stream(name, healths.setdefault(name, SourceHealth(name)))
        part = Shard(units, reader)
        source.shards.append(part)
        connections.append(Connection(name, functools.partial(source.session, part),
                                      part.health))
    await supervise_all(SOURCE, connections, emit, clock, started=source, closes=CLOSES,
                        task_status=task_status)

"""Fake CoinMarketCap and Token Metrics servers on 127.0.0.1, per their documents."""

from __future__ import annotations

import contextlib
from typing import Any

import attrs
import orjson
import trio
import trio_websocket

from rulesd.sources.coinmarketcap.channels import CHANNELS, SUBSCRIPTIONS_PER_CONNECTION
from tests.fakes import LoopbackServer

Unit = tuple[str, tuple[tuple[str, Any], ...]]


def _units(channel: str, params: dict[str, Any]) -> list[Unit]:
    counted = CHANNELS[channel].counted
    values = params.get(counted)
    fixed = [(k, v) for k, v in params.items() if k != counted]
    return [(channel, tuple(sorted([*fixed, (counted, v)])))
            for v in (values if isinstance(values, list) else [values])]


@attrs.define
class CmcConnection:
    ws: trio_websocket.WebSocketConnection
    headers: dict[str, str]
    units: set[Unit] = attrs.field(factory=set)
    requests: list[dict[str, Any]] = attrs.field(factory=list)
    pings: list[float] = attrs.field(factory=list)


class FakeCoinMarketCap(LoopbackServer):
    """The documented protocol: header key, subscribe/unsubscribe with acks and
    errors, ping/pong, close codes, pushes routed by channel + params."""

    def __init__(self, keys: set[str] | None = None) -> None:
        super().__init__()
        self.keys = keys if keys is not None else {"good-key"}
        self.welcome_ms: int | None = None
        self.answer_pings = True
        self.errors: dict[str, tuple[str, str]] = {}  # channel → (code, detail)
        self.close_code: int | None = None  # close every new connection with this
        # Close with `close_code` at a later point of the sequence instead: "subscribe"
        # (on the first request, unanswered), "ack" (after acking it), "data" (after
        # acking it and pushing one price).
        self.close_at: str | None = None
        self.connections: list[CmcConnection] = []
        self.handshakes = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1"

    def live(self) -> list[CmcConnection]:
        return [c for c in self.connections if not c.ws.closed]

    async def handler(self, request: trio_websocket.WebSocketRequest) -> None:
        self.handshakes += 1
        headers = {k.decode().lower(): v.decode() for k, v in request.headers}
        ws = await request.accept()
        if headers.get("x-cmc_pro_api_key") not in self.keys:
            await ws.aclose(4100, "API key invalid")
            self._notify()
            return
        if self.close_code is not None and self.close_at is None:
            await ws.aclose(self.close_code)
            self._notify()
            return
        connection = CmcConnection(ws, headers)
        self.connections.append(connection)
        if self.welcome_ms is not None:
            await self._send(ws, {"type": "welcome", "ping_interval_ms": self.welcome_ms})
        self._notify()
        try:
            while True:
                request = orjson.loads(await ws.get_message())
                if self.close_at == "subscribe":
                    await ws.aclose(self.close_code or 4100)
                    break
                await self._answer(connection, request)
                if self.close_at == "data":
                    channel, params = request["channel"], request["params"]
                    first = {k: (v[0] if isinstance(v, list) else v) for k, v in params.items()}
                    await self._send(ws, {"type": "data", "channel": channel, "params": first,
                                          "data": {"cid": first.get("crypto_ids"), "p": 1.0},
                                          "ts": 1_778_663_880_111})
                if self.close_at in ("ack", "data"):
                    await ws.aclose(self.close_code or 4100)
                    break
                self._notify()
        except trio_websocket.ConnectionClosed:
            pass
        self._notify()

    async def _answer(self, connection: CmcConnection, request: dict[str, Any]) -> None:
        connection.requests.append(request)
        ws, method, rid = connection.ws, request.get("method"), request.get("id")
        if method == "ping":
            connection.pings.append(trio.current_time())
            if self.answer_pings:
                await self._send(ws, {"type": "pong", "id": rid, "code": 0, "ts": 0})
            return
        channel = request.get("channel", "")
        if channel not in CHANNELS:
            await self._error(ws, rid, "2301", "Channel does not exist.", "")
            return
        if channel in self.errors:
            code, detail = self.errors[channel]
            await self._error(ws, rid, code, "Invalid param for channel.", detail)
            return
        units = _units(channel, request.get("params", {}))
        if method == "subscribe":
            new = set(units) - connection.units
            if len(connection.units) + len(new) > SUBSCRIPTIONS_PER_CONNECTION:
                await self._error(ws, rid, "2303", "Subscription limit reached.", "")
                return
            connection.units |= new
            ack = {"type": "ack", "id": rid, "code": 0, "msg": "ok", "channel": channel,
                   "sub_count": len(connection.units), "sub_limit": 100}
            await self._send(ws, {**ack, "duplicate": True} if not new else ack)
        elif method == "unsubscribe":
            connection.units -= set(units)
            await self._send(ws, {"type": "ack", "id": rid, "code": 0, "msg": "ok"})

    async def _error(self, ws: trio_websocket.WebSocketConnection, rid: Any, code: str,
                     message: str, detail: str) -> None:
        await self._send(ws, {"type": "error", "id": rid, "status": {
            "timestamp": "2026-11-21T00:00:00.000Z", "error_code": code,
            "category": "PROTOCOL", "error_message": message, "error_detail": detail}})

    @staticmethod
    async def _send(ws: trio_websocket.WebSocketConnection, message: dict[str, Any]) -> None:
        await ws.send_message(orjson.dumps(message).decode())

    async def push(self, channel: str, params: dict[str, Any], data: dict[str, Any],
                   ts: int = 1_778_663_880_111) -> int:
        """Send a push to every connection subscribed to it; how many got it."""
        (unit,) = _units(channel, params)
        sent = 0
        for connection in self.live():
            if unit in connection.units:
                await self._send(connection.ws, {"type": "data", "channel": channel,
                                                 "params": params, "data": data, "ts": ts})
                sent += 1
        return sent

    async def send_raw(self, text: str) -> None:
        for connection in self.live():
            await connection.ws.send_message(text)

    async def drop_all(self) -> None:
        for connection in self.live():
            await connection.ws.aclose()


class FakeTokenMetrics(LoopbackServer):
    """The documented price stream: `x-api-key`, `{is_append, tokens}`, ticks by slug."""

    def __init__(self, keys: set[str] | None = None) -> None:
        super().__init__()
        self.keys = keys if keys is not None else {"tm-key"}
        self.requests: list[list[dict[str, Any]]] = []  # per connection
        self.tokens: list[set[str]] = []
        self._sockets: list[trio_websocket.WebSocketConnection] = []
        self.handshakes = 0
        # A refused key is closed at "accept" (before anything is read) or at
        # "subscribe" (once the subscription arrived).
        self.refuse_at = "accept"

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def handler(self, request: trio_websocket.WebSocketRequest) -> None:
        self.handshakes += 1
        headers = {k.decode().lower(): v.decode() for k, v in request.headers}
        ws = await request.accept()
        if headers.get("x-api-key") not in self.keys:
            if self.refuse_at == "subscribe":
                with contextlib.suppress(trio_websocket.ConnectionClosed):
                    await ws.get_message()
            await ws.aclose(1008, "invalid api key")
            self._notify()
            return
        index = len(self.requests)
        self.requests.append([])
        self.tokens.append(set())
        self._sockets.append(ws)
        self._notify()
        try:
            while True:
                message = orjson.loads(await ws.get_message())
                self.requests[index].append(message)
                if message["is_append"]:
                    self.tokens[index] |= set(message["tokens"])
                else:
                    self.tokens[index] = set(message["tokens"])
                self._notify()
        except trio_websocket.ConnectionClosed:
            self._notify()

    async def push(self, tick: dict[str, Any]) -> None:
        for ws, tokens in zip(self._sockets, self.tokens, strict=True):
            if not ws.closed and tick["cg_id"] in tokens:
                await ws.send_message(orjson.dumps(tick).decode())

    async def send_raw(self, text: str) -> None:
        for ws in self._sockets:
            if not ws.closed:
                await ws.send_message(text)

    async def drop_all(self) -> None:
        for ws in self._sockets:
            await ws.aclose()


def tm_tick(slug: str, exchange: str, price: float, epoch_ms: int, **extra: Any
            ) -> dict[str, Any]:
    """A tick shaped like the document's example response."""
    symbol = {"bitcoin": "BTC", "ethereum": "ETH", "solana": "SOL"}.get(slug, slug[:3].upper())
    return {
        "timestamp": "2025-06-24 15:41:02", "event_timestamp": "2025-06-24 15:41:02",
        "arrival_timestamp": "2025-06-24 15:41:02", "epoch": epoch_ms,
        "token_address": None, "token_name": slug.title(), "token_symbol": symbol,
        "token_id": 3375, "cg_id": slug, "instrument": symbol, "exchange": exchange,
        "exchange_rank": 13, "exchange_type": "cex", "amount": None, "amount_in_usd": None,
        "price": price, "price_in_usd": price, "price_against_side_currency": price,
        "volume": 976826225.67417, "side_amount": None, "transaction_type": None,
        "isBid": False, "sequence": 0, "maker_address": None, "signature": None,
        "last_5s_messages": [], **extra,
    }


def pulse_token(address: str, chain_id: str = "solana:solana", flat: bool = False,
                **stats: Any) -> dict[str, Any]:
    """A TokenDataSchema entry as the document shows it: nested for init and deltas,
    flat (token fields at the top) as in its sync example."""
    token = {
        "address": address, "chainId": chain_id, "symbol": address[:4].upper(),
        "name": f"Token {address[:4]}", "decimals": 6, "price": stats.get("latest_price", 1e-4),
        "marketCap": stats.get("market_cap", 50_000), "liquidity": 20_000,
        "holdersCount": stats.pop("holders_count", 500),
        "top10HoldingsPercentage": stats.pop("top10", 20.0), "bonded": False,
        "bondingPercentage": 40.0, "exchange": {"name": "Pumpfun", "logo": None},
    }
    entry = {"market_cap": 50_000, "latest_price": 1e-4, "volume_1h": 1000,
             "price_change_1h": 5.0, "description": None,
             "socials": {"twitter": None, "website": None, "telegram": None, "others": None},
             "holders_list": [{"address": "x", "balance": 1}], **stats}
    return {**token, **entry} if flat else {"token": token, **entry}


class FakeMobula(LoopbackServer):
    """The documented Pulse V2 protocol: subscribe with `authorization`, an `init` for
    the views, `{"event": "ping"}` answered with a pong, `pulse-pause` recorded."""

    def __init__(self, keys: set[str] | None = None) -> None:
        super().__init__()
        self.keys = keys if keys is not None else {"mob-key"}
        self.views: dict[str, list[dict[str, Any]]] = {}
        self.compressed = False
        self.answer_pings = True
        self.subscriptions: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []
        self.pings: list[float] = []
        self.handshakes = 0
        self._sockets: list[trio_websocket.WebSocketConnection] = []
        # A refused key: an error message then a close once the subscription arrived
        # ("subscribe"), or every connection closed right after the handshake ("accept").
        self.refuse_at = "subscribe"

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def handler(self, request: trio_websocket.WebSocketRequest) -> None:
        self.handshakes += 1
        ws = await request.accept()
        if self.refuse_at == "accept":
            await ws.aclose(4401, "unauthorized")
            self._notify()
            return
        try:
            subscribe = orjson.loads(await ws.get_message())
            self.subscriptions.append(subscribe)
            if subscribe.get("authorization") not in self.keys:
                await ws.send_message('{"error": "Invalid API key"}')
                await ws.aclose(1008, "unauthorized")
                return
            self._sockets.append(ws)
            await self.send({"type": "init", "subscriptionId": f"sub-{self.handshakes}",
                             "payload": {v: {"data": d} for v, d in self.views.items()}},
                            only=ws)
            self._notify()
            while True:
                message = orjson.loads(await ws.get_message())
                self.received.append(message)
                if message.get("event") == "ping":
                    self.pings.append(trio.current_time())
                    if self.answer_pings:
                        await ws.send_message('{"event": "pong"}')
                self._notify()
        except trio_websocket.ConnectionClosed:
            self._notify()

    def live(self) -> list[trio_websocket.WebSocketConnection]:
        return [ws for ws in self._sockets if not ws.closed]

    async def send(self, message: dict[str, Any],
                   only: trio_websocket.WebSocketConnection | None = None) -> None:
        from rulesd.sources.mobula.parse import gzip_frame

        frame: str | bytes = gzip_frame(message) if self.compressed else \
            orjson.dumps(message).decode()
        for ws in [only] if only else self.live():
            await ws.send_message(frame)

    async def send_raw(self, frame: str | bytes) -> None:
        for ws in self.live():
            await ws.send_message(frame)

    async def drop_all(self) -> None:
        for ws in self.live():
            await ws.aclose()

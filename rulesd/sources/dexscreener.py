"""DEX Screener: one connection per stream path, items diffed against seen-sets.

Clients report three framings — a `{limit, data: [...]}` snapshot, single
items, and `{"type": "heartbeat"}` — and some see nothing new after the first
snapshot, so a stream that carried no data for `refresh` is reconnected to
re-snapshot. Which items are news is decided by the state store from each
event's Occurrence (a boost by its growing totalAmount, a claim by claimDate,
an ad by date + type).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Final

import attrs
import orjson
import trio
import trio_websocket

from rulesd.clock import Clock
from rulesd.events import Event, Occurrence, TokenRef
from rulesd.source_config import DexScreenerConfig
from rulesd.sources.connection import keepalive, open_connection
from rulesd.sources.dexscreener_streams import STREAMS
from rulesd.sources.health import Malformed, SourceHealth
from rulesd.sources.supervisor import Connection, Emit, Session, supervise_all
from rulesd.sources.tap import tap_connected, tap_frame

log = logging.getLogger(__name__)

SOURCE: Final = "dexscreener"
# Single items arriving closer together than this belong to one burst (batch):
# a server that replays its list item by item on connect sends one burst.
BURST_GAP_S: Final = 1.0

_STRING_FIELDS: Final = ("url", "icon", "header", "description")
_NUMBER_FIELDS: Final = {
    "amount": "amount",
    "totalAmount": "total_amount",
    "durationHours": "duration_hours",
    "impressions": "impressions",
}
_KNOWN_KEYS: Final = frozenset(
    {"chainId", "tokenAddress", "links", "claimDate", "date", "type", *_STRING_FIELDS,
     *_NUMBER_FIELDS}
)




@attrs.frozen
class Frame:
    """One parsed frame: its items, or a heartbeat."""

    items: list[dict[str, Any]]
    snapshot: bool
    heartbeat: bool = False


def parse_frame(message: str | bytes) -> Frame:
    """Classify one WebSocket message into its framing; raise Malformed."""
    if isinstance(message, bytes):
        raise Malformed("binary_frame", f"binary frame of {len(message)} bytes")
    if not message.strip():
        raise Malformed("empty_frame", "empty frame")
    try:
        payload = orjson.loads(message)
    except orjson.JSONDecodeError as exc:
        raise Malformed("invalid_json", str(exc)) from exc
    if isinstance(payload, list):
        return Frame(payload, snapshot=True)
    if not isinstance(payload, dict):
        raise Malformed("unknown_shape", f"a JSON {type(payload).__name__} is not a frame")
    if payload.get("type") == "heartbeat":
        return Frame([], snapshot=False, heartbeat=True)
    if "data" in payload:
        if not isinstance(payload["data"], list):
            raise Malformed("data_not_list", "`data` is not a list")
        return Frame(payload["data"], snapshot=True)
    if "tokenAddress" in payload or "chainId" in payload:
        return Frame([payload], snapshot=False)
    raise Malformed("unknown_shape", f"a frame with keys {sorted(payload)[:8]}")


def _string(item: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = item.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise Malformed("missing_field", f"item without `{key}`")
        return None
    if not isinstance(value, str):
        raise Malformed("wrong_type", f"`{key}` is {type(value).__name__}, not a string")
    return value


def _number(item: dict[str, Any], key: str) -> float | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Malformed("wrong_type", f"`{key}` is {type(value).__name__}, not a number")
    if not math.isfinite(value):
        raise Malformed("wrong_type", f"`{key}` is not a finite number")
    return float(value)


def _links(item: dict[str, Any]) -> list[dict[str, str]]:
    raw = item.get("links")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise Malformed("wrong_type", "`links` is not a list")
    links = []
    for link in raw:
        if isinstance(link, dict) and isinstance(link.get("url"), str):
            links.append({k: v for k, v in link.items() if isinstance(v, str)
                          and k in ("type", "label", "url")})
    return links


def _epoch(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def item_event(stream: str, item: Any, received: float, batch: str | None,
               members: frozenset[str] | None = None) -> Event:
    """One item of a stream as an Event with its Occurrence; raise Malformed."""
    if not isinstance(item, dict):
        raise Malformed("wrong_type", f"an item is a {type(item).__name__}, not an object")
    kind = STREAMS[stream]
    token = TokenRef.on_chain(_string(item, "chainId", required=True) or "",
                              _string(item, "tokenAddress", required=True) or "")
    fields: dict[str, Any] = {"chain": token.chain, "address": token.address}
    for key in _STRING_FIELDS:
        fields[key] = _string(item, key)
    for key, name in _NUMBER_FIELDS.items():
        fields[name] = _number(item, key)
    fields["links"] = _links(item) or None
    ts = received
    version: float | str | None = None
    item_id = token.key
    if kind in ("boost",):
        version = fields["total_amount"]
        if version is None:
            raise Malformed("missing_field", "boost without `totalAmount`")
    elif kind == "takeover":
        version = _string(item, "claimDate", required=True)
        fields["claim_date"] = version
        ts = _epoch(version) or received
    elif kind == "ad":
        fields["date"] = _string(item, "date", required=True)
        fields["type"] = _string(item, "type", required=True)
        item_id = f"{token.key}|{fields['date']}|{fields['type']}"
        ts = _epoch(fields["date"]) or received
    elif kind == "profile_update":
        version = _content_hash(fields)
    scope = f"{SOURCE}:{stream}"
    occurrence = Occurrence(scope, item_id, version, batch, members)
    return Event(kind, SOURCE, stream, token, ts, received, fields, occurrence)


def _content_hash(fields: dict[str, Any]) -> str:
    content = orjson.dumps([fields.get(k) for k in ("description", "icon", "header", "links")])
    return hashlib.sha256(content).hexdigest()[:16]


def unknown_keys(item: Any) -> set[str]:
    return set(item) - _KNOWN_KEYS if isinstance(item, dict) else set()


@attrs.define
class StreamReader:
    """Turns a stream's messages into events, tracking bursts and faults."""

    stream: str
    health: SourceHealth
    connection: int = 0
    _frames: int = 0
    _last_item_at: float = -math.inf
    _burst: int = 0

    def new_connection(self) -> None:
        self.connection += 1
        self._frames = 0
        self._last_item_at = -math.inf

    def events(self, message: str | bytes, received: float) -> tuple[list[Event], bool]:
        """The events in one message, and whether it carried data (not a heartbeat)."""
        self.health.frames += 1
        try:
            frame = parse_frame(message)
        except Malformed as exc:
            self.health.fault(exc.kind, str(exc))
            return [], False
        if frame.heartbeat:
            return [], False
        self._frames += 1
        if frame.snapshot:
            batch = f"{self.connection}#{self._frames}"
        else:
            if received - self._last_item_at > BURST_GAP_S:
                self._burst += 1
            self._last_item_at = received
            batch = f"{self.connection}~{self._burst}"
        members = None
        if STREAMS[self.stream] == "top_boost" and frame.snapshot:
            members = frozenset(_member_id(i) for i in frame.items if isinstance(i, dict))
        out = []
        for item in frame.items:
            try:
                out.append(item_event(self.stream, item, received, batch, members))
            except Malformed as exc:
                self.health.fault(exc.kind, str(exc))
                continue
            extra = unknown_keys(item)
            if extra:
                self.health.fault("unknown_fields", f"unknown fields {sorted(extra)[:5]}")
        self.health.events += len(out)
        return out, True


def _member_id(item: dict[str, Any]) -> str:
    chain, address = item.get("chainId"), item.get("tokenAddress")
    if isinstance(chain, str) and isinstance(address, str):
        return TokenRef.on_chain(chain, address).key
    return ""


def stream_url(base: str, stream: str) -> str:
    return f"{base.rstrip('/')}/{stream}/v1"


def stream_session(config: DexScreenerConfig, stream: str, emit: Emit, clock: Clock,
                   health: SourceHealth) -> Session:
    """The session that keeps one stream: connect, read, refresh when silent."""
    reader = StreamReader(stream, health)
    url = stream_url(config.url, stream)

    async def session(connected: Callable[[], Awaitable[None]]) -> None:
        reader.new_connection()
        async with open_connection(
            url,
            headers=config.headers,
            max_message_size=config.max_message_size,
            connect_timeout_s=config.connect_timeout,
        ) as ws:
            tap_connected(SOURCE, f"{stream}/v1")
            await connected()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(keepalive, ws, config.ping_interval)
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
            tap_frame(SOURCE, f"{stream}/v1", message)
            events, carried_data = reader.events(message, clock.now())
            if carried_data:
                last_data = trio.current_time()
            for event in events:
                await emit(event)

    return session


async def run(
    config: DexScreenerConfig,
    emit: Emit,
    clock: Clock,
    healths: dict[str, SourceHealth],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """One supervised connection per configured stream."""
    connections = []
    for stream in (s.removesuffix("/v1") for s in config.streams):
        name = f"{SOURCE} {stream}"
        health = healths.setdefault(name, SourceHealth(name))
        connections.append(Connection(stream, stream_session(config, stream, emit, clock, health),
                                      health))
    await supervise_all(SOURCE, connections, emit, clock, task_status=task_status)

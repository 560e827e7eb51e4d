"""DEX Screener frames → events (pure; used live and in replay).

Clients report three framings — a `{limit, data: [...]}` snapshot, single
items, and `{"type": "heartbeat"}` — so all three are accepted. Which items are
news is decided by the state store from each event's Occurrence (a boost by its
growing totalAmount, a claim by claimDate, an ad by date + type).
"""

from __future__ import annotations

import hashlib
import logging
import math
from datetime import datetime
from typing import Any, Final

import attrs
import orjson

from rulesd.events import Event, Occurrence, TokenRef
from rulesd.schema import Field
from rulesd.sources.base import Control
from rulesd.sources.dexscreener.kinds import ITEM_FIELDS, STREAMS
from rulesd.sources.health import Malformed, SourceHealth, loads

log = logging.getLogger("rulesd.sources.dexscreener")

SOURCE: Final = "dexscreener"
# Single items arriving closer together than this belong to one burst (batch):
# a server that replays its list item by item on connect sends one burst.
BURST_GAP_S: Final = 1.0
_TOKEN_KEYS: Final = frozenset({"chainId", "tokenAddress"})


@attrs.frozen
class Frame:
    """One parsed frame: its items, or a heartbeat."""

    items: list[Any]
    snapshot: bool
    heartbeat: bool = False


def parse_frame(message: str | bytes) -> Frame:
    """Classify one WebSocket message into its framing; raise Malformed."""
    if isinstance(message, bytes):
        raise Malformed("binary_frame", f"binary frame of {len(message)} bytes")
    if not message.strip():
        raise Malformed("empty_frame", "empty frame")
    payload = loads(message)
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


def _links(item: dict[str, Any], key: str) -> list[dict[str, str]] | None:
    raw = item.get(key)
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise Malformed("wrong_type", f"`{key}` is not a list")
    links = [{k: v for k, v in link.items() if isinstance(v, str) and k in ("type", "label",
                                                                          "url")}
             for link in raw if isinstance(link, dict) and isinstance(link.get("url"), str)]
    return links or None


def _value(item: dict[str, Any], key: str, field: Field) -> Any:
    if field.type == "number":
        return _number(item, key)
    if field.type == "list":
        return _links(item, key)
    return _string(item, key)


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
    kind = STREAMS[stream].name
    token = TokenRef.on_chain(_string(item, "chainId", required=True) or "",
                              _string(item, "tokenAddress", required=True) or "")
    known = ITEM_FIELDS[stream]
    fields: dict[str, Any] = {name: _value(item, key, field)
                              for key, (name, field) in known.items()}
    extra = {k: v for k, v in item.items() if k not in known and k not in _TOKEN_KEYS}
    if extra:
        fields["extra"] = extra
    ts = received
    version: float | str | None = None
    item_id = token.key
    if kind == "boost":
        version = fields["total_amount"]
        if version is None:
            raise Malformed("missing_field", "boost without `totalAmount`")
    elif kind == "takeover":
        version = _string(item, "claimDate", required=True)
        ts = _epoch(version) or received
    elif kind == "ad":
        date, ad_type = _string(item, "date", required=True), _string(item, "type",
                                                                      required=True)
        item_id = f"{token.key}|{date}|{ad_type}"
        ts = _epoch(date) or received
    elif kind == "profile_update":
        version = _content_hash(fields)
    occurrence = Occurrence(f"{SOURCE}:{stream}", item_id, version, batch, members)
    return Event(kind, SOURCE, stream, token, ts, received, fields, occurrence)


def _content_hash(fields: dict[str, Any]) -> str:
    content = orjson.dumps([fields.get(k) for k in ("description", "icon", "header", "links")])
    return hashlib.sha256(content).hexdigest()[:16]


def _again(event: Event, received: float, batch: str | None,
           members: frozenset[str] | None) -> Event:
    """An item the stream sent before, unchanged (the same JSON): its event again, received
    now and in this batch — without parsing it again (a snapshot repeats most of a list)."""
    occ = event.occurrence
    assert occ is not None
    ts = received if event.ts == event.received else event.ts  # else the item's own time
    return Event(event.kind, SOURCE, event.stream, event.token, ts, received, event.fields,
                 Occurrence(occ.scope, occ.id, occ.version, batch, members))


# Unchanged items remembered per stream: the latest list is ~30-100 items; bursts of
# single items add up to this many before the memory starts over.
MAX_REMEMBERED_ITEMS: Final = 1000


def _item_key(item: Any) -> tuple[str | None, ...] | None:
    """What names an item in its stream (chain, address; an ad's date and type), when
    the item is a well-formed object; None: it is parsed, and faulted, as it comes."""
    if type(item) is not dict:
        return None
    chain, address = item.get("chainId"), item.get("tokenAddress")
    date, ad_type = item.get("date"), item.get("type")
    if type(chain) is str and type(address) is str and (date is None or type(date) is str) \
            and (ad_type is None or type(ad_type) is str):
        return (chain, address, date, ad_type)
    return None


def _member_id(item: Any) -> str:
    chain, address = item.get("chainId"), item.get("tokenAddress")
    if isinstance(chain, str) and isinstance(address, str):
        return TokenRef.on_chain(chain, address).key
    return ""


@attrs.define
class DexParser:
    """The parser of a DEX Screener source: notes extra fields once per source."""

    noted: set[str] = attrs.field(factory=set)

    def stream(self, stream: str, health: SourceHealth,
               control: Control | None = None) -> DexStreamParser:
        return DexStreamParser(stream.removesuffix("/v1"), health, self)

    def note_extra(self, stream: str, keys: set[str]) -> None:
        new = keys - self.noted
        if new:
            self.noted |= new
            log.debug("dexscreener %s: items carry fields the document does not show: %s "
                      "(kept under `extra`)", stream, ", ".join(sorted(new)))


@attrs.define
class DexStreamParser:
    """One stream's connection: its snapshots and bursts, and whether data flows."""

    stream: str
    health: SourceHealth
    parser: DexParser
    connection: int = 0
    # Frames that carried data (not heartbeats, not faults): the refresh timer's input.
    data_frames: int = 0
    _frames: int = 0
    _last_item_at: float = -math.inf
    _burst: int = 0
    _full_list: int = 0  # the longest top list this connection sent: what "full" is
    # The last item seen per (chain, address, date, type): its JSON and its event.
    _items: dict[tuple[str | None, ...], tuple[dict[str, Any], Event]] = \
        attrs.field(factory=dict)

    def connected(self) -> None:
        self.connection += 1
        self._frames = 0
        self._last_item_at = -math.inf
        self._full_list = 0

    def feed(self, message: str | bytes, received: float) -> list[Event]:
        self.health.saw(message, received)
        try:
            frame = parse_frame(message)
        except Malformed as exc:
            self.health.fault(exc.kind, str(exc))
            return []
        if frame.heartbeat:
            return []
        self.data_frames += 1
        self._frames += 1
        if frame.snapshot:
            batch = f"{self.connection}#{self._frames}"
        else:
            if received - self._last_item_at > BURST_GAP_S:
                self._burst += 1
            self._last_item_at = received
            batch = f"{self.connection}~{self._burst}"
        members = None
        if self.stream == "token-boosts/top" and frame.snapshot \
                and len(frame.items) >= self._full_list:
            # Membership changes only on a full list: a one-item frame is news of that
            # item, not 29 tokens leaving (and entering again with the next full list).
            self._full_list = len(frame.items)
            members = frozenset(_member_id(i) for i in frame.items if isinstance(i, dict))
        if frame.snapshot and not frame.items:  # a baseline of nothing: see Occurrence
            scope = f"{SOURCE}:{self.stream}"
            return [Event(STREAMS[self.stream].name, SOURCE, self.stream, None, received,
                          received, {}, Occurrence(scope, "", batch=batch, empty=True))]
        out = []
        remembered = self._items
        if len(remembered) > MAX_REMEMBERED_ITEMS:
            remembered.clear()
        for item in frame.items:
            key = _item_key(item)
            known = remembered.get(key) if key is not None else None
            if known is not None and known[0] == item:
                out.append(self.health.timely(_again(known[1], received, batch, members)))
                continue
            try:
                event = item_event(self.stream, item, received, batch, members)
            except Malformed as exc:
                self.health.fault(exc.kind, str(exc))
                continue
            if key is not None:
                remembered[key] = (item, event)
            out.append(self.health.timely(event))
            extra = event.fields.get("extra")
            if extra:
                self.parser.note_extra(self.stream, set(extra))
        self.health.events += len(out)
        return out

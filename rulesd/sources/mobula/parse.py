"""Mobula Pulse V2 frames → pulse_enter/update/exit events (pure; live and replay).

`init` and `sync` replace a view's state (a token absent from a sync has left
the view); `new-token`, `update-token` and `remove-token` are deltas on top. In
an `update-token`, a null field means "unchanged" (as Mobula's own clients read
it): only non-null values are merged, and an update that changes nothing is no
event. Entering is an occurrence with the view's membership, so the state store
makes the first snapshot of a view a silent baseline and remembers membership
across restarts.
"""

from __future__ import annotations

import functools
import gzip
import re
import zlib
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
import orjson

from rulesd.events import Event, Occurrence, TokenRef
from rulesd.sources.base import Control
from rulesd.sources.health import Malformed, SourceHealth, json_object
from rulesd.sources.mobula.kinds import DROPPED, PULSE_FIELDS, RENAMED

SOURCE: Final = "mobula"
_CAMEL: Final = re.compile(r"(?<=[a-z])(?=[A-Z0-9])|(?<=[0-9])(?=[A-Z])")
_DELTAS: Final = ("new-token", "update-token", "remove-token")
_CONTROL: Final = ("pong", "subscribed", "ack", "info", "error")


@functools.lru_cache(maxsize=4096)
def snake(name: str) -> str:
    """`top10HoldingsPercentage` → `top_10_holdings_percentage` (filters' spelling);
    cached, as the same few hundred keys come in every frame."""
    return RENAMED.get(name) or _CAMEL.sub("_", name).lower()


def inflate(data: bytes, cap: int) -> bytes:
    """Gunzip a binary frame, refusing more than `cap` bytes (a gzip bomb)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, cap + 1)
    except zlib.error as exc:
        raise Malformed("bad_gzip", f"a binary frame that is not gzip: {exc}") from exc
    if len(out) > cap or inflater.unconsumed_tail:
        raise Malformed("inflated_too_large", f"a frame inflating past {cap} bytes")
    if not inflater.eof:
        raise Malformed("bad_gzip", "a truncated gzip frame")
    return out


def decode(message: str | bytes, cap: int) -> dict[str, Any]:
    """One frame as a JSON object; binary frames are gzip whatever the flag says."""
    return json_object(inflate(message, cap) if isinstance(message, bytes) else message)


# Keys that make the token, not fields of their own.
_IDENTITY: Final = frozenset({"address", "chain_id", "symbol", "name"})


@attrs.frozen
class Item:
    key: str  # Mobula's token key: `chainId|address`
    token: TokenRef
    fields: dict[str, Any]


def item_of(raw: Any, merge: bool = False) -> Item:
    """A TokenDataSchema object (nested `{token, ...stats}` or flat) as an Item.
    `merge`: an update, whose null fields mean "unchanged" (left out here)."""
    if not isinstance(raw, dict):
        raise Malformed("wrong_type", f"a token entry is a {type(raw).__name__}")
    inner = raw.get("token")
    token_part = inner if isinstance(inner, dict) else raw
    chain_id, address = token_part.get("chainId"), token_part.get("address")
    if not isinstance(chain_id, str) or not isinstance(address, str) or not address:
        raise Malformed("missing_field", "a token without `chainId` and `address`")
    fields: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for source in (token_part, raw) if token_part is not raw else (raw,):
        for name, value in source.items():
            if name in DROPPED or name == "token" or (merge and value is None):
                continue
            field = snake(name)
            if field in PULSE_FIELDS:
                fields[field] = value
            elif field not in _IDENTITY:
                extra[name] = value
    if extra:
        fields["extra"] = extra
    symbol, name = token_part.get("symbol"), token_part.get("name")
    token = TokenRef.on_chain(chain_id, address,
                              symbol=symbol if isinstance(symbol, str) else None,
                              name=name if isinstance(name, str) else None)
    fields["chain_id"] = chain_id
    if "price" not in fields and isinstance(fields.get("latest_price"), int | float):
        fields["price"] = fields["latest_price"]
    return Item(f"{chain_id}|{address}", token, fields)


@attrs.define
class Views:
    """What each view holds now, per the server."""

    views: dict[str, dict[str, Item]] = attrs.field(factory=dict)
    subscription_id: str | None = None
    _snapshots: int = 0

    def apply(self, message: Mapping[str, Any], received: float,
              fault: Callable[[str, str], None] | None = None) -> list[Event]:
        """The events of one view message; a token entry that cannot be read costs that
        entry (reported to `fault`), never the rest of the message."""
        kind = message.get("type")
        if isinstance(message.get("subscriptionId"), str):
            self.subscription_id = message["subscriptionId"]
        payload = message.get("payload")
        if kind in ("init", "sync"):
            if not isinstance(payload, dict):
                raise Malformed("wrong_type", f"a {kind} without a payload object")
            events: list[Event] = []
            for view, content in payload.items():
                data = content.get("data") if isinstance(content, dict) else None
                if not isinstance(data, list):
                    raise Malformed("wrong_type", f"{kind} view {view!r} without a data list")
                events.extend(self._replace(str(view), data, received, fault))
            return events
        if kind in ("new-token", "update-token", "remove-token"):
            if not isinstance(payload, dict) or not isinstance(payload.get("viewName"), str):
                raise Malformed("missing_field", f"{kind} without `viewName`")
            view = payload["viewName"]
            if kind == "remove-token":
                return self._remove(view, payload.get("tokenKey"), received)
            update = kind == "update-token"
            return self._upsert(view, item_of(payload.get("token"), merge=update), received,
                                update)
        raise Malformed("unknown_type", f"a message of type {kind!r}")

    def _replace(self, view: str, data: list[Any], received: float,
                 fault: Callable[[str, str], None] | None) -> list[Event]:
        self._snapshots += 1
        items: dict[str, Item] = {}
        for raw in data:
            try:
                item = item_of(raw)
            except Malformed as exc:
                if fault is not None:
                    fault(exc.kind, str(exc))
                continue
            items[item.key] = item
        members = frozenset(items)
        old = self.views.get(view, {})
        self.views[view] = items
        batch = f"{view}#{self._snapshots}"
        events = []
        for key, item in items.items():
            if key in old and old[key].fields == item.fields:
                continue
            kind = "pulse_update" if key in old else "pulse_enter"
            events.append(self._event(kind, view, item, received, batch, members))
        for key in old.keys() - items.keys():
            events.append(self._event("pulse_exit", view, old[key], received))
        return events

    def _upsert(self, view: str, item: Item, received: float, update: bool) -> list[Event]:
        items = self.views.setdefault(view, {})
        old = items.get(item.key)
        if old is not None and update:
            merged = {**old.fields, **item.fields}
            if "extra" in old.fields and "extra" in item.fields:
                merged["extra"] = {**old.fields["extra"], **item.fields["extra"]}
            if merged == old.fields:
                return []  # nothing changed: no event, so no level rule re-evaluates
            item = Item(item.key, item.token, merged)
        items[item.key] = item
        return [self._event("pulse_update" if old else "pulse_enter", view, item, received)]

    def _remove(self, view: str, key: Any, received: float) -> list[Event]:
        if not isinstance(key, str):
            raise Malformed("missing_field", "remove-token without `tokenKey`")
        item = self.views.get(view, {}).pop(key, None)
        return [self._event("pulse_exit", view, item, received)] if item else []

    @staticmethod
    def _event(kind: str, view: str, item: Item, received: float, batch: str | None = None,
               members: frozenset[str] | None = None) -> Event:
        fields = {**item.fields, "view": view, "venue": view}
        occurrence = None
        if kind == "pulse_enter":
            occurrence = Occurrence(f"{SOURCE}:{view}", item.key, None, batch, members)
        elif kind == "pulse_exit":
            occurrence = Occurrence(f"{SOURCE}:{view}", item.key, leave=True)
        return Event(kind, SOURCE, view, item.token, received, received, fields, occurrence)


@attrs.define
class MobulaParser:
    """The parser of a Mobula source: its views, and the inflate cap for gzip frames."""

    inflate_cap: int
    views: Views = attrs.field(factory=Views)

    def stream(self, stream: str, health: SourceHealth,
               control: Control | None = None) -> MobulaStreamParser:
        return MobulaStreamParser(self, health, control)


@attrs.define
class MobulaStreamParser:
    """The one Pulse V2 connection: view messages become events, the rest is control."""

    parser: MobulaParser
    health: SourceHealth
    control: Control | None = None

    def connected(self) -> None:
        """The server starts with an `init`, which replaces every view."""

    def feed(self, frame: str | bytes, received: float) -> list[Event]:
        self.health.saw(frame, received)
        try:
            message = decode(frame, self.parser.inflate_cap)
            kind = message.get("type")
            if kind in ("init", "sync", *_DELTAS):
                events = self.parser.views.apply(message, received, self.health.fault)
            elif kind in _CONTROL or message.get("event") == "pong" or "error" in message:
                if self.control is not None:
                    self.control(message)
                return []
            else:
                raise Malformed("unknown_type", f"a message of type {kind!r}")
        except Malformed as exc:
            self.health.fault(exc.kind, str(exc))
            return []
        self.health.events += len(events)
        return events


def gzip_frame(payload: Mapping[str, Any]) -> bytes:
    """A frame as the server sends it compressed (for tests and captures)."""
    return gzip.compress(orjson.dumps(payload))

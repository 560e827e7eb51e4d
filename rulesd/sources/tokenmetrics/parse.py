"""Token Metrics frames → `price` events (pure; used live and in replay).

Every tick is a `price` event whose venue is its exchange, so ticks from
different exchanges form separate series and never look like a move. A
message's `last_5s_messages` are ticks too; repeats are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

import attrs

from rulesd.events import Event, TokenRef
from rulesd.sources.base import Control
from rulesd.sources.health import Malformed, SourceHealth, loads
from rulesd.sources.recent import RecentKeys
from rulesd.sources.tokenmetrics.kinds import IDENTITY, TICK

SOURCE: Final = "tokenmetrics"
DEDUPE_MEMORY: Final = 10_000


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


def _bool(tick: Mapping[str, Any], key: str) -> bool | None:
    value = tick.get(key)
    return value if isinstance(value, bool) else None


_READ: Final = {"number": _number, "string": _string, "bool": _bool}


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
    token = TokenRef(
        key=f"slug:{slug}" if slug else f"tokenmetrics:{symbol}",
        symbol=symbol, name=_string(tick, "token_name"), slug=slug,
        address=_string(tick, "token_address"),
    )
    fields: dict[str, Any] = {"price": price}
    for key, (name, field) in TICK.items():
        fields[name] = _READ[field.type](tick, key)
    fields["venue"] = fields["exchange"]
    extra = {k: v for k, v in tick.items() if k not in TICK and k not in IDENTITY}
    if extra:
        fields["extra"] = extra
    epoch = _number(tick, "epoch")
    return Event("price", SOURCE, "price", token, epoch / 1000.0 if epoch else received,
                 received, fields)


def message_ticks(text: str | bytes) -> list[Any]:
    """The ticks in one message: the tick, then its `last_5s_messages`, oldest first."""
    if isinstance(text, bytes):
        raise Malformed("binary_frame", f"binary frame of {len(text)} bytes")
    payload = loads(text)
    ticks = payload if isinstance(payload, list) else [payload]
    out: list[Any] = []
    for tick in ticks:
        if isinstance(tick, dict) and isinstance(tick.get("last_5s_messages"), list):
            out.extend(tick["last_5s_messages"])
        out.append(tick)
    return out


def _tick_key(event: Event) -> str:
    f = event.fields
    return f"{event.token.key if event.token else ''}|{f['venue']}|{event.ts}|{f['sequence']}" \
           f"|{f['price']}"


@attrs.define
class TmParser:
    """The parser of a Token Metrics source: repeats are dropped across connections."""

    recent: RecentKeys = attrs.field(factory=lambda: RecentKeys(DEDUPE_MEMORY))

    def stream(self, stream: str, health: SourceHealth,
               control: Control | None = None) -> TmStreamParser:
        return TmStreamParser(self, health)


@attrs.define
class TmStreamParser:
    parser: TmParser
    health: SourceHealth

    def connected(self) -> None:
        """Nothing per connection."""

    def feed(self, frame: str | bytes, received: float) -> list[Event]:
        """The new ticks of one message as events; faults counted on `health`."""
        self.health.saw(frame, received)
        try:
            ticks = message_ticks(frame)
        except Malformed as exc:
            self.health.fault(exc.kind, str(exc))
            return []
        out = []
        for tick in ticks:
            try:
                event = tick_event(tick, received)
            except Malformed as exc:
                self.health.fault(exc.kind, str(exc))
                continue
            if self.parser.recent.add(_tick_key(event)):
                out.append(self.health.timely(event))
        self.health.events += len(out)
        return out

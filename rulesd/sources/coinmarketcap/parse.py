"""CoinMarketCap frames → events (pure; used live and in replay).

Pushes use short keys; `kinds.py` maps each channel's keys to typed fields.
A swap or liquidity event may be pushed twice (once for token0's subscription,
once for token1's), so they are deduplicated across every connection of the
source.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

import attrs

from rulesd.events import Event, TokenRef
from rulesd.schema import Field
from rulesd.sources.base import Control
from rulesd.sources.coinmarketcap.channels import CHANNELS, COMMON_IDS
from rulesd.sources.coinmarketcap.kinds import (
    CHANNEL_KEYS,
    CHANNEL_KINDS,
    IDENTITY,
    POOL_METRIC_WINDOWS,
    POOL_WINDOW,
    TOKEN_METRIC_WINDOWS,
    TOKEN_WINDOW,
    Keys,
)
from rulesd.sources.health import Malformed, SourceHealth, json_object
from rulesd.sources.recent import RecentKeys
from rulesd.tokens import CMC_PLATFORMS, canonical_address

SOURCE: Final = "coinmarketcap"
# Swaps and liquidity events seen recently, to drop a second push of one event.
DEDUPE_MEMORY: Final = 20_000
# TokenRefs made once and reused (a subscription names at most 1,000 tokens).
TOKEN_MEMORY: Final = 10_000
_WINDOWED: Final[dict[str, tuple[tuple[str, ...], Keys]]] = {
    "onchain@token_metric": (TOKEN_METRIC_WINDOWS, TOKEN_WINDOW),
    "onchain@pool_metric": (POOL_METRIC_WINDOWS, POOL_WINDOW),
}


@attrs.frozen
class Naming:
    """What the config adds to the shipped id and platform tables."""

    ids: Mapping[int, tuple[str, str | None]] = attrs.field(factory=dict)
    platforms: Mapping[int, str] = attrs.field(factory=dict)
    _tokens: dict[Any, TokenRef] = attrs.field(factory=dict, eq=False, repr=False)

    def coin(self, cid: int) -> tuple[str | None, str | None]:
        return self.ids.get(cid) or COMMON_IDS.get(cid) or (None, None)

    def chain(self, platform_id: int) -> str:
        return (self.platforms.get(platform_id) or CMC_PLATFORMS.get(platform_id)
                or f"cmc-platform-{platform_id}")

    def token(self, cid: int) -> TokenRef:
        """A coin's TokenRef, made once per coin (a push names its coin every time)."""
        known = self._tokens.get(cid)
        if known is None:
            symbol, name = self.coin(cid)
            known = TokenRef(key=f"cmc:{cid}", symbol=symbol, name=name, cmc_id=cid)
            self._remember(cid, known)
        return known

    def on_chain(self, platform_id: int, address: str) -> TokenRef:
        known = self._tokens.get((platform_id, address))
        if known is None:
            known = TokenRef.on_chain(self.chain(platform_id), address)
            self._remember((platform_id, address), known)
        return known

    def _remember(self, key: Any, token: TokenRef) -> None:
        if len(self._tokens) >= TOKEN_MEMORY:  # bounded: pushes name what they like
            self._tokens.clear()
        self._tokens[key] = token


def _value(raw: Any, field: Field, key: str, faults: list[str]) -> Any:
    if raw is None:
        return None
    if field.type == "string":
        return raw if isinstance(raw, str) else _wrong(key, raw, faults)
    if field.type == "bool":
        return raw if isinstance(raw, bool) else _wrong(key, raw, faults)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        return _wrong(key, raw, faults)
    return raw / 1000.0 if field.type == "time" else raw


def _wrong(key: str, raw: Any, faults: list[str]) -> None:
    faults.append(f"`{key}` is {type(raw).__name__}")
    return None


def _map(keys: Keys, data: Mapping[str, Any], fields: dict[str, Any], faults: list[str],
         suffix: str = "") -> None:
    for key, name, number, field in _plan(keys, suffix):
        raw = data.get(key)
        if raw is None:
            fields[name] = None
            continue
        kind = type(raw)
        if number and (kind is int or (kind is float and raw - raw == 0.0)):
            fields[name] = raw  # the usual case: a finite number, checked once
        else:
            fields[name] = _value(raw, field, key, faults)


_PLANS: dict[tuple[int, str], list[tuple[str, str, bool, Field]]] = {}


def _plan(keys: Keys, suffix: str) -> list[tuple[str, str, bool, Field]]:
    """A channel's keys as (payload key, field name with `suffix`, is a number, field),
    made once per table and suffix: a push is mapped without building a name."""
    plan = _PLANS.get((id(keys), suffix))
    if plan is None:
        plan = _PLANS[(id(keys), suffix)] = [
            (key, name + suffix, field.type == "number", field)
            for key, (name, field) in keys.items()]
    return plan


def _windows(channel: str, data: Mapping[str, Any], fields: dict[str, Any],
             faults: list[str]) -> set[str]:
    """Window objects as `<field>_<window>`; the keys of `data` they consumed."""
    windows, keys = _WINDOWED[channel]
    for window in windows:
        _map(keys, {}, fields, faults, f"_{window}")  # absent windows are null
    if channel == "onchain@token_metric":
        for item in data.get("sts") or []:
            if isinstance(item, dict) and item.get("win") in windows:
                _map(keys, item, fields, faults, f"_{item['win']}")
        return {"sts"}
    for window in windows:
        if isinstance(data.get(window), dict):
            _map(keys, data[window], fields, faults, f"_{window}")
    return set(windows)


def _token(channel: str, params: Mapping[str, Any], data: Mapping[str, Any],
           naming: Naming) -> TokenRef:
    if channel == "market@crypto_latest_price":
        cid = data.get("cid", params.get("crypto_ids"))
        if isinstance(cid, bool) or not isinstance(cid, int):
            raise Malformed("missing_field", "market push without a numeric `cid`")
        return naming.token(cid)
    counted = CHANNELS[channel].counted
    platform = params.get("platform_id", data.get("pid"))
    address = params.get(counted, data.get("a"))
    if isinstance(platform, bool) or not isinstance(platform, int):
        raise Malformed("missing_field", f"{channel} push without a numeric platform id")
    if not isinstance(address, str) or not address:
        raise Malformed("missing_field", f"{channel} push without `{counted}`")
    return naming.on_chain(platform, address)


def _swap_side(token: TokenRef, fields: dict[str, Any]) -> None:
    """The subscribed token's price and amount: the side whose address it is."""
    side = None
    for n in ("0", "1"):
        address = fields[f"token{n}_address"]
        if isinstance(address, str) and canonical_address(address) == token.address:
            side = n
    fields["price"] = fields[f"token{side}_price_usd"] if side else None
    fields["amount"] = fields[f"token{side}_amount"] if side else None


def _epoch_s(stamp: Any) -> float | None:
    if isinstance(stamp, int | float) and not isinstance(stamp, bool) and math.isfinite(stamp):
        return stamp / 1000.0
    return None


def push_event(message: Mapping[str, Any], received: float, naming: Naming) -> Event:
    """One `type: data` push as an event; raise Malformed."""
    channel = message.get("channel")
    if not isinstance(channel, str) or channel not in CHANNELS:
        raise Malformed("unknown_channel", f"push for channel {channel!r}")
    params = message.get("params") or {}
    data = message.get("data")
    if not isinstance(params, dict):
        raise Malformed("wrong_type", "`params` is not an object")
    if not isinstance(data, dict):
        raise Malformed("wrong_type", "`data` is not an object")
    token = _token(channel, params, data, naming)
    faults: list[str] = []
    fields: dict[str, Any] = {"channel": channel}
    keys = CHANNEL_KEYS[channel]
    _map(keys, data, fields, faults)
    consumed = _windows(channel, data, fields, faults) if channel in _WINDOWED else set()
    if channel == "onchain@transaction":
        _swap_side(token, fields)
    if "interval" in CHANNELS[channel].required:
        interval = params.get("interval")
        fields["interval"] = interval if isinstance(interval, str) else None
    if faults:
        raise Malformed("wrong_type", "; ".join(faults))
    extra = {k: v for k, v in data.items()
             if k not in keys and k not in IDENTITY and k not in consumed}
    if extra:
        fields["extra"] = extra
    # An on-chain event's own time where it has one, else the frame's, else ours.
    ts = _epoch_s(data.get("ts")) or _epoch_s(message.get("ts")) or received
    return Event(CHANNEL_KINDS[channel].name, SOURCE, channel, token, ts, received, fields)


def dedupe_key(event: Event) -> str | None:
    """Swaps and liquidity events may be pushed twice (token0 and token1 subscriptions):
    by tx + log index (instruction index on Solana), else by what the push carries."""
    if event.kind not in ("trade", "liquidity"):
        return None
    f = event.fields
    tx = f.get("tx")
    if not tx:
        return None
    solana = event.token is not None and event.token.chain == "solana"
    first, second = ("instruction_index", "log_index") if solana else (
        "log_index", "instruction_index")
    index = f.get(first) if f.get(first) is not None else f.get(second)
    if index is not None:
        return f"{event.kind}:{tx}:{index}"
    # No index (liquidity pushes may lack `lgid`): the same event carries the same
    # parties and amounts on both subscriptions.
    what = [f.get(k) for k in ("type", "side", "token0_address", "token1_address",
                                "token0_amount", "token1_amount")]
    return f"{event.kind}:{tx}:{what}"


def route_key(channel: str, params: Mapping[str, Any]) -> tuple[Any, ...]:
    """Identity of one subscription (a single id or address) for routing pushes; a
    value of any other shape (a list, an object) is kept as its JSON text, so the key
    is always hashable and routes nowhere."""
    items = []
    for key, value in sorted(params.items()):
        if isinstance(value, str):
            value = canonical_address(value)
        elif not isinstance(value, int | float | bool) and value is not None:
            value = repr(value)
        items.append((key, value))
    return (channel, *items)


def decode(text: str | bytes) -> dict[str, Any]:
    if isinstance(text, bytes):
        raise Malformed("binary_frame", f"binary frame of {len(text)} bytes")
    return json_object(text)


@attrs.define
class CmcParser:
    """The parser of a CoinMarketCap source; its dedupe memory spans every shard."""

    naming: Naming
    recent: RecentKeys = attrs.field(factory=lambda: RecentKeys(DEDUPE_MEMORY))

    def stream(self, stream: str, health: SourceHealth,
               control: Control | None = None) -> CmcStreamParser:
        return CmcStreamParser(self, health, control)

    def data_event(self, message: Mapping[str, Any], received: float) -> Event | None:
        """A data push as an event; None for the second push of one event."""
        event = push_event(message, received, self.naming)
        key = dedupe_key(event)
        if key is not None and not self.recent.add(key):
            return None
        return event


@attrs.define
class CmcStreamParser:
    """One connection: data pushes become events, the rest goes to `control`."""

    parser: CmcParser
    health: SourceHealth
    control: Control | None = None
    # The subscriptions this connection carries (live only): a push for another is
    # counted as a fault. Kept up to date by the session when the shard changes.
    routes: frozenset[tuple[Any, ...]] | None = None

    def connected(self) -> None:
        """Nothing per connection: routing and dedupe span the source."""

    def feed(self, frame: str | bytes, received: float) -> list[Event]:
        self.health.saw(frame, received)
        try:
            message = decode(frame)
            if message.get("type") != "data":
                if self.control is not None:
                    self.control(message)
                return []
            if self.routes is not None:
                self._route(message)
            event = self.parser.data_event(message, received)
        except Malformed as exc:
            self.health.fault(exc.kind, str(exc))
            return []
        if event is None:
            return []
        self.health.events += 1
        return [self.health.timely(event)]

    def _route(self, message: Mapping[str, Any]) -> None:
        params = message.get("params")
        key = route_key(str(message.get("channel")), params if isinstance(params, dict) else {})
        if self.routes is not None and key not in self.routes:
            self.health.fault("unrouted_push", f"a push for {message.get('channel')} "
                                               f"{params} we did not subscribe")

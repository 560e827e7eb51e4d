"""CoinMarketCap pushes → normalized events (pure; no I/O).

Pushes use short keys. The ones the document defines get snake_case names
(`p` → `price`, `p24h` → `change_24h` on the document's 0-100 scale, `ot` →
`open_time` in epoch seconds); every push also keeps its whole payload under
`raw`, so a rule can reach a key we do not name (`raw.ap`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final

import attrs

from rulesd.events import Event, TokenRef
from rulesd.sources.coinmarketcap_channels import CHANNELS, COMMON_IDS
from rulesd.sources.health import Malformed
from rulesd.tokens import CMC_PLATFORMS, canonical_address

SOURCE: Final = "coinmarketcap"
_CHANGE_KEY: Final = re.compile(r"^p(\d+[hdmy]|ytd)$")

# Short keys the document defines, per kind: short → (name, unit).
_MS: Final = "ms"  # epoch milliseconds, normalized to seconds
_NUM: Final = "num"
_STR: Final = "str"
_BOOL: Final = "bool"
_FIELDS: Final[dict[str, dict[str, tuple[str, str]]]] = {
    "market@crypto_latest_price": {
        "p": ("price", _NUM), "vu": ("volume_24h", _NUM), "mc": ("market_cap", _NUM),
        "cs": ("circulating_supply", _NUM), "fdv24h": ("fdv", _NUM),
    },
    "onchain@token_agg_event": {"p": ("price", _NUM)},
    "onchain@transaction": {
        "tx": ("tx", _STR), "lgid": ("log_index", _NUM), "iix": ("instruction_index", _NUM),
        "ex": ("excluded", _BOOL), "txtp": ("exclusion_reason", _STR), "tp": ("side", _STR),
        "p": ("price", _NUM), "vu": ("volume_usd", _NUM),
    },
    "onchain@liquidity_event": {
        "tx": ("tx", _STR), "lgid": ("log_index", _NUM), "iix": ("instruction_index", _NUM),
        "tp": ("type", _STR),
    },
    "onchain@kline": {
        "o": ("open", _NUM), "h": ("high", _NUM), "l": ("low", _NUM), "c": ("close", _NUM),
        "vu": ("volume_usd", _NUM), "ot": ("open_time", _MS),
    },
    "onchain@unique_trader": {"ut": ("unique_traders", _NUM), "ot": ("open_time", _MS)},
    "onchain@holders_metrics": {
        "tp": ("type", _STR), "t10p": ("top_10_share", _NUM), "t50p": ("top_50_share", _NUM),
        "t100p": ("top_100_share", _NUM),
    },
    "onchain@holder_wallet_update": {"tp": ("type", _STR)},
    "onchain@token_metric": {},
    "onchain@pool_metric": {},
}
_TOKEN_WINDOW: Final = {"bc": "buys", "sc": "sells", "vu": "volume_usd", "pc": "change"}
_POOL_WINDOW: Final = {"bvu": "buy_volume_usd", "svu": "sell_volume_usd", "ut": "unique_traders",
                       "but": "buyers", "sut": "sellers"}
_POOL_WINDOWS: Final = ("5m", "1h", "4h", "24h", "7d")




@attrs.frozen
class Naming:
    """What the config adds to the shipped id and platform tables."""

    ids: Mapping[int, tuple[str, str | None]] = attrs.field(factory=dict)
    platforms: Mapping[int, str] = attrs.field(factory=dict)

    def coin(self, cid: int) -> tuple[str | None, str | None]:
        return self.ids.get(cid) or COMMON_IDS.get(cid) or (None, None)

    def chain(self, platform_id: int) -> str:
        return (self.platforms.get(platform_id) or CMC_PLATFORMS.get(platform_id)
                or f"cmc-platform-{platform_id}")


def _value(raw: Any, unit: str, key: str, faults: list[str]) -> Any:
    if raw is None:
        return None
    if unit == _STR:
        return raw if isinstance(raw, str) else _wrong(key, raw, faults)
    if unit == _BOOL:
        return raw if isinstance(raw, bool) else _wrong(key, raw, faults)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        return _wrong(key, raw, faults)
    return raw / 1000.0 if unit == _MS else raw


def _wrong(key: str, raw: Any, faults: list[str]) -> None:
    faults.append(f"`{key}` is {type(raw).__name__}")
    return None


def _windows(channel: str, data: Mapping[str, Any], fields: dict[str, Any],
             faults: list[str]) -> None:
    if channel == "onchain@token_metric":
        for window in data.get("sts") or []:
            if isinstance(window, dict) and isinstance(window.get("win"), str):
                for short, name in _TOKEN_WINDOW.items():
                    fields[f"{name}_{window['win']}"] = _value(window.get(short), _NUM, short,
                                                               faults)
    elif channel == "onchain@pool_metric":
        for win in _POOL_WINDOWS:
            window = data.get(win)
            if isinstance(window, dict):
                for short, name in _POOL_WINDOW.items():
                    fields[f"{name}_{win}"] = _value(window.get(short), _NUM, short, faults)


def _token(channel: str, params: Mapping[str, Any], data: Mapping[str, Any],
           naming: Naming) -> TokenRef:
    if channel == "market@crypto_latest_price":
        cid = data.get("cid", params.get("crypto_ids"))
        if isinstance(cid, bool) or not isinstance(cid, int):
            raise Malformed("missing_field", "market push without a numeric `cid`")
        symbol, name = naming.coin(cid)
        return TokenRef(key=f"cmc:{cid}", symbol=symbol, name=name, cmc_id=cid)
    counted = CHANNELS[channel].counted
    platform = params.get("platform_id", data.get("pid"))
    address = params.get(counted, data.get("a"))
    if isinstance(platform, bool) or not isinstance(platform, int):
        raise Malformed("missing_field", f"{channel} push without a numeric platform id")
    if not isinstance(address, str) or not address:
        raise Malformed("missing_field", f"{channel} push without `{counted}`")
    return TokenRef.on_chain(naming.chain(platform), address)


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
    fields: dict[str, Any] = {"channel": channel, "raw": data}
    if token.chain is not None:
        fields.update(chain=token.chain, address=token.address)
    for short, (name, unit) in _FIELDS[channel].items():
        fields[name] = _value(data.get(short), unit, short, faults)
    if channel == "market@crypto_latest_price":
        for short, value in data.items():
            match = _CHANGE_KEY.match(short)
            if match:
                fields[f"change_{match.group(1)}"] = _value(value, _NUM, short, faults)
    if "interval" in params:
        fields["interval"] = params["interval"]
    _windows(channel, data, fields, faults)
    if faults:
        raise Malformed("wrong_type", "; ".join(faults))
    stamp = message.get("ts", data.get("ts"))
    ts = stamp / 1000.0 if isinstance(stamp, int | float) and not isinstance(stamp, bool) \
        else received
    return Event(CHANNELS[channel].kind, SOURCE, channel, token, ts, received, fields)


def dedupe_key(event: Event) -> str | None:
    """Swaps and liquidity events may be pushed twice (token0 and token1 subscriptions)."""
    if event.kind not in ("trade", "liquidity"):
        return None
    tx = event.fields.get("tx")
    if not tx:
        return None
    solana = event.token is not None and event.token.chain == "solana"
    index = event.fields.get("instruction_index" if solana else "log_index")
    if index is None:
        index = event.fields.get("log_index" if solana else "instruction_index")
    return f"{event.kind}:{tx}:{index}"


def route_key(channel: str, params: Mapping[str, Any]) -> tuple[Any, ...]:
    """Identity of one subscription (a single id or address) for routing pushes."""
    items = []
    for key, value in sorted(params.items()):
        if isinstance(value, str):
            value = canonical_address(value)
        items.append((key, value))
    return (channel, *items)

"""Every registered source passes the same checks: live and replay give the same events
from the same frames, config problems are located, and the typed schemas cover every
field the parser emits, and nothing else."""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing
import trio_websocket

from rulesd import capture, loader
from rulesd.clock import TrioClock
from rulesd.events import Event
from rulesd.replay import Replayer
from rulesd.sources import SOURCES, dexscreener
from rulesd.sources.coinmarketcap.config import CmcSubscription, CoinMarketCapConfig
from rulesd.sources.dexscreener.config import DexScreenerConfig
from rulesd.sources.health import SourceHealth
from rulesd.sources.mobula.config import MobulaConfig
from rulesd.sources.mobula.parse import gzip_frame
from rulesd.sources.tokenmetrics.config import TokenMetricsConfig
from rulesd.yaml_loader import ConfigError
from tests.fake_vendors import tm_tick
from tests.fakes import LoopbackServer
from tests.helpers import running_source

DATA = Path(__file__).parent / "data"
BSC = "0x8ac76a51cc950d9822d68b83fe1ad97b32cd580d"


def _text(path: Path) -> str:
    return json.dumps(json.loads(path.read_text()))


def _dex_frames() -> dict[str, list[str | bytes]]:
    d = DATA / "dexscreener"
    return {
        "token-boosts/latest": [_text(d / "boosts_latest.json"), _text(d / "boosts_icon_id.json"),
                                '{"type": "heartbeat"}', "{not json"],
        "token-boosts/top": [_text(d / "boosts_top.json")],
        "community-takeovers/latest": [_text(d / "takeovers_latest.json"),
                                       _text(d / "takeovers_with_extra_fields.json")],
        "token-profiles/latest": [_text(d / "profiles_latest.json"),
                                  _text(d / "profiles_with_extra_fields.json")],
        "token-profiles/recent-updates": [_text(d / "profiles_updates.json")],
        "ads/latest": [_text(d / "ads_latest.json")],
    }


def _cmc_frames() -> list[str | bytes]:
    d = DATA / "coinmarketcap"
    frames: list[str | bytes] = [_text(f) for f in sorted((d / "reference").glob("*.json"))]
    frames += [_text(f) for f in sorted(d.glob("*.json"))]
    return frames


def _tm_frames() -> list[str | bytes]:
    extra = tm_tick("bitcoin", "binance", 2.0, 2000, isBid=True, amount=1.5,
                    amount_in_usd=3.0, side_amount=2.0, transaction_type="buy",
                    maker_address="0xabc", newKey="kept under extra")
    return [json.dumps(tm_tick("bitcoin", "gate", 1.0, 1000,
                               last_5s_messages=[tm_tick("bitcoin", "gate", 0.5, 500)])),
            json.dumps(extra), "[1, 2]"]


def _mobula_frames() -> list[str | bytes]:
    d = DATA / "mobula"
    ref = [_text(d / "reference" / f"{n}.json")
           for n in ("init", "sync", "new-token", "update-token", "remove-token")]
    flags = json.loads((d / "update_flags_and_nulls.json").read_text())
    key = "solana:solana|DPQxrrxJfTrLEjyknrUBcMDsAMYbAQJMnKTuJh4kbonk"
    leave = {"type": "remove-token", "payload": {"viewName": "new-pair", "tokenKey": key}}
    return [*ref, gzip_frame(flags), '{"event": "pong"}', json.dumps(leave)]


@attrs.frozen
class Case:
    """A source's frames as a server sends them (by request path), and its config."""

    frames: dict[str, list[str | bytes]]
    config: Callable[[str], Any]


CASES: dict[str, Case] = {
    "dexscreener": Case(_dex_frames(), lambda url: DexScreenerConfig(url=url)),
    "coinmarketcap": Case(
        {"/v1": _cmc_frames()},
        lambda url: CoinMarketCapConfig(api_key="k", url=f"{url}/v1", subscriptions=(
            CmcSubscription("market@crypto_latest_price", {"crypto_ids": [1]}),
            CmcSubscription("onchain@transaction", {"platform_id": 14, "address": [BSC]})))),
    "tokenmetrics": Case({"/": _tm_frames()},
                         lambda url: TokenMetricsConfig(api_key="k", url=url,
                                                        tokens=("bitcoin",))),
    "mobula": Case({"/": _mobula_frames()},
                   lambda url: MobulaConfig(api_key="k", url=url)),
}


class Playback(LoopbackServer):
    """Sends a list of frames to each connection, by request path, then listens."""

    def __init__(self, frames: dict[str, list[str | bytes]]) -> None:
        super().__init__()
        self.frames = {f"/{p}/v1" if not p.startswith("/") else p: f
                       for p, f in frames.items()}
        self.sent = 0

    async def handler(self, request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        for frame in self.frames.get(request.path, []):
            await ws.send_message(frame)
        self.sent += 1
        self._notify()
        try:
            while True:
                await ws.get_message()
        except trio_websocket.ConnectionClosed:
            pass


def test_every_registered_source_has_a_case() -> None:
    assert set(CASES) == set(SOURCES)


def _expected_count(name: str) -> int:
    """The events the frames make, counted through a fresh parser (a baseline of the
    live count, which must then agree with replay event for event)."""
    case = CASES[name]
    config = case.config("ws://127.0.0.1:9")
    parser = SOURCES[name].parser(config)
    total = 0
    for path, frames in case.frames.items():
        stream = parser.stream(path.strip("/") or "x", SourceHealth("count"))
        stream.connected()
        total += sum(len(stream.feed(f, 0.0)) for f in frames)
    return total


@pytest.mark.parametrize("name", sorted(CASES))
async def test_live_and_replay_give_the_same_events(
    name: str, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock,
) -> None:
    case = CASES[name]
    server = Playback(case.frames)
    await nursery.start(server.serve)
    config = case.config(f"ws://127.0.0.1:{server.port}")
    clock = TrioClock()
    out = io.StringIO()
    expected = _expected_count(name)
    assert expected >= 3
    live: list[Event] = []
    with trio.fail_after(60):
        async with running_source(functools.partial(SOURCES[name].run,
                                                    tap=capture.Writer(out, clock).tap),
                                  config, clock=clock) as (events, _, _):
            async for event in events:
                if event.kind not in ("source_up", "source_down"):
                    live.append(event)
                if len(live) == expected:
                    break
    frames = [capture.parse_line(line) for line in out.getvalue().splitlines()]
    replayer = Replayer({name: config})
    replayed = [e for f in frames for e in replayer.events(f)]
    # Connections interleave: compare each stream's events, in order.
    assert by_stream(replayed) == by_stream(live)


def by_stream(events: list[Event]) -> dict[str, list[Event]]:
    out: dict[str, list[Event]] = {}
    for event in events:
        out.setdefault(event.stream, []).append(event)
    return out


# A minimal valid section per source, each line indented under `sources.<name>`.
SECTIONS = {
    "dexscreener": "streams: [token-boosts/latest]",
    "coinmarketcap": "api_key: k",
    "tokenmetrics": "api_key: k\n    tokens: [bitcoin]",
    "mobula": "api_key: k",
}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_config_problems_of_every_source_are_located(name: str) -> None:
    text = (f"version: 1\nsources:\n  {name}:\n    {SECTIONS[name]}\n"
            "    url: http://nope\n    surprise: 1\n"
            "notifiers: {c: stdout}\ndefaults: {notify: [c]}\nrules: []\n")
    lines = text.splitlines()
    with pytest.raises(ConfigError) as info:
        loader.loads(text, "r.yaml", {})
    (problem,) = info.value.problems  # structure first: the unknown key, at the key
    assert problem.mark is not None and (problem.mark.line, problem.mark.col) == (
        lines.index("    surprise: 1") + 1, 5)
    assert "unknown key 'surprise'" in problem.message
    with pytest.raises(ConfigError) as info:
        loader.loads(text.replace("    surprise: 1\n", ""), "r.yaml", {})
    (problem,) = info.value.problems  # then the source's own checks, located
    assert problem.mark is not None and problem.mark.line == lines.index(
        "    url: http://nope") + 1
    assert "ws:// or wss://" in problem.message


@pytest.mark.parametrize("name", sorted(CASES))
def test_schemas_cover_every_field_the_parser_emits_and_nothing_else(name: str) -> None:
    case = CASES[name]
    source = SOURCES[name]
    parser = source.parser(case.config("ws://127.0.0.1:9"))
    emitted: dict[str, set[str]] = {}
    for path, frames in case.frames.items():
        stream = parser.stream(path.strip("/") or "x", SourceHealth("t"))
        stream.connected()
        for frame in frames:
            for event in stream.feed(frame, 0.0):
                emitted.setdefault(event.kind, set()).update(event.fields)
    declared: dict[str, set[str]] = {}
    for kind in source.kinds:
        if kind is dexscreener.WATCHED:
            continue  # made by the watches' polls (tests/test_e2e_market.py), not frames
        # `market.` values are added by the lookups (rulesd/enrich), not the parser.
        declared.setdefault(kind.name, set()).update(
            f for f in kind.fields if not f.startswith("market."))
    assert set(emitted) == set(declared)  # every kind is produced
    for kind, fields in emitted.items():  # nothing outside its schema
        assert fields <= declared[kind], (kind, fields - declared[kind])
    # ... and nothing in the schemas the parser never gives
    never = set().union(*declared.values()) - set().union(*emitted.values())
    assert not never, never

"""Mobula Pulse V2: view state, compression, keepalive, limits, and rules end to end."""

from __future__ import annotations

import functools
import gzip
import logging
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio

from rulesd import loader as config_mod
from rulesd.clock import TrioClock
from rulesd.daemon import Daemon
from rulesd.sources import mobula
from rulesd.sources.health import Malformed
from rulesd.sources.mobula.config import MobulaConfig
from rulesd.sources.mobula.parse import Views, decode, inflate, snake
from rulesd.state import StateStore
from rulesd.yaml_loader import ConfigError
from tests.fake_vendors import FakeMobula, pulse_token
from tests.fakes import FakeDexScreener, HttpSink
from tests.helpers import boost, next_of, running_source, snapshot

SOL_A = "DPQxrrxJfTrLEjyknrUBcMDsAMYbAQJMnKTuJh4kbonk"
SOL_B = "CokehEuHjbVp6E6WepR9ukMWQsivssch4ZirYZSZGwoW"
SOL_C = "5jSCJNT8ck4Fda1wJLkaDsDNRyJno7DqiG5GUhiJpump"
GUARD_S = 10


def init(view: str, *tokens: dict[str, Any]) -> dict[str, Any]:
    return {"type": "init", "subscriptionId": "sub-1", "payload": {view: {"data": list(tokens)}}}


def sync(view: str, *tokens: dict[str, Any]) -> dict[str, Any]:
    return {"type": "sync", "subscriptionId": "sub-1", "payload": {view: {"data": list(tokens)}}}


def kinds(events: list[Any]) -> list[tuple[str, str]]:
    return [(e.kind, e.token.address) for e in events]


def test_snake_case_matches_mobula_filter_names() -> None:
    assert snake("top10HoldingsPercentage") == "top_10_holdings_percentage"
    assert snake("holdersCount") == "holders_count"
    assert snake("feesToVolumeRatio24h") == "fees_to_volume_ratio_24h"
    assert snake("volume_1h") == "volume_1h"


def test_init_sync_and_deltas_give_exactly_the_right_events() -> None:
    views = Views()
    assert kinds(views.apply(init("new", pulse_token(SOL_A), pulse_token(SOL_B)), 0)) == [
        ("pulse_enter", SOL_A), ("pulse_enter", SOL_B)]
    # A sync replaces: B is evicted by its absence alone, C enters, A changed.
    events = views.apply(sync("new", pulse_token(SOL_A, market_cap=60_000, flat=True),
                              pulse_token(SOL_C, flat=True)), 1)
    assert kinds(events) == [("pulse_update", SOL_A), ("pulse_enter", SOL_C),
                             ("pulse_exit", SOL_B)]
    assert events[0].fields["market_cap"] == 60_000 and events[0].fields["view"] == "new"
    # An unchanged token in a sync says nothing.
    assert views.apply(sync("new", pulse_token(SOL_A, market_cap=60_000, flat=True),
                            pulse_token(SOL_C, flat=True)), 2) == []
    delta = {"type": "update-token", "payload": {"viewName": "new",
                                                 "token": pulse_token(SOL_C, volume_1h=9)}}
    assert kinds(views.apply(delta, 3)) == [("pulse_update", SOL_C)]
    new = {"type": "new-token", "payload": {"viewName": "new", "token": pulse_token(SOL_B)}}
    assert kinds(views.apply(new, 4)) == [("pulse_enter", SOL_B)]
    remove = {"type": "remove-token", "payload": {"viewName": "new",
                                                  "tokenKey": f"solana:solana|{SOL_A}"}}
    assert kinds(views.apply(remove, 5)) == [("pulse_exit", SOL_A)]
    assert set(views.views["new"]) == {f"solana:solana|{SOL_C}", f"solana:solana|{SOL_B}"}


def test_fields_and_token_keys_join_other_vendors() -> None:
    (event,) = Views().apply(init("v", pulse_token(SOL_A, top10=23.5, holders_count=900)), 0)
    assert event.token.key == f"solana:{SOL_A}"  # the key DEX Screener uses
    assert event.fields["top_10_holdings_percentage"] == 23.5
    assert event.fields["holders_count"] == 900 and event.fields["market_cap"] == 50_000
    assert "holders_list" not in event.fields
    base = Views().apply(init("v", pulse_token("0xAbCdEf0123456789abcdef0123456789ABCDEF01",
                                               chain_id="evm:8453")), 0)[0]
    assert base.token.key == "base:0xabcdef0123456789abcdef0123456789abcdef01"


def test_the_first_snapshot_of_a_view_is_a_baseline_and_re_entry_is_news() -> None:
    store, views = StateStore(), Views()
    news = lambda events: [  # noqa: E731
        (e.kind, e.token.address) for e in events if store.apply(e, 0)]
    assert news(views.apply(init("new", pulse_token(SOL_A), pulse_token(SOL_B)), 0)) == []
    assert news(views.apply(sync("new", pulse_token(SOL_A, flat=True)), 1)) == [
        ("pulse_exit", SOL_B)]
    assert news(views.apply(sync("new", pulse_token(SOL_A, flat=True),
                                 pulse_token(SOL_B, flat=True)), 2)) == [("pulse_enter", SOL_B)]


@pytest.mark.parametrize(("frame", "fault"), [
    (gzip.compress(b"x" * 5000, mtime=0), "inflated_too_large"),
    (gzip.compress(b'{"type": "init"}', mtime=0)[:-6], "bad_gzip"),
    (b"\x00\x01 not gzip", "bad_gzip"),
    ("{nope", "invalid_json"),
], ids=["bomb", "cut-gzip", "not-gzip", "not-json"])  # the same ids in every worker
def test_bad_frames_name_their_fault(frame: str | bytes, fault: str) -> None:
    with pytest.raises(Malformed) as info:
        decode(frame, 1000)
    assert info.value.kind == fault


def test_binary_frames_are_inflated_whatever_the_flag() -> None:
    assert decode(gzip.compress(b'{"type": "init"}'), 1000) == {"type": "init"}
    assert inflate(gzip.compress(b"a" * 1000), 1000) == b"a" * 1000


def mob_config(url: str, key: str = "mob-key", **extra: Any) -> MobulaConfig:
    return MobulaConfig(api_key=key, url=url,
                        payload={"assetMode": True, "views": [{"name": "new", "limit": 50}]},
                        **extra)


@pytest.fixture
async def fake_mob(nursery: trio.Nursery) -> FakeMobula:
    server = FakeMobula()
    await nursery.start(server.serve)
    return server


@pytest.mark.parametrize("compressed", [False, True])
async def test_streams_plain_and_compressed_and_skips_bombs(
    compressed: bool, fake_mob: FakeMobula,
) -> None:
    fake_mob.compressed = compressed
    fake_mob.views = {"new": [pulse_token(SOL_A)]}
    with trio.fail_after(GUARD_S):
        async with running_source(mobula.run, mob_config(fake_mob.url)) as (events, healths, _):
            first = await next_of(events, "pulse_enter")
            await fake_mob.send_raw(gzip.compress(b" " * (65 * 1024 * 1024)))  # a bomb
            await fake_mob.send_raw(gzip.compress(b'{"type": "sync"}')[:-4])  # truncated
            await fake_mob.send({"type": "new-token", "payload": {
                "viewName": "new", "token": pulse_token(SOL_B)}})
            second = await next_of(events, "pulse_enter")
    sub = fake_mob.subscriptions[0]
    assert sub == {"type": "pulse-v2", "authorization": "mob-key",
                   "payload": {"assetMode": True, "views": [{"name": "new", "limit": 50}]}}
    assert (first.token.address, second.token.address) == (SOL_A, SOL_B)
    faults = healths["mobula"].faults
    assert (faults["inflated_too_large"], faults["bad_gzip"]) == (1, 1)


async def test_pings_and_a_silent_server_is_replaced(
    fake_mob: FakeMobula, autojump_clock: trio.testing.MockClock,
) -> None:
    fake_mob.answer_pings = False
    with trio.fail_after(1000):
        async with running_source(mobula.run, mob_config(fake_mob.url)) as (_, healths, src):
            await fake_mob.wait(lambda: fake_mob.handshakes == 2 and
                                len(fake_mob.subscriptions) == 2)
    assert [round(t) for t in fake_mob.pings] == [30, 60]
    assert healths["mobula"].last_error == "nothing heard for 90s"
    assert fake_mob.subscriptions[1]["type"] == "pulse-v2"  # subscribed again
    assert src.reader.parser.views.subscription_id == "sub-2"


async def test_a_refused_key_is_fatal_and_never_logged(
    fake_mob: FakeMobula, caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(2000):
        async with running_source(mobula.run, mob_config(fake_mob.url, key="sekrit-mob")) as (
                events, healths, _):
            down = await next_of(events, "source_down")
            await trio.sleep(1000)
    assert "Invalid API key" in down.fields["reason"]
    assert healths["mobula"].state == "fatal" and fake_mob.handshakes == 2
    assert not any("sekrit-mob" in r.getMessage() for r in caplog.records
                   if r.levelno >= logging.WARNING)


RULES = """\
version: 1
state: {{path: {state}}}
sources:
  dexscreener: {{url: "{dex}", streams: [token-boosts/latest]}}
  mobula:
    api_key: mob-key
    url: {mob}
    payload:
      assetMode: true
      views:
        - {{name: new, limit: 50}}
        - {{name: bonded, limit: 50}}
notifiers: {{sink: {sink}}}
defaults: {{notify: [sink]}}
rules:
  - name: quality-entry
    on: pulse_enter
    where:
      view: new
      market_cap: {{gte: 10000}}
      top_10_holdings_percentage: {{lt: 30}}
    message: "{{{{ rule }}}} {{{{ token.address }}}}"
  - name: boosted-entry
    on: pulse_enter
    where:
      view: new
      seen: {{kind: boost, within: 1h}}
    message: "{{{{ rule }}}} {{{{ token.address }}}}"
"""


async def test_pulse_rules_end_to_end_with_a_cross_vendor_join(
    nursery: trio.Nursery, fake_mob: FakeMobula, fake_dex: FakeDexScreener, sink: HttpSink,
    tmp_path: Path,
) -> None:
    boosts = "/token-boosts/latest/v1"
    fake_dex.snapshots[boosts] = [snapshot(boost("OLD1", 1))]
    fake_mob.views = {"new": [pulse_token(SOL_C)], "bonded": []}
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.format(state=tmp_path / "state.db", dex=fake_dex.url,
                                  mob=fake_mob.url, sink=sink.url()))
    daemon = Daemon.create(config_mod.load(rules, env={}), TrioClock())
    shutdown = trio.Event()
    with trio.fail_after(GUARD_S):
        await nursery.start(daemon.run, shutdown)
        await fake_dex.wait_connections(boosts, 1)
        # A Solana token DEX Screener boosts now, then entering Mobula's view.
        await fake_dex.push(boosts, snapshot(boost(SOL_A, 10)))
        await fake_mob.send({"type": "new-token", "payload": {
            "viewName": "new", "token": pulse_token(SOL_A, top10=45.0)}})
        # Another enters with good numbers but no boost; a third with bad numbers.
        await fake_mob.send({"type": "new-token", "payload": {
            "viewName": "new", "token": pulse_token(SOL_B, market_cap=20_000, top10=12.0)}})
        await fake_mob.send({"type": "new-token", "payload": {
            "viewName": "new", "token": pulse_token("BadToken1", market_cap=500)}})
        messages = await sink.wait_for(2)
        shutdown.set()
    got = sorted(str(m["message"]) for m in messages if "entry" in str(m["message"]))
    assert got == [f"boosted-entry {SOL_A}", f"quality-entry {SOL_B}"]
    # Only `new` is used by the rules: `bonded` was paused after subscribing.
    assert {"type": "pulse-pause", "payload": {"action": "pause", "views": ["bonded"]}} in \
        fake_mob.received


def test_unused_views_follow_reloads() -> None:
    text = RULES.format(state='":memory:"', dex="ws://x", mob="ws://x", sink="stdout")
    from rulesd.rules.engine import RuleSet

    loaded = config_mod.loads(text.replace("sink: stdout", "sink: stdout"), "r.yaml", {})
    pulse = ("pulse_enter", "pulse_update", "pulse_exit")
    assert RuleSet(loaded.rules).values_in_use(pulse, "view") == {"new"}
    everywhere = config_mod.loads(text.replace("      view: new\n      seen", "      seen"),
                                  "r.yaml", {})
    assert RuleSet(everywhere.rules).values_in_use(pulse, "view") is None


MOB_CHECK = """\
version: 1
sources:
  mobula:
    api_key: k
    payload:
      views: VIEWS
notifiers: {c: stdout}
rules: []
"""


@pytest.mark.parametrize(("views", "message"), [
    ("[" + ", ".join(f"{{name: v{i}, limit: 10}}" for i in range(11)) + "]",
     "6:14: 11 views exceed Mobula's limit of 10 per connection"),
    ("[{name: a, limit: 101}]", "6:32: `limit` must be 1 to 100"),
    ("[{name: a, limit: 5}, {name: a, limit: 5}]", "6:43: view name 'a' is used twice"),
    ("[" + ", ".join(f"{{name: v{i}, limit: 91}}" for i in range(11)) + "]",
     "6:14: the views' limits add up to 1001 tokens"),
])
def test_view_limits_are_checked(views: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_mod.loads(MOB_CHECK.replace("VIEWS", views), "r.yaml", {})
    assert any(str(p).startswith(f"r.yaml:{message}") for p in info.value.problems), \
        [str(p) for p in info.value.problems]


def test_ten_full_views_are_exactly_the_limit() -> None:
    views = "[" + ", ".join(f"{{name: v{i}}}" for i in range(10)) + "]"  # 100 each
    assert config_mod.loads(MOB_CHECK.replace("VIEWS", views), "r.yaml", {})


def test_frames_round_trip_through_gzip_helper() -> None:
    from rulesd.sources.mobula.parse import gzip_frame

    assert orjson.loads(gzip.decompress(gzip_frame({"a": 1}))) == {"a": 1}


def test_an_update_s_nulls_mean_unchanged() -> None:
    """Mobula's own clients merge only non-null values of an `update-token`."""
    views = Views()
    views.apply(init("new", pulse_token(SOL_A, volume_1h=1000, description="gm")), 0)
    update = {"type": "update-token", "payload": {"viewName": "new", "token": pulse_token(
        SOL_A, market_cap=None, description=None, volume_1h=2000)}}
    update["payload"]["token"]["token"]["marketCap"] = None
    (event,) = views.apply(update, 1)
    assert event.fields["market_cap"] == 50_000 and event.fields["volume_1h"] == 2000
    assert event.fields["description"] == "gm"
    assert views.apply(update, 2) == []  # nothing changed: no event


def test_a_level_rule_does_not_fire_again_for_a_state_that_never_changed() -> None:
    from rulesd.rules.engine import Engine

    text = """\
version: 1
sources: {mobula: {api_key: k}}
notifiers: {c: stdout}
defaults: {notify: [c]}
rules:
  - {name: big, on: pulse_update, where: {market_cap: {gte: 40000}}}
"""
    engine = Engine(config_mod.loads(text, "r.yaml", {}).rules, StateStore())
    views = Views()
    alerts = []
    for t, message in enumerate([
        init("new", pulse_token(SOL_A)),
        {"type": "update-token", "payload": {"viewName": "new",
                                             "token": pulse_token(SOL_A, volume_1h=2000)}},
        {"type": "update-token", "payload": {"viewName": "new", "token": pulse_token(
            SOL_A, market_cap=None, volume_1h=3000)}},
        {"type": "update-token", "payload": {"viewName": "new",
                                             "token": pulse_token(SOL_A, volume_1h=4000)}},
    ]):
        for event in views.apply(message, t):
            alerts += engine.process(event, t)
    assert [(a.rule, a.fired_at) for a in alerts] == [("big", 1)]


def test_with_no_url_the_documented_host_is_tried_first_then_the_sdk_s() -> None:
    from rulesd.sources.mobula.session import urls_of

    assert urls_of(MobulaConfig(api_key="k")) == ("wss://api.mobula.io",
                                                   "wss://pulse-v2-api.mobula.io")
    assert urls_of(MobulaConfig(api_key="k", url="ws://x")) == ("ws://x",)


async def test_the_second_host_answers_when_the_first_does_not(
    fake_mob: FakeMobula, caplog: pytest.LogCaptureFixture,
) -> None:
    import socket

    caplog.set_level(logging.INFO, "rulesd")
    with socket.socket() as closed:  # a port nothing listens on: refused at once
        closed.bind(("127.0.0.1", 0))
        dead = f"ws://127.0.0.1:{closed.getsockname()[1]}"
    fake_mob.views = {"new": [pulse_token(SOL_A)]}
    config = MobulaConfig(api_key="mob-key", payload={"assetMode": True, "views": [
        {"name": "new"}]})
    with trio.fail_after(GUARD_S):
        async with running_source(functools.partial(mobula.run, urls=(dead, fake_mob.url)),
                                  config) as (events, healths, _):
            await next_of(events, "pulse_enter")
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"mobula: {dead} did not answer") for m in messages), messages
    assert f"mobula: connected to {fake_mob.url}" in messages
    assert healths["mobula"].failures == 0  # one source, up: the fallback is not an outage


def test_one_unreadable_token_in_a_sync_costs_that_token_only() -> None:
    from rulesd.sources.health import SourceHealth
    from rulesd.sources.mobula.parse import MobulaParser

    health = SourceHealth("mobula")
    stream = MobulaParser(1 << 20).stream("pulse-v2", health)
    stream.feed(orjson.dumps(init("new", pulse_token(SOL_A))).decode(), 0)
    broken = {"token": {"chainId": "solana:solana"}, "market_cap": 1}  # no address
    message = sync("new", pulse_token(SOL_A, market_cap=60_000, flat=True), broken,
                   pulse_token(SOL_B, flat=True))
    events = stream.feed(orjson.dumps(message).decode(), 1)
    assert kinds(events) == [("pulse_update", SOL_A), ("pulse_enter", SOL_B)]
    assert health.faults["missing_field"] == 1

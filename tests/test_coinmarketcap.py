"""CoinMarketCap: normalization, sharding, acks and errors, keepalive, fatal closes."""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import trio

from rulesd.sources import coinmarketcap
from rulesd.sources.coinmarketcap.config import CmcSubscription, CoinMarketCapConfig
from rulesd.sources.coinmarketcap.parse import CmcParser, Naming, dedupe_key, push_event
from rulesd.sources.coinmarketcap.session import shard, subscribe_requests, units_of
from rulesd.sources.health import Malformed, SourceHealth
from tests.fake_vendors import FakeCoinMarketCap
from tests.helpers import next_of, running_source

DATA = Path(__file__).parent / "data" / "coinmarketcap"
BSC = "0x8ac76a51cc950d9822d68b83fe1ad97b32cd580d"
SOL = "EKpQGSJtjMFqKZ9KQanSqYXRcF8fBopzLHYxdM65zcjm"
GUARD_S = 10


def frame(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text())  # type: ignore[no-any-return]


# When the reference examples were received (just after the frames' own `ts`).
RECEIVED = 1_778_663_881.0


def reference(name: str) -> dict[str, Any]:
    """CoinMarketCap's own example push (tests/data/coinmarketcap/reference)."""
    return json.loads((DATA / "reference" / f"{name}.json").read_text())  # type: ignore[no-any-return]


# Every channel's example from CMC's per-channel reference, as CMC sends it.
@pytest.mark.parametrize(("name", "kind", "key", "ts", "expected"), [
    ("market_crypto_latest_price", "price", "cmc:1", 1778663880.111,
     {"price": 81187.93284788371, "volume_24h": 29932025976.79, "change_24h": 0.534347439686,
      "change_3m": 20.814087592967, "change_1y": -21.146722852984, "change_ytd": -8.280487978902,
      "change_all": 131301167.42003132, "fdv_change_24h": 0.534347439686,
      "symbol": "BTC", "name": "Bitcoin"}),
    ("onchain_token_agg_event", "price", f"bsc:{BSC}", 1778659194.0,
     {"price": 0.9998026294970268, "pool_price": 0.9997425990337028,
      "liquidity_usd": 112769637.58815227, "chain": "bsc", "address": BSC}),
    ("onchain_transaction", "trade", f"bsc:{BSC}", 1778659192.0,
     {"side": "sell", "price": 0.9997425990337028, "amount": 0.9999663716704877,
      "token0_price_usd": 0.28760994330122636, "token1_symbol": "WBNB", "log_index": 59,
      "excluded": False, "exclusion_code": 0, "volume_usd": 167.11650988683866}),
    ("onchain_liquidity_event", "liquidity", f"bsc:{BSC}", 1778659195.0,
     {"type": "add", "log_index": 12, "token1_amount": 293.8158004758334,
      "value_usd": 49.84709760712249}),
    ("onchain_kline", "kline", f"bsc:{BSC}", 1778663880.111,
     {"open": 0.9995980459860556, "close": 0.999677480145, "interval": "1m",
      "open_time": 1778649420.0}),
    ("onchain_token_metric", "token_metric", f"bsc:{BSC}", 1778663880.111,
     {"price": 0.9997425990337028, "market_cap": None, "change_4h": -0.01, "buys_4h": 12692,
      "sellers_4h": 4142, "high_4h": 1.0003681078349795, "change_1h": None}),
    ("onchain_pool_metric", "pool_metric", "solana:DJpdHs4wbm1XqRruM1NPHnSfpnSztUEeFW3bcaDEeg7H",
     1778663880.111, {"buy_volume_usd_1h": 500, "buy_volume_native_1h": 123.45,
                      "unique_traders_24h": 1000, "buyers_5m": 2}),
    ("onchain_unique_trader", "unique_traders", f"bsc:{BSC}", 1778663880.111,
     {"unique_traders": 6, "interval": "1m", "open_time": 1778659140.0}),
    ("onchain_holders_metrics", "holders", f"bsc:{BSC}", 1778659184.0,
     {"type": "tag_distribution", "dev_share": 12, "whale_holders": 2518,
      "extra": {"bdhc": 3897}}),
    ("onchain_holder_wallet_update", "wallet",
     "solana:6p6xgHyF7AeE6TZkSmFsko444wqoP15icUSqi2jfGiPN", 1778659191.803,
     {"type": "token_balance", "token_address": "GYQQfZTnTokenMintAddress",
      "balance": 37151378.807477, "holding_share": 3.715}),
])
def test_each_channel_reference_example_is_normalized(
        name: str, kind: str, key: str, ts: float, expected: dict[str, Any]) -> None:
    health = SourceHealth("t")
    (event,) = CmcParser(Naming()).stream("coinmarketcap #1", health).feed(
        json.dumps(reference(name)), RECEIVED)
    assert not health.faults  # CMC's own example is not malformed
    assert event.kind == kind and event.source == "coinmarketcap"
    assert event.token is not None and event.token.key == key
    assert event.ts == ts  # the payload's own time where it has one, else the frame's
    values = event.context()
    for field, value in expected.items():
        assert values[field] == value, field


def test_a_swap_price_is_the_subscribed_tokens_side() -> None:
    """A swap has no `p`: the subscribed token's price is t0pu or t1pu by address."""
    message = reference("onchain_transaction")
    message["params"]["address"] = message["data"]["t0a"]
    event = push_event(message, 0, Naming())
    assert event.fields["price"] == message["data"]["t0pu"]
    assert event.fields["amount"] == message["data"]["a0"]


def test_a_solana_swap_dedupes_by_instruction_index() -> None:
    sol = push_event(frame("transaction_solana"), 0, Naming())
    assert sol.fields["excluded"] is True and sol.fields["exclusion_code"] == 2
    assert sol.fields["price"] == 2.31
    assert dedupe_key(sol) == f"trade:{frame('transaction_solana')['data']['tx']}:4"


def test_liquidity_without_lgid_is_deduplicated_on_what_it_carries() -> None:
    parser = CmcParser(Naming())
    stream = parser.stream("coinmarketcap #1", SourceHealth("t"))
    push = reference("onchain_liquidity_event")
    del push["data"]["lgid"]
    twin = {**push, "params": {"platform_id": 14, "address": push["data"]["t1a"]}}
    other = json.loads(json.dumps(push))
    other["data"]["a1"] = 1.0
    assert len(stream.feed(json.dumps(push), 0)) == 1
    assert stream.feed(json.dumps(twin), 0) == []  # the same event, pushed for token1
    assert len(stream.feed(json.dumps(other), 0)) == 1  # another event of the same tx


def test_market_pushes_name_their_coin_from_the_tables() -> None:
    event = push_event(reference("market_crypto_latest_price"), 0, Naming())
    assert event.token and (event.token.symbol, event.token.name) == ("BTC", "Bitcoin")
    unknown = {**reference("market_crypto_latest_price"), "data": {"cid": 99999, "p": 1.0}}
    assert push_event(unknown, 0, Naming()).token.symbol is None  # type: ignore[union-attr]
    named = push_event(unknown, 0, Naming(ids={99999: ("NEW", "Newcoin")}))
    assert named.token and named.token.symbol == "NEW"


def test_platform_ids_map_to_chain_names_and_the_config_adds_more() -> None:
    message = {**reference("onchain_token_agg_event"),
               "params": {"platform_id": 199, "address": BSC}}
    assert push_event(message, 0, Naming()).token.key == f"cmc-platform-199:{BSC}"  # type: ignore[union-attr]
    based = push_event(message, 0, Naming(platforms={199: "base"}))
    assert based.token and based.token.key == f"base:{BSC}"


def test_nulls_are_allowed() -> None:
    message = reference("market_crypto_latest_price")
    message["data"] = {"cid": 1, "p": None, "vu": None, "mc": None, "p24h": None}
    event = push_event(message, 0, Naming())
    assert event.fields["price"] is None and event.fields["change_24h"] is None


@pytest.mark.parametrize(("change", "fault"), [
    ({"channel": "onchain@nope"}, "unknown_channel"),
    ({"data": [1, 2]}, "wrong_type"),
    ({"data": {"cid": "one", "p": 1}}, "missing_field"),
    ({"data": {"cid": 1, "p": "81187"}}, "wrong_type"),
    ({"params": "x"}, "wrong_type"),
])
def test_malformed_pushes_name_their_fault(change: dict[str, Any], fault: str) -> None:
    with pytest.raises(Malformed) as info:
        push_event({**reference("market_crypto_latest_price"), **change}, 0, Naming())
    assert info.value.kind == fault


def test_swaps_dedupe_by_tx_and_log_index_or_instruction_index_on_solana() -> None:
    evm = push_event(reference("onchain_transaction"), 0, Naming())
    assert dedupe_key(evm) == f"trade:{reference('onchain_transaction')['data']['tx']}:59"
    sol_message = frame("liquidity_event")
    sol = push_event(sol_message, 0, Naming())
    assert dedupe_key(sol) == f"liquidity:{sol_message['data']['tx']}:3"


def config(url: str, subscriptions: list[CmcSubscription], key: str = "good-key",
           **extra: Any) -> CoinMarketCapConfig:
    return CoinMarketCapConfig(api_key=key, url=url, subscriptions=tuple(subscriptions),
                               **extra)


PRICES = CmcSubscription("market@crypto_latest_price", {"crypto_ids": [1, 1027]})


def test_sharding_packs_100_a_connection() -> None:
    subs = [CmcSubscription("market@crypto_latest_price", {"crypto_ids": list(range(1, 251))})]
    shards = shard(units_of(config("ws://x", subs)), 10)
    assert [len(s) for s in shards] == [100, 100, 50]
    (request,) = subscribe_requests(shards[2])
    assert request == {"method": "subscribe", "channel": "market@crypto_latest_price",
                       "params": {"crypto_ids": list(range(201, 251))}}


@pytest.fixture
async def fake_cmc(nursery: trio.Nursery) -> FakeCoinMarketCap:
    server = FakeCoinMarketCap()
    await nursery.start(server.serve)
    return server


async def test_250_ids_take_three_connections_and_prices_flow(
    fake_cmc: FakeCoinMarketCap,
) -> None:
    subs = [CmcSubscription("market@crypto_latest_price", {"crypto_ids": list(range(1, 251))})]
    with trio.fail_after(GUARD_S):
        async with running_source(coinmarketcap.run, config(fake_cmc.url, subs)) as (
                events, healths, _):
            assert sorted(len(c.units) for c in fake_cmc.connections) == [50, 100, 100]
            assert all(c.headers["x-cmc_pro_api_key"] == "good-key"
                       for c in fake_cmc.connections)
            assert await fake_cmc.push("market@crypto_latest_price", {"crypto_ids": 230},
                                       {"cid": 230, "p": 2.5}) == 1
            event = await next_of(events, "price")
            assert event.token.key == "cmc:230" and event.fields["price"] == 2.5
    assert sorted(healths) == ["coinmarketcap #1", "coinmarketcap #2", "coinmarketcap #3"]


async def test_resubscribes_after_a_drop(fake_cmc: FakeCoinMarketCap) -> None:
    with trio.fail_after(GUARD_S):
        async with running_source(coinmarketcap.run, config(fake_cmc.url, [PRICES])) as (
                events, healths, _):
            await fake_cmc.drop_all()
            await fake_cmc.wait(lambda: len(fake_cmc.live()) == 1
                                and len(fake_cmc.live()[0].units) == 2)
            await fake_cmc.push("market@crypto_latest_price", {"crypto_ids": 1027},
                                {"cid": 1027, "p": 3000.0})
            event = await next_of(events, "price")
            assert event.token.symbol == "ETH"
    assert healths["coinmarketcap #1"].connects == 2


async def test_a_refused_subscription_is_reported_once_and_the_rest_flows(
    fake_cmc: FakeCoinMarketCap, caplog: pytest.LogCaptureFixture,
) -> None:
    fake_cmc.errors["onchain@kline"] = ("2402", "Param 'interval' must be one of 1m, 5m.")
    subs = [PRICES, CmcSubscription("onchain@kline",
                                    {"platform_id": 14, "address": [BSC], "interval": "7m"})]
    with trio.fail_after(GUARD_S):
        async with running_source(coinmarketcap.run, config(fake_cmc.url, subs)) as (
                events, _, _):
            await fake_cmc.drop_all()  # the error comes again after a reconnect
            await fake_cmc.wait(lambda: len(fake_cmc.live()) == 1
                                and len(fake_cmc.live()[0].requests) == 2)
            await fake_cmc.push("market@crypto_latest_price", {"crypto_ids": 1},
                                {"cid": 1, "p": 1.0})
            await next_of(events, "price")
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "onchain@kline" in errors[0] and "2402" in errors[0] and "interval" in errors[0]


async def test_a_duplicate_subscription_is_acked_and_harmless(
    fake_cmc: FakeCoinMarketCap,
) -> None:
    twice = [PRICES, CmcSubscription("market@crypto_latest_price", {"crypto_ids": [1]})]
    with trio.fail_after(GUARD_S):
        async with running_source(coinmarketcap.run, config(fake_cmc.url, twice)) as (
                events, healths, _):
            await fake_cmc.push("market@crypto_latest_price", {"crypto_ids": 1},
                                {"cid": 1, "p": 1.0})
            await next_of(events, "price")
    assert len(fake_cmc.connections[0].units) == 2
    assert healths["coinmarketcap #1"].state == "up"


@pytest.mark.parametrize(("code", "words"), [
    (4100, "API key invalid"), (4101, "API key disabled"),
    (4102, "plan does not include WebSocket"),
])
async def test_fatal_close_codes_back_off_long_and_never_log_the_key(
    code: int, words: str, fake_cmc: FakeCoinMarketCap, caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    fake_cmc.keys = {"sekrit-cmc-key"}
    if code != 4100:
        fake_cmc.close_code = code
    key = "sekrit-cmc-key" if code != 4100 else "wrong-sekrit-key"
    with trio.fail_after(4000):
        async with running_source(coinmarketcap.run,
                                  config(fake_cmc.url, [PRICES], key=key)) as (events, h, _):
            down = await next_of(events, "source_down")
            await trio.sleep(3000)  # virtual: a tight loop would retry thousands of times
    assert f"close code {code}" in down.fields["reason"] and words in down.fields["reason"]
    assert fake_cmc.handshakes == 4  # at 0, 900, 1800, 2700 s
    assert h["coinmarketcap #1"].state == "fatal"
    assert not any(key in r.getMessage() for r in caplog.records)


async def test_auth_errors_in_replies_are_fatal(
    fake_cmc: FakeCoinMarketCap, autojump_clock: trio.testing.MockClock,
) -> None:
    fake_cmc.errors["market@crypto_latest_price"] = ("1010", "")
    with trio.fail_after(100):
        async with running_source(coinmarketcap.run, config(fake_cmc.url, [PRICES])) as (
                events, healths, _):
            down = await next_of(events, "source_down")
    assert down.fields["reason"].startswith("CoinMarketCap error 1010")
    assert healths["coinmarketcap #1"].state == "fatal"


async def test_connection_limit_backs_off(
    fake_cmc: FakeCoinMarketCap, autojump_clock: trio.testing.MockClock,
) -> None:
    fake_cmc.close_code = 4004
    with trio.fail_after(1000):
        async with running_source(coinmarketcap.run, config(fake_cmc.url, [PRICES])) as (
                events, _, _):
            down = await next_of(events, "source_down")
            await trio.sleep(400)
    assert "close code 4004" in down.fields["reason"]
    assert fake_cmc.handshakes == 2  # at 0 and 300 s


async def test_pings_follow_the_welcome_interval(
    fake_cmc: FakeCoinMarketCap, autojump_clock: trio.testing.MockClock,
) -> None:
    fake_cmc.welcome_ms = 5000
    with trio.fail_after(100):
        async with running_source(coinmarketcap.run, config(fake_cmc.url, [PRICES])):
            await fake_cmc.wait(lambda: len(fake_cmc.connections[0].pings) >= 3)
    pings = fake_cmc.connections[0].pings[:3]
    assert [round(b - a, 3) for a, b in itertools.pairwise(pings)] == [5.0, 5.0]


async def test_a_connection_silent_for_two_intervals_is_replaced(
    fake_cmc: FakeCoinMarketCap, autojump_clock: trio.testing.MockClock,
) -> None:
    fake_cmc.answer_pings = False
    with trio.fail_after(100):
        async with running_source(coinmarketcap.run, config(fake_cmc.url, [PRICES])) as (
                _, healths, _):
            await fake_cmc.wait(lambda: len(fake_cmc.connections) == 2)
            health = healths["coinmarketcap #1"]
            assert health.last_error == "no data or pong for 30s"
            # Without a welcome, pings go every 10 s; silence past 20 s is death.
            assert [round(t) for t in fake_cmc.connections[0].pings] == [10, 20]


async def test_malformed_frames_are_counted_and_the_stream_goes_on(
    fake_cmc: FakeCoinMarketCap,
) -> None:
    with trio.fail_after(GUARD_S):
        async with running_source(coinmarketcap.run, config(fake_cmc.url, [PRICES])) as (
                events, healths, _):
            for bad in ("{nope", "[1]", '{"type": "surprise"}',
                        '{"type": "data", "channel": "market@crypto_latest_price", '
                        '"params": {"crypto_ids": 1}, "data": {"cid": 1, "p": "NaN"}}'):
                await fake_cmc.send_raw(bad)
            await fake_cmc.push("market@crypto_latest_price", {"crypto_ids": 1},
                                {"cid": 1, "p": 7.0})
            event = await next_of(events, "price")
    assert event.fields["price"] == 7.0
    faults = healths["coinmarketcap #1"].faults
    assert (faults["invalid_json"], faults["unknown_shape"], faults["unknown_type"],
            faults["wrong_type"]) == (1, 1, 1, 1)


async def test_swaps_pushed_twice_arrive_once(fake_cmc: FakeCoinMarketCap) -> None:
    other = "0x55d398326f99059ff775485246999027b3197955"
    subs = [CmcSubscription("onchain@transaction", {"platform_id": 14, "address": [BSC, other]})]
    swap = reference("onchain_transaction")["data"]
    with trio.fail_after(GUARD_S):
        async with running_source(coinmarketcap.run, config(fake_cmc.url, subs)) as (
                events, _, _):
            await fake_cmc.push("onchain@transaction", {"platform_id": 14, "address": BSC},
                                swap)
            await fake_cmc.push("onchain@transaction", {"platform_id": 14, "address": other},
                                swap)
            await fake_cmc.push("onchain@transaction", {"platform_id": 14, "address": BSC},
                                {**swap, "lgid": 212})
            first = await next_of(events, "trade")
            second = await next_of(events, "trade")
    assert (first.fields["log_index"], second.fields["log_index"]) == (59, 212)


async def test_reconfigure_unsubscribes_what_a_reload_removed(
    fake_cmc: FakeCoinMarketCap,
) -> None:
    with trio.fail_after(GUARD_S):
        async with running_source(coinmarketcap.run, config(fake_cmc.url, [PRICES])) as (
                _, _, source):
            assert await source.reconfigure(config(fake_cmc.url, [CmcSubscription(
                "market@crypto_latest_price", {"crypto_ids": [1027, 5426]})]))
            connection = fake_cmc.connections[0]
            await fake_cmc.wait(lambda: len(connection.requests) == 3)
    methods = [(r["method"], r["params"]["crypto_ids"]) for r in connection.requests]
    assert methods == [("subscribe", [1, 1027]), ("unsubscribe", [1]), ("subscribe", [5426])]
    assert len(fake_cmc.connections) == 1  # the same connection carried the change


CMC_RULES = """\
version: 1
state: {path: ":memory:"}
sources:
  coinmarketcap:
    api_key: ${CMC_KEY}
    url: URL
    subscriptions:
      - channel: market@crypto_latest_price
        params: {crypto_ids: [1, 1027]}
notifiers: {sink: SINK}
defaults: {notify: [sink]}
rules:
  - name: btc-above-100k
    on: price
    where: {token.symbol: BTC, price: {gte: 100000}}
    message: "{{ token.symbol }} at {{ price }} ({{ change_24h }}% 24h)"
"""


@pytest.mark.parametrize(("change", "message"), [
    (("market@crypto_latest_price", "market@crypto_latest_prize"),
     "8:18: unknown CoinMarketCap channel 'market@crypto_latest_prize' "
     "(did you mean 'market@crypto_latest_price'?)"),
    (("params: {crypto_ids: [1, 1027]}", "params: {}"),
     "8:9: market@crypto_latest_price needs the param `crypto_ids`"),
    (("params: {crypto_ids: [1, 1027]}", "params: {crypto_ids: [1], address: x}"),
     "9:35: market@crypto_latest_price takes no param 'address'"),
    (("params: {crypto_ids: [1, 1027]}",
      f"params: {{crypto_ids: [{', '.join(str(i) for i in range(1, 202))}]}}\n"
      "    max_connections: 2"),
     "8:7: 201 subscriptions (one per id or address) exceed the limit of 2 connections x "
     "100 = 200"),
    (("      - channel: market@crypto_latest_price\n        params: {crypto_ids: [1, 1027]}",
      "      - channel: onchain@kline\n        params: {platform_id: bsc, address: [x]}"),
     "8:9: onchain@kline needs the param `interval`"),
    (("      - channel: market@crypto_latest_price\n        params: {crypto_ids: [1, 1027]}",
      "      - channel: onchain@kline\n"
      "        params: {platform_id: bsc, address: [x], interval: 1m}"),
     "9:31: `platform_id` must be a number"),
    (("    api_key: ${CMC_KEY}", "    api_key: ${CMC_KEY}\n    max_connections: 11"),
     "6:22: `max_connections` must be 1 to 10"),
])
def test_coinmarketcap_check_errors(change: tuple[str, str], message: str) -> None:
    from rulesd import loader as config_mod
    from rulesd.yaml_loader import ConfigError

    text = CMC_RULES.replace("URL", "ws://127.0.0.1:9").replace("SINK", "stdout")
    with pytest.raises(ConfigError) as info:
        config_mod.loads(text.replace(*change), "rules.yaml", {"CMC_KEY": "k"})
    assert any(str(p).startswith(f"rules.yaml:{message}") for p in info.value.problems), \
        info.value.problems


async def test_a_price_rule_on_coinmarketcap_data_delivers_through_apprise(
    nursery: trio.Nursery, fake_cmc: FakeCoinMarketCap, sink: Any, tmp_path: Path,
) -> None:
    from rulesd import loader as config_mod
    from rulesd.clock import TrioClock
    from rulesd.daemon import Daemon

    rules = tmp_path / "rules.yaml"
    rules.write_text(CMC_RULES.replace("URL", fake_cmc.url).replace("SINK", sink.url()))
    loaded = config_mod.load(rules, env={"CMC_KEY": "good-key"})
    daemon = Daemon.create(loaded, TrioClock())
    shutdown = trio.Event()
    with trio.fail_after(GUARD_S):
        await nursery.start(daemon.run, shutdown)
        await fake_cmc.wait(lambda: len(fake_cmc.live()) == 1
                            and len(fake_cmc.live()[0].units) == 2)
        for cid, price in ((1027, 150_000.0), (1, 99_000.0), (1, 101_234.5)):
            await fake_cmc.push("market@crypto_latest_price", {"crypto_ids": cid},
                                {"cid": cid, "p": price, "p24h": 2.33})
        (message,) = await sink.wait_for(1)
        # A reload drops ETH and adds SOL on the same connection.
        rules.write_text(rules.read_text().replace("[1, 1027]", "[1, 5426]"))
        assert await daemon.reload(config_mod.load(rules, env={"CMC_KEY": "good-key"}))
        connection = fake_cmc.live()[0]
        await fake_cmc.wait(lambda: len(connection.requests) == 3)
        shutdown.set()
    assert message["message"] == "BTC at 101234.5 (2.33% 24h)"
    assert [(r["method"], r["params"]["crypto_ids"]) for r in connection.requests[1:]] == [
        ("unsubscribe", [1027]), ("subscribe", [5426])]
    assert len(fake_cmc.connections) == 1


class HostileCoinMarketCap(FakeCoinMarketCap):
    """Answers a subscribe with hostile replies first, while the request is pending."""

    async def _answer(self, connection: Any, request: dict[str, Any]) -> None:
        if request.get("method") == "subscribe":
            for frame in HOSTILE:
                await connection.ws.send_message(frame)
        await super()._answer(connection, request)


HOSTILE = [
    # The subscribe form echoed in a push's params, an ack whose id is a list, an error
    # whose id is an object: each once ended the whole daemon (TypeError: unhashable).
    '{"type":"data","channel":"market@crypto_latest_price","params":{"crypto_ids":[1]},'
    '"data":{"cid":1,"p":5.0},"ts":1778663880111}',
    '{"type":"ack","id":[1],"code":0,"msg":"ok"}',
    '{"type":"error","id":{"a":1},"status":{"error_code":"2401","error_message":"x"}}',
]


async def test_hostile_ids_and_params_cost_a_fault_not_the_daemon(nursery: trio.Nursery) -> None:
    server = HostileCoinMarketCap()
    await nursery.start(server.serve)
    with trio.fail_after(GUARD_S):
        async with running_source(coinmarketcap.run, config(server.url, [PRICES])) as (
                events, healths, _):
            await server.wait(lambda: any(c.units for c in server.live()))
            await server.push("market@crypto_latest_price", {"crypto_ids": 1},
                              {"cid": 1, "p": 7.0})
            prices = [(await next_of(events, "price")).fields["price"] for _ in range(2)]
    assert prices == [5.0, 7.0]  # the odd push is still a price; the next one flows
    health = healths["coinmarketcap #1"]
    assert health.state == "up" and health.faults["unrouted_push"] == 1

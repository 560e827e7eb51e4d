"""Token Metrics: subscribe shape, ticks per exchange, reload, plan limits, faults."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest
import trio

from rulesd import loader as config_mod
from rulesd.events import series_key
from rulesd.sources import tokenmetrics
from rulesd.sources.health import Malformed
from rulesd.sources.tokenmetrics.config import TokenMetricsConfig
from rulesd.sources.tokenmetrics.parse import message_ticks, tick_event
from rulesd.state import Needs, StateStore
from rulesd.yaml_loader import ConfigError
from tests.fake_vendors import FakeTokenMetrics, tm_tick
from tests.helpers import next_of, running_source

GUARD_S = 10


def tm_config(url: str, tokens: list[str], key: str = "tm-key", plan: str = "basic"
              ) -> TokenMetricsConfig:
    return TokenMetricsConfig(api_key=key, tokens=tuple(tokens), url=url, plan=plan)


@pytest.fixture
async def fake_tm(nursery: trio.Nursery) -> FakeTokenMetrics:
    server = FakeTokenMetrics()
    await nursery.start(server.serve)
    return server


def test_a_tick_is_a_price_event_on_its_exchange() -> None:
    event = tick_event(tm_tick("bitcoin", "gate", 105376.15, 1750779662052), 1.0)
    assert event.kind == "price" and event.source == "tokenmetrics"
    assert event.token is not None
    assert (event.token.key, event.token.symbol, event.token.name, event.token.slug) == (
        "slug:bitcoin", "BTC", "Bitcoin", "bitcoin")
    assert event.fields["venue"] == "gate" and event.fields["price"] == 105376.15
    assert event.ts == 1750779662.052


def test_last_5s_messages_are_ticks_too_oldest_first() -> None:
    earlier = [tm_tick("bitcoin", "gate", 1.0, 1000), tm_tick("bitcoin", "gate", 2.0, 2000)]
    message = orjson.dumps(tm_tick("bitcoin", "gate", 3.0, 3000, last_5s_messages=earlier))
    assert [t["price"] for t in message_ticks(message.decode())] == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(("tick", "fault"), [
    ([1], "wrong_type"),
    ({"price": 1.0}, "missing_field"),
    ({"cg_id": "bitcoin", "price": None, "price_in_usd": None}, "missing_field"),
    ({"cg_id": "bitcoin", "price": "1.0"}, "wrong_type"),
    ({"cg_id": 5, "price": 1.0}, "wrong_type"),
])
def test_malformed_ticks_name_their_fault(tick: Any, fault: str) -> None:
    with pytest.raises(Malformed) as info:
        tick_event(tick, 0)
    assert info.value.kind == fault


def test_interleaved_exchanges_are_separate_series() -> None:
    store = StateStore(needs=Needs(series={"price": 60.0}))
    for exchange, price, ms in (("gate", 100.0, 1000), ("binance", 90.0, 1500),
                                ("gate", 101.0, 2000), ("binance", 91.0, 2500)):
        store.apply(tick_event(tm_tick("bitcoin", exchange, price, ms), 0), 0)
    gate = store.series[(("slug:bitcoin", "tokenmetrics", "gate"), "price")]
    binance = store.series[(("slug:bitcoin", "tokenmetrics", "binance"), "price")]
    assert (list(gate.values), list(binance.values)) == ([100.0, 101.0], [90.0, 91.0])
    event = tick_event(tm_tick("bitcoin", "okx", 1.0, 1), 0)
    assert series_key(event) == ("slug:bitcoin", "tokenmetrics", "okx")


async def test_subscribes_with_the_key_header_and_streams_ticks(
    fake_tm: FakeTokenMetrics,
) -> None:
    with trio.fail_after(GUARD_S):
        async with running_source(tokenmetrics.run,
                                  tm_config(fake_tm.url, ["bitcoin", "ethereum"])) as (
                events, _, _):
            await fake_tm.wait(lambda: len(fake_tm.requests) == 1 and fake_tm.requests[0])
            assert fake_tm.requests[0] == [{"is_append": 0, "tokens": ["bitcoin", "ethereum"]}]
            earlier = [tm_tick("ethereum", "gate", 2999.0, 1000)]
            await fake_tm.push(tm_tick("ethereum", "gate", 3000.0, 2000,
                                       last_5s_messages=earlier))
            await fake_tm.push(tm_tick("ethereum", "gate", 3001.0, 3000,
                                       last_5s_messages=[*earlier,
                                                         tm_tick("ethereum", "gate", 3000.0,
                                                                 2000)]))
            prices = [(await next_of(events, "price")).fields["price"] for _ in range(3)]
    # The repeats inside last_5s_messages are not announced twice.
    assert prices == [2999.0, 3000.0, 3001.0]


async def test_reload_appends_added_tokens_and_replaces_after_a_removal(
    fake_tm: FakeTokenMetrics,
) -> None:
    with trio.fail_after(GUARD_S):
        async with running_source(tokenmetrics.run, tm_config(fake_tm.url, ["bitcoin"])) as (
                _, _, source):
            await fake_tm.wait(lambda: fake_tm.tokens and fake_tm.tokens[0] == {"bitcoin"})
            assert await source.reconfigure(tm_config(fake_tm.url, ["bitcoin", "solana"]))
            await fake_tm.wait(lambda: fake_tm.tokens[0] == {"bitcoin", "solana"})
            assert await source.reconfigure(tm_config(fake_tm.url, ["solana"]))
            await fake_tm.wait(lambda: fake_tm.tokens[0] == {"solana"})
            # Another key needs a new connection: a restart, not a reconfigure.
            assert not await source.reconfigure(tm_config(fake_tm.url, ["solana"], key="k2"))
    assert fake_tm.requests[0] == [
        {"is_append": 0, "tokens": ["bitcoin"]},
        {"is_append": 1, "tokens": ["solana"]},
        {"is_append": 0, "tokens": ["solana"]},
    ]
    assert len(fake_tm.requests) == 1


async def test_resubscribes_after_a_drop(fake_tm: FakeTokenMetrics) -> None:
    with trio.fail_after(GUARD_S):
        async with running_source(tokenmetrics.run, tm_config(fake_tm.url, ["bitcoin"])) as (
                events, healths, _):
            await fake_tm.wait(lambda: bool(fake_tm.tokens and fake_tm.tokens[0]))
            await fake_tm.drop_all()
            await fake_tm.wait(lambda: len(fake_tm.tokens) == 2 and bool(fake_tm.tokens[1]))
            await fake_tm.push(tm_tick("bitcoin", "gate", 5.0, 1))
            assert (await next_of(events, "price")).fields["price"] == 5.0
    assert fake_tm.requests[1] == [{"is_append": 0, "tokens": ["bitcoin"]}]
    assert healths["tokenmetrics #1"].connects == 2


async def test_tokens_beyond_one_connection_use_the_plans_connections(
    fake_tm: FakeTokenMetrics,
) -> None:
    tokens = [f"coin-{i}" for i in range(100)]
    with trio.fail_after(GUARD_S):
        async with running_source(tokenmetrics.run,
                                  tm_config(fake_tm.url, tokens, plan="advanced")):
            await fake_tm.wait(lambda: len(fake_tm.tokens) == 2 and all(fake_tm.tokens))
    assert sorted(len(t) for t in fake_tm.tokens) == [40, 60]


async def test_a_refused_key_is_fatal_and_never_logged(
    fake_tm: FakeTokenMetrics, caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(2000):
        async with running_source(tokenmetrics.run,
                                  tm_config(fake_tm.url, ["bitcoin"], key="bad-tm-sekrit")) as (
                events, healths, _):
            down = await next_of(events, "source_down")
            await trio.sleep(1000)
    assert "API key was refused" in down.fields["reason"]
    assert healths["tokenmetrics #1"].state == "fatal"
    assert fake_tm.handshakes == 2  # at 0 and 900 s
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and not any("bad-tm-sekrit" in m for m in errors)


async def test_malformed_messages_are_counted_and_the_stream_goes_on(
    fake_tm: FakeTokenMetrics,
) -> None:
    with trio.fail_after(GUARD_S):
        async with running_source(tokenmetrics.run, tm_config(fake_tm.url, ["bitcoin"])) as (
                events, healths, _):
            await fake_tm.wait(lambda: bool(fake_tm.tokens and fake_tm.tokens[0]))
            for bad in ("{oops", "[1]", '{"cg_id": "bitcoin", "price": "x"}'):
                await fake_tm.send_raw(bad)
            await fake_tm.push(tm_tick("bitcoin", "gate", 5.0, 1))
            event = await next_of(events, "price")
    assert event.fields["price"] == 5.0
    faults = healths["tokenmetrics #1"].faults
    assert (faults["invalid_json"], faults["wrong_type"]) == (1, 2)


RULES = """\
version: 1
sources:
  tokenmetrics:
    api_key: ${TM_KEY}
    tokens: [bitcoin, ethereum]
notifiers: {console: stdout}
defaults: {notify: [console]}
rules:
  - name: btc
    on: price
    where: {token.symbol: BTC, venue: binance}
"""


@pytest.mark.parametrize(("change", "message"), [
    (("tokens: [bitcoin, ethereum]", f"tokens: [{', '.join(f'c{i}' for i in range(16))}]"),
     "5:13: 16 tokens exceed the basic plan's limit of 1 connection(s) x 15 symbols = 15"),
    (("tokens: [bitcoin, ethereum]", "tokens: [bitcoin, ethereum]\n    plan: gold"),
     "6:11: unknown Token Metrics plan 'gold'"),
    (("tokens: [bitcoin, ethereum]", "tokens: [bitcoin, bitcoin]"),
     "5:23: 'bitcoin' is listed twice"),
    (("api_key: ${TM_KEY}", "api_key: ${TM_KEY_TYPO}"),
     "4:14: environment variable TM_KEY_TYPO is not set"),
])
def test_token_metrics_check_errors(change: tuple[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_mod.loads(RULES.replace(*change), "rules.yaml", {"TM_KEY": "k"})
    assert any(str(p).startswith(f"rules.yaml:{message}") for p in info.value.problems), \
        info.value.problems


def test_a_plan_allows_more_tokens() -> None:
    tokens = ", ".join(f"c{i}" for i in range(60))
    text = RULES.replace("tokens: [bitcoin, ethereum]", f"tokens: [{tokens}]\n    plan: advanced")
    assert config_mod.loads(text, "rules.yaml", {"TM_KEY": "k"}).sources["tokenmetrics"]


def test_a_tick_stamped_years_ahead_is_taken_at_its_receipt() -> None:
    from rulesd.sources.health import SourceHealth
    from rulesd.sources.tokenmetrics.parse import TmParser

    health = SourceHealth("tm")
    stream = TmParser().stream("tokenmetrics #1", health)
    ahead = 1_750_779_662_052 + 10 * 365 * 86_400_000
    (event,) = stream.feed(orjson.dumps(tm_tick("bitcoin", "gate", 1.0, ahead)).decode(),
                           1_750_779_662.0)
    assert event.ts == 1_750_779_662.0 and health.faults["time_ahead"] == 1

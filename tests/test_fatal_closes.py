"""A refused key is a fact about the source: one error line, every connection backs off
long, no storm — whichever point of the handshake and subscription sees the close."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
import trio.testing

from rulesd.sources import coinmarketcap, mobula, tokenmetrics
from rulesd.sources.coinmarketcap.config import CmcSubscription, CoinMarketCapConfig
from rulesd.sources.mobula.config import MobulaConfig
from rulesd.sources.tokenmetrics.config import TokenMetricsConfig
from tests.fake_vendors import FakeCoinMarketCap, FakeMobula, FakeTokenMetrics
from tests.helpers import running_source

FATAL_S = 900.0  # the supervisor's back-off after a refused key
WINDOW_S = FATAL_S - 60  # well inside the back-off: no connection may try again


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def watch(runner: Any, config: Any, seconds: float) -> AsyncIterator[dict[str, Any]]:
    async with running_source(runner, config) as (_, healths, _):
        await trio.sleep(seconds)
        yield healths


@pytest.mark.parametrize("point", ["accept", "subscribe", "ack", "data"])
async def test_coinmarketcap_refused_key_with_three_shards(
    point: str, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = FakeCoinMarketCap(keys={"sekrit-key"})
    server.close_code = 4100
    server.close_at = None if point == "accept" else point
    await nursery.start(server.serve)
    ids = CmcSubscription("market@crypto_latest_price", {"crypto_ids": list(range(1, 251))})
    config = CoinMarketCapConfig(api_key="sekrit-key", url=server.url, subscriptions=(ids,))
    with trio.fail_after(FATAL_S * 3):
        async with running_source(coinmarketcap.SOURCE.run, config) as (_, healths, _):
            await trio.sleep(WINDOW_S)
            in_window = server.handshakes
            await trio.sleep(FATAL_S)
    assert in_window == 3  # one attempt per connection, not a storm
    assert server.handshakes == 6  # and each tries again once the back-off is over
    lines = errors(caplog)
    assert len(lines) == 2, lines  # one line for the source per refusal, not per shard
    assert lines[0].startswith("coinmarketcap: CoinMarketCap closed the connection: API key "
                               "invalid (close code 4100)")
    assert all(h.state == "fatal" for h in healths.values()) and len(healths) == 3
    assert not any("sekrit-key" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("point", ["accept", "subscribe"])
async def test_token_metrics_refused_key_with_two_connections(
    point: str, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = FakeTokenMetrics(keys={"right-key"})
    server.refuse_at = point
    await nursery.start(server.serve)
    config = TokenMetricsConfig(api_key="wrong-key", url=server.url, plan="advanced",
                                tokens=tuple(f"coin-{i}" for i in range(100)))
    with trio.fail_after(FATAL_S * 2):
        async with running_source(tokenmetrics.SOURCE.run, config) as (_, healths, _):
            await trio.sleep(WINDOW_S)
    assert server.handshakes == 2
    (line,) = errors(caplog)
    assert line.startswith("tokenmetrics: Token Metrics closed the connection: the API key "
                           "was refused (close code 1008)")
    assert [h.state for h in healths.values()] == ["fatal", "fatal"]


@pytest.mark.parametrize("point", ["accept", "subscribe"])
async def test_mobula_refused_key(
    point: str, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = FakeMobula(keys={"right-key"})
    server.refuse_at = point
    await nursery.start(server.serve)
    config = MobulaConfig(api_key="wrong-key", url=server.url)
    with trio.fail_after(FATAL_S * 2):
        async with running_source(mobula.SOURCE.run, config) as (_, healths, _):
            await trio.sleep(WINDOW_S)
    assert server.handshakes == 1
    (line,) = errors(caplog)
    assert line.startswith("mobula: ") and ("refused" in line)
    assert healths["mobula"].state == "fatal"

"""Market context end to end, on the virtual clock: DEX Screener's stream (a real
WebSocket server) and its REST API (a real HTTP server) → the daemon → a notifier."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
import trio
import trio.testing

from rulesd import loader
from rulesd.clock import TrioClock
from rulesd.daemon import Daemon
from rulesd.delivery.templates import Rendered
from tests.fake_rest import FakeDexRest, pair
from tests.fakes import FakeDexScreener
from tests.helpers import BOOSTS, boost, snapshot, write_rules

EPOCH = 1_700_000_000.0
HOUR_MS = 3_600_000


@attrs.define
class Recorder:
    """A notifier noting each message with the (virtual) time it was sent."""

    name: str = "rec"
    format: str = "text"
    sent: list[tuple[float, str, str]] = attrs.field(factory=list)

    def describe(self) -> str:
        return "recorder"

    async def send(self, message: Rendered) -> None:
        self.sent.append((trio.current_time(), message.title, message.body))

    def bodies(self, word: str) -> list[str]:
        return [body for _, title, body in self.sent if word in title + body]


GATED = """\
  - name: gated
    on: boost
    where:
      market.liquidity: {gte: 50000}
      market.pair_age: {lt: 24h}
    notify: [rec]
    title: "gated {{ address }}"
    message: >-
      {{ address }} at {{ market.price | usd }}, liquidity {{ market.liquidity | usd }},
      market cap {{ market.market_cap | usd }}, age {{ market.pair_age | duration }},
      fdv {{ market.fdv }}
"""
PLAIN = """\
  - {name: plain, on: boost, notify: [rec], title: "plain {{ address }}"}
"""


def rules(tmp_path: Path, dex: FakeDexScreener, rest: FakeDexRest, body: str,
          market: str = "") -> Path:
    return write_rules(tmp_path, f"""\
version: 1
state: {{path: ":memory:"}}
sources:
  dexscreener:
    url: "{dex.url}"
    streams: [token-boosts/latest]
    market: {{url: "{rest.url}"{market}}}
notifiers: {{rec: stdout}}
rules:
""" + body)


async def run_daemon(nursery: trio.Nursery, path: Path, recorder: Recorder
                     ) -> tuple[Daemon, trio.Event]:
    daemon = Daemon.create(loader.load(path, env={}), TrioClock(EPOCH),
                           {"rec": recorder})  # type: ignore[dict-item]
    shutdown = trio.Event()
    await nursery.start(daemon.run, shutdown)
    return daemon, shutdown


@pytest.fixture
async def rest(nursery: trio.Nursery) -> FakeDexRest:
    server = FakeDexRest()
    await nursery.start(server.serve)
    return server


def tokens(rest: FakeDexRest) -> None:
    created = (EPOCH - 2 * 3600) * 1000  # two hours before the daemon's clock starts
    rest.add("GOOD1", pair("GOOD1", liquidity=81234.5, created_ms=created))
    rest.add("RUG1", pair("RUG1", liquidity=500.0, created_ms=created))
    rest.add("OLD1", pair("OLD1", liquidity=90000.0, created_ms=created - 240 * HOUR_MS))
    rest.add("NOLIQ1", pair("NOLIQ1", liquidity=None, created_ms=created))
    # NOPAIR1 has no pair at all.


async def test_a_rule_gated_on_market_fires_for_the_tokens_that_pass_and_others_wait_not(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, rest: FakeDexRest,
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    tokens(rest)
    rest.delay_s = 2.0  # a slow API: only the gated rule may feel it
    recorder = Recorder()
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("BASE1", 1))]
    daemon, shutdown = await run_daemon(
        nursery, rules(tmp_path, fake_dex, rest, GATED + PLAIN), recorder)
    await fake_dex.wait_connections(BOOSTS, 1)
    await trio.sleep(1)
    pushed = trio.current_time()
    news = ["GOOD1", "RUG1", "OLD1", "NOLIQ1", "NOPAIR1"]
    await fake_dex.push(BOOSTS, snapshot(*(boost(a, 10) for a in news), boost("BASE1", 1)))
    await trio.sleep(30)
    shutdown.set()

    plain = [(t, title) for t, title, _ in recorder.sent if title.startswith("plain")]
    assert sorted(title for _, title in plain) == sorted(f"plain {a}" for a in news)
    # Not delayed by the API: the same virtual instant as the frame.
    assert all(t - pushed < 0.5 for t, _ in plain), plain
    gated = [(t, body) for t, title, body in recorder.sent if title.startswith("gated")]
    assert [body.split()[0] for _, body in gated] == ["GOOD1"]
    t, body = gated[0]
    assert t - pushed >= 2.0
    assert "at $0.002391, liquidity $81,234.5" in body
    assert "market cap $2,391,000" in body and "age 2h" in body
    assert "fdv 2391000" in body
    # One batch for the five tokens, then the one absent from it alone.
    asked = rest.asked()
    assert len(asked[0].rsplit("/", 1)[1].split(",")) == 5
    assert asked[1:] == ["/tokens/v1/solana/NOPAIR1"]
    assert daemon.market is not None
    assert daemon.market.enricher.stats.waited == 5
    assert daemon.healths["dexscreener market"].state == "up"


async def test_unknown_market_data_holds_no_condition_and_shows_as_unknown(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, rest: FakeDexRest,
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    rest.delay_s = 60.0  # far past the timeout
    recorder = Recorder()
    body = GATED + """\
  - name: unknown-ok
    on: boost
    where: {market.liquidity: {exists: false}}
    notify: [rec]
    title: "unknown {{ address }}"
    message: "liquidity {{ market.liquidity | usd }}, price {{ market.price }}"
"""
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("BASE1", 1))]
    daemon, shutdown = await run_daemon(
        nursery, rules(tmp_path, fake_dex, rest, body, ", timeout: 3s"), recorder)
    await fake_dex.wait_connections(BOOSTS, 1)
    await trio.sleep(1)
    pushed = trio.current_time()
    await fake_dex.push(BOOSTS, snapshot(boost("GOOD1", 10), boost("BASE1", 1)))
    await trio.sleep(10)
    shutdown.set()
    assert [b for _, _, b in recorder.sent] == ["liquidity unknown, price unknown"]
    assert 3.0 <= recorder.sent[0][0] - pushed < 4.0  # the timeout, not the API's minute
    assert daemon.market is not None and daemon.market.enricher.stats.timed_out == 1


async def test_a_burst_of_500_tokens_keeps_to_the_budget_and_each_is_evaluated_once(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, rest: FakeDexRest,
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    chains = ["solana", "ethereum", "bsc", "base", "arbitrum"]
    items = []
    for i in range(500):
        chain = chains[i % 5]
        address = f"T{i:03d}pump" if chain == "solana" else f"0x{i:040x}"
        rest.add(address, pair(address, chain=chain, liquidity=100000.0), chain=chain)
        items.append(boost(address, 10, chain=chain))
    recorder = Recorder()
    body = """\
  - name: liquid
    on: boost
    where: {market.liquidity: {gte: 1000}}
    notify: [rec]
    title: "{{ chain }} {{ address }}"
    message: "{{ market.price }}"
"""
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("BASE1", 1))]
    daemon, shutdown = await run_daemon(
        nursery, rules(tmp_path, fake_dex, rest, body, ", rate: 10/min, timeout: 10m"),
        recorder)
    await fake_dex.wait_connections(BOOSTS, 1)
    await trio.sleep(1)
    for start in range(0, 500, 100):  # the vendor's lists are a hundred at most
        await fake_dex.push(BOOSTS, snapshot(*items[start:start + 100]))
    await trio.sleep(600)
    shutdown.set()
    titles = [title for _, title, _ in recorder.sent]
    assert len(titles) == 500 and len(set(titles)) == 500  # every token, none twice
    times = sorted(t for t, _ in rest.requests)
    for i, begin in enumerate(times):
        assert sum(1 for t in times[i:] if t < begin + 60.0) <= 10
    # At most 30 addresses a request: 4 requests for each chain's 100 tokens, a few more
    # where a batch went out before the next snapshot came.
    assert 20 <= len(times) <= 30

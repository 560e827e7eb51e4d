"""Market context end to end, on the virtual clock: DEX Screener's stream (a real
WebSocket server) and its REST API (a real HTTP server) → the daemon → a notifier."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import attrs
import pytest
import trio
import trio.testing

from rulesd import capture, loader
from rulesd.clock import SystemClock, TrioClock
from rulesd.commands.dry_run import replay_file
from rulesd.daemon import Daemon
from rulesd.delivery.templates import Rendered
from rulesd.http import metrics, view
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
    _came: trio.Event = attrs.field(factory=trio.Event)

    def describe(self) -> str:
        return "recorder"

    async def send(self, message: Rendered) -> None:
        self.sent.append((trio.current_time(), message.title, message.body))
        self._came.set()
        self._came = trio.Event()

    async def wait_for(self, count: int) -> None:
        while len(self.sent) < count:
            await self._came.wait()

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
          market: str = "", state: str = ":memory:") -> Path:
    return write_rules(tmp_path, f"""\
version: 1
state: {{path: "{state}"}}
sources:
  dexscreener:
    url: "{dex.url}"
    streams: [token-boosts/latest]
    market: {{url: "{rest.url}"{market}}}
notifiers: {{rec: stdout}}
rules:
""" + body)


async def run_daemon(nursery: trio.Nursery, path: Path, recorder: Recorder,
                     clock: TrioClock | None = None) -> tuple[Daemon, trio.Event]:
    daemon = Daemon.create(loader.load(path, env={}), clock or TrioClock(EPOCH),
                           {"rec": recorder})  # type: ignore[dict-item]
    shutdown = trio.Event()
    await nursery.start(daemon.run, shutdown)
    return daemon, shutdown


async def recorded_run(nursery: trio.Nursery, path: Path, recorder: Recorder,
                       frames: list[str], dex: FakeDexScreener, alerts: int) -> Path:
    """A live daemon (real time) recording beside itself what it receives, as `rulesd
    record` does: each frame pushed (a moment apart), until `alerts` were sent."""
    recording = path.parent / "capture.jsonl"
    with recording.open("w") as file, trio.fail_after(20):
        writer = capture.Writer(file, SystemClock())
        daemon = Daemon.create(loader.load(path, env={}), SystemClock(),
                               {"rec": recorder}, tap=writer.tap)  # type: ignore[dict-item]
        shutdown = trio.Event()
        await nursery.start(daemon.run, shutdown)
        await dex.wait_connections(BOOSTS, 1)
        for frame in frames:
            await dex.push(BOOSTS, frame)
            await trio.sleep(0.5)
        await recorder.wait_for(alerts)
        await trio.sleep(1)  # answers nobody waits on (a 404, a lone re-ask) get in too
        shutdown.set()
    return recording


async def replay(path: Path, recording: Path) -> tuple[list[str], str]:
    """`rulesd dry-run --replay`: the titles it would send, and all it printed."""
    out = io.StringIO()
    assert await trio.to_thread.run_sync(
        replay_file, loader.load(path, env={}), str(recording), None, None, "text", out) == 0
    return re.findall(r"→ rec: (.*)$", out.getvalue(), re.M), out.getvalue()


@pytest.fixture
async def rest(nursery: trio.Nursery) -> FakeDexRest:
    server = FakeDexRest()
    await nursery.start(server.serve)
    return server


def tokens(rest: FakeDexRest, now: float = EPOCH) -> None:
    created = (now - 2 * 3600) * 1000  # two hours before the daemon's clock starts
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
    assert daemon.enrichment is not None
    assert daemon.enrichment.enricher.stats.waited == 5
    assert daemon.healths["dexscreener market"].state == "up"
    # What an operator sees: the status API and /metrics.
    shown = view.status(daemon, {}, [])
    assert shown["ready"] and shown["lookups"]["market"]["requests"] == 2
    assert shown["lookups"]["events"]["waited"] == 5
    assert shown["lookups"]["market"]["timeouts"] == 0
    assert {"name": "dexscreener market", "state": "up"}.items() <= next(
        s for s in shown["sources"] if s["name"] == "dexscreener market").items()
    text = metrics.exposition(daemon, {}, EPOCH).decode()
    assert 'rulesd_lookup_requests_total{service="dexscreener"} 2.0' in text
    # Four waited for one slow answer (2 s), NOPAIR1 for two (batch, then alone).
    assert 'rulesd_lookup_wait_seconds_bucket{le="2.5"} 4.0' in text
    assert 'rulesd_lookup_wait_seconds_bucket{le="5.0"} 5.0' in text


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
    assert daemon.enrichment is not None and daemon.enrichment.market.timed_out == 1


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
    _daemon, shutdown = await run_daemon(
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


WATCHING = """\
  - name: sol-boost
    on: boost
    where: {market.liquidity: {gte: 1000}}
    watch: {for: 10m, every: 30s}
    notify: [rec]
    title: "boost {{ address }}"
  - name: boosted-then-doubled
    on: price
    where: {source: dexscreener, watch.rule: sol-boost, watch.change: {gte: 100}}
    notify: [rec]
    title: "doubled {{ address }}"
    message: "{{ watch.change | number }}% since {{ watch.price }}: now {{ price }}"
"""


@pytest.fixture
def patient_clock() -> trio.testing.MockClock:
    """Virtual time that waits for the state file's thread (SQLite writes) before it
    jumps: a restart must find what the first daemon wrote, as it would in real time."""
    return trio.testing.MockClock(autojump_threshold=0.02)


async def test_a_watched_token_that_doubles_fires_the_follow_up_through_a_restart(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, rest: FakeDexRest,
        tmp_path: Path, patient_clock: trio.testing.MockClock) -> None:
    rest.add("GOOD1", pair("GOOD1", price="0.002"))
    recorder = Recorder()
    clock = TrioClock(EPOCH)  # one wall clock across the restart
    path = rules(tmp_path, fake_dex, rest, WATCHING, state=str(tmp_path / "state.db"))
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("BASE1", 1))]
    daemon, shutdown = await run_daemon(nursery, path, recorder, clock)
    await fake_dex.wait_connections(BOOSTS, 1)
    await trio.sleep(1)
    await fake_dex.push(BOOSTS, snapshot(boost("GOOD1", 10), boost("BASE1", 1)))
    await trio.sleep(95)  # the alert, then three polls at the same price
    assert [title for _, title, _ in recorder.sent] == ["boost GOOD1"]
    polls = len(rest.asked())
    assert polls >= 3
    shutdown.set()
    await trio.sleep(1)

    # Restarted: the watch is state; the price doubles meanwhile.
    rest.pairs[("solana", "GOOD1")] = [pair("GOOD1", price="0.0042")]
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("GOOD1", 10), boost("BASE1", 1))]
    daemon, shutdown = await run_daemon(nursery, path, recorder, clock)
    await trio.sleep(40)
    titles = [title for _, title, _ in recorder.sent]
    assert titles == ["boost GOOD1", "doubled GOOD1"]
    assert recorder.sent[1][2] == "110% since 0.002: now 0.0042"
    # The watch ends ten minutes after the alert: no poll after that.
    await trio.sleep(600)
    asked = len(rest.asked())
    await trio.sleep(300)
    assert len(rest.asked()) == asked
    assert len(daemon.engine.state.watches) == 0
    shutdown.set()


async def test_a_capture_recorded_with_market_data_replays_the_same_alerts_offline(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, rest: FakeDexRest,
        tmp_path: Path) -> None:
    """Live (real time) with the capture tap, then `dry-run --replay` with no API."""
    tokens(rest, time.time())
    rest.add("RICH1", pair("RICH1", liquidity=700000.0, created_ms=(time.time() - 3600) * 1000))
    path = rules(tmp_path, fake_dex, rest, GATED)
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("BASE1", 1))]
    recorder = Recorder()
    recording = await recorded_run(nursery, path, recorder, [
        snapshot(boost("GOOD1", 5), boost("RUG1", 5), boost("BASE1", 1)),
        snapshot(boost("OLD1", 5), boost("RICH1", 5), boost("NOPAIR1", 5), boost("BASE1", 1))],
        fake_dex, 2)
    live = [title for _, title, _ in recorder.sent]
    assert live == ["gated GOOD1", "gated RICH1"]
    answers = [f for f in capture.read(recording)[0] if f.stream.startswith("tokens/v1/")]
    assert len(answers) == 3  # two batches and NOPAIR1 alone
    rest.pairs.clear()  # offline: whatever the replay asks, the API knows nothing now
    asked_live = len(rest.requests)
    replayed, text = await replay(path, recording)
    assert replayed == live
    assert len(rest.requests) == asked_live  # the replay asked nobody
    assert "liquidity $700,000" in text

"""The daemon's engine loop under load: alerts are never held back by a queue that
never drains, and a slow engine slows the vendor's socket without killing it."""

from __future__ import annotations

import math

import attrs
import trio
import trio.testing

from rulesd import loader
from rulesd.clock import TrioClock
from rulesd.daemon import Daemon
from rulesd.delivery.templates import Rendered
from rulesd.events import Event, TokenRef
from rulesd.sources import dexscreener
from rulesd.sources.dexscreener.config import DexScreenerConfig
from tests.fakes import FakeDexScreener
from tests.helpers import boost, running_source, single, snapshot

RULES = """\
version: 1
state: {path: ":memory:"}
sources: {}
notifiers: {c: stdout}
defaults: {notify: [c]}
rules:
  - {name: probe, on: price, where: {symbol: PROBE}}
"""
LOAD = 5000


@attrs.define
class Recorder:
    """A notifier noting how far the engine had got when each alert reached it."""

    daemon: Daemon | None = None
    name: str = "c"
    format: str = "text"
    seen: list[tuple[str, int]] = attrs.field(factory=list)

    def describe(self) -> str:
        return "recorder"

    async def send(self, message: Rendered) -> None:
        assert self.daemon is not None
        self.seen.append((message.title, self.daemon.engine_stats.events))


def price(symbol: str, t: float) -> Event:
    return Event("price", "test", "s", TokenRef(key=f"x:{symbol}", symbol=symbol), t, t,
                 {"price": 1.0})


async def test_an_alert_is_not_held_back_by_a_queue_that_never_drains(
    autojump_clock: trio.testing.MockClock,
) -> None:
    recorder = Recorder()
    finished = trio.Event()

    async def feed(send: trio.MemorySendChannel[Event], *,
                   task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with send:
            task_status.started()
            await send.send(price("PROBE", 0))
            for i in range(LOAD):  # as fast as the engine takes them: the queue stays full
                await send.send(price(f"T{i % 50}", 0))
            finished.set()

    daemon = Daemon.create(loader.loads(RULES, "r.yaml", {}), TrioClock(),
                           {"c": recorder}, state_path=":memory:",  # type: ignore[dict-item]
                           feed=feed)
    recorder.daemon = daemon
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(daemon.run, shutdown)
        await finished.wait()
        await trio.sleep(1)
        shutdown.set()
    ((title, processed),) = recorder.seen
    assert title.startswith("price: PROBE")
    # Committed and sent as soon as the feed yielded, a few events in — not after all
    # 5,000.
    assert processed <= 10, processed
    assert daemon.engine_stats.events == LOAD + 1


async def test_a_slow_engine_is_back_pressure_not_a_dead_connection(
    fake_dex: FakeDexScreener, autojump_clock: trio.testing.MockClock,
) -> None:
    """The engine stalls for many ping intervals while the vendor keeps sending: the
    reader waits (TCP back-pressure), the connection stays, nothing is lost."""
    path = "/token-boosts/latest/v1"
    fake_dex.snapshots[path] = [snapshot(boost("AAA1", 1))]
    config = DexScreenerConfig(url=fake_dex.url, streams=("token-boosts/latest",),
                               ping_interval=1.0)  # type: ignore[arg-type]
    with trio.fail_after(120):
        async with running_source(dexscreener.SOURCE.run, config, queue=1) as (
                events, healths, _):
            await fake_dex.wait_connections(path, 1)
            for i in range(300):  # more than trio-websocket's queue of 64 messages
                await fake_dex.push(path, single(boost(f"B{i:03d}", 1)))
            await trio.sleep(30)  # the engine is stuck: 30 ping intervals
            got = [await events.receive() for _ in range(302)]  # up + snapshot + 300
    addresses = [e.token.address for e in got if e.kind == "boost"]
    assert addresses == ["AAA1", *(f"B{i:03d}" for i in range(300))]
    health = healths["dexscreener token-boosts/latest"]
    assert (health.connects, health.failures) == (1, 0)
    assert fake_dex.connections[path] == 1


async def test_a_reload_that_brings_an_absent_rule_wakes_the_ticker(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With no `for` and no `absent` the ticker sleeps; a reload adding one wakes it."""
    quiet = RULES.replace("  - {name: probe, on: price, where: {symbol: PROBE}}",
                          "  - {name: probe, on: price, where: {symbol: NEVER}}")
    silent = quiet + "  - {name: silent, on: price, where: {absent: {window: 1m}}}\n"
    recorder = Recorder()
    clock = TrioClock()
    go = trio.Event()

    async def feed(send: trio.MemorySendChannel[Event], *,
                   task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with send:
            task_status.started()
            await go.wait()
            await send.send(price("BTC", clock.now()))
            await trio.sleep_forever()

    daemon = Daemon.create(loader.loads(quiet, "r.yaml", {}), clock,
                           {"c": recorder}, state_path=":memory:",  # type: ignore[dict-item]
                           feed=feed)
    recorder.daemon = daemon
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(daemon.run, shutdown)
        await trio.sleep(5)
        assert await daemon.reload(loader.loads(silent, "r.yaml", {}))
        go.set()
        await trio.sleep(90)
        shutdown.set()
    assert [title for title, _ in recorder.seen] == ["Silent: x:BTC"]


@attrs.define
class Timed:
    """A notifier noting when (on the daemon's clock) each alert reached it."""

    clock: TrioClock
    name: str = "c"
    format: str = "text"
    seen: list[tuple[str, float]] = attrs.field(factory=list)

    def describe(self) -> str:
        return "timed"

    async def send(self, message: Rendered) -> None:
        self.seen.append((message.title, self.clock.now()))


async def run_prices(rules: str, script: list[tuple[float, float]], span_s: float
                     ) -> tuple[Daemon, Timed]:
    """The daemon on `rules`, fed BTC prices as `script` says (sleep, then the price),
    for `span_s` of virtual time; what reached the notifier, and when."""
    clock = TrioClock(epoch=0.0)
    timed = Timed(clock)

    async def feed(events: trio.MemorySendChannel[Event], *,
                   task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with events:
            task_status.started()
            for pause, value in script:
                await trio.sleep(pause)
                now = clock.now()
                await events.send(Event("price", "test", "s",
                                        TokenRef(key="x:BTC", symbol="BTC"), now, now,
                                        {"price": value}))
            await trio.sleep_forever()

    daemon = Daemon.create(loader.loads(rules, "r.yaml", {}), clock,
                           {"c": timed}, state_path=":memory:",  # type: ignore[dict-item]
                           feed=feed)
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(daemon.run, shutdown)
        await trio.sleep(span_s)
        shutdown.set()
    return daemon, timed


GAP_RULES = RULES.replace(
    "  - {name: probe, on: price, where: {symbol: PROBE}}",
    "  - {name: high, on: price, where: {price: {gt: 100}}, for: 30s, title: High}\n"
    "  - {name: silent, on: price, where: {absent: {window: 1h, per: token}},"
    " title: Silent}")
WEEK = 7 * 86400


async def test_a_week_without_events_is_a_handful_of_ticks_firing_on_the_same_grid(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Replay time follows the events, not the span (a 7-day gap in a capture once
    took 25 s of ticking every virtual second); what fires fires on the grid tick it
    would have fired on had every tick run."""
    # `high` holds from 2.5 s; last seen at 12.5 s; back after a week, `high` clears.
    daemon, timed = await run_prices(GAP_RULES, [(2.5, 150), (10, 160), (WEEK, 50)],
                                     WEEK + 2 * 3600)
    # for 30 s from 2.5 s: due at 32.5 s, the grid tick at 33 s; absent 1 h after the
    # last event at 12.5 s: the tick at 3613 s; again 1 h after the event a week later.
    back = WEEK + 12.5
    assert timed.seen == [
        ("High", 33.0), ("Silent", 3613.0), ("Silent", float(math.ceil(back + 3600)))]
    assert daemon.ticker is not None
    assert daemon.ticker.ticks <= 10  # not the 600,000 of ticking every second


async def test_repeat_sends_a_firing_alert_again_until_it_clears(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rules = RULES.replace(
        "  - {name: probe, on: price, where: {symbol: PROBE}}",
        "  - {name: high, on: price, where: {price: {gt: 100}}, repeat: 10m, title: High}")
    _, timed = await run_prices(rules, [(2.5, 150), (1500, 50)], 3600)  # clears at 1502.5
    # Sent at once, again 10 min later (the grid tick after 602.5 s), and 10 min after
    # that; nothing after it cleared.
    assert timed.seen == [("High", 2.5), ("High", 603.0), ("High", 1203.0)]

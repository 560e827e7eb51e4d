"""One target's worker on trio's virtual clock: the exact times it sends at under a
rate limit, digests, groups, retries and dead letters."""

from __future__ import annotations

import random
from collections.abc import Sequence

import attrs
import trio
import trio.testing

from rulesd.clock import TrioClock
from rulesd.config import GroupConfig
from rulesd.delivery.answers import DeliveryError
from rulesd.delivery.dispatcher import DeliveryStats, NotifierWorker, WorkerSettings
from rulesd.delivery.pacing import TokenBucket
from rulesd.delivery.platforms import TRAITS, Traits
from rulesd.delivery.templates import Rendered
from rulesd.state.outbox import Delivery


@attrs.define
class Recording:
    """A notifier that notes when each message came, and fails as scripted."""

    name: str = "chat"
    sent: list[tuple[float, Rendered]] = attrs.field(factory=list)
    failures: list[DeliveryError] = attrs.field(factory=list)

    def describe(self) -> str:
        return "recording"

    async def send(self, message: Rendered) -> None:
        now = trio.current_time()
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((now, message))


@attrs.define
class Outbox:
    marks: list[tuple[str, tuple[str, ...], float | None]] = attrs.field(factory=list)

    async def delivered(self, keys: Sequence[tuple[str, str]], at: float) -> None:
        self.marks.append(("delivered", tuple(a for a, _ in keys), at))

    async def failed(self, keys: Sequence[tuple[str, str]], error: str) -> None:
        self.marks.append(("failed", tuple(a for a, _ in keys), None))

    async def dead(self, keys: Sequence[tuple[str, str]], at: float, error: str) -> None:
        self.marks.append(("dead", tuple(a for a, _ in keys), at))


def delivery(n: int, at: float, group: str | None = None, rule: str = "r") -> Delivery:
    return Delivery(f"a{n}", "chat", at, rule, "boost", group, f"Alert {n}",
                    f"body {n}\nhttps://dexscreener.com/solana/T{n}")


def worker(notifier: Recording, rate: float, capacity: float = 0.0,
           traits: Traits = TRAITS["tgram"], groups: dict[str, GroupConfig] | None = None,
           max_age_s: float = 3600.0) -> tuple[NotifierWorker, Outbox]:
    outbox = Outbox()
    settings = WorkerSettings(max_age_s, groups or {}, retry_initial_s=2.0, retry_max_s=300.0)
    return NotifierWorker(notifier, TokenBucket(rate, capacity), traits, outbox,
                          TrioClock(epoch=0.0), DeliveryStats(), settings,
                          rng=random.Random(1)), outbox


async def test_the_rate_limit_spaces_sends_exactly(
        autojump_clock: trio.testing.MockClock) -> None:
    notifier = Recording()
    w, _ = worker(notifier, rate=0.5, capacity=1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(w.run)
        w.submit(delivery(1, 0.0))
        await trio.sleep(0.5)
        w.submit(delivery(2, 0.5))  # the bucket refills one token in 2 s
        await trio.sleep(9.5)
        w.submit(delivery(3, 10.0))  # full again: at once
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert [(t, m.title) for t, m in notifier.sent] == [
        (0.0, "Alert 1"), (2.0, "Alert 2"), (10.0, "Alert 3")]


async def test_a_burst_beyond_the_budget_is_one_digest_keeping_every_link(
        autojump_clock: trio.testing.MockClock) -> None:
    notifier = Recording()
    w, outbox = worker(notifier, rate=0.5, capacity=1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(w.run)
        for n in range(5):
            w.submit(delivery(n, 0.0))
        await trio.sleep(5)
        nursery.cancel_scope.cancel()
    ((t, message),) = notifier.sent
    assert t == 0.0 and message.title.startswith("5 alerts in the last")
    for n in range(5):
        assert f"• Alert {n} https://dexscreener.com/solana/T{n}" in message.body
    assert outbox.marks == [("delivered", ("a0", "a1", "a2", "a3", "a4"), 0.0)]
    assert w.stats.digested["r"] == 5


async def test_a_group_waits_then_keeps_its_interval(
        autojump_clock: trio.testing.MockClock) -> None:
    notifier = Recording()
    spec = GroupConfig(by=("chain",), wait=30.0, interval=300.0)
    w, _ = worker(notifier, rate=10, groups={"r": spec})
    async with trio.open_nursery() as nursery:
        nursery.start_soon(w.run)
        w.submit(delivery(1, 0.0, group="r|solana"))
        await trio.sleep(10)
        w.submit(delivery(2, 10.0, group="r|solana"))
        await trio.sleep(30)
        w.submit(delivery(3, 40.0, group="r|solana"))
        await trio.sleep(400)
        nursery.cancel_scope.cancel()
    assert [(t, m.title) for t, m in notifier.sent] == [
        (30.0, "Alert 1 (+1 more)"), (330.0, "Alert 3")]


async def test_a_rate_limit_waits_exactly_as_asked_and_an_outage_backs_off(
        autojump_clock: trio.testing.MockClock) -> None:
    notifier = Recording(failures=[
        DeliveryError("429", "rate_limited", 429, "Too Many Requests", 7.0),
        DeliveryError("down", "outage", 502),
        DeliveryError("down", "outage", 502),
    ])
    w, outbox = worker(notifier, rate=100)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(w.run)
        w.submit(delivery(1, 0.0))
        await trio.sleep(60)
        nursery.cancel_scope.cancel()
    ((t, _),) = notifier.sent
    # 7 s as asked; then back-off of 1 to 2 s and 2 to 4 s (jittered, seeded)
    assert 7.0 + 1.0 + 2.0 <= t <= 7.0 + 2.0 + 4.0
    assert [m[0] for m in outbox.marks] == ["failed", "failed", "failed", "delivered"]
    assert w.counts == {"failed:rate_limited": 1, "failed:outage": 2, "retries": 3,
                        "sent": 1, "messages": 1}


async def test_a_permanent_refusal_is_dead_at_once_and_the_next_goes(
        autojump_clock: trio.testing.MockClock) -> None:
    notifier = Recording(failures=[DeliveryError("403", "permanent", 403, "bot was blocked")])
    w, outbox = worker(notifier, rate=100)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(w.run)
        w.submit(delivery(1, 0.0))
        w.submit(delivery(2, 0.0))
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert [(t, m.title) for t, m in notifier.sent] == [(0.0, "Alert 2")]
    assert outbox.marks == [("dead", ("a1",), 0.0), ("delivered", ("a2",), 0.0)]
    assert w.stats.refused[403] == 1 and w.stats.dead == 1
    assert w.counts == {"failed:permanent": 1, "dead": 1, "sent": 1, "messages": 1}


async def test_an_outage_past_max_age_dead_letters_what_waited_too_long(
        autojump_clock: trio.testing.MockClock) -> None:
    down = DeliveryError("down", "outage", 503)
    notifier = Recording(failures=[down] * 12)
    w, outbox = worker(notifier, rate=100, max_age_s=60.0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(w.run)
        w.submit(delivery(1, 0.0))
        await trio.sleep(600)
        nursery.cancel_scope.cancel()
    dead = [m for m in outbox.marks if m[0] == "dead"]
    assert len(dead) == 1 and dead[0][1] == ("a1",)
    assert 60.0 < (dead[0][2] or 0) <= 60.0 + 300.0
    assert notifier.sent == [] and w.queue == []


async def test_a_retired_worker_stops_after_its_send_and_leaves_the_rest_pending(
        autojump_clock: trio.testing.MockClock) -> None:
    """A notifier removed by a reload: no send is cut short, nothing more is sent, and
    what it held stays pending in the outbox."""
    notifier = Recording(failures=[DeliveryError("down", "outage", 503)])
    w, outbox = worker(notifier, rate=100)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(w.run)
        w.submit(delivery(1, 0.0))
        await trio.sleep(0.5)  # failed once; waiting to retry
        w.retire()
        await trio.sleep(600)
        assert not nursery.child_tasks  # it returned on its own
    assert notifier.sent == [] and [m[0] for m in outbox.marks] == ["failed"]

"""The engine's side of a term: events in, alerts committed with the state that made
them, then handed to the notifier workers.

An event is evaluated in the task of the source that read it (the engine is pure and
quick: no queue and no task switch per frame); the intake's own task is woken only
when there is something to write — alerts or state changes — or it is time to prune,
and commits as soon as that source yields, so under load what gathered meanwhile goes
in one write and no alert waits behind other frames. Once the sources stop it
commits what is left. A feed (a replay, a test) comes through a queue instead."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Final

import trio

from rulesd.clock import Clock
from rulesd.delivery.service import DeliveryService
from rulesd.events import Event
from rulesd.monitor import EngineStats
from rulesd.rules.alert import Alert
from rulesd.rules.engine import Engine
from rulesd.state import SEEN_RETENTION_S
from rulesd.state.backend import StateDBError
from rulesd.state.outbox import Delivery

# How often the state forgets what is older than it keeps (and the outbox its old rows).
PRUNE_INTERVAL_S: Final = 3600.0
# A feed may run ahead of the engine by this many events.
FEED_QUEUE_SIZE: Final = 1024


class Intake:
    def __init__(self, engine: Engine, delivery: DeliveryService, clock: Clock,
                 stats: EngineStats, on_event: Callable[[], None],
                 wait: Callable[[Event], None] | None = None,
                 watched: Callable[[], None] = lambda: None) -> None:
        self._engine = engine
        self._watched = watched  # a rule with `watch` fired: the watches look again
        # Where events go that some rule sees only with their lookups' answers.
        self._wait = wait
        self._delivery = delivery
        self._clock = clock
        self._stats = stats
        self._on_event = on_event  # the ticker's: what an event starts may come due
        self._alerts: list[Alert] = []
        self._wake = trio.Event()
        self._next_prune = clock.now() + PRUNE_INTERVAL_S
        self._sources_done = False

    async def take(self, event: Event) -> None:
        """One event through state and rules, in the caller's task (a source's `emit`)."""
        now = self._clock.now()
        alerts = self._engine.process(event, now, self._wait)
        self._stats.saw(event, now)
        self._on_event()
        self._took(alerts, now)

    async def looked_up(self, event: Event) -> None:
        """An event back from its lookups: the rules that waited for them see it."""
        now = self._clock.now()
        self._took(self._engine.evaluate(event, now, looked_up=True), now)

    def _took(self, alerts: list[Alert], now: float) -> None:
        if alerts:
            self._alerts.extend(alerts)
            if self._engine.state.watches.dirty:
                self._watched()
        if alerts or self._engine.state.changed or now >= self._next_prune:
            self._wake.set()

    def sources_done(self) -> None:
        """No event comes any more: commit what is left and end."""
        self._sources_done = True
        self._wake.set()

    async def fed(self, feed: Callable[..., Awaitable[None]], *,
                  task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """A feed's events, through a queue it may fill as fast as it likes (a replay
        waits while the engine works; a test floods it)."""
        send, events = trio.open_memory_channel[Event](FEED_QUEUE_SIZE)
        async with events, trio.open_nursery() as nursery:
            await nursery.start(feed, send)
            task_status.started()
            async for event in events:
                self._stats.queue_depth = events.statistics().current_buffer_used
                await self.take(event)

    async def run(self, deliveries: trio.MemorySendChannel[Delivery]) -> None:
        """Commit whenever woken, prune hourly, until the sources are done."""
        async with deliveries:
            while not self._sources_done:
                await self._wake.wait()
                self._wake = trio.Event()
                alerts, self._alerts = self._alerts, []
                await self.commit(alerts, deliveries)
                now = self._clock.now()
                if now >= self._next_prune:
                    self._next_prune = now + PRUNE_INTERVAL_S
                    self._engine.state.prune(now)
                    db = self._delivery.db
                    with contextlib.suppress(StateDBError):  # trimmed at the next prune
                        await self._delivery.call(db.forget_delivered, now - SEEN_RETENTION_S)
            await self.commit(self._alerts, deliveries)

    async def commit(self, alerts: list[Alert],
                     channel: trio.MemorySendChannel[Delivery]) -> None:
        """Alerts into the outbox with the state that made them, then to the workers."""
        deliveries = self._delivery.deliveries(alerts)
        changes = self._engine.state.take_changes()
        if not changes and not deliveries:
            return  # nothing to write: no trip to the database's thread
        self._stats.commits += 1
        for delivery in await self._delivery.writer.commit(changes, deliveries):
            await channel.send(delivery)

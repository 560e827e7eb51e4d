"""The daemon: sources → engine → dispatcher in one nursery, stopped gracefully."""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

import attrs
import trio

from rulesd import logs, monitor, reloading, summary
from rulesd.clock import Clock
from rulesd.control import ops as control
from rulesd.delivery.notifiers import Notifier, notifiers_for
from rulesd.delivery.service import DeliveryService
from rulesd.enrich.recorded import RecordedAnswers
from rulesd.enrich.service import Enrichment, market_config, safety_configs
from rulesd.intake import Intake
from rulesd.leadership import Leadership
from rulesd.loader import LoadedConfig
from rulesd.monitor import ControlActivity, EngineStats
from rulesd.reloading import ReloadResult
from rulesd.rules.alert import Alert
from rulesd.rules.engine import Engine
from rulesd.silencing import SilenceService
from rulesd.sources.health import SourceHealth
from rulesd.sources.runner import SourceRunner
from rulesd.sources.tap import Tap, no_tap
from rulesd.state import StateStore
from rulesd.state.backend import StateBackend, StateDBError
from rulesd.state.backends import open_state
from rulesd.state.outbox import Delivery, OutboxRow
from rulesd.state.thread import DatabaseThread
from rulesd.ticker import Ticker

log = logging.getLogger(__name__)

# Deliveries on their way to the workers (they are in the outbox already).
DELIVERIES_QUEUE_SIZE: Final = 256
# After SIGTERM: how long the engine may take to commit what it evaluated.
SHUTDOWN_GRACE_S: Final = 5.0
DB_CHECK_INTERVAL_S: Final = 60.0
# How often one info line says what the sources and delivery did.
SUMMARY_INTERVAL_S: Final = 600.0
# Notifiers for a notifier's URLs (name, urls → by target name).
MakeNotifiers = Callable[[str, tuple[str, ...]], Mapping[str, Notifier]]


@attrs.define
class Daemon:
    loaded: LoadedConfig
    clock: Clock
    notifiers: Mapping[str, Notifier]
    db: StateBackend
    engine: Engine
    delivery: DeliveryService
    silences: SilenceService
    # On a shared database (PostgreSQL): who leads. None: this daemon always leads.
    leadership: Leadership | None = None
    healths: dict[str, SourceHealth] = attrs.field(factory=dict)
    engine_stats: EngineStats = attrs.field(factory=EngineStats)
    # How often the state file is checked for being deleted, replaced or damaged.
    db_check_interval_s: float = DB_CHECK_INTERVAL_S
    summary_interval_s: float = SUMMARY_INTERVAL_S
    started_at: float = attrs.field(factory=time.time)
    reloads: collections.Counter[str] = attrs.field(factory=collections.Counter)
    resumed: bool = False  # the outbox was read back at start
    # The tasks beside the engine (ticker, checks, summaries) end with it: a fresh
    # scope each term (a leader may lead several times in one process).
    _alongside_scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    # The term's clock of time-driven rules (a reload wakes it; events too).
    ticker: Ticker | None = None
    # Replaces the live sources (dry-run replays, rule tests): started with a send
    # channel of its own, it emits events and returns when it is done.
    feed: Callable[..., Awaitable[None]] | None = None
    # Notifiers for a reloaded file's new or changed URLs (name, urls → by target).
    make_notifiers: MakeNotifiers | None = attrs.field(default=None, kw_only=True)
    # The term's sources (a standby has none), and what sees their raw frames.
    sources: SourceRunner | None = None
    tap: Tap = attrs.field(default=no_tap, kw_only=True)
    # The term's engine side: events in, commits out; its lookups and watches.
    _intake: Intake | None = None
    enrichment: Enrichment | None = None
    # Replaces the REST services (a replay's recorded answers).
    replay: RecordedAnswers | None = attrs.field(default=None, kw_only=True)
    control: ControlActivity = attrs.field(factory=ControlActivity)  # the chat's bot

    @classmethod
    def create(cls, loaded: LoadedConfig, clock: Clock,
               notifiers: Mapping[str, Notifier] | None = None,
               state_path: str | None = None, *,
               feed: Callable[..., Awaitable[None]] | None = None,
               make_notifiers: MakeNotifiers | None = None, tap: Tap = no_tap,
               replay: RecordedAnswers | None = None) -> Daemon:
        """`notifiers` by target (default: Apprise's for the file's URLs), and
        `make_notifiers` for a reloaded file's new URLs (default: the same kind);
        `state_path` instead of the file's; `feed` instead of the live sources; `tap`
        sees every raw frame the sources receive."""
        config = loaded.config
        if notifiers is None:
            notifiers = notifiers_for(config)
        db = open_state(config.state, state_path)
        thread = DatabaseThread(db)
        delivery = DeliveryService.create(config, loaded.rules, db, notifiers, clock,
                                          loaded.secrets, thread=thread)
        leadership = None
        if db.shared:  # a standby until it leads; then it loads the state
            leadership = Leadership(db, config.state.lease)  # type: ignore[arg-type]
            silences = SilenceService(db, thread.call, clock)
            engine = Engine(loaded.rules, StateStore(), silences.live)
        else:
            silences = SilenceService(db, thread.call, clock, db.silences())
            engine = Engine(loaded.rules, db.load(), silences.live)
        return cls(loaded, clock, notifiers, db, engine, delivery, silences,
                   leadership=leadership, feed=feed, make_notifiers=make_notifiers,
                   tap=tap, replay=replay)

    @property
    def role(self) -> str:
        """"leader" (always, on an SQLite file) or "standby"."""
        return self.leadership.role if self.leadership is not None else "leader"

    async def reload_file(self, path: str) -> ReloadResult:
        """Read the rules file again and apply it (SIGHUP, `POST /-/reload`)."""
        loaded = await reloading.read(path)
        if isinstance(loaded, ReloadResult):
            self.reloads["refused"] += 1
            return loaded
        return await self.reload(loaded)

    async def reload(self, loaded: LoadedConfig) -> ReloadResult:
        """Apply a new rules file: rules, sources, notifiers (added, changed, removed),
        delivery settings and groups. A change of `state` or `http` needs a restart:
        only that part is refused, with the reason; the rest applies."""
        loaded, refused = reloading.applicable(self.loaded, loaded)
        # The new file's keys are masked before anything can speak of them.
        logs.learn(loaded.secrets)
        self.delivery.redact.learn(loaded.secrets)
        if self.sources is not None and self.loaded.sources != loaded.sources:
            await self.sources.apply(loaded.sources)
        self.loaded = loaded
        self.engine.reload(loaded.rules)
        await self.delivery.reconfigure(
            loaded.config, loaded.rules,
            self.make_notifiers or (lambda name, _: notifiers_for(loaded.config, name)))
        if self.enrichment is not None:
            self.enrichment.reconfigure(market_config(loaded.sources))
            self.enrichment.follow(self.engine, self.healths)
        if self.ticker is not None:
            self.ticker.reloaded()
        if self.sources is not None:
            await self.sources.follow_rules()
        log.info("reload: %d rules active", len(loaded.rules), extra={"event": "reload"})
        self.reloads["applied"] += 1
        return ReloadResult(True, [], refused)

    async def run(self, shutdown: trio.Event, *,
                  task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until `shutdown` is set; then stop the sources, let the engine commit
        what it evaluated, and return (unsent alerts stay in the outbox). On a shared
        database: stand by, and lead whenever this instance holds the lease."""
        try:
            if self.leadership is None:
                await self._term(shutdown, task_status=task_status)
            else:
                task_status.started()  # a standby serves its endpoint too
                await self.leadership.run(shutdown, self._lead)
        finally:
            self.db.close()

    async def _lead(self, shutdown: trio.Event) -> None:
        """A term as leader: take over the outbox, load what the last leader wrote, then
        run as a daemon on its own file does."""
        assert self.leadership is not None
        try:
            claimed = await self.delivery.call(self.db.claim)
            state = await self.delivery.call(self.db.load)
            silences = await self.delivery.call(self.db.silences)
            rows = await self.delivery.call(self.db.outbox)
        except StateDBError as exc:
            self.leadership.lose(f"cannot load the state: {exc}")
            await trio.sleep_forever()  # cancelled by lose()
        self.silences.hold(silences)
        self.engine = Engine(self.loaded.rules, state, self.silences.live)
        self.delivery = DeliveryService.create(
            self.loaded.config, self.loaded.rules, self.db, self.delivery.notifiers,
            self.clock, self.loaded.secrets, may_send=self.leadership.valid,
            thread=self.delivery.thread, lost=self.leadership.lose)
        log.info("took over %d seen items and %d undelivered alert(s) (%d claimed from an "
                 "earlier term)", sum(len(s) for s in state.seen.values()), len(rows), claimed)
        try:
            await self._term(shutdown, rows)
        finally:  # a standby shows no connections (the next term makes its own)
            self.sources, self.resumed = None, False
            self.healths.clear()

    async def _term(self, shutdown: trio.Event, rows: list[OutboxRow] | None = None, *,
                    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Sources → engine → delivery, the outbox resumed (`rows`: already read),
        until `shutdown`."""
        out_tx, out_rx = trio.open_memory_channel[Delivery](DELIVERIES_QUEUE_SIZE)
        sources_scope = trio.CancelScope()
        self._intake = intake = Intake(self.engine, self.delivery, self.clock,
                                       self.engine_stats, self._event_came,
                                       wait=lambda event: lookups.submit(event),
                                       watched=lambda: lookups.watcher.poke())
        self.enrichment = lookups = Enrichment(
            market_config(self.loaded.sources), safety_configs(self.loaded.lookups),
            self.clock, lambda: self.engine.state,
            lambda kind: self.engine.ruleset.waiting_kinds.get(kind, frozenset()),
            intake.take, intake.looked_up, tap=self.tap, replay=self.replay)
        lookups.follow(self.engine, self.healths)
        resumed = self.delivery.resume(rows)
        self.resumed = True
        if resumed:
            log.info("resuming %d undelivered alert(s) from the outbox", resumed)
        self._alongside_scope = trio.CancelScope()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.delivery.run, out_rx)
            await nursery.start(self._alongside, out_tx.clone())
            nursery.start_soon(self._engine, intake, out_tx)
            await nursery.start(self._sources, sources_scope)
            task_status.started()
            await shutdown.wait()
            if self.feed is None:
                log.info("stopping: closing streams; %s", "the state is in memory only: "
                         "nothing is kept" if self.db.in_memory else
                         "unsent alerts stay in the outbox")
            sources_scope.cancel()
            nursery.cancel_scope.deadline = trio.current_time() + SHUTDOWN_GRACE_S

    async def _alongside(self, deliveries: trio.MemorySendChannel[Delivery], *,
                         task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                         ) -> None:
        """What runs beside the engine, until the engine stops (events still waiting
        for their market data then are dropped, as frames not yet read are)."""
        with self._alongside_scope:
            async with deliveries, trio.open_nursery() as nursery:
                assert self.enrichment is not None
                await nursery.start(self.enrichment.run)
                task_status.started()
                nursery.start_soon(self._tick, deliveries.clone())
                if self.db.shared:
                    nursery.start_soon(self.silences.follow)
                    nursery.start_soon(self.delivery.writer.keep_retrying, deliveries.clone())
                elif not self.db.in_memory:
                    nursery.start_soon(monitor.watch_database, self.db, self.delivery.call,
                                       self.db_check_interval_s)
                if self.feed is None:  # live: the chat's control bot; what it is doing
                    nursery.start_soon(control.serve, self)
                    nursery.start_soon(monitor.summaries, self.summary_interval_s,
                                       self._totals, self._waiting)

    async def _sources(self, scope: trio.CancelScope, *,
                       task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The configured sources, or the feed that replaces them (a replay), until
        `scope` is cancelled or the feed ends; then the engine commits what is left."""
        assert self._intake is not None
        try:
            with scope:
                if self.feed is not None:
                    await self._intake.fed(self.feed, task_status=task_status)
                    return
                self.sources = SourceRunner(self.clock, self.healths,
                                            lambda: self.engine.ruleset.values_in_use,
                                            self._intake.take, self.tap)
                await self.sources.run(self.loaded.sources, task_status=task_status)
        finally:
            self._intake.sources_done()

    def _totals(self) -> summary.Totals:
        return summary.totals(self.healths.values(), self.delivery.workers.values(),
                              self.engine.runtime.counts)

    def _waiting(self) -> int:
        return sum(len(w.queue) for w in self.delivery.workers.values())

    async def _tick(self, deliveries: trio.MemorySendChannel[Delivery]) -> None:
        """Time-driven rules, until the engine stops (which cancels `_alongside_scope`)."""
        async def commit(alerts: list[Alert]) -> None:
            assert self._intake is not None
            await self._intake.commit(alerts, deliveries)

        async with deliveries:
            self.ticker = Ticker(lambda: self.engine, self.clock, commit)
            await self.ticker.run()

    def _event_came(self) -> None:
        if self.ticker is not None:
            self.ticker.event_came()

    async def _engine(self, intake: Intake,
                      deliveries: trio.MemorySendChannel[Delivery]) -> None:
        """The term's commits until the sources stop; then what runs beside it ends."""
        await intake.run(deliveries)
        self._alongside_scope.cancel()

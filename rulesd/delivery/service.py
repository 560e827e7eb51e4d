"""Delivery as the daemon runs it: alerts → outbox rows → one worker per target.

A notifier of several URLs fans out: each URL is a target with its own outbox
rows, pacing, retries and dead letters, so one platform's failure never sends
again to another. Alerts are rendered per target (its platform's format and
length limit) and written to
the outbox in the same transaction as the state that produced them; only then
are they handed to the workers. SQLite runs in a worker thread, one call at a
time, so the trio loop never waits on the disk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import attrs
import trio

from rulesd.clock import Clock
from rulesd.config import Config
from rulesd.delivery import webhook
from rulesd.delivery.dispatcher import DeliveryStats, NotifierWorker, WorkerSettings
from rulesd.delivery.fitting import fit
from rulesd.delivery.mutes import NotifierMutes
from rulesd.delivery.notifiers import Notifier
from rulesd.delivery.pacing import TokenBucket
from rulesd.delivery.platforms import Target, targets_of
from rulesd.delivery.templates import Rendered, render
from rulesd.redact import Redactor
from rulesd.rules.alert import Alert
from rulesd.rules.compile import Rule
from rulesd.state.backend import StateBackend
from rulesd.state.outbox import Delivery, OutboxRow
from rulesd.state.store import Changes
from rulesd.state.thread import DatabaseThread
from rulesd.state.writer import StateWriter

log = logging.getLogger(__name__)
T = TypeVar("T")


@attrs.define
class DeliveryService:
    db: StateBackend
    notifiers: dict[str, Notifier]  # by target name
    workers: dict[str, NotifierWorker]  # by target name
    targets: dict[str, list[Target]]  # by the rules file's notifier name
    stats: DeliveryStats
    redact: Redactor
    clock: Clock = attrs.field(kw_only=True)
    # Whether this instance may send now (a leader whose lease is current).
    may_send: Callable[[], bool] = attrs.field(default=lambda: True, kw_only=True)
    # The database's worker thread (shared with the rest of the daemon).
    thread: DatabaseThread = attrs.field(kw_only=True)
    # Where the engine's commits and the workers' marks are written (one writer).
    writer: StateWriter = attrs.field(kw_only=True)
    _urls: dict[str, str] = attrs.field(factory=dict)  # target → its URL
    _scopes: dict[str, trio.CancelScope] = attrs.field(factory=dict)
    _nursery: trio.Nursery | None = None
    _unknown_reported: set[str] = attrs.field(factory=set)
    # Notifiers' quiet hours: what they hold, and its digest when they end.
    mutes: NotifierMutes = attrs.field(factory=NotifierMutes)

    @classmethod
    def create(cls, config: Config, rules: Sequence[Rule], db: StateBackend,
               notifiers: Mapping[str, Notifier], clock: Clock,
               secrets: Iterable[str] = (),
               may_send: Callable[[], bool] | None = None,
               thread: DatabaseThread | None = None,
               lost: Callable[[str], None] | None = None) -> DeliveryService:
        """A worker per target (URL) of each notifier `notifiers` has (by target name),
        paced at the notifier's `rate` or its platform's; `lost`: the term's lease ended
        (a write said so)."""
        thread = thread or DatabaseThread(db)
        redact = Redactor(secrets)
        service = cls(db, dict(notifiers), {}, {}, DeliveryStats(), redact, clock=clock,
                      thread=thread, writer=StateWriter(thread, redact, lost))
        if may_send is not None:
            service.may_send = may_send
        service._configure(config, rules, None)
        return service

    def _configure(self, config: Config, rules: Sequence[Rule],
                   make: Callable[[str, tuple[str, ...]], Mapping[str, Notifier]] | None
                   ) -> tuple[list[str], list[str]]:
        """Workers for `config`'s notifiers: a target whose URL and rate did not change
        keeps its worker (and its queue); settings and groups apply to every worker.
        Returns the targets (added, removed)."""
        self.mutes.configure(config)
        groups = {r.name: r.group for r in rules if r.group is not None}
        settings = WorkerSettings(config.delivery.max_age, groups,
                                  config.delivery.retry_initial, config.delivery.retry_max)
        targets: dict[str, list[Target]] = {}
        keep: dict[str, NotifierWorker] = {}
        added: list[str] = []
        for name, spec in config.notifiers.items():
            for target in targets_of(name, spec.urls):
                rate = spec.rate or target.traits.rate
                worker = self.workers.get(target.name)
                changed = worker is not None and (
                    self._urls.get(target.name) != target.url or worker.bucket.rate != rate)
                if worker is None or changed:
                    notifier = self.notifiers.get(target.name) if worker is None else None
                    if notifier is None and make is not None:
                        notifier = make(name, spec.urls).get(target.name)
                    if notifier is None:
                        continue
                    self.notifiers[target.name] = notifier
                if worker is None:
                    worker = NotifierWorker(
                        self.notifiers[target.name], TokenBucket(rate), target.traits,
                        self.writer, self.clock, self.stats, settings,
                        may_send=self.may_send)
                    added.append(target.name)
                elif changed:  # in place: a send in flight finishes and is recorded
                    worker.notifier = self.notifiers[target.name]
                    worker.bucket = TokenBucket(rate)
                    worker.traits = target.traits
                keep[target.name] = worker
                self._urls[target.name] = target.url
                targets.setdefault(name, []).append(target)
        for worker in keep.values():
            worker.settings = settings
        removed = [name for name in self.workers if name not in keep]
        self.workers, self.targets = keep, targets
        return added, removed

    async def reconfigure(self, config: Config, rules: Sequence[Rule],
                          make: Callable[[str, tuple[str, ...]], Mapping[str, Notifier]]
                          ) -> None:
        """Apply a reloaded file's notifiers, delivery settings and groups. A removed
        target's pending alerts stay in the outbox (`rulesd outbox` lists them)."""
        retired = {name: self.workers[name] for name in self.workers}
        added, removed = self._configure(config, rules, make)
        for name in removed:
            retired[name].retire()  # after the send in flight, if any: never cut short
            self._scopes.pop(name, None)
            self.notifiers.pop(name, None)
        if self._nursery is not None:
            for name in added:
                self._start(name)
        if added or removed:
            log.info("reload: notifiers %s", ", ".join(
                [f"+{n}" for n in added] + [f"-{n}" for n in removed]))

    def _start(self, name: str) -> None:
        assert self._nursery is not None
        scope = self._scopes[name] = trio.CancelScope()
        worker = self.workers[name]

        async def run() -> None:
            with scope:
                await worker.run()

        self._nursery.start_soon(run)

    def _template_failed(self, rule: str, error: str) -> None:
        failures = self.stats.template_failures
        failures[rule] += 1
        if failures[rule] == 1:
            log.error("rule %s: template failed (%s); sending the default message "
                      "(further failures of this rule are counted, not logged)", rule, error,
                      extra={"event": "template_failed", "rule": rule})

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """A state-backend method in the database's worker thread."""
        return await self.thread.call(fn, *args)

    def deliveries(self, alerts: Iterable[Alert]) -> list[Delivery]:
        """Each alert rendered for each target of its notifiers, fitted to the target's
        platform: one outbox row per alert and URL."""
        out = []
        for alert in alerts:
            for name in alert.notify:
                for target in self.targets.get(name, ()):
                    rendered = render(alert, target.traits.format)
                    if rendered.error is not None:
                        self._template_failed(alert.rule, rendered.error)
                    message = fit(rendered, target.traits)
                    if target.traits.structured:  # the alert as JSON, its text inside
                        message = Rendered(message.title, webhook.payload(alert, message))
                    # A vendor may echo a key in its text (an error reason): never send it.
                    title = self.redact(message.title)
                    held = alert.silenced
                    if held is None:
                        muted = self.mutes.muted(name, target.name, title, alert.fired_at)
                        held = None if muted is None else f"muted:{muted}"
                    out.append(Delivery(alert.id, target.name, alert.fired_at, alert.rule,
                                        alert.kind, alert.group, title,
                                        self.redact(message.body), silenced=held))
        return out

    async def _digests(self, scope: trio.CancelScope) -> None:
        """Each second a notifier's mute holds something: when it ends, its digest goes
        into the outbox and to the target's worker (until the engine stops)."""
        with scope:
            while True:
                await self.mutes.wait_holding()
                await trio.sleep(1.0)
                await self._send_digests()

    async def _send_digests(self) -> None:
        notifier_of = {t.name: name for name, ts in self.targets.items() for t in ts}
        digests = self.mutes.ended(notifier_of, self.clock.now())
        if digests:
            for delivery in await self.writer.commit(Changes([], [], [], []), digests):
                worker = self.workers.get(delivery.notifier)
                if worker is not None:
                    worker.submit(delivery)

    def resume(self, rows: list[OutboxRow] | None = None) -> int:
        """Queue what the outbox still holds from before a restart or crash (`rows`:
        already read, in a worker thread)."""
        rows = self.db.outbox() if rows is None else rows
        for row in rows:
            worker = self.workers.get(row.delivery.notifier)
            if worker is not None:
                worker.submit(row.delivery)
            elif row.delivery.notifier not in self._unknown_reported:
                self._unknown_reported.add(row.delivery.notifier)
                log.warning("the outbox holds alerts for notifier %r, which the rules file "
                            "no longer names; they stay in the outbox", row.delivery.notifier)
        return len(rows)

    async def run(self, deliveries: trio.MemoryReceiveChannel[Delivery]) -> None:
        """Hand deliveries to their target's worker until the channel closes."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for name in self.workers:
                self._start(name)
            digests = trio.CancelScope()
            nursery.start_soon(self._digests, digests)
            async with deliveries:
                async for delivery in deliveries:
                    worker = self.workers.get(delivery.notifier)
                    if worker is not None:
                        worker.submit(delivery)
            # The engine stopped: send what the workers hold, within the daemon's grace.
            digests.cancel()
            for worker in self.workers.values():
                worker.drain()
        self._nursery = None

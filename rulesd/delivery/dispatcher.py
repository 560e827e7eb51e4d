"""The dispatcher: one ordered worker per notifier, over the durable outbox.

A worker sends one target's (one URL's) alerts in order, paced by a token bucket. When alerts come
faster than the budget allows, what is queued goes out as one digest; a
rule's `group` batches its alerts per group (`wait` before the first message,
`interval` between the next). A failed send is retried, with back-off or the
platform's requested wait, and nothing behind it overtakes it; alerts still
undelivered after `max_age` are dead-lettered (kept in the outbox, counted,
logged once per batch). A message the platform refuses for good (a bad token,
a chat that is gone; a malformed message after one shorter try) is
dead-lettered at once with the platform's reason, and the next goes on. The
outbox is written by `OutboxWriter`, in a worker thread: the trio loop never
waits on SQLite.
"""

from __future__ import annotations

import collections
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Final, Protocol

import attrs
import trio

from rulesd.clock import Clock
from rulesd.config import GroupConfig
from rulesd.delivery.answers import DeliveryError
from rulesd.delivery.fitting import digest, fit, group_message
from rulesd.delivery.notifiers import Notifier
from rulesd.delivery.pacing import TokenBucket
from rulesd.delivery.platforms import Traits
from rulesd.delivery.templates import Rendered
from rulesd.histogram import Histogram
from rulesd.state.outbox import Delivery

log = logging.getLogger(__name__)

# What a user can do about a refusal, by HTTP status.
_HINTS: Final = {
    401: ": the token in the URL is not valid",
    403: ": the bot or webhook may not post there (blocked, removed, or no rights)",
    404: ": the chat, channel or webhook does not exist (any more)",
}
RETRY_BASE_DELAY_S: Final = 2.0
RETRY_MAX_DELAY_S: Final = 300.0


class OutboxWriter(Protocol):
    async def delivered(self, keys: Sequence[tuple[str, str]], at: float) -> None: ...
    async def failed(self, keys: Sequence[tuple[str, str]], error: str) -> None: ...
    async def dead(self, keys: Sequence[tuple[str, str]], at: float, error: str) -> None: ...


@attrs.define
class DeliveryStats:
    sent: int = 0  # alerts delivered (a digest of 5 counts 5)
    messages: int = 0  # messages the platforms accepted
    failed: int = 0  # failed send attempts
    dead: int = 0  # alerts dead-lettered
    # Alerts per rule that went out folded into a digest.
    digested: collections.Counter[str] = attrs.field(factory=collections.Counter)
    # Renders per rule whose template failed (the default text went instead).
    template_failures: collections.Counter[str] = attrs.field(factory=collections.Counter)
    # Messages a platform refused for good, by HTTP status.
    refused: collections.Counter[int] = attrs.field(factory=collections.Counter)
    # From the alert to the platform's acceptance; one send's duration.
    latency: Histogram = attrs.field(factory=Histogram)
    send_duration: Histogram = attrs.field(factory=Histogram)


@attrs.frozen
class WorkerSettings:
    """What the rules file says of every worker: a reload replaces it in one assignment."""

    max_age_s: float = 3600.0  # an alert older than this is dead-lettered, not sent
    groups: Mapping[str, GroupConfig] = attrs.field(factory=dict)  # by rule
    retry_initial_s: float = RETRY_BASE_DELAY_S
    retry_max_s: float = RETRY_MAX_DELAY_S


@attrs.define
class NotifierWorker:
    """Sends one notifier's alerts, in order, within its rate."""

    notifier: Notifier
    bucket: TokenBucket
    traits: Traits
    outbox: OutboxWriter
    clock: Clock
    stats: DeliveryStats
    settings: WorkerSettings
    # False when this instance may not send (a leader past its lease): nothing goes.
    may_send: Callable[[], bool] = attrs.field(default=lambda: True, kw_only=True)
    rng: random.Random = attrs.field(factory=random.Random)
    queue: list[Delivery] = attrs.field(factory=list)
    # This target's own: "sent", "messages", "dead", "retries", "failed:<kind>"
    # (rate_limited, outage, malformed, permanent) — for /metrics.
    counts: collections.Counter[str] = attrs.field(factory=collections.Counter)
    _wake: trio.Event = attrs.field(factory=trio.Event)
    _retired: bool = False
    _draining: bool = False
    _pause: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    _group_sent: dict[str, float] = attrs.field(factory=dict)
    _failures: int = 0

    def retire(self) -> None:
        """Stop after the send in flight (a removed notifier): what it holds stays in the
        outbox, pending."""
        self._retired = True
        self._wake.set()
        self._pause.cancel()

    def drain(self) -> None:
        """Shutting down: send what is queued now (groups without their wait), then
        stop. The daemon's grace period bounds it; the rest stays in the outbox."""
        self._draining = True
        self._wake.set()

    def submit(self, delivery: Delivery) -> None:
        self.queue.append(delivery)
        self._wake.set()

    def _ready_times(self) -> dict[Delivery, float]:
        """When each queued delivery may go: at once, or for a group (as Alertmanager
        does) `wait` after the group's first alert, `interval` after its last message."""
        first: dict[str, float] = {}
        for d in self.queue:
            if d.group is not None:
                first.setdefault(d.group, d.created)
        ready = {}
        for d in self.queue:
            spec = self.settings.groups.get(d.rule) if d.group is not None else None
            if spec is None or d.group is None:
                ready[d] = d.created
                continue
            last = self._group_sent.get(d.group)
            ready[d] = max(first[d.group] + spec.wait,
                           last + spec.interval if last is not None else 0.0)
        return ready

    def _next_ready(self) -> float | None:
        return min(self._ready_times().values(), default=None)

    def _paused(self) -> trio.CancelScope:
        """A wait that retiring the worker cuts short."""
        self._pause = trio.CancelScope()
        if self._retired:
            self._pause.cancel()
        return self._pause

    async def _wait_ready(self) -> None:
        while not self._retired:
            if self._draining:
                self._retired = not self.queue
                return
            ready = self._next_ready()
            now = self.clock.now()
            if ready is not None and ready <= now:
                return
            self._wake = trio.Event()
            with trio.move_on_after(ready - now if ready is not None else 3600.0):
                await self._wake.wait()

    def _choose(self) -> tuple[Rendered, list[Delivery]]:
        """The next message: a group, a digest of what queued up, or one alert."""
        now = self.clock.now()
        ready = self._ready_times()
        due = [d for d in self.queue if ready[d] <= now or self._draining]
        head = due[0]
        if head.group is not None:
            members = [d for d in due if d.group == head.group]
            message, taken = group_message(members, self.traits)
            return message, members[:taken]
        single = [d for d in due if d.group is None]
        if len(single) > 1 and self.bucket.available() < len(single) - 1:
            window = max(1.0, now - single[0].created)
            message, taken = digest(single, window, self.traits)
            self.stats.digested.update(d.rule for d in single[:taken])
            return message, single[:taken]
        return fit(Rendered(head.title, head.body, alert_id=head.alert_id), self.traits), [head]

    async def run(self) -> None:
        while not self._retired:
            await self._wait_ready()
            if self._retired:
                return
            with self._paused():
                await self.bucket.take()
            if self._retired:
                return
            if not self.may_send():  # the term is ending: its cancellation comes next
                await trio.sleep_forever()
            message, batch = self._choose()
            began = trio.current_time()
            failure: DeliveryError | None = None
            try:
                await self._send(message)
            except DeliveryError as exc:
                failure = exc
            self.stats.send_duration.observe(trio.current_time() - began)
            if failure is None:
                await self._done(batch)
            elif failure.kind in ("permanent", "malformed"):
                await self._refused(batch, failure)
            elif self._draining:  # shutting down: no retries; it stays in the outbox
                self.stats.failed += 1
                self.counts[f"failed:{failure.kind}"] += 1
                await self.outbox.failed([d.key for d in batch], str(failure))
                self._retired = True
            else:
                await self._failed(batch, failure)

    async def _send(self, message: Rendered) -> None:
        """Send; a message the platform refuses as malformed goes once more, cut to
        three quarters of the limit (a platform may count what it takes differently)."""
        try:
            await self.notifier.send(message)
        except DeliveryError as exc:
            if exc.kind != "malformed":
                raise
            log.warning("%s; sending it once more, cut shorter", exc)
            limit = self.traits.limit or len(message.title) + len(message.body) + 2
            shorter = attrs.evolve(self.traits, limit=max(200, limit * 3 // 4))
            await self.notifier.send(fit(message, shorter))

    async def _done(self, batch: list[Delivery]) -> None:
        now = self.clock.now()
        # Shielded: once the platform took the message, recording it must not be
        # cut short by a shutdown, or the alert would be sent again after a restart.
        with trio.CancelScope(shield=True):
            await self.outbox.delivered([d.key for d in batch], now)
        sent = {d.key for d in batch}
        self.queue = [d for d in self.queue if d.key not in sent]
        if batch[0].group is not None:
            self._group_sent[batch[0].group] = now
        self.stats.sent += len(batch)
        self.stats.messages += 1
        self.counts["sent"] += len(batch)
        self.counts["messages"] += 1
        for d in batch:
            self.stats.latency.observe(max(0.0, now - d.created))
        self._failures = 0

    async def _refused(self, batch: list[Delivery], error: DeliveryError) -> None:
        """The platform will never take this message: dead-letter it now, with its
        reason, and go on with the next (nothing waits behind a dead letter)."""
        self.stats.failed += 1
        self.stats.refused[error.status or 0] += 1
        self.counts[f"failed:{error.kind}"] += 1
        self.counts["dead"] += len(batch)
        now = self.clock.now()
        await self.outbox.dead([d.key for d in batch], now, str(error))
        sent = {d.key for d in batch}
        self.queue = [d for d in self.queue if d.key not in sent]
        self.stats.dead += len(batch)
        log.error("%s; %d alert(s) dead-lettered at once (see `rulesd outbox`)%s",
                  error, len(batch), _HINTS.get(error.status or 0, ""),
                  extra={"event": "dead_letter", "notifier": self.notifier.name,
                         "alert_id": batch[0].alert_id})

    async def _failed(self, batch: list[Delivery], error: DeliveryError) -> None:
        self.stats.failed += 1
        self.counts[f"failed:{error.kind}"] += 1
        self.counts["retries"] += 1
        if error.retry_after_s is None:  # a wait the platform asked for is no outage
            self._failures += 1
        await self.outbox.failed([d.key for d in batch], str(error))
        now = self.clock.now()
        expired = [d for d in self.queue if now - d.created > self.settings.max_age_s]
        if expired:
            await self.outbox.dead([d.key for d in expired], now, str(error))
            gone = {d.key for d in expired}
            self.queue = [d for d in self.queue if d.key not in gone]
            self.stats.dead += len(expired)
            self.counts["dead"] += len(expired)
            log.error("%s: %d alert(s) undelivered after %gs are dead-lettered (see "
                      "`rulesd outbox`): %s", self.notifier.name, len(expired),
                      self.settings.max_age_s, error,
                      extra={"event": "dead_letter", "notifier": self.notifier.name,
                             "alert_id": expired[0].alert_id})
        if error.retry_after_s is not None:
            delay = error.retry_after_s
        else:
            settings = self.settings
            ceiling = min(settings.retry_max_s,
                          settings.retry_initial_s * 2 ** (self._failures - 1))
            delay = self.rng.uniform(ceiling / 2, ceiling)
        log.warning("%s; retrying in %.1fs (%d alert(s) waiting)", error, delay,
                    len(self.queue), extra={"event": "send_failed",
                                            "notifier": self.notifier.name,
                                            "alert_id": batch[0].alert_id})
        with self._paused():
            await trio.sleep(delay)

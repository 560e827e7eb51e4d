"""Leadership among instances sharing one PostgreSQL: one leads, the others stand by.

A standby tries to take the lease every second (the database says when it has
expired). The leader renews it every second; each renewal that succeeds lets it
lead until half a lease after the renewal *began* (its own monotonic clock), so
when renewals fail — the database is gone, or this process was frozen — it stops
its sources and its sends (the term's cancel scope) while the lease still has
half its length to run: two leaders never send at once. Sends check `valid()`
just before they go, which covers a process that wakes from SIGSTOP before its
keeper does. A graceful stop ends the lease at once, so a standby takes over
within a second.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol, TypeVar

import attrs
import trio

from rulesd.state.backend import StateDBError

log = logging.getLogger(__name__)
T = TypeVar("T")

RENEW_EVERY_S: Final = 1.0
# A standby that cannot reach the database tries again after 1, 2, 4 ... 30 s.
RETRY_MAX_S: Final = 30.0


class LeaseStore(Protocol):
    where: str

    def acquire(self, lease_s: float) -> int | None: ...
    def renew(self, lease_s: float) -> bool: ...
    def release(self) -> None: ...


@attrs.define
class Leadership:
    store: LeaseStore
    lease_s: float
    renew_s: float = RENEW_EVERY_S
    role: str = "standby"
    epoch: int | None = None  # the term this instance leads (or last led)
    reachable: bool = False  # the last call reached the database
    problem: str | None = None  # why not, when not
    terms: int = 0  # terms led since start
    valid_until: float = -math.inf  # trio's clock
    _term: trio.CancelScope | None = None

    def valid(self) -> bool:
        """This instance may send now."""
        return self.role == "leader" and trio.current_time() < self.valid_until

    def lose(self, why: str) -> None:
        """Stop leading at once: sources and sends stop (the term is cancelled)."""
        if self.role != "leader":
            return
        log.error("stepping down (term %s): %s; sources and sends stop now, and this "
                  "instance stands by", self.epoch, why, extra={"event": "step_down"})
        self.valid_until = -math.inf
        self.role = "standby"
        if self._term is not None:
            self._term.cancel()

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        # Abandoned on cancel: a call stuck on a dead server never holds up a stop.
        return await trio.to_thread.run_sync(functools.partial(fn, *args),
                                             abandon_on_cancel=True)

    def _unreachable(self, exc: StateDBError, delay: float) -> None:
        self.reachable, self.problem = False, str(exc)
        log.error("%s; standing by (never leading without the database), trying again in "
                  "%gs", exc, delay, extra={"event": "state_unreachable"})

    async def run(self, shutdown: trio.Event,
                  lead: Callable[[trio.Event], Awaitable[None]]) -> None:
        """Stand by until the lease is ours, `lead` until `shutdown` (then end the lease)
        or until the lease is lost (then stand by again)."""
        delay = self.renew_s
        while not shutdown.is_set():
            began = trio.current_time()
            try:
                epoch = await self._call(self.store.acquire, self.lease_s)
            except StateDBError as exc:
                self._unreachable(exc, delay)
                with trio.move_on_after(delay):
                    await shutdown.wait()
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            if not self.reachable:
                log.info("state database %s reached", self.store.where)
            self.reachable, self.problem, delay = True, None, self.renew_s
            if epoch is None:  # another instance leads
                with trio.move_on_after(self.renew_s):
                    await shutdown.wait()
                continue
            if await self._lead(epoch, began, shutdown, lead):
                return

    async def _lead(self, epoch: int, began: float, shutdown: trio.Event,
                    lead: Callable[[trio.Event], Awaitable[None]]) -> bool:
        """One term; True when it ended with a graceful stop."""
        self.role, self.epoch, self.terms = "leader", epoch, self.terms + 1
        self.valid_until = began + self.lease_s / 2
        log.info("leading (term %d) on %s", epoch, self.store.where,
                 extra={"event": "leader"})
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._keep)
            with trio.CancelScope() as self._term:
                await lead(shutdown)
            nursery.cancel_scope.cancel()
        self._term = None
        if self.role != "leader":  # lost: lead() was cancelled
            return False
        self.role, self.valid_until = "standby", -math.inf
        try:  # a standby takes over at its next try instead of after the lease
            with trio.move_on_after(self.renew_s):
                await self._call(self.store.release)
        except StateDBError as exc:
            log.warning("could not end the lease at once (%s): a standby takes over when "
                        "it expires", exc)
        return True

    async def _keep(self) -> None:
        """Renew every `renew_s`; step down when a renewal has not succeeded within half
        the lease, or the lease names another instance."""
        while True:
            await trio.sleep(self.renew_s)
            renewed: bool | None = None
            with trio.move_on_at(self.valid_until):
                while renewed is None:
                    began = trio.current_time()
                    try:
                        renewed = await self._call(self.store.renew, self.lease_s)
                    except StateDBError as exc:
                        if self.reachable:
                            log.warning("%s; leading for %.1fs more unless a renewal of the "
                                        "lease succeeds", exc,
                                        self.valid_until - trio.current_time())
                        self.reachable, self.problem = False, str(exc)
                        await trio.sleep(self.renew_s / 4)
            if renewed is None:
                why = self.problem or "no answer in time: was this process stopped, or " \
                    "starved of CPU?"
                self.lose(f"no renewal of the lease succeeded for {self.lease_s / 2:g}s "
                          f"({why}); another instance may take it over when it expires")
                return
            if not renewed:
                self.lose("another instance holds the lease")
                return
            if not self.reachable:
                log.info("state database %s reached again; still leading", self.store.where)
            self.reachable, self.problem = True, None
            self.valid_until = began + self.lease_s / 2

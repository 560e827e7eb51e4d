"""The one reconnect loop every source runs under.

A session connects, subscribes, awaits `connected()` and reads until it fails
(raise) or asks for a fresh connection (return). `source_up` is reported on
the first connection and on each recovery; `source_down` once per outage, when
a connection attempt fails (a dropped connection that comes straight back is
not an outage). The supervisor reconnects
with exponential back-off and full jitter, capped, reset after a stable
period; fatal errors (a refused key) get one clear log line and a long
back-off. It never lets an expected connection error crash the daemon, and
never hides a bug: an exception it does not expect is logged with its traceback on
`rulesd.bug` and counted, and the source restarts with back-off while the rest of
the daemon goes on; cancellation and interrupts propagate.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

import attrs
import trio
import trio_websocket

from rulesd.clock import Clock
from rulesd.durations import format_duration
from rulesd.events import Event
from rulesd.sources.health import SourceHealth

log = logging.getLogger("rulesd.sources")

RECONNECT_BASE_DELAY_S: Final = 1.0
RECONNECT_MAX_DELAY_S: Final = 60.0
STABLE_AFTER_S: Final = 60.0
FATAL_RETRY_DELAY_S: Final = 900.0
LIMITED_RETRY_DELAY_S: Final = 300.0
# While a connection stays down, its retries log at debug level and a warning says
# every so often that it is still down (an offline host: 2 lines an hour, not 30 a minute).
STILL_DOWN_LOG_S: Final = 600.0


class FatalSourceError(Exception):
    """Retrying soon cannot help (bad key, plan limit): back off for long."""


class SourceLimited(Exception):
    """The vendor refuses more connections (a connection limit): back off longer."""


class DeadConnection(Exception):
    """The peer stopped answering keepalives."""


EXPECTED_ERRORS: Final = (
    OSError,
    trio.TooSlowError,
    trio.BrokenResourceError,
    trio_websocket.HandshakeError,
    trio_websocket.ConnectionClosed,
    DeadConnection,
)


@attrs.frozen
class Backoff:
    base_s: float = RECONNECT_BASE_DELAY_S
    max_s: float = RECONNECT_MAX_DELAY_S
    stable_s: float = STABLE_AFTER_S
    fatal_s: float = FATAL_RETRY_DELAY_S
    limited_s: float = LIMITED_RETRY_DELAY_S

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform over [0, min(max, base * 2^attempt)]."""
        return rng.uniform(0.0, min(self.max_s, self.base_s * 2.0**attempt))


Session = Callable[[Callable[[], Awaitable[None]]], Awaitable[None]]
StatusSink = Callable[[str, str], Awaitable[None]]  # (kind, reason)
Emit = Callable[[Event], Awaitable[None]]


@attrs.frozen
class Connection:
    """One connection a source keeps: the stream it serves, its session, its health."""

    stream: str
    session: Session
    health: SourceHealth


# A vendor's close codes: code → ("fatal" | "limited", what the vendor means by it).
Closes = Mapping[int, tuple[str, str]]


@attrs.define
class SourceGate:
    """What all connections of one source share: a refused key or a connection limit
    is a fact about the source, so every connection backs off until `until`, and the
    source logs it once."""

    name: str
    until: float = -math.inf

    def closed(self, now: float) -> bool:
        return now < self.until


def describe(exc: BaseException) -> str:
    """A short reason for a log line or a source_down event (never a URL or key)."""
    if isinstance(exc, trio_websocket.ConnectionRejected):
        return f"handshake refused with HTTP {exc.status_code}"
    if isinstance(exc, trio_websocket.ConnectionClosed):
        reason = exc.reason
        if reason is None:
            return "connection closed"
        detail = f": {reason.reason}" if reason.reason else ""
        return f"connection closed (code {reason.code}{detail})"
    if isinstance(exc, trio_websocket.ConnectionTimeout | trio.TooSlowError):
        return "connect timed out"
    if isinstance(exc, trio_websocket.HandshakeError) and exc.__cause__ is not None:
        return describe(exc.__cause__)
    if isinstance(exc, OSError):
        return f"network error: {exc.strerror or exc or type(exc).__name__}"
    return str(exc) or type(exc).__name__


_HANDLED: Final = (*EXPECTED_ERRORS, FatalSourceError, SourceLimited)


def classify(exc: BaseException, closes: Closes) -> BaseException:
    """A vendor's meaningful close code as the error it stands for, whichever call
    (connect, subscribe, read, ping) saw the close."""
    if isinstance(exc, trio_websocket.ConnectionClosed) and exc.reason is not None:
        meaning = closes.get(exc.reason.code)
        if meaning is not None:
            what, text = meaning
            error = FatalSourceError if what == "fatal" else SourceLimited
            return error(f"{text} (close code {exc.reason.code})")
    if isinstance(exc, trio_websocket.HandshakeError) and isinstance(
            exc.__cause__, trio_websocket.ConnectionClosed):
        return classify(exc.__cause__, closes)
    return exc


def _expected(exc: BaseException, closes: Closes) -> BaseException | None:
    """The expected connection error inside `exc`, else None (a bug, or cancellation)."""
    exc = classify(exc, closes)
    if isinstance(exc, _HANDLED):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        matched, rest = exc.split(_HANDLED)
        if rest is None and matched is not None:
            leaves: list[BaseException] = []
            stack: list[BaseException] = [matched]
            while stack:
                item = stack.pop()
                if isinstance(item, BaseExceptionGroup):
                    stack.extend(item.exceptions)
                else:
                    leaves.append(classify(item, closes))
            serious = [e for e in leaves if isinstance(e, FatalSourceError | SourceLimited)]
            return serious[0] if serious else leaves[0]
    return None


# Where a bug in a source is reported (the test suite fails on any record here).
bug_log = logging.getLogger("rulesd.bug")


class SourceBug(Exception):
    """An unexpected exception inside a source's session: a bug in rulesd."""


def _bug(exc: BaseException, health: SourceHealth) -> BaseException | None:
    """The last line of defence: an unexpected exception in one source's session is
    logged once (with its traceback, as a bug), counted, and the source restarts with
    back-off while every other source and delivery keep running. Cancellation and
    interrupts are not bugs: None lets them through."""
    leaves = exc.exceptions if isinstance(exc, BaseExceptionGroup) else (exc,)
    if not all(isinstance(leaf, Exception) for leaf in leaves):
        return None
    kind = type(leaves[0]).__name__
    health.faults["bug"] += 1
    if health.faults["bug"] == 1:
        bug_log.error("%s: a bug in rulesd (%s); the source restarts. Please report it with "
                      "this traceback", health.name, kind, exc_info=exc)
    return SourceBug(f"internal error ({kind})")


def is_fatal(exc: BaseException) -> bool:
    """A refused key or plan: retrying in a second would only hammer the vendor."""
    if isinstance(exc, trio_websocket.ConnectionRejected):
        return exc.status_code in (401, 403)
    return isinstance(exc, FatalSourceError)


async def supervise(
    session: Session,
    health: SourceHealth,
    status: StatusSink,
    *,
    backoff: Backoff = Backoff(),
    rng: random.Random | None = None,
    gate: SourceGate | None = None,
    closes: Closes | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run `session` forever. Started once it connected or failed the first time."""
    rng = rng or random.Random()
    gate = gate or SourceGate(health.name)
    closes = closes or {}
    attempt = 0
    started = False
    down_reported = False
    outage = 0  # failed attempts since the last connection
    outage_began = warned_at = -math.inf

    async def connected() -> None:
        nonlocal started, down_reported, outage
        outage = 0
        health.state = "up"
        health.connects += 1
        if health.failures and (down_reported or health.connects == 1):
            log.info("%s: connected again after %d failure(s)", health.name, health.failures,
                     extra={"event": "source_up", "source": health.source,
                            "stream": health.name})
        else:
            log.info("%s: connected", health.name, extra={
                "event": "source_up", "source": health.source, "stream": health.name})
        if down_reported or health.connects == 1:
            await status("source_up", "connected")
        down_reported = False
        if not started:
            started = True
            task_status.started()

    while True:
        if gate.closed(trio.current_time()):  # another connection of the source was refused
            await trio.sleep_until(gate.until)
        began = trio.current_time()
        connects_before = health.connects
        try:
            await session(connected)
            error: BaseException | None = None
        except BaseException as exc:
            error = _expected(exc, closes)
            if error is None:
                error = _bug(exc, health)
            if error is None:
                raise
        if trio.current_time() - began >= backoff.stable_s:
            attempt = 0
        if error is None:  # the session asked for a fresh connection
            continue
        reason = describe(error)
        health.failures += 1
        health.last_error = reason
        if is_fatal(error) or isinstance(error, SourceLimited):
            fatal = is_fatal(error)
            health.state = "fatal" if fatal else "down"
            now = trio.current_time()
            if gate.closed(now):  # the source already said so: no second line
                log.debug("%s: %s", health.name, reason)
            else:
                gate.until = now + (backoff.fatal_s if fatal else backoff.limited_s)
                log.error("%s: %s (seen on %s); %severy connection of %s retries in %s",
                          gate.name, reason, health.name,
                          "this will not fix itself: " if fatal else "", gate.name,
                          format_duration(gate.until - now),
                          extra={"event": "source_refused" if fatal else "source_limited",
                                 "source": health.source, "stream": health.name})
            delay = gate.until - now
        else:
            health.state = "down"
            delay = backoff.delay(attempt, rng)
            attempt += 1
            now = trio.current_time()
            outage += 1
            extra = {"event": "source_down", "source": health.source, "stream": health.name}
            if outage == 1:
                outage_began = warned_at = now
                log.warning("%s: %s; reconnecting with back-off (up to %s; further failures "
                            "are logged at debug level until it connects)", health.name, reason,
                            format_duration(backoff.max_s), extra=extra)
            elif now - warned_at >= STILL_DOWN_LOG_S:
                warned_at = now
                log.warning("%s: still down after %d attempts in %s: %s; reconnecting with "
                            "back-off", health.name, outage, format_duration(now - outage_began),
                            reason, extra=extra)
            else:
                log.debug("%s: %s; reconnecting in %.1fs", health.name, reason, delay,
                          extra=extra)
        # A connection that was up and dropped is not yet "down": the stream is
        # down when a connection attempt fails (reported once per outage).
        lost = health.connects == connects_before or is_fatal(error) \
            or isinstance(error, SourceLimited)
        if lost and not down_reported:
            down_reported = True
            await status("source_down", reason)
        if not started:
            started = True
            task_status.started()
        await trio.sleep(delay)


async def supervise_all(
    source: str,
    connections: Sequence[Connection],
    emit: Emit,
    clock: Clock,
    *,
    started: object = None,
    closes: Closes | None = None,
    task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Supervise every connection of a source, all started at once.

    Started (with `started`, the source's handle for reloads) once each
    connection is up or has failed once; `source_up`/`source_down` events name
    the source and the connection's stream.
    """
    gate = SourceGate(source)
    async with trio.open_nursery() as nursery:
        async with trio.open_nursery() as starting:
            for connection in connections:
                starting.start_soon(nursery.start, _supervise_one, source, connection, emit,
                                    clock, gate, closes or {})
        task_status.started(started)


async def _supervise_one(source: str, connection: Connection, emit: Emit, clock: Clock,
                         gate: SourceGate, closes: Closes, *,
                         task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    async def status(kind: str, reason: str) -> None:
        now = clock.now()
        await emit(Event(kind, source, connection.stream, None, now, now, {"reason": reason}))

    await supervise(connection.session, connection.health, status, gate=gate, closes=closes,
                    task_status=task_status)

"""The reconnect loop: back-off, its cap and reset, fatal errors, status events."""

from __future__ import annotations

import itertools
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio_websocket

from rulesd.sources.health import SourceHealth
from rulesd.sources.supervisor import Backoff, supervise


class Highest(random.Random):
    """Full jitter's worst case: always the top of the range."""

    def uniform(self, a: float, b: float) -> float:
        return b


Connected = Callable[[], Awaitable[None]]


class Script:
    """A session that follows a script of outcomes and records when each began."""

    def __init__(self, outcomes: list[BaseException | float]) -> None:
        self.outcomes = outcomes
        self.starts: list[float] = []
        self.status: list[tuple[str, str]] = []
        self.done = trio.Event()

    async def session(self, connected: Connected) -> None:
        self.starts.append(trio.current_time())
        if not self.outcomes:
            self.done.set()
            await trio.sleep_forever()
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        await connected()
        await trio.sleep(outcome)
        raise trio_websocket.ConnectionClosed(None)

    async def record(self, kind: str, reason: str) -> None:
        self.status.append((kind, reason))


async def run_script(script: Script, health: SourceHealth) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: supervise(
            script.session, health, script.record, backoff=Backoff(), rng=Highest(),
            task_status=task_status))
        await script.done.wait()
        nursery.cancel_scope.cancel()


def gaps(starts: list[float]) -> list[float]:
    return [round(b - a, 6) for a, b in itertools.pairwise(starts)]


async def test_backoff_doubles_up_to_the_cap(autojump_clock: trio.testing.MockClock) -> None:
    script = Script([OSError(111, "refused")] * 9)
    health = SourceHealth("test")
    await run_script(script, health)
    assert gaps(script.starts) == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert health.failures == 9
    assert health.state == "down"
    # One source_down for the whole outage, not one per attempt.
    assert script.status == [("source_down", "network error: refused")]


async def test_an_offline_host_warns_once_then_every_10_minutes_not_per_retry(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture,
) -> None:
    """Offline, 45 attempts over 39 minutes: one warning when it goes down, one 'still
    down' every 10 minutes, the retries themselves at debug level; connected again,
    the next outage warns at once."""
    caplog.set_level("DEBUG", logger="rulesd.sources")
    refused = OSError(111, "cannot connect to api.example: Name or service not known")
    script = Script([refused] * 45 + [120.0, refused])
    await run_script(script, SourceHealth("dex boosts"))
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings[0] == "dex boosts: network error: cannot connect to api.example: Name or " \
        "service not known; reconnecting with back-off (up to 1m; further failures are " \
        "logged at debug level until it connects)"
    still = [w for w in warnings if "still down" in w]
    # Attempts at 0, 1, 3, 7, ... 63, then every 60 s: the 16th is 10m3s in.
    assert [w.split(": ")[1] for w in still] == ["still down after 16 attempts in 10m3s",
                                                 "still down after 26 attempts in 20m3s",
                                                 "still down after 36 attempts in 30m3s"]
    assert warnings[-1] == "dex boosts: connection closed; reconnecting with back-off (up to " \
        "1m; further failures are logged at debug level until it connects)"
    assert len(warnings) == 5
    assert sum(r.levelname == "DEBUG" and "reconnecting in" in r.getMessage()
               for r in caplog.records) == 47 - 5


async def test_backoff_resets_after_a_stable_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    refused = OSError(111, "refused")
    # Fail 3 times (1, 2, 4), hold a connection 120 s, then fail again.
    script = Script([refused, refused, refused, 120.0, refused, refused])
    await run_script(script, SourceHealth("test"))
    assert gaps(script.starts) == [1, 2, 4, 120 + 1, 2, 4]
    assert [kind for kind, _ in script.status] == [
        "source_down", "source_up", "source_down"]


async def test_short_lived_connections_keep_backing_off(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # A server that accepts and drops at once must not get a tight reconnect loop.
    script = Script([0.5] * 5)
    await run_script(script, SourceHealth("test"))
    assert gaps(script.starts) == [0.5 + 1, 0.5 + 2, 0.5 + 4, 0.5 + 8, 0.5 + 16]
    # Each drop came straight back: no outage to announce.
    assert script.status == [("source_up", "connected")]


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_handshake_is_fatal_with_a_long_backoff(
    status: int, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture,
) -> None:
    rejected = trio_websocket.ConnectionRejected(status, (), b"bad key")
    script = Script([rejected, rejected, rejected])
    health = SourceHealth("vendor stream")
    await run_script(script, health)
    assert gaps(script.starts) == [900, 900, 900]
    assert health.state == "fatal"
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert f"handshake refused with HTTP {status}" in errors[0].getMessage()
    assert "will not fix itself" in errors[0].getMessage()


async def test_an_outage_is_announced_once_and_its_end_too(
    autojump_clock: trio.testing.MockClock,
) -> None:
    refused = OSError(111, "refused")
    # Up, dropped, refused twice (the outage), up again, dropped, back at once.
    script = Script([30.0, refused, refused, 30.0, 30.0])
    await run_script(script, SourceHealth("test"))
    assert script.status == [
        ("source_up", "connected"),
        ("source_down", "network error: refused"),
        ("source_up", "connected"),
    ]


async def test_started_once_connected_or_failed(autojump_clock: trio.testing.MockClock) -> None:
    script = Script([OSError(111, "refused")] * 3)
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: supervise(
            script.session, SourceHealth("t"), script.record, rng=Highest(),
            task_status=task_status))
        # A vendor that is down at start-up must not hold the daemon's start.
        assert trio.current_time() == 0
        nursery.cancel_scope.cancel()


@pytest.mark.expects_bug
async def test_a_bug_in_a_session_is_reported_and_the_source_restarts(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock,
) -> None:
    """The last line of defence: one source's unexpected exception neither stops the
    daemon nor hides: logged once with its traceback, counted, restarted with back-off."""
    calls = 0
    up = trio.Event()

    async def session(connected: Any) -> None:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise KeyError("a bug")
        await connected()
        up.set()
        await trio.sleep_forever()

    health = SourceHealth("vendor #1")
    statuses: list[str] = []

    async def status(kind: str, reason: str) -> None:
        statuses.append(f"{kind}: {reason}")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(supervise, session, health, status)
        await up.wait()
        nursery.cancel_scope.cancel()
    bugs = [r for r in caplog.records if r.name == "rulesd.bug"]
    assert len(bugs) == 1 and bugs[0].exc_info is not None  # once, with its traceback
    assert health.faults["bug"] == 3 and calls == 4
    assert statuses == ["source_down: internal error (KeyError)", "source_up: connected"]

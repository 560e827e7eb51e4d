"""A stream's connection: keepalive, refresh, refused handshakes, extra headers."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trio

from tests.fakes import FakeDexScreener, FreezableProxy, HttpSink
from tests.helpers import BOOSTS, boost, boost_rules, snapshot, start

GUARD_S = 10


async def test_a_silent_dead_peer_is_detected_and_replaced(
    nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path
) -> None:
    proxy = FreezableProxy(fake_dex.port)
    await nursery.start(proxy.serve)
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("AAA1", 1))]
    rules = boost_rules(tmp_path, proxy.url, sink.url(), ping_interval="300ms")
    with trio.fail_after(GUARD_S):
        daemon, shutdown = await start(nursery, rules)
        await fake_dex.wait_connections(BOOSTS, 1)
        proxy.freeze()
        # The server thinks we are connected; only the missing pong tells.
        await fake_dex.wait_connections(BOOSTS, 2)
        await fake_dex.push(BOOSTS, snapshot(boost("BBB1", 1)))
        (message,) = await sink.wait_for(1)
        shutdown.set()
    assert "BBB1" in str(message["message"])
    health = daemon.healths["dexscreener token-boosts/latest"]
    assert health.last_error == "no pong within 0.3s"


async def test_a_stream_without_data_is_refreshed(
    nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path
) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("AAA1", 1))]
    rules = boost_rules(tmp_path, fake_dex.url, sink.url(), refresh="1s")

    async def heartbeats() -> None:
        while True:  # heartbeats are not data: they must not hold off a refresh
            await fake_dex.push(BOOSTS, '{"type": "heartbeat"}')
            await trio.sleep(0.1)

    with trio.fail_after(GUARD_S):
        daemon, shutdown = await start(nursery, rules)
        await fake_dex.wait_connections(BOOSTS, 1)
        nursery.start_soon(heartbeats)
        # Only a fresh snapshot shows B (as clients in the wild report).
        fake_dex.snapshots[BOOSTS] = [snapshot(boost("BBB1", 1), boost("AAA1", 1))]
        (message,) = await sink.wait_for(1)
        shutdown.set()
    assert "BBB1" in str(message["message"])
    health = daemon.healths["dexscreener token-boosts/latest"]
    assert health.connects >= 2 and health.failures == 0


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_handshake_backs_off_long_and_the_daemon_stays_up(
    status: int, nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink,
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    fake_dex.reject_status = status
    rules = boost_rules(tmp_path, fake_dex.url, sink.url())
    with trio.fail_after(GUARD_S):
        daemon, shutdown = await start(nursery, rules)
        health = daemon.healths["dexscreener token-boosts/latest"]
        assert health.state == "fatal"
        await trio.sleep(0.5)  # a tight loop would have retried many times by now
        shutdown.set()
    assert len(fake_dex.headers) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [f"dexscreener: handshake refused with HTTP {status} (seen on dexscreener "
                      "token-boosts/latest); this will not fix itself: every connection of "
                      "dexscreener retries in 15m"]


async def test_configured_headers_are_sent(
    nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path
) -> None:
    rules = boost_rules(tmp_path, fake_dex.url, sink.url(),
                        headers="{Origin: 'https://dexscreener.com'}")
    with trio.fail_after(GUARD_S):
        _, shutdown = await start(nursery, rules)
        shutdown.set()
    assert fake_dex.headers[0]["origin"] == "https://dexscreener.com"

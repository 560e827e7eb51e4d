"""DEX Screener streams end to end: fake server → daemon → Apprise json:// → HTTP sink."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.fakes import FakeDexScreener, HttpSink
from tests.helpers import BOOSTS, StepClock, boost, boost_rules, first_run, single, snapshot, start

GUARD_S = 10


def addresses(messages: list[dict[str, object]]) -> list[str]:
    """Which token each delivered message announced (its address is in the body)."""
    out = []
    for m in messages:
        body = str(m["message"])
        found = [a for a in ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF") if f"{a}1" in body]
        out.append(found[0] if found else body)
    return out


async def test_baseline_new_repeat_growth_and_reconnect(
    nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path
) -> None:
    a, b = boost("AAA1", 100), boost("BBB1", 200)
    fake_dex.snapshots[BOOSTS] = [snapshot(a, b)]
    with trio.fail_after(GUARD_S):
        daemon, shutdown = await start(nursery, boost_rules(tmp_path, fake_dex.url, sink.url()))
        await fake_dex.wait_connections(BOOSTS, 1)
        # The first snapshot on a fresh state is a baseline; C is the first news.
        c = boost("CCC1", 50)
        await fake_dex.push(BOOSTS, snapshot(c, a, b))
        assert addresses(await sink.wait_for(1)) == ["CCC"]
        # The same snapshot again is no news; D is.
        d = boost("DDD1", 10)
        await fake_dex.push(BOOSTS, snapshot(c, a, b))
        await fake_dex.push(BOOSTS, snapshot(d, c, a, b))
        assert addresses(await sink.wait_for(2)) == ["CCC", "DDD"]
        # A's totalAmount grew: a new boost.
        await fake_dex.push(BOOSTS, snapshot(d, c, boost("AAA1", 150), b))
        assert addresses(await sink.wait_for(3)) == ["CCC", "DDD", "AAA"]
        assert "total 150" in str(sink.messages[2]["message"])
        # The server drops us; the re-sent snapshot alerts nothing twice.
        fake_dex.snapshots[BOOSTS] = [snapshot(d, c, boost("AAA1", 150), b)]
        await fake_dex.drop(BOOSTS)
        await fake_dex.wait_connections(BOOSTS, 2)
        await fake_dex.push(BOOSTS, snapshot(boost("EEE1", 5)))
        assert addresses(await sink.wait_for(4)) == ["CCC", "DDD", "AAA", "EEE"]
        shutdown.set()
    health = daemon.healths["dexscreener token-boosts/latest"]
    assert health.connects == 2


async def test_restart_alerts_only_what_is_new(
    nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path,
    state_spec: str,
) -> None:
    """On either backend (on PostgreSQL the daemon leads its term, then a second
    term on the same database takes over from what the first wrote)."""
    rules = boost_rules(tmp_path, fake_dex.url, sink.url(), state=state_spec)
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("AAA1", 100), boost("BBB1", 100))]
    with trio.fail_after(GUARD_S):
        await first_run(rules, fake_dex, sink, BOOSTS)  # C goes out
        # While we were down, D arrived and B grew.
        fake_dex.snapshots[BOOSTS] = [snapshot(
            boost("DDD1", 1), boost("CCC1", 1), boost("AAA1", 100), boost("BBB1", 300))]
        _, shutdown = await start(nursery, rules)
        await fake_dex.wait_connections(BOOSTS, 2)
        await fake_dex.push(BOOSTS, snapshot(boost("EEE1", 1)))
        assert addresses(await sink.wait_for(4)) == ["CCC", "DDD", "BBB", "EEE"]
        shutdown.set()


@pytest.mark.parametrize("framing", ["snapshot", "single", "single+heartbeat"])
async def test_every_framing_alerts_new_items_once(
    framing: str, nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink,
    tmp_path: Path,
) -> None:
    items = [boost("AAA1", 10), boost("BBB1", 10)]
    if framing == "snapshot":
        fake_dex.snapshots[BOOSTS] = [snapshot(*items)]
    else:
        fake_dex.snapshots[BOOSTS] = [single(i) for i in items]
    heartbeat = '{"type": "heartbeat"}'
    clock = StepClock()
    with trio.fail_after(GUARD_S):
        _, shutdown = await start(nursery, boost_rules(tmp_path, fake_dex.url, sink.url()), clock)
        await fake_dex.wait_connections(BOOSTS, 1)
        clock.offset += 5  # a quiet spell ends the connect burst
        for item in (boost("CCC1", 1), boost("AAA1", 10), boost("DDD1", 1)):
            if framing == "snapshot":
                await fake_dex.push(BOOSTS, snapshot(item, *items))
            else:
                await fake_dex.push(BOOSTS, single(item))
            if framing.endswith("heartbeat"):
                await fake_dex.push(BOOSTS, heartbeat)
        assert addresses(await sink.wait_for(2)) == ["CCC", "DDD"]
        await fake_dex.push(BOOSTS, single(boost("EEE1", 1)))
        assert addresses(await sink.wait_for(3)) == ["CCC", "DDD", "EEE"]
        shutdown.set()


async def test_malformed_frames_are_counted_and_the_stream_goes_on(
    nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("AAA1", 1))]
    rules = boost_rules(tmp_path, fake_dex.url, sink.url(), max_message_size=4096)
    with trio.fail_after(GUARD_S):
        daemon, shutdown = await start(nursery, rules)
        await fake_dex.wait_connections(BOOSTS, 1)
        for frame in ("{not json", '{"data": 5}', "", b"\x1f\x8b\x00binary",
                      '{"data": [{"chainId": 5, "tokenAddress": null}, 7]}',
                      '{"data": [{"chainId": "solana", "tokenAddress": "X", '
                      '"totalAmount": "lots"}]}',
                      '{"data": [{"chainId": "solana", "tokenAddress": "Y"}]}',
                      '[1, 2]', '"just a string"'):
            await fake_dex.push(BOOSTS, frame)
        await fake_dex.push(BOOSTS, snapshot(boost("BBB1", 1)))
        assert addresses(await sink.wait_for(1)) == ["BBB"]
        # A frame over max_message_size: the connection is closed and reopened.
        await fake_dex.push(BOOSTS, snapshot(boost("ZZZ1", 1, description="x" * 10_000)))
        await fake_dex.wait_connections(BOOSTS, 2)
        await fake_dex.push(BOOSTS, snapshot(boost("CCC1", 1)))
        assert addresses(await sink.wait_for(2)) == ["BBB", "CCC"]
        shutdown.set()
    faults = daemon.healths["dexscreener token-boosts/latest"].faults
    assert faults["invalid_json"] == 1
    assert faults["data_not_list"] == 1
    assert faults["empty_frame"] == 1
    assert faults["binary_frame"] == 1
    assert faults["wrong_type"] == 5  # chainId 5, item 7, "lots", the items 1 and 2
    assert faults["missing_field"] == 1
    assert faults["unknown_shape"] == 1
    assert faults["frame_too_large"] == 1
    logged = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert len(logged) == len(faults)  # once per kind of fault


async def test_vendor_text_reaches_the_notifier_neutralized(
    nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path
) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("AAA1", 1))]
    rules = boost_rules(tmp_path, fake_dex.url, sink.url())
    rules.write_text(rules.read_text().replace(
        "notify: [sink]", 'notify: [sink]\n    message: "{{ description }}"'))
    evil = "@everyone GO [claim](https://evil.example) <@&123> @here"
    with trio.fail_after(GUARD_S):
        _, shutdown = await start(nursery, rules)
        await fake_dex.wait_connections(BOOSTS, 1)
        await fake_dex.push(BOOSTS, snapshot(boost("BBB1", 1, description=evil)))
        (message,) = await sink.wait_for(1)
        shutdown.set()
    body = str(message["message"])
    assert "GO" in body and "claim" in body and "evil.example" in body
    for live in ("@everyone", "@here", "](", "<@&"):
        assert live not in body

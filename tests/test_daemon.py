"""The daemon as a whole: reload, dry-run."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest
import trio

from rulesd import loader as config
from rulesd.clock import TrioClock
from rulesd.daemon import Daemon
from tests.fakes import FakeDexScreener, HttpSink
from tests.helpers import (
    BOOSTS,
    boost,
    boost_rules,
    boost_through,
    rulesd_process,
    snapshot,
    start,
)

GUARD_S = 10


async def test_reload_applies_new_rules_and_restarts_changed_sources(
    nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path
) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("AAA1", 1))]
    claims = "/community-takeovers/latest/v1"
    rules = boost_rules(tmp_path, fake_dex.url, sink.url())
    with trio.fail_after(GUARD_S):
        daemon, shutdown = await start(nursery, rules)
        await fake_dex.wait_connections(BOOSTS, 1)
        rules.write_text(rules.read_text().replace(
            "notify: [sink]", "notify: [sink]\n    where: {total_amount: {gte: 100}}"))
        assert await daemon.reload(config.load(rules, env={}))
        await fake_dex.push(BOOSTS, snapshot(boost("BBB1", 5), boost("CCC1", 500)))
        (message,) = await sink.wait_for(1)
        assert "CCC1" in str(message["message"])
        # A changed source is restarted with its new config; the rest keep running.
        rules.write_text(rules.read_text().replace(
            "streams: [token-boosts/latest]",
            "streams: [token-boosts/latest, community-takeovers/latest]"))
        assert await daemon.reload(config.load(rules, env={}))
        await fake_dex.wait_connections(claims, 1)
        await fake_dex.wait_connections(BOOSTS, 2)
        await fake_dex.push(BOOSTS, snapshot(boost("DDD1", 500)))
        assert len(await sink.wait_for(2)) == 2
        # One edit: a notifier's URL, a rule and a group — all applied.
        rules.write_text(rules.read_text().replace(sink.url(), sink.url("elsewhere"))
                         .replace("gte: 100", "gte: 1000000")
                         + "    group: {by: [chain], wait: 1s, interval: 1s}\n")
        result = await daemon.reload(config.load(rules, env={}))
        assert result.applied and result.refused == []
        await fake_dex.push(BOOSTS, snapshot(boost("EEE1", 500), boost("FFF1", 2_000_000),
                                             boost("GGG1", 3_000_000)))
        third = (await sink.wait_for(3))[2]
        assert "FFF1" in third["message"] and "GGG1" in third["message"]  # one group
        assert "EEE1" not in third["message"]
        # A changed state.path needs a restart: only that part is refused.
        rules.write_text(rules.read_text().replace("state.db", "other.db")
                         .replace("gte: 1000000", "gte: 1"))
        result = await daemon.reload(config.load(rules, env={}))
        assert result.applied
        assert result.refused == [f"state: a change needs a restart (still "
                                  f"{tmp_path / 'state.db'})"]
        await fake_dex.push(BOOSTS, snapshot(boost("HHH1", 5)))
        assert "HHH1" in (await sink.wait_for(4))[3]["message"]
        shutdown.set()


async def test_dry_run_prints_sends_nothing_and_leaves_the_state_alone(
    fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path
) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("AAA1", 1))]
    rules = boost_rules(tmp_path, fake_dex.url, sink.url())
    async with rulesd_process("run", str(rules), "--dry-run",
                              stderr=subprocess.PIPE) as process:
        logged, printed = await boost_through(process, fake_dex, b"shadow mode")
    # It says what it is, at start and at stop: no outbox, nothing kept.
    assert b"shadow mode (run --dry-run): live streams, every message printed instead of " \
           b"sent, state in memory only (the state file is not touched)" in logged, logged
    assert b"the state is in memory only: nothing is kept" in logged, logged
    assert b"outbox" not in logged and b"running:" not in logged, logged
    assert "→ sink: Boost: BBB1 on solana".encode() in printed
    assert sink.messages == []
    assert not (tmp_path / "state.db").exists()


async def test_a_failing_state_database_does_not_stop_alerts(
    nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("AAA1", 1))]
    with trio.fail_after(GUARD_S):
        daemon, shutdown = await start(nursery, boost_rules(tmp_path, fake_dex.url, sink.url()))
        await fake_dex.wait_connections(BOOSTS, 1)
        # Every write fails from now on, as on a full disk. Closed in the database's own
        # worker, one call at a time: closing under a running write crashes SQLite.
        await daemon.delivery.call(daemon.db._db.close)
        for n, address in enumerate(("BBB1", "CCC1"), start=1):
            await fake_dex.push(BOOSTS, snapshot(boost(address, 1)))
            await sink.wait_for(n)
        shutdown.set()
    failures = [r for r in caplog.records if "cannot write the state database" in r.getMessage()]
    assert len(failures) == 1


async def test_what_a_full_disk_kept_is_written_when_it_recovers(
    fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path,
) -> None:
    """State changes (and outbox rows) made while the disk was full were never written,
    even after it recovered: a restart then sent every alert of the period again."""
    import sqlite3

    from tests.test_e2e_dexscreener import addresses

    fake_dex.snapshots[BOOSTS] = [snapshot(boost("AAA1", 1))]
    rules = boost_rules(tmp_path, fake_dex.url, sink.url())
    with trio.fail_after(GUARD_S):
        async with trio.open_nursery() as first:
            daemon, shutdown = await start(first, rules)
            await fake_dex.wait_connections(BOOSTS, 1)
            real = daemon.db._db
            full = sqlite3.connect(":memory:", check_same_thread=False)
            full.close()  # every write through it fails, as on a full disk
            await daemon.delivery.call(setattr, daemon.db, "_db", full)
            for n, address in enumerate(("BBB1", "CCC1"), start=1):
                await fake_dex.push(BOOSTS, snapshot(boost(address, 1)))
                await sink.wait_for(n)
            assert daemon.delivery.writer.unwritten > 0
            await daemon.delivery.call(setattr, daemon.db, "_db", real)  # the disk recovers
            await fake_dex.push(BOOSTS, snapshot(boost("DDD1", 1)))
            await sink.wait_for(3)
            # The worker marks DDD1 delivered after the sink has it: wait for that write.
            while daemon.delivery.writer.unwritten:  # noqa: ASYNC110 - a worker thread's
                await trio.sleep(0.02)
            shutdown.set()
        # A restart on the same file: the list re-sent on connect is all old news.
        fake_dex.snapshots[BOOSTS] = [snapshot(boost("DDD1", 1), boost("CCC1", 1),
                                               boost("BBB1", 1), boost("AAA1", 1))]
        async with trio.open_nursery() as second:
            _, shutdown = await start(second, rules)
            await fake_dex.wait_connections(BOOSTS, 2)
            await fake_dex.push(BOOSTS, snapshot(boost("EEE1", 1)))
            messages = await sink.wait_for(4)
            shutdown.set()
    assert addresses(messages) == ["BBB", "CCC", "DDD", "EEE"]  # nothing sent twice


@pytest.mark.parametrize("trouble", ["deleted", "damaged"])
async def test_a_state_file_deleted_or_damaged_under_the_daemon_is_said_at_once(
    trouble: str, nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink,
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    from rulesd.clock import TrioClock
    from rulesd.daemon import Daemon

    fake_dex.snapshots[BOOSTS] = [snapshot(boost("AAA1", 1))]
    daemon = Daemon.create(config.load(boost_rules(tmp_path, fake_dex.url, sink.url()),
                                       env={}), TrioClock())
    daemon.db_check_interval_s = 0.05
    shutdown = trio.Event()
    state = tmp_path / "state.db"
    with trio.fail_after(GUARD_S):
        await nursery.start(daemon.run, shutdown)
        await fake_dex.wait_connections(BOOSTS, 1)
        if trouble == "deleted":
            state.unlink()
        else:
            with state.open("r+b") as file:  # the header and the first pages, overwritten
                file.write(b"\x00garbage" * 512)
        while not any(r.levelname == "ERROR" and str(state) in r.getMessage()  # noqa: ASYNC110 - the database check runs in a thread, on real time
                      for r in caplog.records):
            await trio.sleep(0.05)
        shutdown.set()
    (said,) = [r.getMessage() for r in caplog.records
               if r.levelname == "ERROR" and str(state) in r.getMessage()]
    assert trouble in said


async def test_the_daemon_says_what_it_is_doing(
    nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Connected, the baseline recorded, and every 10 minutes (here: 2 s) a line of
    what flowed: a healthy quiet daemon can be told from a stuck one."""
    caplog.set_level(logging.INFO)
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("AAA1", 1), boost("AAA2", 1))]
    rules = boost_rules(tmp_path, fake_dex.url, sink.url())
    loaded = config.load(rules, env={})
    daemon = Daemon.create(loaded, TrioClock())
    daemon.summary_interval_s = 2.0
    shutdown = trio.Event()
    with trio.fail_after(20):
        await nursery.start(daemon.run, shutdown)
        await fake_dex.wait_connections(BOOSTS, 1)
        await fake_dex.push(BOOSTS, snapshot(boost("BBB1", 1), boost("AAA1", 1)))
        await sink.wait_for(1)
        while not any(r.getMessage().startswith("last 2s: ")  # noqa: ASYNC110 - a log
                      for r in caplog.records):
            await trio.sleep(0.05)
        shutdown.set()
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert "dexscreener token-boosts/latest: connected" in lines
    assert any(line.startswith("dexscreener:token-boosts/latest") and
               "baseline of 2 item(s) recorded" in line for line in lines), lines
    summary = next(line for line in lines if line.startswith("last 2s: "))
    assert summary == ("last 2s: dexscreener: 2 frames, 4 events, 0 faults; alerts: 1 sent, "
                       "0 dead-lettered, 0 silenced; outbox: 0 waiting"), summary

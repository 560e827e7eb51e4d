"""Two rulesd processes on one real PostgreSQL: one leads (holds the vendor connection
and sends), the other stands by and takes over — after kill -9, after SIGSTOP, and
across a restart of PostgreSQL itself — without a lost alert, and with at most the
one in flight doubled. A fake DEX Screener feeds both; Apprise's json:// delivers to
a local sink; the lease is the default (10 s)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.fakes import FakeDexScreener, HttpSink
from tests.helpers import BOOSTS, boost, free_port, snapshot, stop, write_rules

TOKEN = re.compile(r"T\d{3}X")


class Instance:
    """One `rulesd run` process with its own HTTP port and log file."""

    def __init__(self, name: str, rules: Path, port: int, log: Path) -> None:
        self.name, self.rules, self.port, self.log = name, rules, port, log
        self.process: trio.Process | None = None

    def get(self, path: str) -> bytes:
        url = f"http://127.0.0.1:{self.port}{path}"
        with urllib.request.urlopen(url, timeout=2) as response:
            return bytes(response.read())

    async def status(self) -> dict[str, Any] | None:
        try:
            return json.loads(await trio.to_thread.run_sync(self.get, "/api/v1/status"))  # type: ignore[no-any-return]
        except OSError:
            return None  # not serving yet, or frozen

    async def role(self) -> str | None:
        status = await self.status()
        return None if status is None else str(status["role"])

    async def wait_role(self, role: str, within: float) -> float:
        """Seconds until the instance says it is `role`."""
        began = trio.current_time()
        with trio.fail_after(within):
            while await self.role() != role:  # noqa: ASYNC110 - another process
                await trio.sleep(0.1)
        return trio.current_time() - began

    def logged(self) -> str:
        return self.log.read_text(errors="replace")


@asynccontextmanager
async def instances(tmp_path: Path, dex: FakeDexScreener, sink: HttpSink, url: str,
                    *names: str) -> AsyncIterator[list[Instance]]:
    """The same rules (but the HTTP port) started once per name; killed on exit."""
    started: list[Instance] = []
    try:
        for name in names:
            port = free_port()
            rules = write_rules(tmp_path, f"""\
                version: 1
                state: {{url: "{url}"}}
                http: {{listen: "127.0.0.1:{port}"}}
                sources:
                  dexscreener: {{url: "{dex.url}", streams: [token-boosts/latest]}}
                notifiers:
                  sink: {{urls: ["{sink.url()}"], rate: 1000/s}}
                rules:
                  - {{name: boosts, on: boost, notify: [sink]}}
                """, name=f"{name}.yaml")
            instance = Instance(name, rules, port, tmp_path / f"{name}.log")
            with instance.log.open("wb") as log:
                instance.process = await trio.lowlevel.open_process(
                    [sys.executable, "-m", "rulesd", "run", str(rules)],
                    stdout=subprocess.DEVNULL, stderr=log)
            started.append(instance)
            # The first to start leads: wait for it (and its vendor connection, which
            # records the baseline) before the next one starts.
            await instance.wait_role("leader" if len(started) == 1 else "standby", 20)
            with trio.fail_after(20):
                await dex.wait_connections(BOOSTS, 1)
        yield started
    finally:
        for instance in started:
            assert instance.process is not None
            if instance.process.returncode is None:
                instance.process.send_signal(signal.SIGCONT)
                instance.process.kill()
                await instance.process.wait()


def tokens(sink: HttpSink) -> Counter[str]:
    """How many times each token was announced (a digest would name several)."""
    return Counter(t for m in sink.messages for t in set(TOKEN.findall(str(m["message"]))))


async def wait_tokens(sink: HttpSink, expected: set[str], within: float) -> None:
    with trio.fail_after(within):
        while set(tokens(sink)) != expected:  # noqa: ASYNC110 - a digest counts many
            await trio.sleep(0.05)


async def test_kill_9_of_the_leader_mid_burst_loses_nothing_and_doubles_at_most_one(
        tmp_path: Path, fake_dex: FakeDexScreener, sink: HttpSink, postgres_url: str,
) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("BASE1", 1))]  # the baseline
    async with instances(tmp_path, fake_dex, sink, postgres_url, "a", "b") as (a, b):
        # Exactly one connects to the vendor; the roles show in status and metrics.
        await trio.sleep(2)
        assert fake_dex.connections[BOOSTS] == 1
        assert b"rulesd_leader 1.0" in await trio.to_thread.run_sync(a.get, "/metrics")
        assert b"rulesd_leader 0.0" in await trio.to_thread.run_sync(b.get, "/metrics")
        page = (await trio.to_thread.run_sync(b.get, "/")).decode()
        assert '<span id="role" class="standby">standby</span>' in page

        items = [boost(f"T{i:03d}X", 1) for i in range(200)]
        for k in range(20):  # a burst of 200 alerts, ten per snapshot
            batch = items[10 * k:10 * k + 10]
            # A new connection gets the vendor's latest list: everything so far.
            fake_dex.snapshots[BOOSTS] = [snapshot(*reversed(items[:10 * k + 10]))]
            await fake_dex.push(BOOSTS, snapshot(*reversed(batch)))
            if k == 9:  # in the middle of the burst, with alerts still going out
                with trio.fail_after(20):
                    while sum(tokens(sink).values()) < 30:  # noqa: ASYNC110 - another process
                        await trio.sleep(0.01)
                assert a.process is not None
                a.process.kill()
                killed = trio.current_time()
                sent_by_a = sum(tokens(sink).values())
            await trio.sleep(0.02)
        await b.wait_role("leader", 20)
        took = trio.current_time() - killed
        await wait_tokens(sink, {t["tokenAddress"] for t in items}, 30)
        await trio.sleep(1)  # a repeat would come now
        counts = tokens(sink)
    assert sent_by_a < 200, "the leader was killed after the burst, not in its middle"
    assert took < 15, f"the standby took over after {took:.1f}s"
    assert set(counts) == {t["tokenAddress"] for t in items}
    doubled = [t for t, n in counts.items() if n > 1]
    assert len(doubled) <= 1 and all(counts[t] == 2 for t in doubled), doubled
    assert fake_dex.connections[BOOSTS] == 2  # the leader's, then the new leader's


async def test_a_frozen_leader_is_replaced_and_sends_nothing_when_it_wakes(
        tmp_path: Path, fake_dex: FakeDexScreener, sink: HttpSink, postgres_url: str,
) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("BASE1", 1))]
    first = [boost(f"T{i:03d}X", 1) for i in range(5)]
    later = [boost(f"T{i:03d}X", 1) for i in range(5, 10)]
    async with instances(tmp_path, fake_dex, sink, postgres_url, "a", "b") as (a, b):
        fake_dex.snapshots[BOOSTS] = [snapshot(*first)]
        await fake_dex.push(BOOSTS, snapshot(*first))
        await wait_tokens(sink, {t["tokenAddress"] for t in first}, 10)
        assert a.process is not None
        a.process.send_signal(signal.SIGSTOP)  # alive, connected, but cannot renew
        stopped = trio.current_time()
        fake_dex.snapshots[BOOSTS] = [snapshot(*later, *first)]
        await fake_dex.push(BOOSTS, snapshot(*later, *first))  # waits in its socket
        await b.wait_role("leader", 20)
        took = trio.current_time() - stopped
        await wait_tokens(sink, {t["tokenAddress"] for t in first + later}, 10)
        a.process.send_signal(signal.SIGCONT)
        await a.wait_role("standby", 10)
        await trio.sleep(2)  # whatever the woken leader would send comes now
        counts = tokens(sink)
        assert await b.role() == "leader"
        connections = fake_dex.connections[BOOSTS]  # the old leader's, then the new one's
        # A graceful stop of the leader ends its lease: the standby leads within seconds.
        assert b.process is not None
        assert await stop(b.process) == 0
        assert await a.wait_role("leader", 5) < 5
        assert await stop(a.process) == 0
    assert 8 < took < 15, f"the standby took over after {took:.1f}s (lease 10s)"
    assert set(counts.values()) == {1}, counts
    assert "stepping down" in a.logged()
    assert connections == 2


class OwnPostgres:
    """A PostgreSQL server of the test's own (Debian's server binaries: initdb and
    pg_ctl, run as the `postgres` user when the suite runs as root), so stopping it
    disturbs no other test and nothing else on the machine."""

    def __init__(self) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not found:
            pytest.fail("the PostgreSQL restart test needs PostgreSQL's server binaries "
                        "(Debian: apt-get install postgresql)")
        self.bin = found[-1].parent
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.home = Path(tempfile.mkdtemp(prefix="rulesd-test-pg-"))
        if self.as_owner:
            shutil.chown(self.home, "postgres")
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._run("initdb", "-D", str(self.home / "data"), "-A", "trust", "-U", "postgres",
                  "--no-sync")

    def _run(self, command: str, *args: str) -> None:
        subprocess.run([*self.as_owner, str(self.bin / command), *args], check=True,
                       capture_output=True, timeout=60)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.home / "data"), "-w", "-l",
                  str(self.home / "log"), "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 "
                  f"-c unix_socket_directories={self.home} -c fsync=off", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.home / "data"), "-w", "-m", mode, "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    server = OwnPostgres()
    try:
        server.start()
        yield server
    finally:
        server.remove()


async def test_a_restart_of_postgresql_under_the_leader_loses_and_doubles_nothing(
        tmp_path: Path, fake_dex: FakeDexScreener, sink: HttpSink, own_postgres: OwnPostgres,
) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("BASE1", 1))]
    first = [boost(f"T{i:03d}X", 1) for i in range(5)]
    during = [boost(f"T{i:03d}X", 1) for i in range(5, 10)]
    async with instances(tmp_path, fake_dex, sink, own_postgres.url, "a") as (a,):
        fake_dex.snapshots[BOOSTS] = [snapshot(*first)]
        await fake_dex.push(BOOSTS, snapshot(*first))
        await wait_tokens(sink, {t["tokenAddress"] for t in first}, 10)
        try:
            await trio.to_thread.run_sync(own_postgres.stop)
            fake_dex.snapshots[BOOSTS] = [snapshot(*during, *first)]
            await fake_dex.push(BOOSTS, snapshot(*during, *first))
            await trio.sleep(2)
            # Not written, so not sent: another instance could not take them over.
            assert set(tokens(sink)) == {t["tokenAddress"] for t in first}
        finally:
            await trio.to_thread.run_sync(own_postgres.start)
        await wait_tokens(sink, {t["tokenAddress"] for t in first + during}, 45)
        await a.wait_role("leader", 20)  # kept, or regained
        await trio.sleep(2)
        counts = tokens(sink)
    assert set(counts.values()) == {1}, counts
    assert "cannot" in a.logged()  # it said what was wrong

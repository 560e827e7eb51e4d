"""The commands on a PostgreSQL state: `run` waits for an unreachable database as a
standby and says so; `silence` and `outbox` work on the database every instance
shares, and the leader follows silences added anywhere."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import trio

from rulesd import silencing
from rulesd.cli import main
from rulesd.clock import TrioClock
from rulesd.state.outbox import SILENCED
from tests.fakes import FakeDexScreener, HttpSink
from tests.helpers import (
    BOOSTS,
    boost,
    free_port,
    read_until,
    sink_rules,
    snapshot,
    start,
    write_rules,
)


def get(port: int, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
        return bytes(answer.read())


async def test_run_without_its_database_stands_by_says_why_and_retries(
        tmp_path: Path, fake_dex: FakeDexScreener) -> None:
    port = free_port()
    rules = write_rules(tmp_path, f"""\
        version: 1
        state: {{url: "postgresql://rulesd:s3cret@127.0.0.1:1/rulesd"}}
        http: {{listen: "127.0.0.1:{port}"}}
        sources:
          dexscreener: {{url: "{fake_dex.url}", streams: [token-boosts/latest]}}
        notifiers: {{console: stdout}}
        rules:
          - {{name: boosts, on: boost, notify: [console]}}
        """)
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "rulesd", "run", str(rules)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with trio.fail_after(20):
            said = await read_until(process.stderr, b"trying again in 2s")
        # Its endpoint says so too: a standby, not ready, and why.
        status = json.loads(await trio.to_thread.run_sync(get, port, "/api/v1/status"))
        assert status["role"] == "standby" and status["ready"] is False
        assert status["state"]["reachable"] is False
        assert "cannot reach the state database" in status["state"]["problem"]
        assert "s3cret" not in json.dumps(status)
        with pytest.raises(urllib.error.HTTPError) as answer:
            await trio.to_thread.run_sync(get, port, "/-/ready")
        assert answer.value.code == 503
        assert answer.value.read() == b"standby: cannot reach the state database\n"
    finally:
        process.kill()
        await process.wait()
    text = said.decode()
    assert ("cannot reach the state database postgresql://rulesd@127.0.0.1:1/rulesd: "
            in text)
    assert "standing by (never leading without the database), trying again in 1s" in text
    assert "s3cret" not in text and "Traceback" not in text
    assert fake_dex.connections[BOOSTS] == 0  # never a leader without it


async def test_silence_and_outbox_work_on_the_shared_database(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path,
        postgres_url: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(silencing, "FOLLOW_SILENCES_S", 0.1)
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    rules = sink_rules(tmp_path, fake_dex.url, sink.url(), state=f'{{url: "{postgres_url}"}}')

    def cli(*argv: str) -> tuple[int, str]:
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    with trio.fail_after(20):
        # The command line stamps silences with the wall clock: so does this daemon.
        daemon, shutdown = await start(nursery, rules, TrioClock(time.time()))
        await fake_dex.wait_connections(BOOSTS, 1)
        # Written to the database (no local daemon lock to ask); the leader follows.
        code, out = await trio.to_thread.run_sync(
            lambda: cli("silence", "add", str(rules), "--rule", "boosts", "--token",
                        "solana:AAA1", "--for", "1h"))
        assert code == 0 and "the leader applies it within 5s" in out, out
        while not daemon.engine.silences.all():  # noqa: ASYNC110 - it polls the table
            await trio.sleep(0.05)
        await fake_dex.push(BOOSTS, snapshot(boost("AAA1", 1), boost("OLD1", 1)))
        await fake_dex.push(BOOSTS, snapshot(boost("BBB2", 1), boost("AAA1", 1)))
        await sink.wait_for(1)
        code, out = await trio.to_thread.run_sync(lambda: cli("silence", "list", str(rules)))
        assert code == 0 and "active" in out and "token=solana:AAA1" in out, out
        rows = await daemon.delivery.call(daemon.db.recent, 10)
        assert [r.delivery.title for r in rows if r.state == SILENCED] == \
            ["Boost: AAA1 on solana"]
        shutdown.set()
    assert [m["title"] for m in sink.messages] == ["Boost: BBB2 on solana"]
    code, out = cli("outbox", str(rules))
    assert code == 0 and out.strip().endswith("0 pending, 0 dead-lettered"), out

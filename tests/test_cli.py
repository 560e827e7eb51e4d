"""`rulesd run` as a user runs it: a real process, stopped by a signal."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from rulesd.cli import main
from tests.fakes import FakeDexScreener, HttpSink
from tests.helpers import boost, snapshot, write_rules

BOOSTS = "/token-boosts/latest/v1"


def console_rules(tmp_path: Path, url: str, hook: str | None = None) -> Path:
    """Rules printing boosts to the console, or sending them to `hook` when given."""
    notifiers = f"{{console: stdout, hook: '{hook}'}}" if hook else "{console: stdout}"
    return write_rules(tmp_path, f"""\
        version: 1
        state: {{path: {tmp_path / 'state.db'}}}
        sources:
          dexscreener: {{url: "{url}", streams: [token-boosts/latest]}}
        notifiers: {notifiers}
        defaults: {{notify: [{'hook' if hook else 'console'}]}}
        rules:
          - name: boosts
            on: boost
        """)


async def read_until(stream: trio.abc.ReceiveStream, needle: bytes) -> bytes:
    seen = b""
    while needle not in seen:
        chunk = await stream.receive_some()
        if not chunk:
            break
        seen += chunk
    return seen


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
async def test_run_prints_alerts_and_stops_cleanly_on_a_signal(
    stop: signal.Signals, fake_dex: FakeDexScreener, tmp_path: Path
) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("AAA1", 1))]
    rules = console_rules(tmp_path, fake_dex.url)
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "rulesd", "run", str(rules)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        with trio.fail_after(20):
            await fake_dex.wait_connections(BOOSTS, 1)
            await fake_dex.push(BOOSTS, snapshot(boost("BBB1", 1)))
            assert process.stdout is not None
            printed = await read_until(process.stdout, b"BBB1")
            assert b"Boost: BBB1 on solana" in printed
            assert b"AAA1" not in printed  # the baseline
        process.send_signal(stop)
        with trio.fail_after(5):
            assert await process.wait() == 0
    finally:
        process.kill()
        await process.wait()


async def test_sighup_with_a_broken_file_keeps_the_old_rules(
    fake_dex: FakeDexScreener, tmp_path: Path
) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("AAA1", 1))]
    rules = console_rules(tmp_path, fake_dex.url)
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "rulesd", "run", str(rules)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with trio.fail_after(20):
            await fake_dex.wait_connections(BOOSTS, 1)
            rules.write_text(rules.read_text().replace("on: boost", "on: boots"))
            process.send_signal(signal.SIGHUP)
            assert process.stderr is not None
            logged = await read_until(process.stderr, b"old rules keep running")
            assert b"unknown kind 'boots'" in logged
            await fake_dex.push(BOOSTS, snapshot(boost("BBB1", 1)))
            assert process.stdout is not None
            assert b"BBB1" in await read_until(process.stdout, b"BBB1")
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(5):
            assert await process.wait() == 0
    finally:
        process.kill()
        await process.wait()


def test_run_refuses_an_invalid_file_with_the_check_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = console_rules(tmp_path, "ws://127.0.0.1:9")
    rules.write_text(rules.read_text().replace("on: boost", "on: boots"))
    assert main(["run", str(rules)]) == 1
    run_err = capsys.readouterr().err
    assert main(["check", str(rules)]) == 1
    assert capsys.readouterr().err == run_err
    assert f"{rules}:9:9: unknown kind 'boots' (did you mean 'boost'?)" in run_err


async def test_secrets_never_reach_the_logs(
    nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path
) -> None:
    """A failing notifier's URL holds a token: the error names it in privacy form only."""
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("AAA1", 1))]
    sink.status = 500
    secret_url = f"json://bot:Sup3rS3cretT0ken@127.0.0.1:{sink.port}/hook"
    rules = console_rules(tmp_path, fake_dex.url, secret_url)
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "rulesd", "run", str(rules), "--verbose"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with trio.fail_after(20):
            await fake_dex.wait_connections(BOOSTS, 1)
            await fake_dex.push(BOOSTS, snapshot(boost("BBB1", 1)))
            assert process.stderr is not None
            logged = await read_until(process.stderr, b"did not accept the message")
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(5):
            await process.wait()
    finally:
        process.kill()
        await process.wait()
    assert b"not delivered: hook: json://bot:****@127.0.0.1" in logged
    assert b"Sup3rS3cretT0ken" not in logged

"""`rulesd run` as a user runs it: a real process, stopped by a signal."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

import pytest
import trio

from rulesd.cli import main
from rulesd.state.db import StateDB
from tests.fakes import FakeDexScreener, HttpSink
from tests.helpers import (
    BOOSTS,
    HOSTILE_BASE,
    HOSTILE_FILES,
    boost,
    boost_through,
    free_port,
    read_until,
    rulesd_process,
    snapshot,
    stop,
    write_rules,
)


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


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_run_prints_alerts_and_stops_cleanly_on_a_signal(
    signum: signal.Signals, fake_dex: FakeDexScreener, tmp_path: Path
) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("AAA1", 1))]
    async with rulesd_process("run", str(console_rules(tmp_path, fake_dex.url))) as process:
        with trio.fail_after(20):
            await fake_dex.wait_connections(BOOSTS, 1)
            await fake_dex.push(BOOSTS, snapshot(boost("BBB1", 1)))
            printed = await read_until(process.stdout, b"BBB1")
        assert await stop(process, signum) == 0
    assert b"Boost: BBB1 on solana" in printed
    assert b"AAA1" not in printed  # the baseline


async def test_a_taken_http_port_leaves_the_daemon_alerting_without_the_endpoint(
    fake_dex: FakeDexScreener, tmp_path: Path
) -> None:
    """A second instance on the host, or shadow mode beside the live daemon: the port
    is taken; rulesd says so once and alerts without its endpoint."""
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("AAA1", 1))]
    rules = console_rules(tmp_path, fake_dex.url)
    taken = trio.socket.socket()
    await taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    rules.write_text(rules.read_text() + f"http: {{listen: '127.0.0.1:{port}'}}\n")
    with taken:
        async with rulesd_process("run", str(rules), stderr=subprocess.PIPE) as process:
            logged, printed = await boost_through(process, fake_dex, b"without the endpoint")
    assert f"http: cannot listen on 127.0.0.1:{port}: Address already in use; the daemon " \
           "runs without the endpoint".encode() in logged, logged
    assert logged.count(b"cannot listen") == 1 and b"Traceback" not in logged
    assert b"Boost: BBB1 on solana" in printed


async def test_sighup_with_a_broken_file_keeps_the_old_rules(
    fake_dex: FakeDexScreener, tmp_path: Path
) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("AAA1", 1))]
    rules = console_rules(tmp_path, fake_dex.url)
    async with rulesd_process("run", str(rules), stderr=subprocess.PIPE) as process:
        with trio.fail_after(20):
            await fake_dex.wait_connections(BOOSTS, 1)
            rules.write_text(rules.read_text().replace("on: boost", "on: boots"))
            process.send_signal(signal.SIGHUP)
            logged = await read_until(process.stderr, b"old rules keep running")
            await fake_dex.push(BOOSTS, snapshot(boost("BBB1", 1)))
            printed = await read_until(process.stdout, b"BBB1")
        assert await stop(process) == 0
    assert b"unknown kind 'boots'" in logged
    assert b"BBB1" in printed


async def test_sighup_with_hostile_files_is_refused_located_and_the_daemon_goes_on(
    fake_dex: FakeDexScreener, tmp_path: Path
) -> None:
    """The files that once killed the daemon on reload (unknown Jinja filter, a regex
    RE2 cannot take, durations of 10^400 or NaN, nesting 2,000 deep, a recursive or a
    billion-laughs alias): each SIGHUP is refused with the located problem, and the old
    rules go on alerting."""
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("AAA1", 1))]
    rules = console_rules(tmp_path, fake_dex.url)
    good = rules.read_text()
    source = f'sources: {{dexscreener: {{url: "{fake_dex.url}", streams: [token-boosts/latest]}}}}'
    everything = b""
    async with rulesd_process("run", str(rules), stderr=subprocess.PIPE) as process:
        with trio.fail_after(60):
            await fake_dex.wait_connections(BOOSTS, 1)
            for n, (body, message) in enumerate(HOSTILE_FILES):
                base = HOSTILE_BASE.replace("sources: {dexscreener: {}}", source)
                rules.write_text(base + body)
                process.send_signal(signal.SIGHUP)
                logged = await read_until(process.stderr, message.encode())
                assert b"reload refused, the old rules keep running" in logged, logged
                assert f"{rules}:".encode() in logged, logged
                everything += logged
                await fake_dex.push(BOOSTS, snapshot(boost(f"NEW{n}", 1)))
                printed = await read_until(process.stdout, f"NEW{n}".encode())
                assert f"Boost: NEW{n}".encode() in printed
            rules.write_text(good.replace("name: boosts", "name: boosts-again"))
            process.send_signal(signal.SIGHUP)
            everything += await read_until(process.stderr, b"reload: 1 rules active")
        assert await stop(process) == 0
    assert b"Traceback" not in everything and b"reload: 1 rules active" in everything


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
    fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path
) -> None:
    """A failing notifier's URL holds a token: the error names it in privacy form only."""
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("AAA1", 1))]
    sink.status = 500
    secret_url = f"json://bot:Sup3rS3cretT0ken@127.0.0.1:{sink.port}/hook"
    rules = console_rules(tmp_path, fake_dex.url, secret_url)
    async with rulesd_process("run", str(rules), "--verbose",
                              stderr=subprocess.PIPE) as process:
        with trio.fail_after(20):
            await fake_dex.wait_connections(BOOSTS, 1)
            await fake_dex.push(BOOSTS, snapshot(boost("BBB1", 1)))
            logged = await read_until(process.stderr, b"retrying in")
        await stop(process)
    assert b"hook: json://bot:****@127.0.0.1" in logged
    assert b"did not accept the message (HTTP 500)" in logged, logged
    assert b"Sup3rS3cretT0ken" not in logged


async def test_a_second_daemon_on_one_state_database_refuses_naming_the_pid(
    fake_dex: FakeDexScreener, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """Two daemons on one state file would both send every alert: the second refuses at
    once; read-only commands work beside the running one."""
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("AAA1", 1))]
    rules = console_rules(tmp_path, fake_dex.url)
    async with rulesd_process("run", str(rules)) as process:
        with trio.fail_after(20):
            await fake_dex.wait_connections(BOOSTS, 1)
        code = await trio.to_thread.run_sync(main, ["run", str(rules)])
        err = capsys.readouterr().err
        assert code == 1
        assert f"another rulesd (PID {process.pid}) is running on the state database " \
               f"{tmp_path / 'state.db'}" in err, err
        assert await trio.to_thread.run_sync(main, ["outbox", str(rules)]) == 0
        assert "0 pending, 0 dead-lettered" in capsys.readouterr().out
        assert await stop(process) == 0
    # Stopped (or killed): the lock goes with the process.
    async with rulesd_process("run", str(rules)) as again:
        with trio.fail_after(20):
            await fake_dex.wait_connections(BOOSTS, 2)
        again.kill()


async def test_silence_commands_against_a_running_daemon_and_without_one(
    fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    rules = console_rules(tmp_path, fake_dex.url, sink.url())
    rules.write_text(rules.read_text().replace(
        "version: 1\n", f"version: 1\nhttp: {{listen: '127.0.0.1:{free_port()}'}}\n"))

    def cli(*argv: str) -> tuple[int, str]:
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    # No daemon and no database yet: nothing is created.
    code, out = cli("silence", "list", str(rules))
    assert code == 1 and f"no state database at {tmp_path / 'state.db'}" in out
    assert not (tmp_path / "state.db").exists()
    StateDB(str(tmp_path / "state.db")).close()  # as a daemon that ran once left it
    # No daemon: straight into the state database.
    code, out = cli("silence", "add", str(rules), "--rule", "boosts", "--token",
                    "solana:AAA1", "--for", "2h", "--comment", "known")
    assert code == 0 and "rule=boosts token=solana:AAA1" in out and "when one starts" in out
    code, out = cli("silence", "add", str(rules), "--rule", "bosts", "--for", "1h")
    assert code == 1 and "no rule named 'bosts' (did you mean 'boosts'?)" in out
    async with rulesd_process("run", str(rules)) as process:
        with trio.fail_after(20):
            await fake_dex.wait_connections(BOOSTS, 1)
            # The daemon read it at start: AAA1 is muted, BBB2 is not.
            await fake_dex.push(BOOSTS, snapshot(boost("AAA1", 1), boost("OLD1", 1)))
            await fake_dex.push(BOOSTS, snapshot(boost("BBB2", 1), boost("AAA1", 1),
                                                 boost("OLD1", 1)))
            await sink.wait_for(1)
            # Through the running daemon's API.
            code, out = await trio.to_thread.run_sync(
                lambda: cli("silence", "add", str(rules), "--rule", "boosts", "--chain",
                            "solana", "--for", "30m"))
            assert code == 0 and "rule=boosts chain=solana" in out, out
            silence_id = out.split()[1]
            await fake_dex.push(BOOSTS, snapshot(boost("CCC3", 1), boost("BBB2", 1),
                                                 boost("AAA1", 1), boost("OLD1", 1)))
            code, out = await trio.to_thread.run_sync(
                lambda: cli("silence", "list", str(rules)))
            assert code == 0 and out.count("active") == 2, out
            code, out = await trio.to_thread.run_sync(
                lambda: cli("silence", "expire", str(rules), silence_id))
            assert (code, out.strip()) == (0, f"silence {silence_id} expired")
            await fake_dex.push(BOOSTS, snapshot(boost("DDD4", 1), boost("CCC3", 1),
                                                 boost("BBB2", 1), boost("AAA1", 1),
                                                 boost("OLD1", 1)))
            await sink.wait_for(2)
        assert await stop(process) == 0
    assert [m["title"] for m in sink.messages] == ["Boost: BBB2 on solana",
                                                   "Boost: DDD4 on solana"]


async def test_rulesd_reload_says_applied_refused_or_needs_a_restart(
    fake_dex: FakeDexScreener, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("AAA1", 1))]
    rules = console_rules(tmp_path, fake_dex.url)
    rules.write_text(rules.read_text().replace(
        "version: 1\n", f"version: 1\nhttp: {{listen: '127.0.0.1:{free_port()}'}}\n"))
    good = rules.read_text()

    def reload() -> tuple[int, str, str]:
        code = main(["reload", str(rules)])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    code, _, err = await trio.to_thread.run_sync(reload)
    assert code == 1 and "no rulesd is running on" in err
    async with rulesd_process("run", str(rules)) as process:
        with trio.fail_after(30):
            await fake_dex.wait_connections(BOOSTS, 1)
            rules.write_text(good.replace("name: boosts", "name: boosts-2"))
            assert await trio.to_thread.run_sync(reload) == (0, f"{rules}: reloaded\n", "")
            rules.write_text(good.replace("on: boost", "on: boots"))
            code, _, err = await trio.to_thread.run_sync(reload)
            assert code == 1 and "unknown kind 'boots'" in err, err
            rules.write_text(good.replace("state.db", "elsewhere.db"))
            code, _, err = await trio.to_thread.run_sync(reload)
            assert code == 0 and "not applied: state: a change needs a restart" in err, err
        assert await stop(process) == 0


EXAMPLE = Path(__file__).parent.parent / "rules.example.yaml"


@pytest.mark.parametrize(("argv", "code", "said"), [
    (["dry-run", str(EXAMPLE), "--replay", "/nonexistent/capture.jsonl"], 1,
     "/nonexistent/capture.jsonl: cannot read the capture: No such file or directory"),
    (["dry-run", str(EXAMPLE), "--replay", "x.jsonl", "--from", "yesterday"], 2,
     "argument --from: expected epoch seconds or an ISO 8601 time"),
    (["record", str(EXAMPLE), "--out", "x.jsonl", "--duration", "10min"], 2,
     "argument --duration: expected a duration like 30s, 10m or 1h, got '10min'"),
    (["silence", "add", str(EXAMPLE), "--rule", "r", "--for", "soon"], 2,
     "argument --for: expected a duration like 30s, 10m or 1h, got 'soon'"),
])
def test_bad_arguments_are_one_line_never_a_traceback(
        argv: list[str], code: int, said: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        got = main(argv)
    except SystemExit as exc:  # argparse's usage error
        got = int(exc.code or 0)
    err = capsys.readouterr().err
    assert got == code and said in err and "Traceback" not in err, err


def test_json_logs_are_one_object_a_line_with_an_iso_utc_time(
        capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import logging
    import re

    from rulesd import logs

    logs.setup(["sekrit-token"], json=True)
    try:
        logging.getLogger("rulesd.test").warning("sent with sekrit-token: %s", "done",
                                                 extra={"notifier": "team#2", "attempt": 3})
    finally:
        logging.getLogger().handlers.clear()
    line = json.loads(capsys.readouterr().err.strip())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"]), line
    assert line["level"] == "warning" and line["logger"] == "rulesd.test"
    assert line["message"] == "sent with ***: done"
    assert (line["notifier"], line["attempt"]) == ("team#2", 3)


def test_dry_run_logs_json_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import logging

    sample = Path(__file__).parent.parent / "contrib" / "captures" / "dexscreener-sample.jsonl"
    try:
        assert main(["dry-run", str(EXAMPLE), "--replay", str(sample),
                     "--log-format", "json"]) == 0
    finally:
        logging.getLogger().handlers.clear()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines and all({"time", "level", "logger", "message"} <= set(x) for x in lines)
    assert not any("unsent alerts stay in the outbox" in x["message"] for x in lines)


def test_outbox_never_creates_a_database(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    rules = console_rules(tmp_path, "ws://127.0.0.1:9")
    assert main(["outbox", str(rules)]) == 1
    assert f"no state database at {tmp_path / 'state.db'}" in capsys.readouterr().err
    assert not (tmp_path / "state.db").exists()


def test_check_says_when_run_could_not_create_the_state_database(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    rules = console_rules(tmp_path, "ws://127.0.0.1:9")
    rules.write_text(rules.read_text().replace(str(tmp_path / "state.db"),
                                               str(blocker / "sub" / "state.db")))
    assert main(["check", str(rules)]) == 1
    err = capsys.readouterr().err
    assert f"state.path: cannot create {blocker / 'sub' / 'state.db'}" in err, err


async def test_under_systemd_it_says_ready_pings_the_watchdog_and_says_stopping(
    fake_dex: FakeDexScreener, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Type=notify: READY=1 once the sources have started, WATCHDOG=1 from the loop
    every half WatchdogSec, STOPPING=1 on SIGTERM (sd_notify's datagrams)."""
    import socket

    fake_dex.snapshots[BOOSTS] = [snapshot(boost("AAA1", 1))]
    rules = console_rules(tmp_path, fake_dex.url)
    address = str(tmp_path / "notify.sock")
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    await sock.bind(address)
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setenv("WATCHDOG_USEC", "400000")  # WatchdogSec=0.4: a ping every 0.2 s
    said: list[str] = []
    async with rulesd_process("run", str(rules)) as process:
        with trio.fail_after(20):
            while said.count("WATCHDOG=1") < 3:
                said.append((await sock.recv(1024)).decode())
            await fake_dex.wait_connections(BOOSTS, 1)
            assert await stop(process) == 0
            while said[-1] != "STOPPING=1":
                said.append((await sock.recv(1024)).decode())
    sock.close()
    assert said[0] == "READY=1" and said.count("WATCHDOG=1") >= 3


def test_the_unit_verifies_and_scores_ok_where_systemd_analyze_exists(tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys

    analyze = shutil.which("systemd-analyze")
    unit = (Path(__file__).parent.parent / "contrib" / "rulesd.service").read_text()
    assert "Type=notify" in unit and "WatchdogSec=" in unit
    assert "ExecReload=/opt/rulesd/.venv/bin/rulesd reload /etc/rulesd/rules.yaml" in unit
    if analyze is None:  # not every machine has systemd; the checks below need it
        return
    local = tmp_path / "rulesd.service"
    local.write_text(unit.replace("/opt/rulesd/.venv/bin/rulesd",
                                  str(Path(sys.executable).parent / "rulesd")))
    verify = subprocess.run([analyze, "verify", str(local)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    security = subprocess.run([analyze, "security", "--offline=yes", str(local)],
                              capture_output=True, text=True)
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", security.stdout)
    assert score and float(score.group(1)) <= 2.0 and score.group(2) == "OK", security.stdout


def test_log_level_quiets_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    sample = Path(__file__).parent.parent / "contrib" / "captures" / "dexscreener-sample.jsonl"
    try:
        for level, quiet in (("info", False), ("warning", True)):
            assert main(["dry-run", str(EXAMPLE), "--replay", str(sample),
                         "--log-level", level]) == 0
            err = capsys.readouterr().err
            assert ("baseline of" not in err) is quiet, err
    finally:
        logging.getLogger().handlers.clear()


async def test_json_log_lines_carry_the_source_and_stream_of_a_connection(
    fake_dex: FakeDexScreener, tmp_path: Path,
) -> None:
    import json

    fake_dex.snapshots[BOOSTS] = [snapshot(boost("AAA1", 1))]
    rules = console_rules(tmp_path, fake_dex.url)
    async with rulesd_process("run", str(rules), "--log-format", "json",
                              stderr=subprocess.PIPE) as process:
        with trio.fail_after(20):
            logged = await read_until(process.stderr, b'"event": "source_up"')
        assert await stop(process) == 0
    up = next(json.loads(line) for line in logged.decode().splitlines()
              if '"source_up"' in line)
    assert (up["event"], up["source"], up["stream"]) == (
        "source_up", "dexscreener", "dexscreener token-boosts/latest")
    assert up["time"].endswith("Z") and up["level"] == "info"


def test_check_with_unset_telegram_variables_prints_only_its_own_located_lines(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Apprise logs "Unparseable Telegram URL tgram://12345678/-...3" (part of a token)
    for a URL it cannot read: only rulesd's located problems are printed."""
    monkeypatch.delenv("TG_BOT_TOKEN", raising=False)
    monkeypatch.delenv("TG_CHAT_ID", raising=False)
    rules = write_rules(tmp_path, """\
        version: 1
        sources: {dexscreener: {}}
        notifiers:
          telegram: tgram://${TG_BOT_TOKEN}/${TG_CHAT_ID}
          typo: tgram://12345678/-1001234
        rules: [{name: r, on: boost, notify: [telegram, typo]}]
        """)
    assert main(["check", str(rules)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"{rules}:4:13: environment variable TG_BOT_TOKEN is not set",
        f"{rules}:4:13: environment variable TG_CHAT_ID is not set",
        f"{rules}:5:9: notifier 'typo': Apprise cannot use this tgram:// URL (unknown scheme "
        "or missing parts)",
        f"{rules}: 3 problem(s) found"], err

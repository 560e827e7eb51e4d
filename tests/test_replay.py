"""record → dry-run: captures, deterministic replays, and the same alerts as live."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import pytest
import trio

from rulesd import capture
from rulesd import loader as config
from rulesd.cli import main
from rulesd.clock import SystemClock, TrioClock
from rulesd.commands import dry_run as dryrun
from rulesd.daemon import Daemon
from tests.fakes import FakeDexScreener, HttpSink
from tests.helpers import (
    BOOSTS,
    boost,
    boost_rules,
    free_port,
    read_until,
    rulesd_process,
    snapshot,
)

ROOT = Path(__file__).parent.parent
SAMPLE = ROOT / "contrib" / "captures" / "dexscreener-sample.jsonl"
EXAMPLE = ROOT / "rules.example.yaml"


def dry_run(rules: Path, capture_file: Path, output: str = "text") -> str:
    out = io.StringIO()
    assert dryrun.replay_file(config.load(rules, env={}), str(capture_file), None, None, output,
                      out) == 0
    return out.getvalue()


def test_the_sample_capture_shows_what_the_example_rules_would_send() -> None:
    text = dry_run(EXAMPLE, SAMPLE)
    assert "2025-11-21 10:00:30 → console: Boost 9BB6NF" in text
    assert "→ console: Community takeover: 5jSCJN" in text
    # The group of new profiles waited its 30 s.
    assert "2025-11-21 10:10:40 → console: New profile: DPQxrr" in text
    assert "@everyone" not in text and "@\u200beveryone" in text
    assert re.search(r"^solana-boost\s+2\s+0\s+0\s+0\s+0$", text, re.M)
    assert re.search(r"^boosted-thrice\s+1\s", text, re.M)


def test_two_dry_runs_of_one_capture_are_byte_identical() -> None:
    assert dry_run(EXAMPLE, SAMPLE) == dry_run(EXAMPLE, SAMPLE)
    assert dry_run(EXAMPLE, SAMPLE, "json") == dry_run(EXAMPLE, SAMPLE, "json")


def test_json_output_has_one_object_per_message_and_a_summary() -> None:
    import orjson

    lines = [orjson.loads(line) for line in dry_run(EXAMPLE, SAMPLE, "json").splitlines()]
    assert lines[-1]["summary"]["solana-boost"]["fired"] == 2
    assert {"t", "notifier", "title", "body"} <= set(lines[0])


def test_malformed_capture_lines_are_reported_with_their_number_and_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    lines = SAMPLE.read_text().splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join([lines[0], "{not json", '{"t": "soon"}', *lines[1:],
                                 '{"t": 1763719200, "source": "x", "stream": "y"}']) + "\n")
    assert main(["dry-run", str(EXAMPLE), "--replay", str(broken)]) == 0
    captured = capsys.readouterr()
    assert f"{broken}:2: skipped: not JSON" in captured.err
    assert f"{broken}:3: skipped: `t` must be epoch seconds" in captured.err
    assert f"{broken}:{len(lines) + 3}: skipped: a line needs `text`" in captured.err
    assert "Boost 9BB6NF" in captured.out  # the rest replayed


def test_from_and_to_select_a_window(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dry-run", str(EXAMPLE), "--replay", str(SAMPLE),
                 "--from", "2025-11-21T10:00:00", "--to", "2025-11-21T10:02:00"]) == 0
    out = capsys.readouterr().out
    assert "Boost 9BB6NF" in out and "Community takeover" not in out


def test_binary_frames_round_trip() -> None:
    frame = capture.Frame(1763719200.5, "mobula", "pulse-v2", b"\x1f\x8b\x00")
    assert capture.parse_line(frame.to_json()) == frame


async def test_record_then_dry_run_gives_the_alerts_the_live_daemon_sent(
    nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path,
) -> None:
    rules = boost_rules(tmp_path, fake_dex.url, sink.url())
    rules.write_text(rules.read_text().replace(
        "notify: [sink]", "notify: [sink]\n    where: {amount: {gte: 10}}"))
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    recording = tmp_path / "capture.jsonl"
    with recording.open("w") as file, trio.fail_after(10):
        writer = capture.Writer(file, SystemClock())
        # What `rulesd record` does, here beside a live daemon.
        daemon = Daemon.create(config.load(rules, env={}), TrioClock(), tap=writer.tap)
        shutdown = trio.Event()
        await nursery.start(daemon.run, shutdown)
        await fake_dex.wait_connections(BOOSTS, 1)
        await fake_dex.push(BOOSTS, snapshot(boost("AAA1", 50, amount=50), boost("OLD1", 1)))
        await fake_dex.push(BOOSTS, snapshot(boost("BBB2", 5, amount=5), boost("OLD1", 1)))
        await fake_dex.push(BOOSTS, snapshot(boost("CCC3", 20, amount=20), boost("OLD1", 1)))
        live = await sink.wait_for(2)
        shutdown.set()
    replayed = await trio.to_thread.run_sync(dry_run, rules, recording)
    titles = re.findall(r"→ sink: (.*)$", replayed, re.M)
    assert titles == [m["title"] for m in live] == ["Boost: AAA1 on solana",
                                                    "Boost: CCC3 on solana"]


async def test_the_record_command_writes_a_capture_dry_run_can_replay(
    fake_dex: FakeDexScreener, tmp_path: Path,
) -> None:
    rules = boost_rules(tmp_path, fake_dex.url, "stdout")
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    out = tmp_path / "rec.jsonl"
    with trio.fail_after(20):
        async with rulesd_process("record", str(rules), "--out", str(out), "--duration", "3s",
                                  "--sources", "dexscreener") as process:
            await fake_dex.wait_connections(BOOSTS, 1)
            await fake_dex.push(BOOSTS, snapshot(boost("NEW1", 5), boost("OLD1", 1)))
            assert await process.wait() == 0  # stopped by --duration, file flushed
    frames, problems = capture.read(out)
    assert not problems
    assert [f.data is None for f in frames] == [True, False, False]  # connected, 2 frames
    replayed = await trio.to_thread.run_sync(dry_run, rules, out)
    assert "→ sink: Boost: NEW1 on solana" in replayed and "OLD1 on" not in replayed


async def test_record_of_nothing_exits_non_zero_and_says_why(tmp_path: Path) -> None:
    """Offline: no frame came in the whole --duration. Not a success, not an empty file."""
    port = free_port()  # nothing listens there
    rules = boost_rules(tmp_path, f"ws://127.0.0.1:{port}", "stdout")
    out = tmp_path / "rec.jsonl"
    with trio.fail_after(20):
        async with rulesd_process("record", str(rules), "--out", str(out), "--duration", "2s",
                                  stderr=subprocess.PIPE) as process:
            assert await process.wait() == 1
            said = await read_until(process.stderr, b"\0")
    assert f"recorded nothing to {out}: no frame came (dexscreener token-boosts/latest: " \
           f"network error: cannot connect to 127.0.0.1:{port}:".encode() in said, said
    assert not out.exists()


def test_record_refuses_an_unknown_source(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["record", str(EXAMPLE), "--out", str(tmp_path / "x"),
                 "--sources", "dexscreenr"]) == 1
    assert "unknown source(s): dexscreenr" in capsys.readouterr().err


@pytest.mark.parametrize("t", ["1e20", "-1e12"])
def test_a_line_stamped_far_away_is_a_bad_line_not_an_endless_replay(
        t: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = SAMPLE.read_text().splitlines()
    broken = tmp_path / "capture.jsonl"
    far = lines[3].replace(lines[3].split(",")[0], '{"t": ' + t)
    broken.write_text("\n".join([*lines[:3], far, *lines[4:]]) + "\n")
    text = dry_run(EXAMPLE, broken)  # ends (it once waited until the year 3e12)
    assert "→ console: Boost 9BB6NF" in text
    assert f"{broken}:4: skipped: `t` {float(t)!r} is not a time" in capsys.readouterr().err


def test_dry_run_paces_each_target_as_live_and_never_the_console(tmp_path: Path) -> None:
    """24 new profiles in one frame: the console prints all 24 (it has no rate limit,
    live or not); a Telegram chat (18/min) would get them as a digest, and the
    dry-run shows exactly that."""
    import orjson

    def profile(address: str) -> dict[str, object]:
        return {"url": f"https://dexscreener.com/solana/{address}", "chainId": "solana",
                "tokenAddress": address, "icon": None, "description": f"about {address}",
                "links": []}

    stream = "token-profiles/latest/v1"
    new = [profile(f"NEW{i:02d}") for i in range(24)]
    frames = [
        {"t": 1763719200.0, "source": "dexscreener", "stream": stream, "event": "connected"},
        {"t": 1763719200.1, "source": "dexscreener", "stream": stream,
         "text": orjson.dumps({"data": [profile("OLD1")]}).decode()},
        {"t": 1763719210.0, "source": "dexscreener", "stream": stream,
         "text": orjson.dumps({"data": [*new, profile("OLD1")]}).decode()},
    ]
    capture_file = tmp_path / "profiles.jsonl"
    capture_file.write_text("".join(orjson.dumps(f).decode() + "\n" for f in frames))
    rules = tmp_path / "rules.yaml"
    rules.write_text("""\
version: 1
sources: {dexscreener: {streams: [token-profiles/latest]}}
notifiers: {console: stdout, tg: "tgram://123456789:AAbbCCddEEff/-100777"}
rules:
  - {name: profiles, on: profile, notify: [console, tg]}
""")
    text = dry_run(rules, capture_file)
    assert len(re.findall(r"→ console: New profile: NEW\d\d", text)) == 24
    digests = re.findall(r"→ tg: (\d+) alerts in the last", text)
    tg = [line for line in text.splitlines() if "→ tg: " in line]
    assert digests and sum(map(int, digests)) + len(re.findall(r"→ tg: New profile", text)) \
        == 24, tg
    assert len(re.findall(r"→ tg: ", text)) < 24


def test_from_keeps_the_first_frame_of_the_window_as_news(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The boost at 10:00:30 is the first frame of its stream inside a window from
    10:00:20: the frames before the window built the baseline, so it is news."""
    assert main(["dry-run", str(EXAMPLE), "--replay", str(SAMPLE),
                 "--from", "2025-11-21T10:00:20Z"]) == 0
    out, err = capsys.readouterr()
    assert "frame(s) before --from replayed to build the state" in err
    assert "2025-11-21 10:00:30 → console: Boost 9BB6NF" in out
    assert not re.search(r"^2025-11-21 10:00:(0\d|1\d) →", out, re.M)  # before the window


@pytest.mark.parametrize(("field", "fired"), [("amount", 0), ("total_amount", 1)])
def test_a_boost_of_500_as_the_readme_tells_the_two_fields_apart(
        field: str, fired: int, tmp_path: Path) -> None:
    """The README: on the sample capture `amount: {gte: 500}` (one order) finds nothing
    and `total_amount: {gte: 500}` (the token in all) one boost."""
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nsources: {dexscreener: {}}\nnotifiers: {c: stdout}\n"
                     f"rules: [{{name: big, on: boost, notify: [c], where: {{{field}: "
                     "{gte: 500}}}]\n")
    assert re.search(rf"^big\s+{fired}\s", dry_run(rules, SAMPLE), re.M)

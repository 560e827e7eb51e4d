"""`rulesd dry-run CONFIG --replay FILE`: a capture through the whole daemon, printed.

The daemon runs as it would live — parsers, state, rules, cooldowns, digests,
groups, and each target's rate limit and cut — on trio's MockClock driven by the
capture's times, with notifiers that print instead of sending and an in-memory
state. No
threads and no randomness take part, so the same capture prints the same
bytes every time.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Final, TextIO

import orjson
import trio
import trio.testing

from rulesd import capture, replay
from rulesd.clock import TrioClock
from rulesd.commands.common import load_logging, typed
from rulesd.daemon import Daemon
from rulesd.delivery.notifiers import printing_notifiers
from rulesd.durations import parse_time
from rulesd.enrich.recorded import RecordedAnswers
from rulesd.events import Event
from rulesd.loader import LoadedConfig

# After the last frame, time given to groups and digests to go out.
_SETTLE_S: Final = 600.0


def summary(daemon: Daemon) -> dict[str, dict[str, int]]:
    counts = daemon.engine.runtime.counts
    digested = daemon.delivery.stats.digested
    return {
        rule.name: {
            "fired": counts[rule.name].fired,
            "suppressed_by_cooldown": counts[rule.name].cooldown,
            # recorded, not sent: a silence, an inhibition or a time interval held them
            "held": counts[rule.name].silenced + counts[rule.name].inhibited
            + counts[rule.name].muted,
            "in_digests": digested[rule.name],
            "template_errors": daemon.delivery.stats.template_failures[rule.name],
        }
        for rule in daemon.engine.ruleset.rules
    }


def _print_summary(table: dict[str, dict[str, int]], out: TextIO, output: str) -> None:
    if output == "json":
        out.write(orjson.dumps({"summary": table}).decode() + "\n")
        return
    out.write("\nrule                             fired  cooldown  held  digested  template "
              "errors\n")
    for rule, row in table.items():
        out.write(f"{rule:<32} {row['fired']:>5}  {row['suppressed_by_cooldown']:>8}  "
                  f"{row['held']:>4}  {row['in_digests']:>8}  {row['template_errors']:>15}\n")


async def _replay(loaded: LoadedConfig, frames: Sequence[capture.Frame], out: TextIO,
                  output: str, start: float | None = None) -> dict[str, dict[str, int]]:
    clock = TrioClock(epoch=frames[0].t if frames else 0.0)
    notifiers = printing_notifiers(
        {name: spec.urls for name, spec in loaded.config.notifiers.items()}, out, clock, output,
        since=start)
    done = trio.Event()
    answers = RecordedAnswers()

    async def feed(send: trio.MemorySendChannel[Event], *,
                   task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with send:
            await replay.replay(frames, loaded.sources, send.send, done, answers=answers,
                                 task_status=task_status)
            # Held open until the shutdown: a closed feed would end the engine and,
            # with it, delivery — before groups, digests and paced sends go out.
            await trio.sleep_forever()

    daemon = Daemon.create(loaded, clock, notifiers, state_path=":memory:", feed=feed,
                           replay=answers)
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(daemon.run, shutdown)
        if start is not None and frames and start > frames[0].t:
            # What came before `--from` only built the state (baselines, windows):
            # from here on alerts are printed, and counted in the summary.
            await trio.sleep(start - clock.now())
            daemon.engine.runtime.counts.clear()
            daemon.delivery.stats.digested.clear()
            daemon.delivery.stats.template_failures.clear()
        await done.wait()
        await trio.sleep(_SETTLE_S)
        shutdown.set()
    return summary(daemon)


def replay_file(loaded: LoadedConfig, path: str, start: float | None, end: float | None,
        output: str, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        frames, problems = capture.read(path)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"{path}: cannot read the capture: {reason}", file=sys.stderr)
        return 1
    for number, reason in problems:
        print(f"{path}:{number}: skipped: {reason}", file=sys.stderr)
    # Frames before `--from` are replayed too, printing nothing: they are what makes
    # the first frame of the window news rather than a baseline.
    frames = [f for f in frames if end is None or f.t <= end]
    before = sum(1 for f in frames if start is not None and f.t < start)
    if before:
        print(f"{path}: {before} frame(s) before --from replayed to build the state "
              "(baselines, windows); nothing they fire is printed", file=sys.stderr)
    table = trio.run(_replay, loaded, frames, out, output, start,
                     clock=trio.testing.MockClock(autojump_threshold=0))
    _print_summary(table, out, output)
    return 0


def add(command: argparse.ArgumentParser, shared: argparse.ArgumentParser) -> None:
    command.add_argument("config", help="the rules file (YAML)")
    command.add_argument("--replay", required=True, help="the capture file")
    command.add_argument("--from", dest="start", type=typed(parse_time),
                         help="skip frames before (epoch or ISO time)")
    command.add_argument("--to", dest="end", type=typed(parse_time),
                         help="skip frames after (epoch or ISO time)")
    command.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    loaded = load_logging(args)
    if loaded is None:
        return 1
    return replay_file(loaded, args.replay, args.start, args.end, args.format)

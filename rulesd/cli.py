"""The command line: run, check, record, dry-run, test, notify-test, outbox."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import trio

from rulesd import __version__, loader, logs, systemd
from rulesd.clock import SystemClock
from rulesd.daemon import Daemon
from rulesd.delivery.notifiers import (
    DeliveryError,
    Notifier,
    build_notifiers,
    printing_notifiers,
)
from rulesd.delivery.templates import Rendered
from rulesd.durations import parse_duration, parse_time
from rulesd.http.server import serve as web_serve
from rulesd.loader import LoadedConfig
from rulesd.state import backends
from rulesd.state.backend import StateDBError
from rulesd.state.lock import StateLock
from rulesd.state.outbox import DEAD, PENDING
from rulesd.suggest import did_you_mean
from rulesd.yaml_loader import ConfigError

log = logging.getLogger("rulesd")


def _typed(parse: Any) -> Any:
    """An argparse type from one of our parsers: its ValueError becomes argparse's
    one-line usage error (exit 2), never a traceback."""
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rulesd", description=__doc__)
    parser.add_argument("--version", action="version", version=f"rulesd {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    # Every command logs as asked: human lines or JSON, from this level up.
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--log-format", choices=("text", "json"), default="text")
    shared.add_argument("--log-level", choices=logs.LEVELS, default="info")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[shared], help=help)
    run = command("run", help="run the daemon on a rules file")
    run.add_argument("config", help="the rules file (YAML)")
    run.add_argument("--dry-run", action="store_true",
                     help="connect live but print alerts instead of sending them, and keep "
                          "no state")
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    check = command("check", help="validate a rules file")
    check.add_argument("config", help="the rules file (YAML)")
    test = command("notify-test", help="send a test message to each notifier")
    test.add_argument("config", help="the rules file (YAML)")
    test.add_argument("--notifier", help="only this notifier")
    record = command("record", help="write every raw frame to a capture file")
    record.add_argument("config", help="the rules file (YAML)")
    record.add_argument("--out", required=True, help="the capture file (JSONL, appended)")
    record.add_argument("--duration", type=_typed(parse_duration),
                        help="stop after this long (e.g. 10m)")
    record.add_argument("--sources", help="only these sources, comma-separated")
    dry = command("dry-run", help="replay a capture through the rules, print "
                                              "what would be sent")
    dry.add_argument("config", help="the rules file (YAML)")
    dry.add_argument("--replay", required=True, help="the capture file")
    dry.add_argument("--from", dest="start", type=_typed(parse_time),
                     help="skip frames before (epoch or ISO time)")
    dry.add_argument("--to", dest="end", type=_typed(parse_time),
                     help="skip frames after (epoch or ISO time)")
    dry.add_argument("--format", choices=("text", "json"), default="text")
    tests = command("test", help="run rule unit tests")
    tests.add_argument("files", nargs="+", help="test files (YAML)")
    outbox = command("outbox", help="list undelivered and dead-lettered alerts")
    outbox.add_argument("config", help="the rules file (YAML)")
    outbox.add_argument("--retry", action="store_true",
                        help="requeue dead-lettered alerts (sent at the daemon's next start)")
    reload = command("reload", help="make the running daemon read its rules "
                                                "file again (exit 1 with the problems)")
    reload.add_argument("config", help="the rules file (YAML)")
    def actions_of(parent: argparse.ArgumentParser) -> Callable[..., argparse.ArgumentParser]:
        """`rulesd PARENT ACTION …`: each action takes the shared options too."""
        actions = parent.add_subparsers(dest="action", required=True)

        def action(name: str, help: str) -> argparse.ArgumentParser:
            return actions.add_parser(name, parents=[shared], help=help)
        return action

    action = actions_of(command("silence", help="add, list or expire silences"))
    add = action("add", help="mute a rule's alerts (recorded, not sent)")
    add.add_argument("config", help="the rules file (YAML)")
    add.add_argument("--rule", required=True, help="the rule to silence")
    add.add_argument("--token", help="only this token: its key (solana:ABC…) or symbol")
    add.add_argument("--chain", help="only this chain")
    add.add_argument("--source", help="only this source")
    add.add_argument("--for", dest="duration", required=True, type=_typed(parse_duration),
                     help="how long (e.g. 2h)")
    add.add_argument("--comment", help="why, for whoever reads the list")
    listing = action("list", help="list silences")
    listing.add_argument("config", help="the rules file (YAML)")
    expire = action("expire", help="end a silence now")
    expire.add_argument("config", help="the rules file (YAML)")
    expire.add_argument("id", help="the silence's id (from `silence list`)")
    migrate = actions_of(command("state", help="manage the state database"))(
        "migrate", "move an SQLite state file into an empty PostgreSQL database")
    migrate.add_argument("--from", dest="source", required=True,
                         help="the SQLite state file (rulesd-state.db)")
    migrate.add_argument("--to", dest="target", required=True,
                         help="the PostgreSQL URL (postgresql://user@host/dbname)")
    return parser


def _load(path: str) -> LoadedConfig | None:
    try:
        loaded = loader.load(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{path}: {len(exc.problems)} problem(s) found", file=sys.stderr)
        return None
    for warning in loaded.warnings:
        print(warning, file=sys.stderr)
    return loaded


def _check(path: str) -> int:
    loaded = _load(path)
    if loaded is None:
        return 1
    state = loaded.config.state
    problem = state_folder_problem(state.path) if state.url is None else None
    if problem is not None:  # what `run` needs from the filesystem
        print(f"{path}: state.path: {problem}", file=sys.stderr)
        return 1
    print(loaded.summary())
    return 0


def state_folder_problem(db_path: str) -> str | None:
    """Why `run` could not create or write the state database at `db_path`, if so."""
    if db_path == ":memory:":
        return None
    target = Path(db_path)
    if target.exists():
        return None if os.access(target, os.W_OK) else f"{db_path} is not writable"
    folder = target.parent
    while not folder.exists():  # the nearest folder that exists must take new entries
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot create {db_path}: {folder} is not a writable folder"
    return None


def _no_database(path: str, loaded: LoadedConfig) -> bool:
    """Read-only commands never create a database file: say so when there is none."""
    problem = backends.missing(loaded.config.state)
    if problem is not None:
        print(f"{path}: {problem}", file=sys.stderr)
        return True
    return False


async def _serve(daemon: Daemon, path: str, shadow: bool = False) -> None:
    """Run the daemon; SIGTERM/SIGINT stop it, SIGHUP reloads the rules."""
    shutdown = trio.Event()
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async with trio.open_nursery() as nursery:
            # The endpoint first: /-/healthy answers while the sources connect.
            await nursery.start(web_serve, daemon, daemon.loaded.config.http, shutdown)
            await nursery.start(daemon.run, shutdown)
            if shadow:
                log.info("shadow mode (run --dry-run): live streams, every message printed "
                         "instead of sent, state in memory only (the state file is not "
                         "touched): %s", daemon.loaded.summary())
            else:
                log.info("running: %s", daemon.loaded.summary())
            systemd.notify("READY=1")  # the sources have started
            nursery.start_soon(_watchdog, shutdown)
            async for signum in signals:
                if signum == signal.SIGHUP:
                    await _reload(daemon, path)
                    continue
                log.info("received %s", signal.Signals(signum).name)
                systemd.notify("STOPPING=1")
                shutdown.set()
                break


async def _watchdog(shutdown: trio.Event) -> None:
    """systemd's watchdog pinged from the loop until the daemon is told to stop."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(systemd.watchdog)
        await shutdown.wait()
        nursery.cancel_scope.cancel()


async def _reload(daemon: Daemon, path: str) -> None:
    result = await daemon.reload_file(path)
    if not result.applied:
        log.error("reload refused, the old rules keep running:\n%s", "\n".join(result.problems))


def _reload_command(path: str) -> int:
    """`rulesd reload CONFIG` (systemd's ExecReload): 0 when applied, 1 with why not."""
    from rulesd.control import ControlError, api, daemon_running

    loaded = _load(path)
    if loaded is None:
        return 1  # the problems are printed; the daemon keeps its rules
    try:  # the daemon listening where the file says (even if its state moved)
        answer = api(loaded, "POST", "/-/reload", ok=(422,))
    except ControlError as exc:
        if loaded.config.state.url is None and not daemon_running(loaded):
            print(f"{path}: no rulesd is running on "
                  f"{backends.describe(loaded.config.state)}; nothing to reload",
                  file=sys.stderr)
        else:
            print(f"rulesd reload: {exc}", file=sys.stderr)
        return 1
    for line in answer.get("problems", []):
        print(line, file=sys.stderr)
    for part in answer.get("needs_restart", []):
        print(f"{path}: not applied: {part}", file=sys.stderr)
    if not answer.get("applied"):
        print(f"{path}: reload refused; the running rules are unchanged", file=sys.stderr)
        return 1
    print(f"{path}: reloaded")
    return 0


def _run(path: str, dry_run: bool, log_format: str, verbose: bool,
         log_level: str = "info") -> int:
    loaded = _load(path)
    if loaded is None:
        return 1
    logs.setup(loaded.secrets, json=log_format == "json", verbose=verbose, level=log_level)
    notifiers: dict[str, Notifier] | None = None
    make_notifiers = None
    state_path = None
    if dry_run:
        notifiers = printing_notifiers(
            {name: spec.urls for name, spec in loaded.config.notifiers.items()}, None,
            SystemClock())
        state_path = ":memory:"

        def make_notifiers(name: str, urls: tuple[str, ...]) -> Mapping[str, Notifier]:
            return printing_notifiers({name: urls}, None, SystemClock())
    lock = None
    try:
        # One daemon per state file: a second would send every alert again (on
        # PostgreSQL, the lease decides which instance leads).
        if state_path is not None or loaded.config.state.url is None:
            lock = StateLock.acquire(state_path or loaded.config.state.path)
        daemon = Daemon.create(loaded, SystemClock(), notifiers, state_path,
                               make_notifiers=make_notifiers)
    except (StateDBError, ValueError) as exc:
        log.error("%s", exc)
        return 1
    try:
        trio.run(_serve, daemon, path, dry_run)
    finally:
        if lock is not None:
            lock.release()
    log.info("stopped")
    return 0


def _notify_test(path: str, only: str | None, log_format: str = "text",
                 log_level: str = "info") -> int:
    loaded = _load(path)
    if loaded is None:
        return 1
    logs.setup(loaded.secrets, json=log_format == "json", level=log_level)
    urls = {name: n.urls for name, n in loaded.config.notifiers.items()}
    if only is not None:
        if only not in urls:
            print(f"{path}: no notifier named {only!r}{did_you_mean(only, urls)}",
                  file=sys.stderr)
            return 1
        urls = {only: urls[only]}
    notifiers = build_notifiers(urls)
    message = Rendered("rulesd test message",
                       "If you can read this, rulesd can reach this channel.")

    async def send_all() -> dict[str, str | None]:
        results: dict[str, str | None] = {}

        async def one(name: str, notifier: Notifier) -> None:
            try:
                await notifier.send(message)
                results[name] = None
            except DeliveryError as exc:
                results[name] = exc.summary()

        async with trio.open_nursery() as nursery:
            for name, notifier in notifiers.items():
                nursery.start_soon(one, name, notifier)
        return results

    results = trio.run(send_all)
    for name in sorted(results):
        error = results[name]
        where = notifiers[name].describe()
        print(f"{'ok  ' if error is None else 'FAIL'} {name} ({where})"
              + (f": {error}" if error else ""))
    return 0 if all(e is None for e in results.values()) else 1


def _outbox(path: str, retry: bool) -> int:
    loaded = _load(path)
    if loaded is None:
        return 1
    if _no_database(path, loaded):
        return 1
    db = backends.open_state(loaded.config.state)
    try:
        if retry:
            count = db.requeue_dead()
            print(f"requeued {count} dead-lettered alert(s); they are sent when rulesd "
                  "next starts" + (" leading" if db.shared else ""))
            return 0
        rows = db.outbox(PENDING, DEAD)
    except StateDBError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        db.close()
    for row in rows:
        d = row.delivery
        when = datetime.fromtimestamp(d.created, UTC).strftime("%Y-%m-%d %H:%M:%S")
        error = f" — {row.last_error}" if row.last_error else ""
        print(f"{row.state:<8} {when} {d.notifier} {d.rule}: {d.title} "
              f"(attempts {d.attempts}){error}")
    pending = sum(r.state == PENDING for r in rows)
    print(f"{pending} pending, {len(rows) - pending} dead-lettered")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.setup((), json=args.log_format == "json", level=args.log_level)
    try:
        if args.command == "check":
            return _check(args.config)
        if args.command == "run":
            return _run(args.config, args.dry_run, args.log_format, args.verbose,
                        args.log_level)
        if args.command == "notify-test":
            return _notify_test(args.config, args.notifier, args.log_format, args.log_level)
        if args.command == "outbox":
            return _outbox(args.config, args.retry)
        if args.command == "reload":
            return _reload_command(args.config)
        if args.command == "silence":
            loaded = _load(args.config)
            if loaded is None:
                return 1
            from rulesd import silence_cli
            from rulesd.control import daemon_running

            if not daemon_running(loaded) and _no_database(args.config, loaded):
                return 1
            return silence_cli.run(loaded, args.action, args)
        if args.command == "state":
            from rulesd import migrate

            return migrate.run(args.source, args.target)
        if args.command == "test":
            from rulesd import ruletest  # each command imports what it needs: a quick check

            logs.setup((), json=args.log_format == "json", level=args.log_level)
            return ruletest.run_files(args.files, sys.stdout)
        if args.command in ("record", "dry-run"):
            loaded = _load(args.config)
            if loaded is None:
                return 1
            logs.setup(loaded.secrets, json=args.log_format == "json", level=args.log_level)
            if args.command == "record":
                duration = args.duration
                only = [s.strip() for s in (args.sources or "").split(",") if s.strip()]
                from rulesd import record

                return record.run(loaded, args.out, duration, only)
            from rulesd import dryrun

            return dryrun.run(loaded, args.replay, args.start, args.end, args.format)
    except KeyboardInterrupt:  # Ctrl-C before the daemon took over the signals
        return 130
    except Exception as exc:  # the last line of defence: one line, never a traceback
        logging.getLogger("rulesd.bug").debug("%s failed", args.command, exc_info=True)
        print(f"rulesd {args.command}: unexpected error ({type(exc).__name__}: {exc}); "
              "this is a bug in rulesd, please report it", file=sys.stderr)
        return 1
    raise AssertionError(args.command)

"""`rulesd run CONFIG [--dry-run]`: the service, until SIGTERM or SIGINT; SIGHUP reloads
the rules. `--dry-run` is shadow mode: live streams, every message printed instead of
sent, the state in memory only."""

from __future__ import annotations

import argparse
import logging
import signal
from collections.abc import Mapping
from typing import TYPE_CHECKING

import trio

from rulesd import systemd
from rulesd.commands.common import load_logging

if TYPE_CHECKING:
    from rulesd.daemon import Daemon
    from rulesd.delivery.notifiers import Notifier

log = logging.getLogger("rulesd")


def add(command: argparse.ArgumentParser, shared: argparse.ArgumentParser) -> None:
    command.add_argument("config", help="the rules file (YAML)")
    command.add_argument("--dry-run", action="store_true",
                         help="connect live but print alerts instead of sending them, and "
                              "keep no state")
    command.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def run(args: argparse.Namespace) -> int:
    from rulesd.clock import SystemClock
    from rulesd.daemon import Daemon
    from rulesd.delivery.notifiers import printing_notifiers
    from rulesd.state.backend import StateDBError
    from rulesd.state.lock import StateLock

    loaded = load_logging(args, verbose=args.verbose)
    if loaded is None:
        return 1
    notifiers: dict[str, Notifier] | None = None
    make_notifiers = None
    state_path = None
    if args.dry_run:
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
        trio.run(_serve, daemon, args.config, args.dry_run)
    finally:
        if lock is not None:
            lock.release()
    log.info("stopped")
    return 0


async def _serve(daemon: Daemon, path: str, shadow: bool = False) -> None:
    """Run the daemon; SIGTERM/SIGINT stop it, SIGHUP reloads the rules."""
    from rulesd.http.server import serve as web_serve

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
                    result = await daemon.reload_file(path)
                    if not result.applied:
                        log.error("reload refused, the old rules keep running:\n%s",
                                  "\n".join(result.problems))
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

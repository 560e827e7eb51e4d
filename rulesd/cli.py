"""The command line: `rulesd COMMAND …`, one module per command in `rulesd.commands`."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from rulesd import __version__, logs
from rulesd.commands import COMMANDS

DESCRIPTION = "An alerting and rules daemon for crypto market data streams."


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"rulesd.commands.{COMMANDS[name][0]}")


def _parser(chosen: str | None) -> argparse.ArgumentParser:
    """Every command, with the arguments of the `chosen` one only: a command's module
    (and what it imports) is loaded when that command runs, so `check` stays quick."""
    parser = argparse.ArgumentParser(prog="rulesd", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"rulesd {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    # Every command logs as asked: human lines or JSON, from this level up.
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--log-format", choices=("text", "json"), default="text")
    shared.add_argument("--log-level", choices=logs.LEVELS, default="info")
    for name, (_, help) in COMMANDS.items():
        command = commands.add_parser(name, parents=[shared], help=help)
        if name == chosen:
            _module(name).add(command, shared)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser(next((a for a in argv if a in COMMANDS), None)).parse_args(argv)
    logs.setup((), json=args.log_format == "json", level=args.log_level)
    try:
        code: int = _module(args.command).run(args)
        return code
    except KeyboardInterrupt:  # Ctrl-C before the daemon took over the signals
        return 130
    except Exception as exc:  # the last line of defence: one line, never a traceback
        logging.getLogger("rulesd.bug").debug("%s failed", args.command, exc_info=True)
        print(f"rulesd {args.command}: unexpected error ({type(exc).__name__}: {exc}); "
              "this is a bug in rulesd, please report it", file=sys.stderr)
        return 1

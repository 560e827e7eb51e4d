"""`rulesd reload CONFIG` (systemd's ExecReload): the running daemon reads its rules file
again; exit 0 when applied (naming any part that needs a restart), 1 with every problem
when refused."""

from __future__ import annotations

import argparse
import sys

from rulesd.commands.common import load
from rulesd.commands.control import ControlError, api, daemon_running
from rulesd.state import backends


def add(command: argparse.ArgumentParser, shared: argparse.ArgumentParser) -> None:
    command.add_argument("config", help="the rules file (YAML)")


def run(args: argparse.Namespace) -> int:
    path = args.config
    loaded = load(path)
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

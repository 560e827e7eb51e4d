"""`rulesd check CONFIG`: the file validated, with a one-line summary or every problem."""

from __future__ import annotations

import argparse
import sys

from rulesd.commands.common import load, state_folder_problem


def add(command: argparse.ArgumentParser, shared: argparse.ArgumentParser) -> None:
    command.add_argument("config", help="the rules file (YAML)")


def run(args: argparse.Namespace) -> int:
    loaded = load(args.config)
    if loaded is None:
        return 1
    state = loaded.config.state
    problem = state_folder_problem(state.path) if state.url is None else None
    if problem is not None:  # what `run` needs from the filesystem
        print(f"{args.config}: state.path: {problem}", file=sys.stderr)
        return 1
    print(loaded.summary())
    return 0

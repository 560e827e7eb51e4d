"""What the commands share: argument types that fail in one line, reading a rules file
with its problems printed, and the checks of a state database's place."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rulesd import loader, logs
from rulesd.loader import LoadedConfig
from rulesd.state import backends
from rulesd.yaml_loader import ConfigError


def typed(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type from one of our parsers: its ValueError becomes argparse's
    one-line usage error (exit 2), never a traceback."""
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def actions(parent: argparse.ArgumentParser, shared: argparse.ArgumentParser
            ) -> Callable[[str, str], argparse.ArgumentParser]:
    """`rulesd PARENT ACTION …`: each action takes the shared options too."""
    sub = parent.add_subparsers(dest="action", required=True)

    def action(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[shared], help=help)
    return action


def load(path: str) -> LoadedConfig | None:
    """The rules file, its warnings printed; None with every problem printed."""
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


def load_logging(args: argparse.Namespace, verbose: bool = False) -> LoadedConfig | None:
    """`load`, then the command's logging as asked, masking the file's secrets."""
    loaded = load(args.config)
    if loaded is not None:
        logs.setup(loaded.secrets, json=args.log_format == "json", verbose=verbose,
                   level=args.log_level)
    return loaded


def no_database(path: str, loaded: LoadedConfig) -> bool:
    """Read-only commands never create a database file: say so when there is none."""
    problem = backends.missing(loaded.config.state)
    if problem is not None:
        print(f"{path}: {problem}", file=sys.stderr)
        return True
    return False


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

"""`rulesd state migrate --from rulesd-state.db --to postgresql://…`: an SQLite state
file into an empty PostgreSQL database, so a running setup moves to high
availability without a flood (seen-sets), a repeat (cooldowns, firing state) or a
lost alert (the outbox, dead letters included)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rulesd.commands.common import actions
from rulesd.state.backend import StateDBError
from rulesd.state.db import StateDB
from rulesd.state.lock import StateLock
from rulesd.state.postgres import PostgresState, display, url_problem


def migrate(source: str, target: str) -> str:
    """What was moved, in one line; StateDBError with why nothing was."""
    if not Path(source).is_file():
        raise StateDBError(f"no state file at {source}")
    problem = url_problem(target)
    if problem is not None:
        raise StateDBError(f"--to: {problem}")
    lock = StateLock.acquire(source)  # refuses while a daemon runs on the file
    try:
        sqlite = StateDB(source)
        postgres = PostgresState(target)
        try:
            leader = postgres.leader()
            if leader is not None:
                raise StateDBError(f"a rulesd leads on {postgres.where} ({leader[0]}): "
                                   "migrate into a database no instance uses yet")
            held = {table: n for table, n in postgres.counts().items() if n}
            if held:
                raise StateDBError(
                    f"{postgres.where} already holds state ("
                    + ", ".join(f"{n} {table} rows" for table, n in held.items())
                    + "): migrate into an empty database")
            moved = postgres.copy_from(sqlite)
        finally:
            sqlite.close()
            postgres.close()
    finally:
        if lock is not None:
            lock.release()
    return (f"moved {moved['seen']} seen items, {moved['memory']} remembered values "
            f"(firing state, cooldowns, first-seen, presence, watches), {moved['silences']} "
            f"silences and {moved['outbox']} outbox rows from {source} to "
            f"{display(target)}; now use `state: {{url: ...}}` in the rules file")


def add(command: argparse.ArgumentParser, shared: argparse.ArgumentParser) -> None:
    migrate_ = actions(command, shared)(
        "migrate", "move an SQLite state file into an empty PostgreSQL database")
    migrate_.add_argument("--from", dest="source", required=True,
                          help="the SQLite state file (rulesd-state.db)")
    migrate_.add_argument("--to", dest="target", required=True,
                          help="the PostgreSQL URL (postgresql://user@host/dbname)")


def run(args: argparse.Namespace) -> int:
    try:
        print(migrate(args.source, args.target))
    except StateDBError as exc:
        print(f"rulesd state migrate: {exc}", file=sys.stderr)
        return 1
    return 0

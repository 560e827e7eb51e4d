"""`rulesd silence add|list|expire CONFIG`: through the running daemon's API, or in the
state database when no daemon runs on it (the daemon reads it at its next start)."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from typing import Any

from rulesd import silences as silences_mod
from rulesd.commands.common import actions, load, no_database, typed
from rulesd.commands.control import ControlError, api, daemon_running
from rulesd.durations import parse_duration
from rulesd.loader import LoadedConfig
from rulesd.state.backend import StateDBError
from rulesd.state.backends import open_state


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _print(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        comment = f" — {row['comment']}" if row.get("comment") else ""
        print(f"{row['id']}  {row['state']:<8} until {_when(row['ends'])}  "
              f"{row['matchers']}{comment}")
    if not rows:
        print("no silences")


def add(command: argparse.ArgumentParser, shared: argparse.ArgumentParser) -> None:
    action = actions(command, shared)
    add = action("add", "mute a rule's alerts (recorded, not sent)")
    add.add_argument("config", help="the rules file (YAML)")
    add.add_argument("--rule", required=True, help="the rule to silence")
    add.add_argument("--token", help="only this token: its key (solana:ABC…) or symbol")
    add.add_argument("--chain", help="only this chain")
    add.add_argument("--source", help="only this source")
    add.add_argument("--for", dest="duration", required=True, type=typed(parse_duration),
                     help="how long (e.g. 2h)")
    add.add_argument("--comment", help="why, for whoever reads the list")
    action("list", "list silences").add_argument("config", help="the rules file (YAML)")
    expire = action("expire", "end a silence now")
    expire.add_argument("config", help="the rules file (YAML)")
    expire.add_argument("id", help="the silence's id (from `silence list`)")


def run(args: argparse.Namespace) -> int:
    loaded = load(args.config)
    if loaded is None:
        return 1
    if not daemon_running(loaded) and no_database(args.config, loaded):
        return 1
    action = args.action
    try:
        if daemon_running(loaded):
            return _with_daemon(loaded, action, args)
        return _with_database(loaded, action, args)
    except (ControlError, StateDBError, ValueError) as exc:
        print(f"rulesd silence {action}: {exc}", file=sys.stderr)
        return 1


def _fields(args: Any) -> dict[str, Any]:
    return {"rule": args.rule, "token": args.token, "chain": args.chain,
            "source": args.source, "for": args.duration, "comment": args.comment or ""}


def _with_daemon(loaded: LoadedConfig, action: str, args: Any) -> int:
    if action == "list":
        _print(api(loaded, "GET", "/api/v1/silences"))
    elif action == "add":
        made = api(loaded, "POST", "/api/v1/silences", _fields(args))
        print(f"silence {made['id']} added: {made['matchers']} until {_when(made['ends'])}")
    else:
        api(loaded, "POST", f"/api/v1/silences/{args.id}/expire")
        print(f"silence {args.id} expired")
    return 0


def _with_database(loaded: LoadedConfig, action: str, args: Any) -> int:
    db = open_state(loaded.config.state)
    later = ("the leader applies it within 5s" if db.shared
             else "no daemon is running: it takes effect when one starts")
    now = time.time()
    try:
        silences = {s.id: s for s in db.silences()}
        if action == "list":
            _print([silences_mod.view(s, now) for s in silences.values()])
            return 0
        if action == "expire":
            old = silences.get(args.id)
            if old is None:
                raise ControlError(f"no silence {args.id!r}")
            db.save_silence(silences_mod.ended(old, now))
            print(f"silence {args.id} expired")
            return 0
        silence = silences_mod.new([r.name for r in loaded.rules], _fields(args), now)
        db.save_silence(silence)
        print(f"silence {silence.id} added: {silence.describe()} until {_when(silence.ends)}"
              f" ({later})")
        return 0
    finally:
        db.close()

"""`rulesd silence add|list|expire CONFIG`: through the running daemon's API, or in the
state database when no daemon runs on it (the daemon reads it at its next start)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import Any

from rulesd import silences as silences_mod
from rulesd.control import ControlError, api, daemon_running
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


def run(loaded: LoadedConfig, action: str, args: Any) -> int:
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

"""`rulesd silence add|list|expire CONFIG`: through the running daemon's API, or in the
state database when no daemon runs on it (the daemon reads it at its next start)."""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

from rulesd.durations import parse_duration
from rulesd.loader import LoadedConfig
from rulesd.silences import Silence, new_id
from rulesd.state.db import StateDB, StateDBError
from rulesd.state.lock import StateLock
from rulesd.suggest import did_you_mean


class SilenceError(Exception):
    """Said to the user in one line."""


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _daemon_running(loaded: LoadedConfig) -> bool:
    try:
        lock = StateLock.acquire(loaded.config.state.path)
    except StateDBError:
        return True
    if lock is not None:
        lock.release()
    return False


def _api(loaded: LoadedConfig, method: str, path: str, body: Any = None) -> Any:
    http = loaded.config.http
    address = http.address
    if address is None:
        raise SilenceError("a daemon is running on this state database with its HTTP "
                           "endpoint off (http.listen: off): silences need it")
    host, port = address
    host = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}{path}"
    data = json.dumps(body).encode() if body is not None else (b"" if method == "POST"
                                                              else None)
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    if http.token:
        request.add_header("Authorization", f"Bearer {http.token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            reason = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            reason = exc.reason
        raise SilenceError(str(reason)) from None
    except OSError as exc:
        raise SilenceError(f"cannot reach the running daemon at {url}: {exc}") from None


def _view(s: Silence, now: float) -> dict[str, Any]:
    state = "active" if s.active(now) else "expired" if s.ends <= now else "pending"
    return {"id": s.id, "matchers": s.describe(), "ends": s.ends, "state": state,
            "comment": s.comment}


def _print(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        comment = f" — {row['comment']}" if row.get("comment") else ""
        print(f"{row['id']}  {row['state']:<8} until {_when(row['ends'])}  "
              f"{row['matchers']}{comment}")
    if not rows:
        print("no silences")


def run(loaded: LoadedConfig, action: str, args: Any) -> int:
    try:
        if _daemon_running(loaded):
            return _with_daemon(loaded, action, args)
        return _with_database(loaded, action, args)
    except (SilenceError, StateDBError, ValueError) as exc:
        print(f"rulesd silence {action}: {exc}", file=sys.stderr)
        return 1


def _fields(args: Any) -> dict[str, Any]:
    return {"rule": args.rule, "token": args.token, "chain": args.chain,
            "source": args.source, "for": args.duration, "comment": args.comment or ""}


def _with_daemon(loaded: LoadedConfig, action: str, args: Any) -> int:
    if action == "list":
        _print(_api(loaded, "GET", "/api/v1/silences"))
    elif action == "add":
        made = _api(loaded, "POST", "/api/v1/silences", _fields(args))
        print(f"silence {made['id']} added: {made['matchers']} until {_when(made['ends'])}")
    else:
        _api(loaded, "POST", f"/api/v1/silences/{args.id}/expire")
        print(f"silence {args.id} expired")
    return 0


def _with_database(loaded: LoadedConfig, action: str, args: Any) -> int:
    db = StateDB(loaded.config.state.path)
    now = time.time()
    try:
        silences = {s.id: s for s in db.silences()}
        if action == "list":
            _print([_view(s, now) for s in silences.values()])
            return 0
        if action == "expire":
            old = silences.get(args.id)
            if old is None:
                raise SilenceError(f"no silence {args.id!r}")
            db.save_silence(Silence(old.id, old.rule, old.starts, min(old.ends, now),
                                    old.token, old.chain, old.source, old.comment))
            print(f"silence {args.id} expired")
            return 0
        names = [r.name for r in loaded.rules]
        if args.rule not in names:
            raise SilenceError(f"no rule named {args.rule!r}{did_you_mean(args.rule, names)}")
        silence = Silence(new_id(), args.rule, now, now + parse_duration(args.duration),
                          args.token, args.chain, args.source, args.comment or "")
        db.save_silence(silence)
        print(f"silence {silence.id} added: {silence.describe()} until {_when(silence.ends)}"
              " (no daemon is running: it takes effect when one starts)")
        return 0
    finally:
        db.close()

"""Talking to the running daemon of a rules file: is one running (it holds the state
database's lock), and its HTTP API (`http.listen`, with `http.token` when set)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from rulesd.loader import LoadedConfig
from rulesd.state.db import StateDBError
from rulesd.state.lock import StateLock


class ControlError(Exception):
    """Said to the user in one line."""


def daemon_running(loaded: LoadedConfig) -> bool:
    """Whether a daemon runs on this rules file's state file (always False on
    PostgreSQL: instances on other hosts hold no local lock; commands write the
    database, which the leader reads)."""
    if loaded.config.state.url is not None:
        return False
    try:
        lock = StateLock.acquire(loaded.config.state.path)
    except StateDBError:
        return True
    if lock is not None:
        lock.release()
    return False


def api(loaded: LoadedConfig, method: str, path: str, body: Any = None,
        ok: tuple[int, ...] = ()) -> Any:
    """The JSON answer of the running daemon (statuses in `ok` are answers too)."""
    http = loaded.config.http
    address = http.address
    if address is None:
        raise ControlError("the daemon's HTTP endpoint is off (http.listen: off)")
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
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        text = exc.read()
        if exc.code in ok:
            return json.loads(text)
        try:
            reason = json.loads(text).get("error", exc.reason)
        except ValueError:
            reason = exc.reason
        raise ControlError(str(reason)) from None
    except OSError as exc:
        raise ControlError(f"cannot reach the running daemon at {url}: {exc}") from None

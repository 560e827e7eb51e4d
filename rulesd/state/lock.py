"""One daemon per state database: an OS lock on a file beside it, holding the PID.

Two `rulesd run` on one state file would both send every alert. The lock is
`flock` on `<state>.lock`: the OS releases it when the process ends, however it
ends (kill -9 included), so a stale lock file never blocks a restart. Read-only
commands (`outbox`, `silence list`, `check`) do not take it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from rulesd.state.db import StateDBError


class StateLock:
    """Held for as long as this process runs the daemon on that database."""

    def __init__(self, file: IO[str], path: str) -> None:
        self._file = file
        self.path = path

    @classmethod
    def acquire(cls, db_path: str) -> StateLock | None:
        """Take the lock of `db_path` (None for an in-memory database); StateDBError
        naming the PID that holds it when another daemon runs on it."""
        if db_path == ":memory:":
            return None
        path = f"{db_path}.lock"
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            file = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open
        except OSError as exc:
            raise StateDBError(f"cannot create the lock file {path}: {exc.strerror}") from exc
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            file.seek(0)
            holder = file.read().strip() or "unknown"
            file.close()
            raise StateDBError(
                f"another rulesd (PID {holder}) is running on the state database {db_path}; "
                "stop it first, or give this one another `state.path`") from None
        file.seek(0)
        file.truncate()
        file.write(f"{os.getpid()}\n")
        file.flush()
        return cls(file, path)

    def release(self) -> None:
        self._file.close()

"""Opening the state backend a rules file names: `state.path` (SQLite) or `state.url`
(PostgreSQL). psycopg is imported only by those who use PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from rulesd.config import StateConfig
from rulesd.state.backend import StateBackend
from rulesd.state.db import StateDB


def describe(state: StateConfig) -> str:
    """Where the state lives, for messages (never a password)."""
    if state.url is None:
        return state.path
    from rulesd.state.postgres import display

    return display(state.url)


def open_state(state: StateConfig, path: str | None = None) -> StateBackend:
    """The backend (`path` overrides the file: `:memory:` for dry-runs); StateDBError
    with a one-line reason when it cannot be opened or reached."""
    if path is None and state.url is not None:
        from rulesd.state.postgres import PostgresState

        return PostgresState(state.url)
    return StateDB(path or state.path)


def missing(state: StateConfig) -> str | None:
    """Why a read-only command has no database to read (it never creates one)."""
    if state.url is not None or state.path == ":memory:" or Path(state.path).exists():
        return None
    return f"no state database at {state.path} (has rulesd run with this file?)"


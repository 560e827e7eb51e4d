from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import trio

from rulesd.state.backend import StateBackend
from tests.fakes import FakeDexScreener, HttpSink

# The project's machines run PostgreSQL here (trust auth); CI makes sure it is up.
POSTGRES_URL = os.environ.get("RULESD_TEST_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")


def in_schema(url: str, schema: str) -> str:
    """`url` with its search_path set to `schema` (libpq's `options`)."""
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema of the test PostgreSQL, as the URL a rules file gives; dropped
    after the test. A server that cannot be reached fails the test (never a skip)."""
    import psycopg

    schema = f"rulesd_test_{secrets.token_hex(5)}"

    def admin(sql: str) -> None:  # a connection each time: a test may restart the server
        try:
            with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as conn:
                conn.execute("SET lock_timeout = '10s'")
                conn.execute(sql)
        except psycopg.OperationalError as exc:
            pytest.fail(f"the test PostgreSQL at {POSTGRES_URL} (RULESD_TEST_POSTGRES_URL) "
                        f"cannot be reached: {exc}")

    admin(f"CREATE SCHEMA {schema}")
    yield in_schema(POSTGRES_URL, schema)
    admin(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def state_spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The rules file's `state:` (a flow mapping) for each backend."""
    if request.param == "sqlite":
        return f"{{path: {tmp_path / 'state.db'}}}"
    url = request.getfixturevalue("postgres_url")
    return f'{{url: "{url}"}}'


@pytest.fixture(params=["sqlite", "postgresql"])
def open_backend(request: pytest.FixtureRequest, tmp_path: Path
                 ) -> Iterator[Callable[[], StateBackend]]:
    """Opens the state backend (again: a restart) of one place, for each backend."""
    from rulesd.state.db import StateDB
    from rulesd.state.postgres import PostgresState

    opened: list[StateBackend] = []
    if request.param == "sqlite":
        path = str(tmp_path / "state.db")

        def make() -> StateBackend:
            opened.append(StateDB(path))
            return opened[-1]
    else:
        url = request.getfixturevalue("postgres_url")

        def make() -> StateBackend:
            opened.append(PostgresState(url))
            return opened[-1]
    yield make
    for backend in opened:  # closing twice is harmless
        backend.close()


@pytest.fixture
async def fake_dex(nursery: trio.Nursery) -> FakeDexScreener:
    server = FakeDexScreener()
    await nursery.start(server.serve)
    return server


@pytest.fixture
async def sink() -> AsyncIterator[HttpSink]:
    server = HttpSink()
    yield server
    server.close()




@pytest.fixture(autouse=True)
def _no_bug_reports(request: pytest.FixtureRequest,
                    caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A source that hit an unexpected exception is kept alive but reported on
    `rulesd.bug`: any such report fails the test that caused it."""
    yield
    if request.node.get_closest_marker("expects_bug") is None:
        bugs = [r.getMessage() for r in caplog.records if r.name == "rulesd.bug"]
        assert not bugs, bugs


@pytest.fixture(autouse=True)
def _no_leftover_log_handler() -> Iterator[None]:
    """A command run in-process installs rulesd's log handler on the root logger (on
    the test's captured stderr): it goes with the test."""
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == "rulesd":
            root.removeHandler(handler)

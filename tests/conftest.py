from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest
import trio

from tests.fakes import FakeDexScreener, HttpSink


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

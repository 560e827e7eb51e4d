from __future__ import annotations

from collections.abc import AsyncIterator

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



"""Leadership in one process, on a real PostgreSQL: a leader that finds another
instance holding the lease steps down at once (sources and sends stop), stands by,
and leads a new term in the same process when the lease frees — taking over from
what is written, so nothing is lost or repeated."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import trio

from tests.fakes import FakeDexScreener, HttpSink
from tests.helpers import boost, sink_rules, snapshot, start

BOOSTS = "/token-boosts/latest/v1"


def lease(url: str, sql: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


async def test_a_leader_steps_down_when_the_lease_is_taken_and_leads_again_later(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path,
        postgres_url: str, caplog: pytest.LogCaptureFixture) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    rules = sink_rules(tmp_path, fake_dex.url, sink.url(), state=f'{{url: "{postgres_url}"}}')
    with trio.fail_after(30):
        daemon, shutdown = await start(nursery, rules)
        await fake_dex.wait_connections(BOOSTS, 1)
        await fake_dex.push(BOOSTS, snapshot(boost("CCC1", 1), boost("OLD1", 1)))
        await sink.wait_for(1)
        assert daemon.role == "leader" and daemon.leadership is not None
        assert daemon.leadership.epoch == 1
        # Another instance holds the lease now (as after this one froze for too long).
        await trio.to_thread.run_sync(lease, postgres_url, (
            "UPDATE lease SET holder='elsewhere', epoch=epoch+1, "
            "expires=clock_timestamp() + interval '1 hour'"))
        while daemon.role == "leader":  # noqa: ASYNC110 - its next renewal tells it
            await trio.sleep(0.05)
        assert any("stepping down (term 1): another instance holds the lease"
                   in r.getMessage() for r in caplog.records)
        while fake_dex._clients[BOOSTS]:  # noqa: ASYNC110 - its connection closes
            await trio.sleep(0.05)
        # News meanwhile reaches nobody here; the vendor's list keeps it.
        fake_dex.snapshots[BOOSTS] = [snapshot(boost("DDD1", 1), boost("CCC1", 1),
                                               boost("OLD1", 1))]
        await trio.sleep(1.5)
        assert len(sink.messages) == 1
        # The other instance stops: this one leads a new term and takes over.
        await trio.to_thread.run_sync(lease, postgres_url,
                                      "UPDATE lease SET expires='-infinity'")
        await fake_dex.wait_connections(BOOSTS, 2)
        await sink.wait_for(2)
        await trio.sleep(0.5)
        assert daemon.role == "leader" and daemon.leadership.epoch == 3
        assert daemon.leadership.terms == 2
        shutdown.set()
    titles = [m["title"] for m in sink.messages]
    assert titles == ["Boost: CCC1 on solana", "Boost: DDD1 on solana"]

"""Leadership in one process, on a real PostgreSQL: a leader that finds another
instance holding the lease steps down at once (sources and sends stop), stands by,
and leads a new term in the same process when the lease frees — taking over from
what is written, so nothing is lost or repeated."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import trio

from rulesd.state.postgres import PostgresState
from tests.fake_vendors import FakeCoinMarketCap
from tests.fakes import FakeDexScreener, HttpSink
from tests.helpers import BOOSTS, boost, sink_rules, snapshot, start, write_rules

CLAIMS = "/community-takeovers/latest/v1"


def lease(url: str, sql: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


def create_schema(url: str) -> None:
    """What the first instance's first use does."""
    db = PostgresState(url)
    db.load()
    db.close()


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
        # Its delivered mark written too (else the next term sends it again, rightly).
        while daemon.delivery.stats.sent < 1:  # noqa: ASYNC110 - a write in PostgreSQL
            await trio.sleep(0.02)
        assert daemon.role == "leader" and daemon.leadership is not None
        assert daemon.leadership.epoch == 1
        # Another instance holds the lease now (as after this one froze for too long).
        await trio.to_thread.run_sync(lease, postgres_url, (
            "UPDATE lease SET holder='elsewhere', epoch=epoch+1, "
            "expires=clock_timestamp() + interval '1 hour'"))
        while daemon.role == "leader":  # noqa: ASYNC110 - a real lease in PostgreSQL - its next renewal tells it
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


async def test_a_level_alert_firing_before_a_failover_stays_that_episode_after_it(
        nursery: trio.Nursery, sink: HttpSink, tmp_path: Path, postgres_url: str) -> None:
    """The firing state is in the database: the new term (here, the same process
    leading again; another host is no different) does not alert the episode again,
    and alerts the next one. The `change` window starts over (series are memory)."""
    cmc = FakeCoinMarketCap()
    await nursery.start(cmc.serve)
    rules = write_rules(tmp_path, f"""\
        version: 1
        state: {{url: "{postgres_url}"}}
        sources:
          coinmarketcap:
            api_key: good-key
            url: {cmc.url}
            subscriptions: [{{channel: market@crypto_latest_price, params: {{crypto_ids: [1]}}}}]
        notifiers: {{sink: "{sink.url()}"}}
        defaults: {{notify: [sink]}}
        rules:
          - {{name: btc-high, on: price, where: {{price: {{gt: 101}}}},
              message: "high {{{{ price }}}}"}}
          - {{name: btc-move, on: price,
              where: {{change: {{of: price, window: 5m, pct: {{gte: 5}}}}}},
              message: "move {{{{ price }}}}"}}
        """)
    btc = ("market@crypto_latest_price", {"crypto_ids": 1})
    with trio.fail_after(30):
        daemon, shutdown = await start(nursery, rules)
        await cmc.wait(lambda: len(cmc.live()) == 1 and len(cmc.live()[0].units) == 1)
        await cmc.push(*btc, {"cid": 1, "p": 100.0}, ts=1_000_000)
        await cmc.push(*btc, {"cid": 1, "p": 103.0}, ts=1_010_000)
        await sink.wait_for(1)
        # Failover: the lease goes elsewhere, then comes back to a new term.
        await trio.to_thread.run_sync(lease, postgres_url, (
            "UPDATE lease SET holder='elsewhere', epoch=epoch+1, "
            "expires=clock_timestamp() + interval '1 hour'"))
        while daemon.role == "leader":  # noqa: ASYNC110 - a real lease in PostgreSQL
            await trio.sleep(0.05)
        await trio.to_thread.run_sync(lease, postgres_url,
                                      "UPDATE lease SET expires='-infinity'")
        await cmc.wait(lambda: len(cmc.live()) == 1 and len(cmc.live()[0].units) == 1
                       and daemon.role == "leader")
        # 100 → 106 would be a 6% move in one series; the new term's series starts at
        # 106, so only 106 → 112 is (5.7%). 106 is still the first episode of `high`.
        for price, ts in ((106.0, 1_020_000), (99.0, 1_030_000), (105.0, 1_040_000),
                          (112.0, 1_050_000)):
            await cmc.push(*btc, {"cid": 1, "p": price}, ts=ts)
        await sink.wait_for(3)
        await trio.sleep(0.5)
        shutdown.set()
    assert [m["message"] for m in sink.messages] == ["high 103.0", "high 105.0", "move 112.0"]


async def test_a_standby_takes_a_reload_and_leads_with_the_new_file(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path,
        postgres_url: str) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    await trio.to_thread.run_sync(create_schema, postgres_url)
    await trio.to_thread.run_sync(lease, postgres_url, (
        "UPDATE lease SET holder='elsewhere', epoch=1, "
        "expires=clock_timestamp() + interval '1 hour'"))
    state = f'{{url: "{postgres_url}"}}'
    rules = sink_rules(tmp_path, fake_dex.url, sink.url(), state=state)
    with trio.fail_after(30):
        daemon, shutdown = await start(nursery, rules)
        while daemon.leadership is None or not daemon.leadership.reachable:  # noqa: ASYNC110 - PostgreSQL
            await trio.sleep(0.05)
        assert daemon.role == "standby"
        # Another rule and another stream: applied, nothing connects while standing by.
        changed = sink_rules(tmp_path, fake_dex.url, sink.url(), state=state,
                             rule="{name: claims, on: takeover, notify: [sink]}")
        changed.write_text(changed.read_text().replace(
            "streams: [token-boosts/latest]", "streams: [community-takeovers/latest]"))
        result = await daemon.reload_file(str(changed))
        assert result.applied and result.refused == []
        await trio.sleep(0.5)
        assert sum(fake_dex.connections.values()) == 0
        await trio.to_thread.run_sync(lease, postgres_url,
                                      "UPDATE lease SET expires='-infinity'")
        await fake_dex.wait_connections(CLAIMS, 1)
        assert daemon.role == "leader" and fake_dex.connections[BOOSTS] == 0
        assert [r.name for r in daemon.engine.ruleset.rules] == ["claims"]
        shutdown.set()

"""The state backends hold the same things and answer the same way: the SQLite file
and a real PostgreSQL (a fresh schema per test). Leadership's lease and its fencing,
and `rulesd state migrate`, against the real server."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
import trio

from rulesd.cli import main
from rulesd.silences import Silence
from rulesd.state.backend import NotLeader, StateBackend, StateDBError
from rulesd.state.db import StateDB
from rulesd.state.lock import StateLock
from rulesd.state.outbox import DEAD, DELIVERED, PENDING, SILENCED, Delivery
from rulesd.state.postgres import PostgresState
from rulesd.state.store import Changes, Watch
from tests.fakes import FakeDexScreener, HttpSink
from tests.helpers import BOOSTS, boost, boost_rules, first_run, snapshot, start


def delivery(alert: str, created: float, notifier: str = "team#1",
             silenced: str | None = None) -> Delivery:
    return Delivery(alert, notifier, created, "boosts", "boost", None, f"title {alert}",
                    f"body {alert}", silenced=silenced)


def populate(db: StateBackend) -> None:
    """A bit of everything a daemon writes."""
    db.save(Changes([("dex:boosts", "solana:A", 100.0, 10.0),
                     ("dex:boosts", "solana:B", "v2", 11.0),
                     ("dex:profiles", "solana:C", None, 12.0)], [],
                    [("firing", ("pricey", "solana:A"), [5.0, {"price": 150}]),
                     ("last_fired", ("boosts", "solana:A"), 10.0),
                     ("watches", ("sol-boost", "solana:A"),
                      Watch(10.0, 3610.0, 30.0, 0.002391, "solana", "A", None))], []),
            [delivery("a1", 1.0), delivery("a2", 2.0), delivery("a3", 3.0),
             delivery("a4", 4.0, silenced="s1")])
    db.delivered([("a1", "team#1")], 5.0)
    db.dead([("a2", "team#1")], 6.0, "HTTP 403: the bot was blocked")
    db.failed([("a3", "team#1")], "HTTP 502")
    db.save_silence(Silence("s1", "boosts", 10.0, 7200.0, token="BTC", comment="noisy"))


def contents(db: StateBackend) -> tuple[object, ...]:
    store = db.load()
    return (store.seen, {j.namespace: j.items() for j in store.journals()},
            db.silences(), db.outbox(PENDING, DEAD, DELIVERED, SILENCED), db.outbox_counts())


def test_every_table_round_trips_and_survives_a_restart(
        open_backend: Callable[[], StateBackend]) -> None:
    db = open_backend()
    populate(db)
    # The same alert evaluated again (a re-sent snapshot) is not a second row.
    db.save(Changes([], [], [], []), [delivery("a1", 9.0)])
    before = contents(db)
    db.close()
    again = open_backend()
    assert contents(again) == before
    store = again.load()
    assert {i: e.version for i, e in store.seen["dex:boosts"].items()} == \
        {"solana:A": 100.0, "solana:B": "v2"}  # a number stays a number
    assert store.seen["dex:profiles"]["solana:C"].version is None
    assert store.firing.get(("pricey", "solana:A")) is not None
    # A watch (a failover's next leader polls on from it), typed again.
    assert store.watches[("sol-boost", "solana:A")] == Watch(
        10.0, 3610.0, 30.0, 0.002391, "solana", "A", None)
    assert again.outbox_counts() == {DELIVERED: 1, DEAD: 1, PENDING: 1, SILENCED: 1}
    [pending] = again.outbox()
    assert (pending.delivery.alert_id, pending.delivery.attempts, pending.last_error) == \
        ("a3", 1, "HTTP 502")
    assert [r.delivery.alert_id for r in again.recent(10)] == ["a4", "a3", "a2", "a1"]
    [dead] = again.outbox(DEAD)
    assert dead.last_error == "HTTP 403: the bot was blocked" and dead.done_at == 6.0
    assert again.requeue_dead() == 1
    assert [r.delivery.alert_id for r in again.outbox()] == ["a2", "a3"]
    again.forget_delivered(before=5.5)
    assert "a1" not in {r.delivery.alert_id for r in again.recent(10)}


def test_rows_of_one_instant_keep_the_order_they_were_written(
        open_backend: Callable[[], StateBackend]) -> None:
    db = open_backend()
    db.save(Changes([], [], [], []), [delivery(f"x{i}", 1.0) for i in (3, 1, 2)])
    assert [r.delivery.alert_id for r in db.outbox()] == ["x3", "x1", "x2"]


def test_a_newer_schema_is_refused_with_a_clear_message(postgres_url: str) -> None:
    created = PostgresState(postgres_url)
    created.load()  # the first use creates the schema
    created.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    db = PostgresState(postgres_url)
    with pytest.raises(StateDBError, match=r"written by a newer rulesd \(schema 99; this "
                                           r"rulesd reads up to 3\): upgrade rulesd"):
        db.load()
    assert "@127.0.0.1:5432/test" in db.where and "password" not in db.where


def test_an_unreachable_server_is_one_clear_line() -> None:
    db = PostgresState("postgresql://rulesd:s3cret@127.0.0.1:1/rulesd")
    with pytest.raises(StateDBError) as info:
        db.acquire(10.0)
    message = str(info.value)
    assert message.startswith("cannot reach the state database "
                              "postgresql://rulesd@127.0.0.1:1/rulesd: ")
    assert "\n" not in message and "s3cret" not in message


def test_the_lease_has_one_holder_and_fences_the_writes_of_an_ended_term(
        postgres_url: str) -> None:
    first, second = PostgresState(postgres_url), PostgresState(postgres_url)
    try:
        assert first.acquire(10.0) == 1
        assert second.acquire(10.0) is None  # held
        assert first.renew(10.0)
        assert first.leader() is not None and first.leader()[0] == first.holder  # type: ignore[index]
        first.save(Changes([], [], [], []), [delivery("a1", 1.0), delivery("a2", 2.0)])
        # The first instance freezes; its lease runs out and the second takes over.
        first.renew(0.2)
        time.sleep(0.3)
        assert second.acquire(10.0) == 2
        assert not first.renew(10.0)  # it learns it lost
        with pytest.raises(NotLeader):
            first.delivered([("a1", "team#1")], 3.0)
        with pytest.raises(NotLeader):
            first.save(Changes([("s", "i", 1, 1.0)], [], [], []))
        assert second.claim() == 2  # the rows of term 1 are taken over
        assert [r.delivery.alert_id for r in second.outbox()] == ["a1", "a2"]
        assert second.load().seen == {}  # the fenced write left nothing
        # Silences may be saved by any instance (a standby's API, the command line).
        first.save_silence(Silence("s1", "boosts", 0.0, 60.0))
        assert [s.id for s in second.silences()] == ["s1"]
        second.release()  # a graceful stop: the lease is free at once
        assert first.acquire(10.0) == 3
    finally:
        first.close()
        second.close()


def test_migrate_moves_everything_into_an_empty_database_once(
        tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "rulesd-state.db")
    source = StateDB(path)
    populate(source)
    expected = contents(source)
    source.close()
    assert main(["state", "migrate", "--from", path, "--to", postgres_url]) == 0
    out = capsys.readouterr().out
    assert "moved 3 seen items, 3 remembered values" in out and "1 silences and 4 outbox " \
        "rows" in out
    target = PostgresState(postgres_url)
    try:
        assert contents(target) == expected
    finally:
        target.close()
    # Twice would double nothing: a database that holds state is refused.
    assert main(["state", "migrate", "--from", path, "--to", postgres_url]) == 1
    assert "already holds state" in capsys.readouterr().err


def test_migrate_refuses_what_it_cannot_do_in_one_line(
        tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "rulesd-state.db")
    StateDB(path).close()
    cases = [
        (["--from", str(tmp_path / "nope.db"), "--to", postgres_url], "no state file at"),
        (["--from", path, "--to", "mysql://db/rulesd"], "expected a URL starting with "
                                                         "postgresql://"),
    ]
    for args, expected in cases:
        assert main(["state", "migrate", *args]) == 1
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err and err.count("\n") == 1
    lock = StateLock.acquire(path)  # as a running daemon holds it
    try:
        assert main(["state", "migrate", "--from", path, "--to", postgres_url]) == 1
        assert "another rulesd (PID" in capsys.readouterr().err
    finally:
        assert lock is not None
        lock.release()


async def test_after_a_migration_the_daemon_on_postgresql_repeats_nothing(
        nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path,
        postgres_url: str) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("AAA1", 100), boost("BBB1", 100))]
    with trio.fail_after(20):
        on_file = boost_rules(tmp_path, fake_dex.url, sink.url())
        await first_run(on_file, fake_dex, sink, BOOSTS)  # C goes out
        assert await trio.to_thread.run_sync(
            main, ["state", "migrate", "--from", str(tmp_path / "state.db"),
                   "--to", postgres_url]) == 0
        fake_dex.snapshots[BOOSTS] = [snapshot(boost("CCC1", 1), boost("AAA1", 100),
                                               boost("BBB1", 100))]
        on_postgres = boost_rules(tmp_path, fake_dex.url, sink.url(),
                                  state=f'{{url: "{postgres_url}"}}')
        daemon, shutdown = await start(nursery, on_postgres)
        await fake_dex.wait_connections(BOOSTS, 2)
        await fake_dex.push(BOOSTS, snapshot(boost("DDD1", 1), boost("CCC1", 1)))
        messages = await sink.wait_for(2)
        await trio.sleep(0.5)  # anything repeated would have come by now
        shutdown.set()
    assert daemon.role == "leader"
    bodies = [str(m["message"]) for m in sink.messages]
    assert len(bodies) == 2 and "CCC1" in bodies[0] and "DDD1" in bodies[1], messages

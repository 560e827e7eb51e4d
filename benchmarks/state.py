"""What a commit costs on each state backend, side by side in one run.

A commit is what the engine writes at most every 50 ms under load: the state changes
of a batch of events (seen items upserted, firing state) and the outbox rows of the
alerts they fired, in one transaction; on PostgreSQL it also checks the lease's term
(the fence). The same commits go to an SQLite file and to PostgreSQL (a fresh schema
of RULESD_TEST_POSTGRES_URL, by default the test server), interleaved, and the
medians are compared.

Run: .venv/bin/python benchmarks/state.py
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import psycopg

from rulesd.state.backend import StateBackend
from rulesd.state.db import StateDB
from rulesd.state.outbox import Delivery
from rulesd.state.postgres import PostgresState
from rulesd.state.store import Changes

URL = os.environ.get("RULESD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SCHEMA = "rulesd_bench_state"
COMMITS = 200


def commit(db: StateBackend, n: int, events: int, alerts: int) -> float:
    changes = Changes([("dex:boosts", f"solana:T{n}-{i}", float(i), 1.0) for i in range(events)],
                      [], [("firing", ("rule", f"solana:T{n}"), [1.0, {"price": 1.0}])], [])
    deliveries = [Delivery(f"a{n}-{i}", "sink#1", 1.0, "rule", "boost", None, "title", "body")
                  for i in range(alerts)]
    began = time.perf_counter()
    db.save(changes, deliveries)
    return time.perf_counter() - began


def main() -> None:
    with psycopg.connect(URL, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        admin.execute(f"CREATE SCHEMA {SCHEMA}")
    url = f"{URL}{'&' if '?' in URL else '?'}options=-csearch_path%3D{SCHEMA}"
    with tempfile.TemporaryDirectory() as folder:
        sqlite = StateDB(str(Path(folder) / "state.db"))
        postgres = PostgresState(url)
        assert postgres.acquire(10.0) is not None  # a leader's writes are fenced
        try:
            for events, alerts in ((1, 1), (50, 5), (500, 20)):
                times: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
                for n in range(COMMITS):
                    tag = n + events * 1_000_000
                    times["sqlite"].append(commit(sqlite, tag, events, alerts))
                    times["postgresql"].append(commit(postgres, tag, events, alerts))
                s, p = (statistics.median(times[k]) * 1000 for k in ("sqlite", "postgresql"))
                print(f"commit of {events:>3} events + {alerts:>2} alerts: sqlite {s:6.2f} ms, "
                      f"postgresql {p:6.2f} ms (postgresql/sqlite {p / s:5.1f}x)")
        finally:
            sqlite.close()
            postgres.close()
    with psycopg.connect(URL, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA {SCHEMA} CASCADE")


if __name__ == "__main__":
    main()

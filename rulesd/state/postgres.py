"""The PostgreSQL state backend: several daemons on one database, one of them leads.

psycopg 3 and its connection pool, called from worker threads like the SQLite
file (no asyncio bridge). The tables are SQLite's (`sql.py`), typed; the schema
version is a row of `schema_version`, created and migrated by rulesd.

Leadership is a lease row, not an advisory lock: `lease` holds the leader's name,
a term number (`epoch`) and an expiry set by the database's clock. The leader
renews it every second on a connection of its own; a standby takes it when it has
expired. Why a row: an advisory lock lives and dies with one session, so a
restart of PostgreSQL or a broken connection ends it silently and at once, and
nothing orders the old holder's late writes against the new one's. The row
survives a restart of PostgreSQL (the leader renews it when the server is back
and keeps leading), and its epoch fences writes: every write of a leader checks,
in its own transaction, that the lease still names its term (`FOR KEY SHARE`,
which a takeover's `FOR UPDATE` waits for), so a leader that lost the lease can
never write over its successor — its write fails with NotLeader.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Final

import orjson
import psycopg
import psycopg_pool
from psycopg import conninfo

from rulesd.state.backend import NotLeader, StateBackend, StateDBError
from rulesd.state.sql import SCHEMA_VERSION, Sql, newer_schema
from rulesd.state.store import Version

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL);
CREATE TABLE IF NOT EXISTS seen (
    scope text NOT NULL, item text NOT NULL, version text,
    last_seen double precision NOT NULL, PRIMARY KEY (scope, item)
);
CREATE TABLE IF NOT EXISTS memory (
    ns text NOT NULL, key text NOT NULL, value text NOT NULL, PRIMARY KEY (ns, key)
);
CREATE TABLE IF NOT EXISTS silences (
    id text PRIMARY KEY, rule text NOT NULL, starts double precision NOT NULL,
    ends double precision NOT NULL, token text, chain text, source text,
    comment text NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS outbox (
    alert_id text NOT NULL, notifier text NOT NULL, created double precision NOT NULL,
    rule text NOT NULL, kind text NOT NULL, grp text, title text NOT NULL,
    body text NOT NULL, state text NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0, last_error text, done_at double precision,
    epoch bigint NOT NULL DEFAULT 0, seq bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (alert_id, notifier)
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, created);
CREATE TABLE IF NOT EXISTS lease (
    name text PRIMARY KEY, holder text NOT NULL, epoch bigint NOT NULL,
    expires timestamptz NOT NULL, since timestamptz
);
INSERT INTO lease (name, holder, epoch, expires) VALUES ('leader', '', 0, '-infinity')
    ON CONFLICT DO NOTHING;
"""
_MIGRATING: Final = 0x72756C6573  # an advisory lock: two instances never migrate at once
# libpq's own settings: fail fast and notice a dead server within seconds.
_CONNECT: Final[dict[str, Any]] = {
    "connect_timeout": 3, "application_name": "rulesd", "keepalives": 1,
    "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 2}
POOL_TIMEOUT_S: Final = 5.0
# The pool logs every failed reconnection as a warning of several lines; rulesd says
# once, in its own words, what an outage means (leadership.py, daemon.py).
logging.getLogger("psycopg.pool").setLevel(logging.ERROR)


def display(url: str) -> str:
    """The URL without its password (for messages, the status page and logs)."""
    try:
        params = conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://…"
    user = f"{params['user']}@" if params.get("user") else ""
    host = str(params.get("host", "localhost"))
    port = f":{params['port']}" if params.get("port") else ""
    return f"postgresql://{user}{host}{port}/{params.get('dbname', '')}"


def url_problem(url: str) -> str | None:
    """Why `url` is not a PostgreSQL connection URL, if it is not (no connection made)."""
    if not url.startswith(("postgresql://", "postgres://")):
        return "expected a URL starting with postgresql:// (postgresql://user@host/dbname)"
    try:
        conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        return f"not a valid PostgreSQL URL: {_reason(exc)}"
    return None


def password(url: str) -> str | None:
    """The URL's password (a secret: masked wherever rulesd writes)."""
    try:
        return conninfo.conninfo_to_dict(url).get("password") or None  # type: ignore[return-value]
    except psycopg.ProgrammingError:
        return None


def _reason(exc: BaseException) -> str:
    """libpq's message on one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


class _Postgres:
    """`Sql` over a psycopg connection: `?` placeholders become `%s`."""

    insertion_order = "seq"

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(sql.replace("?", "%s"), params).rowcount

    def many(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        if params:
            with self._conn.cursor() as cursor:
                cursor.executemany(sql.replace("?", "%s"), params)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql.replace("?", "%s"), params).fetchall()

    def version_in(self, version: Version) -> Any:
        return orjson.dumps(version).decode()  # a number stays a number when read back

    def version_out(self, stored: Any) -> Version:
        return None if stored is None else orjson.loads(stored)


class PostgresState(StateBackend):
    shared = True

    def __init__(self, url: str) -> None:
        """No connection yet: the first call connects (and creates or migrates the
        schema), so a daemon started while the database is down stands by and retries."""
        self.url = url
        self.where = display(url)
        # Who this process is in the lease row: host, PID and a nonce (PIDs repeat).
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._lease_conn: psycopg.Connection[Any] | None = None
        self._lease_lock = threading.Lock()
        self._open_lock = threading.Lock()
        self._pool: psycopg_pool.ConnectionPool[Any] | None = None

    def _opened(self) -> psycopg_pool.ConnectionPool[Any]:
        """The pool, once the schema is there (created or migrated on first use)."""
        with self._open_lock:
            if self._pool is None:
                try:
                    with psycopg.connect(self.url, autocommit=True, **_CONNECT) as conn:
                        self._migrate(conn)
                except psycopg.OperationalError as exc:
                    raise StateDBError(f"cannot reach the state database {self.where}: "
                                       f"{_reason(exc)}") from exc
                except psycopg.Error as exc:  # reached, but refused (rights, say)
                    raise StateDBError(f"cannot use the state database {self.where}: "
                                       f"{_reason(exc)}") from exc
                self._pool = psycopg_pool.ConnectionPool(
                    self.url, kwargs=dict(_CONNECT), min_size=1, max_size=4, open=False,
                    check=psycopg_pool.ConnectionPool.check_connection,
                    timeout=POOL_TIMEOUT_S, reconnect_timeout=86400.0, name="rulesd")
                self._pool.open(wait=False)
            return self._pool

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATING,))
            exists = conn.execute(
                "SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
            version = 0
            if exists and exists[0]:
                row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
                version = row[0] if row and row[0] is not None else 0
            if version > SCHEMA_VERSION:
                raise StateDBError(newer_schema(self.where, version))
            if version < SCHEMA_VERSION:
                conn.execute(_SCHEMA)
                conn.execute("DELETE FROM schema_version")
                conn.execute("INSERT INTO schema_version VALUES (%s)", (SCHEMA_VERSION,))

    @contextlib.contextmanager
    def _connection(self, what: str) -> Iterator[psycopg.Connection[Any]]:
        pool = self._opened()
        try:
            with pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            # The server went away. The pool would reconnect on its own, but with a
            # back-off that doubles for as long as the outage lasts (15 s late after a
            # 45 s outage, measured): drop it, and the next call connects at once.
            self._discard(pool)
            raise StateDBError(f"cannot {what} ({self.where}): {_reason(exc)}") from exc
        except psycopg.Error as exc:
            raise StateDBError(f"cannot {what} ({self.where}): {_reason(exc)}") from exc

    def _discard(self, pool: psycopg_pool.ConnectionPool[Any]) -> None:
        with self._open_lock:
            if self._pool is not pool:
                return  # another call did it already
            self._pool = None
        pool.close(timeout=0)

    @contextlib.contextmanager
    def _read(self) -> Iterator[Sql]:
        with self._connection("read the state database") as conn:
            yield _Postgres(conn)

    @contextlib.contextmanager
    def _write(self, what: str, fenced: bool = True) -> Iterator[Sql]:
        with self._connection(what) as conn, conn.transaction():
            if fenced and self.epoch:
                still = conn.execute(
                    "SELECT 1 FROM lease WHERE name='leader' AND holder=%s AND epoch=%s "
                    "FOR KEY SHARE", (self.holder, self.epoch)).fetchone()
                if still is None:
                    raise NotLeader(f"cannot {what}: this instance no longer holds the "
                                    f"lease (term {self.epoch} ended)")
            yield _Postgres(conn)

    # The lease, on a connection of its own (a renewal never waits for the pool).
    def _lease(self, query: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
        if not self._lease_lock.acquire(timeout=0):
            raise StateDBError("the previous lease call has not returned")
        try:
            self._opened()
            if self._lease_conn is None or self._lease_conn.closed:
                self._lease_conn = psycopg.connect(self.url, autocommit=True, **_CONNECT)
                self._lease_conn.execute("SET statement_timeout = 2000")
            with self._lease_conn.transaction():
                return self._lease_conn.execute(query, params).fetchone()
        except psycopg.Error as exc:
            if self._lease_conn is not None:
                self._lease_conn.close()
            self._lease_conn = None
            raise StateDBError(
                f"cannot reach the state database {self.where}: {_reason(exc)}") from exc
        finally:
            self._lease_lock.release()

    def acquire(self, lease_s: float) -> int | None:
        """Take the lease if it has expired (or still names this process): the new
        epoch, or None while another instance holds it."""
        row = self._lease(
            "WITH current AS (SELECT name FROM lease WHERE name='leader' AND "
            "(expires < clock_timestamp() OR holder=%s) FOR UPDATE) "
            "UPDATE lease SET holder=%s, epoch=lease.epoch+1, since=clock_timestamp(), "
            "expires=clock_timestamp() + %s * interval '1 second' "
            "FROM current WHERE lease.name=current.name RETURNING lease.epoch",
            (self.holder, self.holder, lease_s))
        if row is None:
            return None
        self.epoch = int(row[0])
        return self.epoch

    def renew(self, lease_s: float) -> bool:
        """Extend this term's lease; False when another instance has taken it."""
        row = self._lease(
            "UPDATE lease SET expires=clock_timestamp() + %s * interval '1 second' "
            "WHERE name='leader' AND holder=%s AND epoch=%s RETURNING 1",
            (lease_s, self.holder, self.epoch))
        return row is not None

    def release(self) -> None:
        """End this term now (a graceful stop): a standby takes over at its next try."""
        self._lease("UPDATE lease SET expires='-infinity' WHERE name='leader' AND "
                    "holder=%s AND epoch=%s RETURNING 1", (self.holder, self.epoch))

    def leader(self) -> tuple[str, int, float] | None:
        """Who holds the lease: (holder, epoch, seconds until it expires), if anyone."""
        row = self._lease(
            "SELECT holder, epoch, extract(epoch FROM expires - clock_timestamp()) "
            "FROM lease WHERE name='leader' AND expires > clock_timestamp()", ())
        return None if row is None else (row[0], int(row[1]), float(row[2]))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        with self._lease_lock:
            if self._lease_conn is not None:
                self._lease_conn.close()

"""The scale-out pair's state in PostgreSQL: apps, tokens, users and their aliases, defined
events, deletion requests and the dashboard's own rows (events are in ClickHouse, clickhouse.py).

Any number of collectors share one database. Every write runs in a SERIALIZABLE transaction,
retried when PostgreSQL reports a conflict with a concurrent one, so two collectors that see the
same user at once end as if one had gone first: exactly the merges seed 002 describes.
`PostgresIdentity` is the `IdentityTransaction` that `collector.identity` applies them through.
psycopg is used synchronously from worker threads, so one pool serves every event loop.
"""

import asyncio
import random
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import psycopg
import psycopg.errors
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool, PoolTimeout

from collector.clock import now_ms
from collector.storage.base import KnownUser, StorageError, StorageUnavailable
from collector.storage.state_sql import POSTGRES as SQL
from collector.storage.state_sql import POSTGRES_TABLES as TABLES
from collector.storage.state_sql import StateIdentity
from collector.storage.stored_json import dumps

T = TypeVar("T")

SCHEME = "postgresql"
CONNECTIONS = 8
MAX_ATTEMPTS = 20  # of one transaction that keeps meeting concurrent ones
# What a retry fixes: a concurrent transaction got there first.
RETRIED = (
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
    psycopg.errors.UniqueViolation,
)

# Columns holding a user's values have no planner statistics: ANALYZE would copy sample values
# into pg_statistic, where a deletion could not reach them.
SCHEMA = "\n".join([
    """
CREATE TABLE IF NOT EXISTS apps (
    app_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    api_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    project_of TEXT NULL
);""",
    TABLES.app_bridge_origins,
    """
-- A merged user keeps its row, with `merged_into` naming its canonical user (the alias: chains
-- are flattened when written); `seq` is the order users were made in.
CREATE TABLE IF NOT EXISTS users (
    app_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    identity TEXT NULL,
    properties TEXT NOT NULL DEFAULT '{}',
    first_seen BIGINT NULL,
    last_seen BIGINT NULL,
    merged_into TEXT NULL,
    initial_properties TEXT NULL,  -- Heap's, set once; NULL: none yet
    account_properties TEXT NOT NULL DEFAULT '{}',
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (app_id, user_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS users_by_identity ON users (app_id, identity)
    WHERE identity IS NOT NULL AND merged_into IS NULL;
CREATE INDEX IF NOT EXISTS users_by_merged_into ON users (app_id, merged_into)
    WHERE merged_into IS NOT NULL;
ALTER TABLE users ALTER COLUMN user_id SET STATISTICS 0,
    ALTER COLUMN identity SET STATISTICS 0, ALTER COLUMN properties SET STATISTICS 0,
    ALTER COLUMN merged_into SET STATISTICS 0, ALTER COLUMN initial_properties SET STATISTICS 0,
    ALTER COLUMN account_properties SET STATISTICS 0;""",
    TABLES.applied_records,
    """
CREATE TABLE IF NOT EXISTS warnings (
    app_id TEXT NOT NULL,
    time BIGINT NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    user_id TEXT NULL,  -- of `detail`, so that a deletion finds them
    identity TEXT NULL,
    detail TEXT NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX IF NOT EXISTS warnings_by_time ON warnings (app_id, time);
ALTER TABLE warnings ALTER COLUMN message SET STATISTICS 0,
    ALTER COLUMN user_id SET STATISTICS 0, ALTER COLUMN identity SET STATISTICS 0,
    ALTER COLUMN detail SET STATISTICS 0;""",
    TABLES.server_identifies,
    """
ALTER TABLE server_identifies ALTER COLUMN identity SET STATISTICS 0,
    ALTER COLUMN user_id SET STATISTICS 0;""",
    TABLES.auth_tokens,
    """
CREATE TABLE IF NOT EXISTS deletion_requests (
    deletion_request_id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    users TEXT NOT NULL,  -- '[]' once erased: only `user_hashes` are kept
    user_hashes TEXT NULL,
    status TEXT NOT NULL,  -- pending, erased (rows gone, files not yet), complete
    requested_at BIGINT NOT NULL,
    completed_at BIGINT NULL
);
ALTER TABLE deletion_requests ALTER COLUMN users SET STATISTICS 0;""",
    TABLES.defined_events,
    TABLES.installation_secret,
    TABLES.dashboard_sessions,
])  # fmt: skip
# Tables whose rows hold a user's values: rewritten after a deletion (VACUUM FULL), so that no
# dead row version keeps them on disk.
USER_VALUE_TABLES = ("users", "warnings", "server_identifies", "deletion_requests")


@dataclass(frozen=True)
class PostgresAddress:
    """Where the state lives: `postgresql://USER[:PASSWORD]@HOST:PORT/DATABASE`."""

    url: str
    host: str
    port: int
    database: str

    @classmethod
    def parse(cls, url: str) -> "PostgresAddress":
        """The address in `url`; ValueError saying what is wrong with it."""
        parts = urlsplit(url)
        database = parts.path.strip("/")
        if parts.scheme not in (SCHEME, "postgres") or not parts.hostname or not database:
            raise ValueError(
                f"{url!r} is not a PostgreSQL address: write postgresql://USER@HOST:PORT/DATABASE"
            )
        return cls(url=url, host=parts.hostname, port=parts.port or 5432, database=database)


class Postgres:
    """A pool of connections used from worker threads; every failure comes out as
    StorageUnavailable, and `transaction` retries the conflicts that concurrency causes."""

    def __init__(self, address: PostgresAddress) -> None:
        self.address = address
        self._pool = ConnectionPool(
            address.url,
            min_size=1,
            max_size=CONNECTIONS,
            kwargs={"row_factory": tuple_row},
            open=False,
            timeout=30,
        )
        try:
            self._pool.open(wait=True, timeout=10)
        except PoolTimeout as error:
            self._pool.close()
            raise StorageUnavailable(
                f"PostgreSQL at {address.host}:{address.port}: cannot connect"
            ) from error
        self._threads = ThreadPoolExecutor(CONNECTIONS, thread_name_prefix="footfall-postgres")

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection (autocommit off: the caller's statements form a transaction)."""
        try:
            with self._pool.connection() as conn:
                yield conn
        except PoolTimeout as error:
            raise StorageUnavailable(self._where() + "no connection free in time") from error
        except psycopg.OperationalError as error:
            raise StorageUnavailable(self._where() + _first_line(error)) from error

    def transaction(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """`work(conn)` in one SERIALIZABLE transaction, in this thread; run again from the
        start when a concurrent transaction conflicts with it."""
        for attempt in range(MAX_ATTEMPTS):
            with self.connection() as conn:
                conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
                try:
                    with conn.transaction():
                        return work(conn)
                except RETRIED:
                    if attempt == MAX_ATTEMPTS - 1:
                        raise StorageUnavailable(
                            self._where() + "too many concurrent conflicts"
                        ) from None
                except psycopg.OperationalError as error:
                    raise StorageUnavailable(self._where() + _first_line(error)) from error
            time.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 6)))  # let the other finish
        raise AssertionError("unreachable")

    def read(self, query: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """The rows of one query, in this thread."""
        with self.connection() as conn:
            try:
                return conn.execute(query, params).fetchall()
            finally:
                conn.rollback()

    def holds(self, needle: bytes) -> bool:
        """Whether any text column of any of our tables holds the bytes `needle` (in UTF-8)."""
        columns = self.read(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND data_type IN ('text', 'bytea')"
        )
        return any(
            self.read(
                f'SELECT 1 FROM "{table}"'
                f" WHERE position(%s::bytea IN convert_to(\"{column}\"::text, 'UTF8')) > 0"
                " LIMIT 1",
                (needle,),
            )
            for table, column in columns
        )

    def check_erasable(self) -> None:
        """StorageError unless a deletion here can be an erasure: with `wal_recycle` on, a
        recycled WAL segment keeps the deleted rows' bytes until it is overwritten."""
        [[recycle]] = self.read("SHOW wal_recycle")
        if recycle != "off":
            raise StorageError(
                self._where() + "wal_recycle is on, so the WAL would keep deleted users' values;"
                " set wal_recycle = off (docs/clickhouse.md, Deletion is erasure) and the"
                " deletion finishes at the next start"
            )

    def autocommit(self, *statements: str) -> None:
        """Run statements outside a transaction (VACUUM, CHECKPOINT need that)."""
        with self.connection() as conn:
            conn.autocommit = True
            try:
                for statement in statements:
                    conn.execute(statement)
            finally:
                conn.autocommit = False

    async def run(self, work: Callable[[], T]) -> T:
        """`work` in one of the worker threads."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, work)

    def create_schema(self) -> None:
        """Create the tables when missing (collectors starting together take turns)."""
        with self.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('footfall schema'))")
            conn.execute(SCHEMA)
            conn.execute(
                "INSERT INTO installation_secret (id, secret) VALUES (1, %s)"
                " ON CONFLICT DO NOTHING",
                (secrets.token_bytes(32),),
            )

    def _where(self) -> str:
        return f"PostgreSQL at {self.address.host}:{self.address.port}: "

    def close(self) -> None:
        """Finish running work and close the pool."""
        self._threads.shutdown(wait=True)
        self._pool.close()


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


class PostgresIdentity(StateIdentity[psycopg.Connection[Any]]):
    """`IdentityTransaction` on one connection inside `Postgres.transaction`, for one app. A
    primitive that finds a user id or identity taken reports it (False); a conflict PostgreSQL
    detects with a concurrent transaction runs the whole transaction again."""

    _sql = SQL

    def canonical_user(self, user_id: str) -> KnownUser | None:
        row = self._one(
            "SELECT COALESCE(c.user_id, u.user_id),"
            " CASE WHEN c.user_id IS NULL THEN u.identity ELSE c.identity END"
            " FROM users u LEFT JOIN users c ON c.app_id = u.app_id AND c.user_id = u.merged_into"
            " WHERE u.app_id = %s AND u.user_id = %s",
            user_id,
        )
        return None if row is None else KnownUser(row[0], row[1])

    def identity_holder(self, identity: str) -> KnownUser | None:
        row = self._one(
            "SELECT user_id FROM users WHERE app_id = %s AND identity = %s AND merged_into IS NULL",
            identity,
        )
        return None if row is None else KnownUser(row[0], identity)

    def claim_identity(self, user_id: str, identity: str) -> bool:
        if self.identity_holder(identity) is not None:
            return False
        cursor = self.conn.execute(
            "UPDATE users SET identity = %s WHERE app_id = %s AND user_id = %s"
            " AND identity IS NULL AND merged_into IS NULL",
            (identity, self.app_id, user_id),
        )
        return cursor.rowcount == 1

    def add_alias(self, from_user: str, to_user: str) -> None:
        self.conn.execute(
            "UPDATE users SET merged_into = %s"
            " WHERE app_id = %s AND (merged_into = %s OR user_id = %s)",
            (to_user, self.app_id, from_user, from_user),
        )
        self.conn.execute(SQL.forget_merged_properties, (self.app_id, from_user))

    def touch(self, user_id: str, first_ms: int, last_ms: int) -> None:
        self.touch_all({user_id: (first_ms, last_ms)})

    def touch_all(self, spans: Mapping[str, tuple[int, int]]) -> None:
        """`touch` for many users in one statement (in one order, so no two deadlock)."""
        with self.conn.cursor() as cursor:
            cursor.executemany(
                "UPDATE users SET first_seen = LEAST(first_seen, %s),"
                " last_seen = GREATEST(last_seen, %s) WHERE app_id = %s AND user_id = %s",
                [(first, last, self.app_id, user) for user, (first, last) in sorted(spans.items())],
            )

    def add_warning(self, kind: str, message: str, detail: Mapping[str, object]) -> None:
        self.conn.execute(
            "INSERT INTO warnings (app_id, time, kind, message, user_id, identity, detail)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (self.app_id, now_ms(), kind, message, _text_or_none(detail.get("user_id")),
             _text_or_none(detail.get("identity")), dumps(detail)),
        )  # fmt: skip


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)

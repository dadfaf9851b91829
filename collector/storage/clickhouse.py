"""Events in ClickHouse (the scale-out pair's event half; PostgreSQL keeps the state, postgres.py).

Written for the oldest ClickHouse the project runs on, Debian's 18.16 (docs/clickhouse.md says
what a current one does better). Events live in a `ReplacingMergeTree` ordered by
(app_id, event_id): a retried event that two collectors both stored collapses into one row when
parts merge, and every read says `FINAL` so that it counts once before that. Each stored event
keeps the user id it was sent with; merges are applied when reading, from PostgreSQL's aliases.
Rows from concurrent requests are inserted together, thousands to an INSERT (`InsertBatcher`).
A deletion is an `ALTER TABLE ... DELETE` mutation, waited for until it is done and the parts it
replaced have left the disk.
"""

import asyncio
import queue
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import clickhouse_driver
import clickhouse_driver.errors

from collector.storage.base import StorageError

T = TypeVar("T")
Row = tuple[Any, ...]

SCHEME = "clickhouse"
CONNECTIONS = 4  # native-protocol connections per collector; each query holds one
MAX_ROWS_PER_INSERT = 10_000
BATCH_WAIT_S = 0.02  # how long a first row waits for others to share its INSERT
MUTATION_TIMEOUT_S = 3600.0  # a deletion that takes longer fails and is retried later
POLL_S = 0.2

EVENT_COLUMNS = (
    "app_id", "event_id", "user_id", "session_id", "pageview_id", "type", "name", "time",
    "received_at", "properties", "page", "target", "source", "session",
)  # fmt: skip

# `received_at` is the version: of two copies of one event, the later-received one stays.
EVENTS_TABLE = """
CREATE TABLE IF NOT EXISTS {database}.events (
    app_id String,
    event_id String,
    user_id String,
    session_id Nullable(String),
    pageview_id Nullable(String),
    type String,
    name String,
    time Int64,
    received_at Int64,
    properties String,
    page Nullable(String),
    target Nullable(String),
    source String,
    session Nullable(String)
) ENGINE = ReplacingMergeTree(received_at)
ORDER BY (app_id, event_id)
"""


@dataclass(frozen=True)
class ClickHouseAddress:
    """Where the events live: `clickhouse://HOST:PORT/DATABASE` (native protocol port)."""

    host: str
    port: int
    database: str
    user: str = "default"
    password: str = ""

    @classmethod
    def parse(cls, url: str) -> "ClickHouseAddress":
        """The address in `url`; ValueError saying what is wrong with it."""
        parts = urlsplit(url)
        database = parts.path.strip("/")
        if parts.scheme != SCHEME or not parts.hostname or not database:
            raise ValueError(
                f"{url!r} is not a ClickHouse address: write clickhouse://HOST:PORT/DATABASE"
            )
        if not database.replace("_", "").isalnum():
            raise ValueError(f"ClickHouse database name {database!r}: use letters, digits and _")
        return cls(
            host=parts.hostname,
            port=parts.port or 9000,
            database=database,
            user=parts.username or "default",
            password=parts.password or "",
        )


class ClickHouse:
    """A few native-protocol connections to one database, used from worker threads (the
    driver is synchronous); every failure comes out as StorageError."""

    def __init__(self, address: ClickHouseAddress) -> None:
        self.address = address
        self.database = address.database
        self._idle: queue.LifoQueue[clickhouse_driver.Client] = queue.LifoQueue()
        for _ in range(CONNECTIONS):
            self._idle.put(self._new_client())
        self._threads = ThreadPoolExecutor(CONNECTIONS, thread_name_prefix="footfall-clickhouse")

    def _new_client(self) -> clickhouse_driver.Client:
        return clickhouse_driver.Client(
            host=self.address.host,
            port=self.address.port,
            user=self.address.user,
            password=self.address.password,
            database="default",  # ours may not exist yet: statements name it
            connect_timeout=5,
            send_receive_timeout=300,
            settings={"use_client_time_zone": False},
        )

    @contextmanager
    def _client(self) -> Iterator[clickhouse_driver.Client]:
        client = self._idle.get()
        try:
            yield client
        except (clickhouse_driver.errors.Error, OSError, EOFError) as error:
            client.disconnect()
            raise StorageError(
                f"ClickHouse at {self.address.host}:{self.address.port}: {_first_line(error)}"
            ) from error
        finally:
            self._idle.put(client)

    def execute(self, sql: str, params: Any = None, **options: Any) -> list[Row]:
        """Run one statement here, in this thread; its rows."""
        with self._client() as client:
            rows: list[Row] = client.execute(sql, params, **options)
            return rows

    def iterate(self, sql: str, params: Any = None) -> Iterator[Row]:
        """Rows of one query, streamed block by block (for exports of any size)."""
        with self._client() as client:
            settings = {"max_block_size": 10_000}
            yield from client.execute_iter(sql, params, settings=settings)

    async def run(self, work: Callable[[], T]) -> T:
        """`work` in one of the worker threads (it may call `execute`)."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, work)

    async def query(self, sql: str, params: Any = None, **options: Any) -> list[Row]:
        """Run one statement in a worker thread; its rows."""
        return await self.run(lambda: self.execute(sql, params, **options))

    def create_schema(self) -> None:
        """Create the database and the events table when missing."""
        self.execute(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        self.execute(EVENTS_TABLE.format(database=self.database))

    def insert_events(self, rows: Sequence[Row]) -> None:
        """Insert event rows (`EVENT_COLUMNS` order) in one INSERT."""
        self.execute(
            f"INSERT INTO {self.database}.events ({', '.join(EVENT_COLUMNS)}) VALUES", list(rows)
        )

    def delete_events(self, app_id: str, user_ids: Sequence[str]) -> None:
        """Delete the events of these users with a mutation; return once it is done and the
        parts it rewrote are gone from the disk (so their bytes are too).

        The ids travel in a Memory table, not in the mutation's text: ClickHouse keeps that text
        in a file beside the table's parts after the mutation is done.
        """
        ids = self._with_id_table(user_ids)
        try:
            before = self._active_parts()
            self.execute(
                f"ALTER TABLE {self.database}.events DELETE WHERE app_id = %(app_id)s"
                f" AND user_id IN (SELECT user_id FROM {self.database}.{ids})",
                {"app_id": app_id},
            )
            self._wait(self._mutations_done, "the deletion's mutation to finish")
        finally:
            self.execute(f"DROP TABLE IF EXISTS {self.database}.{ids}")
        self._wait(lambda: not before & self._all_parts(), "the rewritten parts to be removed")

    def _with_id_table(self, user_ids: Sequence[str]) -> str:
        name = "deleting_" + secrets.token_hex(6)
        self.execute(f"CREATE TABLE {self.database}.{name} (user_id String) ENGINE = Memory")
        self.execute(
            f"INSERT INTO {self.database}.{name} (user_id) VALUES", [(u,) for u in user_ids]
        )
        return name

    def _mutations_done(self) -> bool:
        rows = self.execute(
            "SELECT count() FROM system.mutations"
            " WHERE database = %(database)s AND table = 'events' AND is_done = 0",
            {"database": self.database},
        )
        return rows[0][0] == 0

    def _parts(self, where: str) -> set[str]:
        rows = self.execute(
            "SELECT name FROM system.parts"
            f" WHERE database = %(database)s AND table = 'events' {where}",
            {"database": self.database},
        )
        return {row[0] for row in rows}

    def _active_parts(self) -> set[str]:
        return self._parts("AND active")

    def _all_parts(self) -> set[str]:
        return self._parts("")

    def _wait(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + MUTATION_TIMEOUT_S
        while not done():
            if time.monotonic() > deadline:
                raise StorageError(f"ClickHouse: gave up waiting for {what}")
            time.sleep(POLL_S)

    def close(self) -> None:
        """Finish running queries and disconnect."""
        self._threads.shutdown(wait=True)
        while not self._idle.empty():
            self._idle.get().disconnect()


class InsertBatcher:
    """Rows from concurrent requests written together: a flusher task waits a moment for
    more, then writes everyone's rows (up to `max_rows` an INSERT) and answers them all.
    Each caller returns only once its rows are stored (or raises what the write raised); a
    caller that goes away does not take the others' rows with it."""

    def __init__(
        self,
        write: Callable[[list[Row]], Awaitable[None]],
        max_rows: int = MAX_ROWS_PER_INSERT,
        wait_s: float = BATCH_WAIT_S,
    ) -> None:
        self._write = write
        self._max_rows = max_rows
        self._wait_s = wait_s
        self._pending: list[tuple[list[Row], asyncio.Future[None]]] = []
        self._pending_rows = 0
        self._flusher: asyncio.Task[None] | None = None

    async def insert(self, rows: list[Row]) -> None:
        """Store `rows`, sharing an INSERT with whatever else is waiting."""
        if not rows:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((rows, future))
        self._pending_rows += len(rows)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_all())
        await future

    async def _flush_all(self) -> None:
        while self._pending:
            if self._pending_rows < self._max_rows:
                await asyncio.sleep(self._wait_s)
            batch: list[tuple[list[Row], asyncio.Future[None]]] = []
            count = 0
            while self._pending and (
                not batch or count + len(self._pending[0][0]) <= self._max_rows
            ):
                batch.append(self._pending.pop(0))
                count += len(batch[-1][0])
            self._pending_rows -= count
            try:
                await self._write([row for rows, _ in batch for row in rows])
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)


def _first_line(error: BaseException) -> str:
    """The message without the server's stack trace (a server error's first line is its code)."""
    lines = (str(error).strip() or type(error).__name__).splitlines()
    return " ".join(lines[:2]).removesuffix(" Stack trace:")

"""Events in ClickHouse (the scale-out pair's event half; PostgreSQL keeps the state, postgres.py).

Written for the oldest ClickHouse the project runs on, Debian's 18.16 (docs/clickhouse.md says
what a current one does better). Events live in a `ReplacingMergeTree` ordered by
(app_id, event_id): a retried event that two collectors both stored collapses into one row when
parts merge, and every read says `FINAL` so that it counts once before that. Each stored event
keeps the user id it was sent with; merges are applied when reading, from PostgreSQL's aliases.
Concurrent requests share their INSERTs (thousands of rows each) and their look-ups of stored
event ids (`Coalescer`).
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
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import clickhouse_driver
import clickhouse_driver.errors

from collector.storage.base import StorageError

T = TypeVar("T")
Item = TypeVar("Item")
Result = TypeVar("Result")
Row = tuple[Any, ...]

SCHEME = "clickhouse"
CONNECTIONS = 4  # native-protocol connections per collector; each query holds one
# Each INSERT makes a part on disk that merges must fold in later: few large ones are cheap,
# many small ones are not (bench/bench_scaleout.py).
MAX_ROWS_PER_INSERT = 10_000
INSERT_WAIT_S = 0.1  # how long a first row waits for others to share its INSERT
MAX_LOOKUP_IDS = 5_000
LOOKUP_WAIT_S = 0.005  # how long an event id waits for others to share the look-up of stored ids
MUTATION_TIMEOUT_S = 3600.0  # a deletion that takes longer fails and is retried later
POLL_S = 0.2

EVENT_COLUMNS = (
    "app_id", "event_id", "user_id", "session_id", "pageview_id", "type", "name", "time",
    "received_at", "seq", "properties", "page", "target", "source", "session", "context",
)  # fmt: skip

# The row that wakes the background task (`_wake_cleanup`); always the same, so it stays one row.
NO_APP = ""  # no app has it: app ids are never empty (APP_ID_PATTERN)
WAKE_ROW: Row = (NO_APP, "wake", "", None, None, "", "", 0, 0, 0, "{}", None, None, "", None, None)

# `received_at` is the version; `seq` orders the events of one write (the export's order is
# time, then arrival).: of two copies of one event, the later-received one stays.
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
    seq UInt32,
    properties String,
    page Nullable(String),
    target Nullable(String),
    source String,
    session Nullable(String),
    context Nullable(String)
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
        self._inserts: Coalescer[Row, None] = Coalescer(
            lambda rows: self.run(lambda: self.insert_events(rows)),
            MAX_ROWS_PER_INSERT,
            INSERT_WAIT_S,
        )
        self._lookups: Coalescer[tuple[str, str], set[tuple[str, str]]] = Coalescer(
            lambda keys: self.run(lambda: self._stored_keys(keys)), MAX_LOOKUP_IDS, LOOKUP_WAIT_S
        )

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

    async def store_events(self, rows: list[Row]) -> None:
        """Insert event rows, sharing an INSERT with concurrent requests; return once stored."""
        if rows:
            await self._inserts.submit(rows)

    async def stored_event_ids(self, app_id: str, event_ids: Sequence[str]) -> set[str]:
        """Those of the app's `event_ids` that are stored (one look-up for concurrent requests)."""
        if not event_ids:
            return set()
        found = await self._lookups.submit([(app_id, event_id) for event_id in event_ids])
        return {event_id for event_id in event_ids if (app_id, event_id) in found}

    def _stored_keys(self, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
        rows = self.execute(
            f"SELECT app_id, event_id FROM {self.database}.events"
            " WHERE (app_id, event_id) IN %(keys)s",
            {"keys": tuple(keys)},
        )
        return {(row[0], row[1]) for row in rows}

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
        self._wake_cleanup()
        self._wait(lambda: not before & self._all_parts(), "the rewritten parts to be removed")

    def _wake_cleanup(self) -> None:
        """Have the table's background task run now, not after its idle sleep (about 10 s on
        18.16): an INSERT wakes it, and it removes the parts whose `old_parts_lifetime` is over
        if a second has passed since it last did. The row is under the empty app id, which no
        app can have, and every read leaves it out."""
        time.sleep(1.1)
        self.insert_events([WAKE_ROW])

    def holds(self, needle: bytes) -> bool:
        """Whether any stored value, or a mutation's text, holds the bytes `needle`."""
        columns = ", ".join(f"ifNull(toString({column}), '')" for column in EVENT_COLUMNS)
        found = "position({}, unhex(%(hex)s)) > 0"
        [[rows]] = self.execute(
            f"SELECT count() FROM {self.database}.events"
            f" WHERE {found.format(f'concat({columns})')}",
            {"hex": needle.hex()},
        )
        [[mutations]] = self.execute(
            "SELECT count() FROM system.mutations"
            f" WHERE database = %(database)s AND {found.format('command')}",
            {"database": self.database, "hex": needle.hex()},
        )
        return rows + mutations > 0

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


class Coalescer(Generic[Item, Result]):
    """Work of concurrent requests done together: a flusher task waits a moment for more, then
    runs `work` once on everyone's items (up to `max_items`) and gives each caller its result.
    A caller returns only once its items are done (or raises what `work` raised); a caller that
    goes away does not take the others' items with it."""

    def __init__(
        self,
        work: Callable[[list[Item]], Awaitable[Result]],
        max_items: int,
        wait_s: float,
    ) -> None:
        self._work = work
        self._max_items = max_items
        self._wait_s = wait_s
        self._pending: list[tuple[list[Item], asyncio.Future[Result]]] = []
        self._pending_items = 0
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, items: list[Item]) -> Result:
        """`work`'s result for a batch that includes `items`."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((items, future))
        self._pending_items += len(items)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_all())
        return await future

    async def _flush_all(self) -> None:
        while self._pending:
            if self._pending_items < self._max_items:
                await asyncio.sleep(self._wait_s)
            batch: list[tuple[list[Item], asyncio.Future[Result]]] = []
            count = 0
            while self._pending and (
                not batch or count + len(self._pending[0][0]) <= self._max_items
            ):
                batch.append(self._pending.pop(0))
                count += len(batch[-1][0])
            self._pending_items -= count
            try:
                result = await self._work([item for items, _ in batch for item in items])
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(result)


def _first_line(error: BaseException) -> str:
    """The message without the server's stack trace (a server error's first line is its code)."""
    lines = (str(error).strip() or type(error).__name__).splitlines()
    return " ".join(lines[:2]).removesuffix(" Stack trace:")

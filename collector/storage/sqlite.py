"""SQLite storage: WAL mode, one writer thread committing batches, readers that never block it.

Every write is a job run by the writer thread. The thread drains whatever jobs are queued, runs
each in its own savepoint inside one transaction, commits once, and only then answers the jobs.
Reads run on a small pool of reader threads, each with its own read-only connection, so no
query blocks the event loop. Every connection has `secure_delete` on: deleted rows are
overwritten with zeros, and a deletion ends with a checkpoint that truncates the WAL, so the
file keeps nothing of a deleted user (collector/storage/base.py, `DeletionStore`).
"""

import asyncio
import concurrent.futures
import json
import queue
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from collector.clock import now_ms
from collector.identity import EventUsers, apply_user_operation
from collector.storage import sqlite_reads
from collector.storage.base import (
    DUPLICATE,
    STORED,
    AppTotals,
    Candidate,
    CandidateFilter,
    CandidateGroup,
    EventRow,
    KnownUser,
    NewEvent,
    Operation,
    Outcome,
    SessionEvents,
    StorageError,
    StorageUnavailable,
    StoredEvent,
    StoredUser,
    TimeBuckets,
    UserRow,
    deletion_log_hash,
)
from collector.storage.sqlite_schema import migrate
from collector.storage.state_sql import SQLITE as SQL
from collector.storage.state_sql import StateIdentity, StateStore
from collector.storage.stored_json import dumps

MAX_JOBS_PER_COMMIT = 512
MAX_QUERY_IDS = 500  # ids bound in one `IN (...)`: well under SQLite's limit on variables
READER_THREADS = 2
ROWS_PER_FETCH = 1000  # rows a stream reads per trip to a reader thread
CHECKPOINT_TRIES = 600  # a deletion waits this many times CHECKPOINT_WAIT_S for readers to finish
CHECKPOINT_WAIT_S = 0.05
T = TypeVar("T")
Job = Callable[[sqlite3.Connection], Any]


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection in WAL mode with secure_delete on; autocommit, so transactions are
    explicit. StorageError when the file cannot be opened as a database."""
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        # Explicit, whatever the build's default: deleted content is overwritten with zeros.
        conn.execute("PRAGMA secure_delete=ON")
        if read_only:
            conn.execute("PRAGMA query_only=ON")
    except sqlite3.Error as error:
        raise StorageError(f"database {path}: {error}") from error
    return conn


class _Writer:
    """The one thread that writes: runs queued jobs in batches, one commit per batch. A job
    submitted `alone` runs by itself outside any transaction (a checkpoint)."""

    def __init__(self, path: Path) -> None:
        self._conn = connect(path)
        # Each job's savepoint keeps the pages it changes in a statement journal, which SQLite
        # spills to a temporary file past 64 KiB (an ingest job of 50 events does): in memory,
        # a write makes 1.4 page writes an event instead of 3.5, and no temporary file holds
        # rows a deletion erases.
        self._conn.execute("PRAGMA temp_store=MEMORY")
        self._jobs: queue.Queue[tuple[Job, concurrent.futures.Future[Any], bool] | None] = (
            queue.Queue()
        )
        self._thread = threading.Thread(target=self._run, name="footfall-writer", daemon=True)
        self._thread.start()

    def submit(
        self, job: Callable[[sqlite3.Connection], T], *, alone: bool = False
    ) -> "concurrent.futures.Future[T]":
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put((job, future, alone))
        return future

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join()
        self._conn.close()

    def _run(self) -> None:
        held: tuple[Job, concurrent.futures.Future[Any], bool] | None = None
        while True:
            first = held if held is not None else self._jobs.get()
            held = None
            if first is None:
                return
            if first[2]:
                self._run_alone(first[0], first[1])
                continue
            batch = [(first[0], first[1])]
            stop = False
            while len(batch) < MAX_JOBS_PER_COMMIT:
                try:
                    queued = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if queued is None:
                    stop = True
                    break
                if queued[2]:  # after this batch's commit
                    held = queued
                    break
                batch.append((queued[0], queued[1]))
            self._commit(batch)
            if stop:
                return

    def _run_alone(self, job: Job, future: concurrent.futures.Future[Any]) -> None:
        try:
            future.set_result(job(self._conn))
        except sqlite3.Error as error:
            future.set_exception(StorageUnavailable(f"the database could not write: {error}"))
        except Exception as error:
            future.set_exception(error)

    def _commit(self, batch: list[tuple[Job, concurrent.futures.Future[Any]]]) -> None:
        results: list[tuple[concurrent.futures.Future[Any], Any, BaseException | None]] = []
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            for job, future in batch:
                self._conn.execute("SAVEPOINT job")
                try:
                    results.append((future, job(self._conn), None))
                    self._conn.execute("RELEASE job")
                except Exception as error:  # one bad job must not sink the batch
                    self._conn.execute("ROLLBACK TO job")
                    self._conn.execute("RELEASE job")
                    if isinstance(error, sqlite3.OperationalError):  # locked, disk full: passes
                        error = StorageUnavailable(f"the database could not write: {error}")
                    results.append((future, None, error))
            self._conn.execute("COMMIT")
        except sqlite3.Error as error:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            failure = StorageUnavailable(f"the database could not commit: {error}")
            for _, future in batch:
                future.set_exception(failure)
            return
        for future, result, failed in results:
            if failed is None:
                future.set_result(result)
            else:
                future.set_exception(failed)


class _Readers:
    """Reader threads, each with its own read-only connection (made on first use)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._pool = concurrent.futures.ThreadPoolExecutor(
            READER_THREADS, thread_name_prefix="footfall-reader"
        )
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` on a reader thread's connection; sqlite3 errors become StorageUnavailable."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._call, work)

    async def stream(
        self, query: str, params: Sequence[object], convert: Callable[[sqlite3.Row], T]
    ) -> AsyncIterator[T]:
        """The rows of `query`, converted, read lazily on a connection of the stream's own."""
        conn = await self.run(lambda _: connect(self._path, read_only=True))
        try:
            cursor = await self.run(lambda _: conn.execute(query, params))
            while rows := await self.run(lambda _: cursor.fetchmany(ROWS_PER_FETCH)):
                for row in rows:
                    yield convert(row)
        finally:
            conn.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for conn in self._connections:
            conn.close()

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self._path, read_only=True)
            with self._lock:
                self._connections.append(conn)
        try:
            return work(conn)
        except sqlite3.Error as error:
            raise StorageUnavailable(f"the database could not be read: {error}") from error


class SQLiteStorage(StateStore):
    """`Storage` on one SQLite file (made, or brought to the current schema, when opened)."""

    def __init__(self, path: Path) -> None:
        super().__init__(SQL)
        self.path = path
        conn = connect(path)
        try:
            if migrate(conn) == 0:
                # A file from before secure_delete may keep old values in its free space: one
                # rewrite leaves none (a new file is empty, so this costs it nothing).
                conn.execute("VACUUM")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as error:
            raise StorageError(f"database {path}: {error}") from error
        finally:
            conn.close()
        self._writer = _Writer(path)
        self._readers = _Readers(path)

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        self._writer.close()
        self._readers.close()

    # -- ingest -----------------------------------------------------------------------------

    async def write(self, app_id: str, operations: Sequence[Operation]) -> list[Outcome]:
        received_at = now_ms()
        return await self._write(lambda conn: _apply_all(conn, app_id, operations, received_at))

    # -- reads ------------------------------------------------------------------------------

    def events(self, app_id: str | None = None) -> AsyncIterator[StoredEvent]:
        query, params = sqlite_reads.export_events_query(app_id)
        return self._readers.stream(query, params, sqlite_reads.stored_event)

    def users(self, app_id: str | None = None) -> AsyncIterator[StoredUser]:
        query, params = sqlite_reads.export_users_query(app_id)
        return self._readers.stream(query, params, sqlite_reads.stored_user)

    async def app_totals(self) -> dict[str, AppTotals]:
        return await self._readers.run(sqlite_reads.app_totals)

    async def canonical_user_id(self, app_id: str, user: str) -> str | None:
        return await self._readers.run(
            lambda conn: sqlite_reads.canonical_user_id(conn, app_id, user)
        )

    async def recent_events(
        self,
        app_id: str,
        *,
        event_type: str | None = None,
        name_contains: str | None = None,
        user_id: str | None = None,
        before: tuple[int, str] | None = None,
        limit: int = 100,
    ) -> list[EventRow]:
        return await self._readers.run(
            lambda conn: sqlite_reads.recent_events(
                conn,
                app_id,
                event_type=event_type,
                name_contains=name_contains,
                user_id=user_id,
                before=before,
                limit=limit,
            )
        )

    async def events_by_id(self, app_id: str, event_ids: Sequence[str]) -> list[EventRow]:
        return await self._readers.run(
            lambda conn: sqlite_reads.events_by_id(conn, app_id, event_ids)
        )

    async def list_users(
        self, app_id: str, *, search: str | None, limit: int, offset: int
    ) -> tuple[list[UserRow], int]:
        return await self._readers.run(
            lambda conn: sqlite_reads.list_users(
                conn, app_id, search=search, limit=limit, offset=offset
            )
        )

    async def find_user(self, app_id: str, user_id: str) -> UserRow | None:
        return await self._readers.run(lambda conn: sqlite_reads.find_user(conn, app_id, user_id))

    async def merged_user_ids(self, app_id: str, user_id: str) -> list[str]:
        return await self._readers.run(
            lambda conn: sqlite_reads.merged_user_ids(conn, app_id, user_id)
        )

    async def user_sessions(
        self, app_id: str, user_id: str, *, limit: int, offset: int
    ) -> tuple[list[SessionEvents], int]:
        return await self._readers.run(
            lambda conn: sqlite_reads.user_sessions(
                conn, app_id, user_id, limit=limit, offset=offset
            )
        )

    async def event_counts(self, app_id: str, window: TimeBuckets) -> list[int]:
        return await self._readers.run(lambda conn: sqlite_reads.event_counts(conn, app_id, window))

    async def candidate_groups(
        self,
        app_id: str,
        filters: Sequence[CandidateFilter],
        window: TimeBuckets | None = None,
    ) -> list[CandidateGroup]:
        return await self._readers.run(
            lambda conn: sqlite_reads.candidate_groups(conn, app_id, filters, window)
        )

    def newest_candidates(
        self, app_id: str, candidate_filter: CandidateFilter
    ) -> AsyncIterator[tuple[str, Candidate]]:
        query, params = sqlite_reads.newest_candidates_query(app_id, candidate_filter)
        return self._readers.stream(query, params, sqlite_reads.newest_candidate)

    # -- deletion ---------------------------------------------------------------------------

    async def run_deletion(self, deletion_request_id: str) -> None:
        secret = await self.installation_secret()
        erased = await self._write(
            lambda conn: _erase_requested_users(conn, deletion_request_id, secret)
        )
        if not erased:
            return
        # The rows are zeroed in the pages; now the WAL, which still holds the old pages, goes.
        await self._truncate_wal()
        await self._write(
            lambda conn: conn.execute(SQL.mark_deletion_complete, (now_ms(), deletion_request_id))
        )

    async def remaining_bytes(self, needles: Sequence[bytes]) -> set[bytes]:
        def scan() -> set[bytes]:
            files = [self.path, *(Path(f"{self.path}{end}") for end in ("-wal", "-shm"))]
            contents = b"".join(path.read_bytes() for path in files if path.exists())
            return {needle for needle in needles if needle in contents}

        return await asyncio.to_thread(scan)

    async def _truncate_wal(self) -> None:
        """Copy the WAL into the file and truncate it to nothing, waiting for readers that
        still use old pages. StorageUnavailable when they never let go."""
        for _ in range(CHECKPOINT_TRIES):
            busy, _, _ = await self._write(
                lambda conn: conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone(),
                alone=True,
            )
            if not busy:
                return
            await asyncio.sleep(CHECKPOINT_WAIT_S)
        raise StorageUnavailable(
            "the WAL could not be truncated: a reader held the database all along;"
            " the deletion finishes at the next start"
        )

    # -- helpers ----------------------------------------------------------------------------

    async def _write(self, job: Callable[[sqlite3.Connection], T], *, alone: bool = False) -> T:
        return await asyncio.wrap_future(self._writer.submit(job, alone=alone))

    async def _read(self, query: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        # Read to the end, even for one row: no statement is left open.
        rows: list[sqlite3.Row] = await self._readers.run(
            lambda conn: conn.execute(query, params).fetchall()
        )
        return rows


# -- operations, run inside the writer's transaction ----------------------------------------


class _Identity(StateIdentity[sqlite3.Connection]):
    """`IdentityTransaction` on the writer's connection, for one app."""

    _sql = SQL

    def canonical_user(self, user_id: str) -> KnownUser | None:
        row = self.conn.execute(
            "SELECT user_id, identity FROM users WHERE app_id = ?1 AND user_id = COALESCE("
            " (SELECT canonical_id FROM user_aliases WHERE app_id = ?1 AND user_id = ?2), ?2)",
            (self.app_id, user_id),
        ).fetchone()
        return None if row is None else KnownUser(row[0], row[1])

    def identity_holder(self, identity: str) -> KnownUser | None:
        row = self.conn.execute(
            "SELECT user_id FROM users WHERE app_id = ? AND identity = ?", (self.app_id, identity)
        ).fetchone()
        return None if row is None else KnownUser(row[0], identity)

    def claim_identity(self, user_id: str, identity: str) -> bool:
        cursor = self.conn.execute(
            "UPDATE OR IGNORE users SET identity = ?"
            " WHERE app_id = ? AND user_id = ? AND identity IS NULL",
            (identity, self.app_id, user_id),
        )
        return cursor.rowcount == 1

    def add_alias(self, from_user: str, to_user: str) -> None:
        self.conn.execute(
            "UPDATE user_aliases SET canonical_id = ? WHERE app_id = ? AND canonical_id = ?",
            (to_user, self.app_id, from_user),
        )
        self.conn.execute(
            "INSERT INTO user_aliases (app_id, user_id, canonical_id) VALUES (?, ?, ?)",
            (self.app_id, from_user, to_user),
        )
        self.conn.execute(SQL.forget_merged_properties, (self.app_id, from_user))

    def touch(self, user_id: str, first_ms: int, last_ms: int) -> None:
        self.conn.execute(
            "UPDATE users SET first_seen = MIN(COALESCE(first_seen, ?1), ?1),"
            " last_seen = MAX(COALESCE(last_seen, ?2), ?2) WHERE app_id = ?3 AND user_id = ?4",
            (first_ms, last_ms, self.app_id, user_id),
        )

    def add_warning(self, kind: str, message: str, detail: Mapping[str, object]) -> None:
        self.conn.execute(
            "INSERT INTO warnings (app_id, time, kind, message, detail) VALUES (?, ?, ?, ?, ?)",
            (self.app_id, now_ms(), kind, message, dumps(detail)),
        )


def _apply_all(
    conn: sqlite3.Connection, app_id: str, operations: Sequence[Operation], received_at: int
) -> list[Outcome]:
    """Apply `operations` in order; each run of events between two user operations is stored
    together (one look-up of known ids, one `executemany`, one touch per user)."""
    tx = _Identity(conn, app_id)
    outcomes: list[Outcome] = []
    events: list[NewEvent] = []
    for op in operations:
        if isinstance(op, NewEvent):
            events.append(op)
            continue
        if events:  # an identify may merge the users these events name: store them first
            outcomes += _store_events(tx, events, received_at)
            events = []
        outcomes.append(apply_user_operation(tx, op, received_at))
    if events:
        outcomes += _store_events(tx, events, received_at)
    return outcomes


def _store_events(tx: _Identity, events: list[NewEvent], received_at: int) -> list[Outcome]:
    """Store each event whose id is new to the app, under its canonical user; no user operation
    comes between them, so each user named is looked up once."""
    conn, app_id = tx.conn, tx.app_id
    known_ids = _stored_event_ids(conn, app_id, [event.event_id for event in events])
    users = EventUsers(tx)
    rows: list[tuple[object, ...]] = []
    outcomes: list[Outcome] = []
    page_json, target_json, session_json = _RepeatedJSON(), _RepeatedJSON(), _RepeatedJSON()
    properties_json = _RepeatedJSON(compare=False)
    context_json = _RepeatedJSON()
    for event in events:
        if event.event_id in known_ids:
            outcomes.append(DUPLICATE)
            continue
        known_ids.add(event.event_id)
        user = users.user_of(event)
        rows.append(
            (
                app_id,
                event.event_id,
                user.user_id,
                event.user_id if event.user_id is not None else user.user_id,
                event.session_id,
                event.pageview_id,
                event.type,
                event.name,
                event.time,
                received_at,
                properties_json(event.properties),
                page_json(event.page),
                target_json(event.target),
                event.source,
                session_json(event.session),
                context_json(event.context),
            )
        )
        outcomes.append(STORED)
    conn.executemany(
        "INSERT INTO events (app_id, event_id, user_id, sent_user_id, session_id, pageview_id,"
        " type, name, time, received_at, properties, page, target, source, session, context)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    users.finish()
    return outcomes


class _RepeatedJSON:
    """JSON text of an event's page, target, session or properties, made once for a run of the
    same one: the events of one page share them, and ingest hands the very same object to each
    (collector/ingest.py's _SameAsLast), so `is` mostly answers before a comparison does."""

    def __init__(self, *, compare: bool = True) -> None:
        # compare=False: only the same object reuses the text; needed for properties, where
        # equal values may differ in JSON ({"n": 1} == {"n": True}). String-valued objects
        # (page, target, session) that are equal have equal text, and so do contexts (their
        # sizes are whole numbers, never booleans).
        self._compare = compare
        self._last: object = None
        self._text: str | None = None

    def __call__(self, value: object) -> str | None:
        if value is None:
            return None
        last = self._last
        if value is not last and (not self._compare or value != last):
            self._last, self._text = value, dumps(value)
        return self._text


def _stored_event_ids(conn: sqlite3.Connection, app_id: str, event_ids: list[str]) -> set[str]:
    """Those of `event_ids` the app has stored already, or stored and deleted with their user
    (a tracker's retry of one must not bring a deleted user back)."""
    known: set[str] = set()
    for start in range(0, len(event_ids), MAX_QUERY_IDS):
        chunk = event_ids[start : start + MAX_QUERY_IDS]
        marks = ", ".join("?" * len(chunk))
        known.update(
            row[0]
            for row in conn.execute(
                f"SELECT event_id FROM events WHERE app_id = ? AND event_id IN ({marks})"
                f" UNION ALL SELECT record_id FROM applied_records"
                f" WHERE app_id = ? AND record_id IN ({marks})",
                (app_id, *chunk, app_id, *chunk),
            )
        )
    return known


def _erase_requested_users(
    conn: sqlite3.Connection, deletion_request_id: str, secret: bytes
) -> bool:
    """Delete the users of a pending request and all their rows, then keep of the request only
    keyed hashes of the users it named (status "erased": the WAL is truncated next). False
    when there is nothing left to erase (unknown, or complete already)."""
    request = conn.execute(SQL.deletion_request, (deletion_request_id,)).fetchone()
    if request is None or request["status"] == "complete":
        return False
    if request["status"] == "erased":  # erased before a restart; the WAL is what is left
        return True
    app_id = request["app_id"]
    named_users: list[dict[str, str]] = json.loads(request["users"])
    for environment in _environments(conn, app_id):
        for user in _Identity(conn, environment).named_users(named_users):
            _delete_user(conn, environment, user)
    hashes = [deletion_log_hash(secret, app_id, named) for named in named_users]
    conn.execute(SQL.mark_deletion_erased, (json.dumps(hashes), deletion_request_id))
    return True


def _environments(conn: sqlite3.Connection, app_id: str) -> list[str]:
    """`app_id` and every other app of its project (Heap's deletion "checks all
    environments")."""
    rows = conn.execute(SQL.environments, (app_id, app_id)).fetchall()
    return [row[0] for row in rows]


def _delete_user(conn: sqlite3.Connection, app_id: str, user: KnownUser) -> None:
    """Remove a canonical user, the users merged into it, their events, warnings and links."""
    ids = [user.user_id] + [
        row[0]
        for row in conn.execute(
            "SELECT user_id FROM user_aliases WHERE app_id = ? AND canonical_id = ?",
            (app_id, user.user_id),
        )
    ]
    for gone in ids:
        # The deleted events' ids stay (only ids), so a retry of one is a duplicate.
        conn.execute(
            "INSERT OR IGNORE INTO applied_records (app_id, record_id)"
            " SELECT app_id, event_id FROM events WHERE app_id = ? AND user_id = ?",
            (app_id, gone),
        )
        conn.execute("DELETE FROM events WHERE app_id = ? AND user_id = ?", (app_id, gone))
        conn.execute(
            "DELETE FROM warnings WHERE app_id = ? AND json_extract(detail, '$.user_id') = ?",
            (app_id, gone),
        )
        conn.execute(
            "DELETE FROM server_identifies WHERE app_id = ? AND user_id = ?", (app_id, gone)
        )
        conn.execute("DELETE FROM user_aliases WHERE app_id = ? AND user_id = ?", (app_id, gone))
        conn.execute("DELETE FROM users WHERE app_id = ? AND user_id = ?", (app_id, gone))
    if user.identity is not None:
        conn.execute(
            "DELETE FROM warnings WHERE app_id = ? AND json_extract(detail, '$.identity') = ?",
            (app_id, user.identity),
        )
        conn.execute(
            "DELETE FROM server_identifies WHERE app_id = ? AND identity = ?",
            (app_id, user.identity),
        )

"""SQLite storage: WAL mode, one writer thread committing batches, readers that never block it.

Every write is a job run by the writer thread. The thread drains whatever jobs are queued, runs
each in its own savepoint inside one transaction, commits once, and only then answers the jobs.
"""

import asyncio
import concurrent.futures
import json
import queue
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar

import orjson

from collector.clock import now_ms
from collector.identity import (
    IdentifyAction,
    KnownUser,
    decide_identify,
    identify_month,
    merged_properties,
    merged_span,
)
from collector.storage.base import (
    APP_ID_PATTERN,
    DUPLICATE,
    STORED,
    App,
    DeletionRequest,
    Identify,
    InvalidOperation,
    NewEvent,
    Operation,
    Outcome,
    SetUserProperties,
    StorageError,
    StoredEvent,
    StoredUser,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS apps (
    app_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    api_key TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
-- Origins whose pages may talk to an app's embedded tracker (the postMessage bridge). Its own
-- table, created on open, so a database made before it gains it (and apps stay unchanged).
CREATE TABLE IF NOT EXISTS app_bridge_origins (
    app_id TEXT NOT NULL,
    origin TEXT NOT NULL,
    PRIMARY KEY (app_id, origin)
);
CREATE TABLE IF NOT EXISTS users (
    app_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    identity TEXT NULL,
    properties TEXT NOT NULL DEFAULT '{}',
    first_seen INTEGER,
    last_seen INTEGER,
    merged_into TEXT NULL,
    PRIMARY KEY (app_id, user_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS users_by_identity ON users (app_id, identity)
    WHERE identity IS NOT NULL AND merged_into IS NULL;
CREATE INDEX IF NOT EXISTS users_by_merged_into ON users (app_id, merged_into)
    WHERE merged_into IS NOT NULL;
CREATE TABLE IF NOT EXISTS events (
    app_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    sent_user_id TEXT NOT NULL,
    session_id TEXT,
    pageview_id TEXT,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    time INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    properties TEXT NOT NULL,
    page TEXT,
    target TEXT NULL,
    source TEXT NOT NULL,
    session TEXT NULL,
    PRIMARY KEY (app_id, event_id)
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (app_id, time);
CREATE INDEX IF NOT EXISTS events_by_user ON events (app_id, user_id, time);
CREATE TABLE IF NOT EXISTS applied_records (
    app_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    PRIMARY KEY (app_id, record_id)
);
CREATE TABLE IF NOT EXISTS warnings (
    app_id TEXT NOT NULL,
    time INTEGER NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS warnings_by_time ON warnings (app_id, time);
CREATE TABLE IF NOT EXISTS server_identifies (  -- who the server identify API linked, by month
    app_id TEXT NOT NULL,
    identity TEXT NOT NULL,
    month TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (app_id, identity, month, user_id)
);
CREATE TABLE IF NOT EXISTS auth_tokens (
    token TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deletion_requests (
    deletion_request_id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    users TEXT NOT NULL,
    status TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    completed_at INTEGER NULL
);
"""

MAX_JOBS_PER_COMMIT = 512
MAX_QUERY_IDS = 500  # ids bound in one `IN (...)`: well under SQLite's limit on variables
T = TypeVar("T")
Job = Callable[[sqlite3.Connection], Any]


def connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode; autocommit, so transactions are explicit."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class _Writer:
    """The one thread that writes: runs queued jobs in batches, one commit per batch."""

    def __init__(self, path: Path) -> None:
        self._conn = connect(path)
        self._jobs: queue.Queue[tuple[Job, concurrent.futures.Future[Any]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="footfall-writer", daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[sqlite3.Connection], T]) -> "concurrent.futures.Future[T]":
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put((job, future))
        return future

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join()
        self._conn.close()

    def _run(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < MAX_JOBS_PER_COMMIT:
                try:
                    queued = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if queued is None:
                    stop = True
                    break
                batch.append(queued)
            self._commit(batch)
            if stop:
                return

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
                        error = StorageError(f"the database could not write: {error}")
                    results.append((future, None, error))
            self._conn.execute("COMMIT")
        except sqlite3.Error as error:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            failure = StorageError(f"the database could not commit: {error}")
            for _, future in batch:
                future.set_exception(failure)
            return
        for future, result, failed in results:
            if failed is None:
                future.set_result(result)
            else:
                future.set_exception(failed)


class SQLiteStorage:
    """`Storage` on one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with closing(connect(path)) as conn:
            conn.executescript(SCHEMA)
        self._writer = _Writer(path)
        self._reader = connect(path)
        self._reader_lock = threading.Lock()
        self._apps: dict[str, App] = {}  # apps are never changed or removed, so cache them

    def close(self) -> None:
        self._writer.close()
        self._reader.close()

    # -- apps -------------------------------------------------------------------------------

    def create_app(self, name: str, app_id: str | None = None) -> App:
        if app_id is not None and not APP_ID_PATTERN.match(app_id):
            raise ValueError(
                f"app id {app_id!r} must be 1 to 64 letters, digits, '-' or '_' "
                "(it becomes part of cookie names and URLs)"
            )
        app = App(
            app_id=app_id or str(secrets.randbelow(9 * 10**9) + 10**9),
            name=name,
            api_key=secrets.token_hex(16),
            created_at=now_ms(),
        )

        def insert(conn: sqlite3.Connection) -> App:
            try:
                conn.execute(
                    "INSERT INTO apps (app_id, name, api_key, created_at) VALUES (?, ?, ?, ?)",
                    (app.app_id, app.name, app.api_key, app.created_at),
                )
            except sqlite3.IntegrityError:
                raise ValueError(f"app_id {app.app_id!r} is already taken") from None
            return app

        return self._writer.submit(insert).result()

    def ensure_app(self, app_id: str, name: str) -> App:
        return self.find_app(app_id) or self.create_app(name, app_id)

    def find_app(self, app_id: str) -> App | None:
        app = self._apps.get(app_id)
        if app is None:
            row = self._read_one("SELECT * FROM apps WHERE app_id = ?", (app_id,))
            if row is None:
                return None  # not cached: `footfall apps create` may add it at any time
            app = self._apps[app_id] = App(**dict(row))
        return app

    def change_bridge_origins(
        self, app_id: str, allow: Sequence[str], disallow: Sequence[str] = ()
    ) -> list[str]:
        if self.find_app(app_id) is None:
            raise ValueError(f"no app {app_id!r}; create it with `footfall apps create`")

        def change(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR IGNORE INTO app_bridge_origins (app_id, origin) VALUES (?, ?)",
                [(app_id, origin) for origin in allow],
            )
            conn.executemany(
                "DELETE FROM app_bridge_origins WHERE app_id = ? AND origin = ?",
                [(app_id, origin) for origin in disallow],
            )

        self._writer.submit(change).result()
        return self.bridge_origins(app_id)

    def bridge_origins(self, app_id: str) -> list[str]:
        with self._reader_lock:  # not cached: `footfall apps update` may change it any time
            rows = self._reader.execute(
                "SELECT origin FROM app_bridge_origins WHERE app_id = ? ORDER BY origin",
                (app_id,),
            ).fetchall()
        return [row[0] for row in rows]

    # -- ingest -----------------------------------------------------------------------------

    async def write(self, app_id: str, operations: Sequence[Operation]) -> list[Outcome]:
        received_at = now_ms()

        return await self._submit(lambda conn: _apply_all(conn, app_id, operations, received_at))

    # -- deletion API -----------------------------------------------------------------------

    async def issue_token(self, app_id: str, lifetime_ms: int) -> str:
        token = secrets.token_urlsafe(32)

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM auth_tokens WHERE expires_at < ?", (now_ms(),))
            conn.execute(
                "INSERT INTO auth_tokens (token, app_id, expires_at) VALUES (?, ?, ?)",
                (token, app_id, now_ms() + lifetime_ms),
            )

        await self._submit(insert)
        return token

    def token_app(self, token: str) -> str | None:
        row = self._read_one(
            "SELECT app_id FROM auth_tokens WHERE token = ? AND expires_at >= ?", (token, now_ms())
        )
        return None if row is None else str(row["app_id"])

    async def request_deletion(self, app_id: str, users: Sequence[dict[str, str]]) -> str:
        request_id = str(uuid.uuid4())

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO deletion_requests (deletion_request_id, app_id, users, status,"
                " requested_at) VALUES (?, ?, ?, 'pending', ?)",
                (request_id, app_id, json.dumps(list(users)), now_ms()),
            )

        await self._submit(insert)
        return request_id

    async def run_deletion(self, deletion_request_id: str) -> None:
        await self._submit(lambda conn: _delete_requested_users(conn, deletion_request_id))

    def pending_deletions(self) -> list[str]:
        with self._reader_lock:
            rows = self._reader.execute(
                "SELECT deletion_request_id FROM deletion_requests WHERE status = 'pending'"
                " ORDER BY requested_at"
            ).fetchall()
        return [str(row[0]) for row in rows]

    def find_deletion(self, app_id: str, deletion_request_id: str) -> DeletionRequest | None:
        row = self._read_one(
            "SELECT deletion_request_id, app_id, status FROM deletion_requests"
            " WHERE deletion_request_id = ? AND app_id = ?",
            (deletion_request_id, app_id),
        )
        return None if row is None else DeletionRequest(**dict(row))

    # -- export -----------------------------------------------------------------------------

    def events(self, app_id: str | None = None) -> Iterator[StoredEvent]:
        query = (
            "SELECT e.*, u.identity AS identity FROM events e"
            " LEFT JOIN users u ON u.app_id = e.app_id AND u.user_id = e.user_id"
            + ("" if app_id is None else " WHERE e.app_id = ?")
            + " ORDER BY e.time, e.received_at, e.rowid"
        )
        with closing(connect(self.path)) as conn:
            for row in conn.execute(query, () if app_id is None else (app_id,)):
                yield StoredEvent(
                    event_id=row["event_id"],
                    app_id=row["app_id"],
                    user_id=row["user_id"],
                    identity=row["identity"],
                    session_id=row["session_id"],
                    pageview_id=row["pageview_id"],
                    type=row["type"],
                    name=row["name"],
                    time=row["time"],
                    properties=json.loads(row["properties"]),
                    page=_loads_or_none(row["page"]),
                    target=_loads_or_none(row["target"]),
                    source=row["source"],
                )

    def users(self, app_id: str | None = None) -> Iterator[StoredUser]:
        query = (
            "SELECT u.*, (SELECT json_group_array(m.user_id) FROM users m"
            "   WHERE m.app_id = u.app_id AND m.merged_into = u.user_id) AS merged_user_ids"
            " FROM users u WHERE u.merged_into IS NULL"
            + ("" if app_id is None else " AND u.app_id = ?")
            + " ORDER BY u.first_seen IS NULL, u.first_seen, u.rowid"
        )
        with closing(connect(self.path)) as conn:
            for row in conn.execute(query, () if app_id is None else (app_id,)):
                yield StoredUser(
                    app_id=row["app_id"],
                    user_id=row["user_id"],
                    identity=row["identity"],
                    properties=json.loads(row["properties"]),
                    merged_user_ids=sorted(json.loads(row["merged_user_ids"])),
                    first_seen=row["first_seen"],
                    last_seen=row["last_seen"],
                )

    # -- helpers ----------------------------------------------------------------------------

    async def _submit(self, job: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.wrap_future(self._writer.submit(job))

    def _read_one(self, query: str, params: tuple[object, ...]) -> sqlite3.Row | None:
        with self._reader_lock:
            row: sqlite3.Row | None = self._reader.execute(query, params).fetchone()
        return row


def _loads_or_none(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _dumps(value: object) -> str:
    """Compact JSON text. orjson writes what json.dumps would (values are validated finite, so
    no NaN), several times faster; json takes what orjson refuses (whole numbers past 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# -- operations, run inside the writer's transaction ----------------------------------------


def _apply_all(
    conn: sqlite3.Connection, app_id: str, operations: Sequence[Operation], received_at: int
) -> list[Outcome]:
    """Apply `operations` in order; each run of events between two user operations is stored
    together (one look-up of known ids, one `executemany`, one touch per user)."""
    outcomes: list[Outcome] = []
    events: list[NewEvent] = []
    for op in operations:
        if isinstance(op, NewEvent):
            events.append(op)
            continue
        if events:  # an identify may merge the users these events name: store them first
            outcomes += _store_events(conn, app_id, events, received_at)
            events = []
        outcomes.append(_apply_user_operation(conn, app_id, op))
    if events:
        outcomes += _store_events(conn, app_id, events, received_at)
    return outcomes


def _apply_user_operation(
    conn: sqlite3.Connection, app_id: str, op: Identify | SetUserProperties
) -> Outcome:
    if _already_applied(conn, app_id, op.record_id):
        return DUPLICATE
    if isinstance(op, Identify):
        return _identify(conn, app_id, op)
    return _set_user_properties(conn, app_id, op)


def _already_applied(conn: sqlite3.Connection, app_id: str, record_id: str | None) -> bool:
    if record_id is None:
        return False
    cursor = conn.execute(
        "INSERT OR IGNORE INTO applied_records (app_id, record_id) VALUES (?, ?)",
        (app_id, record_id),
    )
    return cursor.rowcount == 0


def _store_events(
    conn: sqlite3.Connection, app_id: str, events: list[NewEvent], received_at: int
) -> list[Outcome]:
    """Store each event whose id is new to the app, under its canonical user; no user operation
    comes between them, so each user named is looked up once."""
    known_ids = _stored_event_ids(conn, app_id, [event.event_id for event in events])
    users: dict[tuple[str, str], KnownUser] = {}  # ("user_id" | "identity", value) -> canonical
    spans: dict[str, tuple[int, int]] = {}  # canonical user_id -> (first, last) event time
    rows: list[tuple[object, ...]] = []
    outcomes: list[Outcome] = []
    page_json, target_json, session_json = _RepeatedJSON(), _RepeatedJSON(), _RepeatedJSON()
    for event in events:
        if event.event_id in known_ids:
            outcomes.append(DUPLICATE)
            continue
        known_ids.add(event.event_id)
        named = ("user_id", event.user_id) if event.user_id is not None else None
        if named is None:
            named = ("identity", _named_identity(event))
        user = users.get(named)
        if user is None:
            if event.user_id is not None:
                user = _canonical_or_create(conn, app_id, event.user_id)
            else:
                user = _holder_or_create(conn, app_id, named[1])
            users[named] = user
        first, last = spans.get(user.user_id, (event.time, event.time))
        spans[user.user_id] = (min(first, event.time), max(last, event.time))
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
                _dumps(event.properties),
                page_json(event.page),
                target_json(event.target),
                event.source,
                session_json(event.session),
            )
        )
        outcomes.append(STORED)
    conn.executemany(
        "INSERT INTO events (app_id, event_id, user_id, sent_user_id, session_id, pageview_id,"
        " type, name, time, received_at, properties, page, target, source, session)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    for user_id, (first, last) in spans.items():
        _touch(conn, app_id, user_id, first, last)
    return outcomes


class _RepeatedJSON:
    """JSON text of string-valued objects (an event's page, target or session), made once for a
    run of equal ones: the events of one page share their page and session."""

    def __init__(self) -> None:
        self._last: dict[str, str] | None = None
        self._text: str | None = None

    def __call__(self, value: dict[str, str] | None) -> str | None:
        if value is None:
            return None
        if value != self._last:  # equal strings: equal text (no 1 == True here, unlike properties)
            self._last, self._text = value, _dumps(value)
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


def _identify(conn: sqlite3.Connection, app_id: str, op: Identify) -> Outcome:
    subject = _canonical(conn, app_id, op.user_id)
    holder = _holder(conn, app_id, op.identity)
    # The month is the server's: a backdated timestamp must not dodge the monthly limit.
    month = identify_month(now_ms())
    user_ids_this_month = None
    if op.source == "server":
        user_ids_this_month = conn.execute(
            "SELECT COUNT(*) FROM server_identifies"
            " WHERE app_id = ? AND identity = ? AND month = ?",
            (app_id, op.identity, month),
        ).fetchone()[0]
    decision = decide_identify(
        op.identity, subject, holder, user_ids_this_month=user_ids_this_month
    )
    action = decision.action
    if action is IdentifyAction.REFUSE:
        assert decision.warning_kind is not None and decision.message is not None
        conn.execute(
            "INSERT INTO warnings (app_id, time, kind, message, detail) VALUES (?, ?, ?, ?, ?)",
            (
                app_id,
                now_ms(),
                decision.warning_kind,
                decision.message,
                _dumps({"user_id": op.user_id, "identity": op.identity, "record_id": op.record_id}),
            ),
        )
        return Outcome("refused", decision.message)
    if action is IdentifyAction.CREATE_IDENTIFIED:
        _insert_user(conn, app_id, op.user_id, identity=op.identity, seen=op.time)
    elif action is IdentifyAction.JOIN_HOLDER:
        assert holder is not None
        _insert_user(conn, app_id, op.user_id, merged_into=holder.user_id)
        _touch(conn, app_id, holder.user_id, op.time)
    elif action is IdentifyAction.CLAIM:
        assert subject is not None
        conn.execute(
            "UPDATE users SET identity = ? WHERE app_id = ? AND user_id = ?",
            (op.identity, app_id, subject.user_id),
        )
        _touch(conn, app_id, subject.user_id, op.time)
    elif action is IdentifyAction.MERGE_INTO_HOLDER:
        assert subject is not None and holder is not None
        _merge(conn, app_id, absorbed=subject.user_id, surviving=holder.user_id)
        _touch(conn, app_id, holder.user_id, op.time)
    else:
        assert subject is not None
        _touch(conn, app_id, subject.user_id, op.time)
    if op.source == "server" and action is not IdentifyAction.NOTHING:
        conn.execute(
            "INSERT OR IGNORE INTO server_identifies (app_id, identity, month, user_id)"
            " VALUES (?, ?, ?, ?)",
            (app_id, op.identity, month, op.user_id),
        )
    return STORED


def _set_user_properties(conn: sqlite3.Connection, app_id: str, op: SetUserProperties) -> Outcome:
    if op.user_id is not None:
        user = _canonical_or_create(conn, app_id, op.user_id)
        _touch(conn, app_id, user.user_id, op.time)
    else:
        user = _holder_or_create(conn, app_id, _named_identity(op))
    old = _properties(conn, app_id, user.user_id)
    conn.execute(
        "UPDATE users SET properties = ? WHERE app_id = ? AND user_id = ?",
        (_dumps({**old, **op.properties}), app_id, user.user_id),
    )
    return STORED


def _named_identity(op: NewEvent | SetUserProperties) -> str:
    """The identity of an operation without a user id (a real check: `python -O` drops asserts)."""
    if op.identity is None:
        raise InvalidOperation(f"{type(op).__name__} names neither a user_id nor an identity")
    return op.identity


def _merge(conn: sqlite3.Connection, app_id: str, *, absorbed: str, surviving: str) -> None:
    """Move the absorbed user's events, merged ids and properties to the surviving user."""
    conn.execute(
        "UPDATE events SET user_id = ? WHERE app_id = ? AND user_id = ?",
        (surviving, app_id, absorbed),
    )
    conn.execute(
        "UPDATE users SET merged_into = ? WHERE app_id = ? AND (user_id = ? OR merged_into = ?)",
        (surviving, app_id, absorbed, absorbed),
    )
    rows = {
        row["user_id"]: row
        for row in conn.execute(
            "SELECT * FROM users WHERE app_id = ? AND user_id IN (?, ?)",
            (app_id, absorbed, surviving),
        )
    }
    old, new = rows[absorbed], rows[surviving]
    first_seen, last_seen = merged_span(
        old["first_seen"], old["last_seen"], new["first_seen"], new["last_seen"]
    )
    properties = merged_properties(json.loads(old["properties"]), json.loads(new["properties"]))
    conn.execute(
        "UPDATE users SET properties = ?, first_seen = ?, last_seen = ?"
        " WHERE app_id = ? AND user_id = ?",
        (_dumps(properties), first_seen, last_seen, app_id, surviving),
    )


def _canonical(conn: sqlite3.Connection, app_id: str, user_id: str) -> KnownUser | None:
    row = conn.execute(
        "SELECT COALESCE(c.user_id, u.user_id) AS user_id,"
        " CASE WHEN c.user_id IS NULL THEN u.identity ELSE c.identity END AS identity"
        " FROM users u LEFT JOIN users c ON c.app_id = u.app_id AND c.user_id = u.merged_into"
        " WHERE u.app_id = ? AND u.user_id = ?",
        (app_id, user_id),
    ).fetchone()
    return None if row is None else KnownUser(row["user_id"], row["identity"])


def _holder(conn: sqlite3.Connection, app_id: str, identity: str) -> KnownUser | None:
    row = conn.execute(
        "SELECT user_id FROM users WHERE app_id = ? AND identity = ? AND merged_into IS NULL",
        (app_id, identity),
    ).fetchone()
    return None if row is None else KnownUser(row["user_id"], identity)


def _canonical_or_create(conn: sqlite3.Connection, app_id: str, user_id: str) -> KnownUser:
    user = _canonical(conn, app_id, user_id)
    if user is None:
        _insert_user(conn, app_id, user_id)
        user = KnownUser(user_id, None)
    return user


def _holder_or_create(conn: sqlite3.Connection, app_id: str, identity: str) -> KnownUser:
    user = _holder(conn, app_id, identity)
    while user is None:
        user_id = str(secrets.randbelow(2**53))
        if _canonical(conn, app_id, user_id) is None:
            _insert_user(conn, app_id, user_id, identity=identity)
            user = KnownUser(user_id, identity)
    return user


def _insert_user(
    conn: sqlite3.Connection,
    app_id: str,
    user_id: str,
    *,
    identity: str | None = None,
    merged_into: str | None = None,
    seen: int | None = None,
) -> None:
    conn.execute(
        "INSERT INTO users (app_id, user_id, identity, first_seen, last_seen, merged_into)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (app_id, user_id, identity, seen, seen, merged_into),
    )


def _touch(
    conn: sqlite3.Connection, app_id: str, user_id: str, first_ms: int, last_ms: int | None = None
) -> None:
    """Widen the user's first and last seen times to cover `first_ms` to `last_ms`."""
    conn.execute(
        "UPDATE users SET first_seen = MIN(COALESCE(first_seen, ?1), ?1),"
        " last_seen = MAX(COALESCE(last_seen, ?2), ?2) WHERE app_id = ?3 AND user_id = ?4",
        (first_ms, first_ms if last_ms is None else last_ms, app_id, user_id),
    )


def _properties(conn: sqlite3.Connection, app_id: str, user_id: str) -> dict[str, object]:
    row = conn.execute(
        "SELECT properties FROM users WHERE app_id = ? AND user_id = ?", (app_id, user_id)
    ).fetchone()
    properties: dict[str, object] = json.loads(row["properties"])
    return properties


def _delete_requested_users(conn: sqlite3.Connection, deletion_request_id: str) -> None:
    request = conn.execute(
        "SELECT app_id, users, status FROM deletion_requests WHERE deletion_request_id = ?",
        (deletion_request_id,),
    ).fetchone()
    if request is None or request["status"] == "complete":
        return
    app_id = request["app_id"]
    for named in json.loads(request["users"]):
        if "user_id" in named:
            user = _canonical(conn, app_id, str(named["user_id"]))
        else:
            user = _holder(conn, app_id, named["identity"])
        if user is not None:
            _delete_user(conn, app_id, user.user_id)
    conn.execute(
        "UPDATE deletion_requests SET status = 'complete', completed_at = ?"
        " WHERE deletion_request_id = ?",
        (now_ms(), deletion_request_id),
    )


def _delete_user(conn: sqlite3.Connection, app_id: str, user_id: str) -> None:
    """Remove a canonical user, the users merged into it, their events, warnings and links."""
    ids = [user_id] + [
        row[0]
        for row in conn.execute(
            "SELECT user_id FROM users WHERE app_id = ? AND merged_into = ?", (app_id, user_id)
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
        conn.execute("DELETE FROM users WHERE app_id = ? AND user_id = ?", (app_id, gone))

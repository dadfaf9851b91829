"""What SQLite (sqlite.py) and PostgreSQL (postgres.py, scaleout.py) do alike on the state
tables: apps, tokens, users, the dashboard's rows and the deletion log.

Each statement is written once, with SQLite's `?` placeholders, in `StateStatements`; `SQLITE`
and `POSTGRES` are that table in each dialect (PostgreSQL's driver takes `%s`), with the few
statements that differ between them overridden by name. `StateStore` holds the `Storage` methods
and `StateIdentity` the `IdentityTransaction` primitives that run only these statements, so each
backend supplies just its transaction and its reads. `StateTables` defines, once, the tables
both create alike. Statements and tables only one backend has (SQLite's alias table,
PostgreSQL's `merged_into`, ClickHouse's events) stay in that backend's module.
"""

import json
import secrets
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from collector.clock import now_ms
from collector.storage.base import (
    App,
    DefinedEventRow,
    Definition,
    DeletionRequest,
    KnownUser,
    StoredWarning,
    UserState,
    new_app,
)
from collector.storage.stored_json import dumps, loads_or_none

T = TypeVar("T")

_USER_STATE = (
    "SELECT properties, first_seen, last_seen, initial_properties, account_properties"
    " FROM users WHERE app_id = ? AND user_id = ?"
)
_APP_SELECT = "SELECT app_id, name, api_key, created_at, project_of FROM apps"
# Rows for `defined_event_row`.
_DEFINED_SELECT = (
    "SELECT defined_event_id, name, event_type, selector, target_text, url_contains, created_at"
    " FROM defined_events"
)


@dataclass(frozen=True)
class StateStatements:
    """One statement per field, in one dialect's placeholders."""

    # -- apps and tokens
    insert_app: str = (
        "INSERT INTO apps (app_id, name, api_key, created_at, project_of)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
    )
    # Rows for `App(*row)`.
    find_app: str = _APP_SELECT + " WHERE app_id = ?"
    list_apps: str = _APP_SELECT + " ORDER BY created_at, app_id"
    bridge_origins: str = "SELECT origin FROM app_bridge_origins WHERE app_id = ? ORDER BY origin"
    allow_bridge_origin: str = (
        "INSERT INTO app_bridge_origins (app_id, origin) VALUES (?, ?) ON CONFLICT DO NOTHING"
    )
    disallow_bridge_origin: str = "DELETE FROM app_bridge_origins WHERE app_id = ? AND origin = ?"
    drop_expired_tokens: str = "DELETE FROM auth_tokens WHERE expires_at < ?"
    insert_token: str = "INSERT INTO auth_tokens (token, app_id, expires_at) VALUES (?, ?, ?)"
    token_app: str = "SELECT app_id FROM auth_tokens WHERE token = ? AND expires_at >= ?"
    installation_secret: str = "SELECT secret FROM installation_secret WHERE id = 1"
    # -- users (the IdentityTransaction primitives both backends write alike)
    create_user: str = (
        "INSERT INTO users (app_id, user_id, identity, first_seen, last_seen)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
    )
    # A merged user's row keeps its id and span; its properties now live in the canonical user's.
    forget_merged_properties: str = (
        "UPDATE users SET properties = '{}', account_properties = '{}'"
        " WHERE app_id = ? AND user_id = ?"
    )
    user_state: str = _USER_STATE
    # The same, locking the row until the transaction ends; SQLite's single writer serialises
    # every transaction, so it needs no lock.
    user_state_locked: str = _USER_STATE
    set_user_state: str = (
        "UPDATE users SET properties = ?, first_seen = ?, last_seen = ?,"
        " initial_properties = ?, account_properties = ? WHERE app_id = ? AND user_id = ?"
    )
    set_initial_properties: str = (
        "UPDATE users SET initial_properties = ?"
        " WHERE app_id = ? AND user_id = ? AND initial_properties IS NULL"
    )
    server_identifies: str = (
        "SELECT COUNT(*) FROM server_identifies WHERE app_id = ? AND identity = ? AND month = ?"
    )
    count_server_identify: str = (
        "INSERT INTO server_identifies (app_id, identity, month, user_id)"
        " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
    )
    # A record applied (or a deleted event's id kept): False from rowcount when it was already.
    insert_applied_record: str = (
        "INSERT INTO applied_records (app_id, record_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
    )
    # Oldest first: SQLite's rowid, PostgreSQL's `seq`, are the order of insertion.
    warnings: str = (
        "SELECT time, kind, message, detail FROM warnings WHERE app_id = ? ORDER BY rowid"
    )
    # -- the dashboard's own state
    drop_expired_admin_sessions: str = "DELETE FROM dashboard_sessions WHERE expires_at <= ?"
    insert_admin_session: str = (
        "INSERT INTO dashboard_sessions (session_key, password_tag, expires_at) VALUES (?, ?, ?)"
    )
    admin_session_is_live: str = (
        "SELECT 1 FROM dashboard_sessions"
        " WHERE session_key = ? AND password_tag = ? AND expires_at > ?"
    )
    end_admin_session: str = "DELETE FROM dashboard_sessions WHERE session_key = ?"
    insert_defined_event: str = (
        "INSERT INTO defined_events (app_id, defined_event_id, name, event_type, selector,"
        " target_text, url_contains, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
    )
    defined_events: str = _DEFINED_SELECT + " WHERE app_id = ? ORDER BY name COLLATE NOCASE"
    find_defined_event: str = _DEFINED_SELECT + " WHERE app_id = ? AND defined_event_id = ?"
    delete_defined_event: str = (
        "DELETE FROM defined_events WHERE app_id = ? AND defined_event_id = ?"
    )
    # -- deletion
    insert_deletion_request: str = (
        "INSERT INTO deletion_requests (deletion_request_id, app_id, users, status,"
        " requested_at) VALUES (?, ?, ?, 'pending', ?)"
    )
    deletion_request: str = (
        "SELECT app_id, users, status FROM deletion_requests WHERE deletion_request_id = ?"
    )
    # Erased: the rows are gone, the request keeps only keyed hashes of the users it named.
    mark_deletion_erased: str = (
        "UPDATE deletion_requests SET status = 'erased', users = '[]', user_hashes = ?"
        " WHERE deletion_request_id = ?"
    )
    mark_deletion_complete: str = (
        "UPDATE deletion_requests SET status = 'complete', completed_at = ?"
        " WHERE deletion_request_id = ?"
    )
    pending_deletions: str = (
        "SELECT deletion_request_id FROM deletion_requests WHERE status != 'complete'"
        " ORDER BY requested_at"
    )
    find_deletion: str = (
        "SELECT deletion_request_id, app_id, status FROM deletion_requests"
        " WHERE deletion_request_id = ? AND app_id = ?"
    )
    # An app and every other app of its project (Heap's deletion "checks all environments");
    # bound with the app id twice.
    environments: str = (
        "WITH project AS (SELECT COALESCE(project_of, app_id) AS id FROM apps WHERE app_id = ?)"
        " SELECT CAST(? AS TEXT) UNION"
        " SELECT app_id FROM apps, project WHERE app_id = project.id OR project_of = project.id"
    )


def _in_postgres(statements: StateStatements, **differing: str) -> StateStatements:
    """The same statements with psycopg's `%s` placeholders, and `differing` as they are."""
    converted = {}
    for field in fields(statements):
        text: str = getattr(statements, field.name)
        if "%" in text:  # psycopg reads every `%` as the start of a placeholder
            raise ValueError(f"{field.name}: a literal % in a shared statement needs %% in psycopg")
        converted[field.name] = text.replace("?", "%s")
    return replace(statements, **{**converted, **differing})


SQLITE = StateStatements()
POSTGRES = _in_postgres(
    SQLITE,
    # NOCASE folds ASCII only and is SQLite's; PostgreSQL orders by lower(), then exactly.
    defined_events=_DEFINED_SELECT + " WHERE app_id = %s ORDER BY lower(name), name",
    user_state_locked=_USER_STATE.replace("?", "%s") + " FOR UPDATE",
    warnings="SELECT time, kind, message, detail FROM warnings WHERE app_id = %s ORDER BY seq",
)


class Cursor(Protocol):
    """What the shared code reads of a cursor (sqlite3's and psycopg's alike)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...


class Connection(Protocol):
    """What the shared code does with a connection (sqlite3's and psycopg's alike)."""

    def execute(self, query: str, params: Sequence[Any], /) -> Cursor: ...


class StateStore(ABC):
    """The `Storage` methods on the state tables whose statements both backends share; a
    backend gives its statement table and runs them through `_write` and `_read`."""

    def __init__(self, statements: StateStatements) -> None:
        self._sql = statements
        self._apps: dict[str, App] = {}  # apps are never changed or removed, so cache them
        self._secret: bytes | None = None

    @abstractmethod
    async def _write(self, work: Callable[[Connection], T]) -> T:
        """`work(conn)` in one write transaction; its result."""

    @abstractmethod
    async def _read(self, query: str, params: Sequence[object] = ()) -> list[Any]:
        """The rows of one query."""

    # -- apps and tokens --------------------------------------------------------------------

    async def create_app(
        self, name: str, app_id: str | None = None, project_of: str | None = None
    ) -> App:
        app = await new_app(self, name, app_id, project_of)

        def insert(conn: Connection) -> bool:
            cursor = conn.execute(
                self._sql.insert_app,
                (app.app_id, app.name, app.api_key, app.created_at, app.project_of),
            )
            return cursor.rowcount == 1

        if not await self._write(insert):
            raise ValueError(f"app_id {app.app_id!r} is already taken")
        return app

    async def ensure_app(self, app_id: str, name: str) -> App:
        return await self.find_app(app_id) or await self.create_app(name, app_id)

    async def find_app(self, app_id: str) -> App | None:
        app = self._apps.get(app_id)
        if app is None:
            rows = await self._read(self._sql.find_app, (app_id,))
            if not rows:
                return None  # not cached: `footfall apps create` may add it at any time
            app = self._apps[app_id] = App(*rows[0])
        return app

    async def list_apps(self) -> list[App]:
        return [App(*row) for row in await self._read(self._sql.list_apps)]

    async def change_bridge_origins(
        self, app_id: str, allow: Sequence[str], disallow: Sequence[str] = ()
    ) -> list[str]:
        if await self.find_app(app_id) is None:
            raise ValueError(f"no app {app_id!r}; create it with `footfall apps create`")

        def change(conn: Connection) -> None:
            for origin in allow:
                conn.execute(self._sql.allow_bridge_origin, (app_id, origin))
            for origin in disallow:
                conn.execute(self._sql.disallow_bridge_origin, (app_id, origin))

        await self._write(change)
        return await self.bridge_origins(app_id)

    async def bridge_origins(self, app_id: str) -> list[str]:
        # Not cached: `footfall apps update` may change it at any time.
        return [row[0] for row in await self._read(self._sql.bridge_origins, (app_id,))]

    async def issue_token(self, app_id: str, lifetime_ms: int) -> str:
        token = secrets.token_urlsafe(32)

        def insert(conn: Connection) -> None:
            conn.execute(self._sql.drop_expired_tokens, (now_ms(),))
            conn.execute(self._sql.insert_token, (token, app_id, now_ms() + lifetime_ms))

        await self._write(insert)
        return token

    async def token_app(self, token: str) -> str | None:
        rows = await self._read(self._sql.token_app, (token, now_ms()))
        return str(rows[0][0]) if rows else None

    async def installation_secret(self) -> bytes:
        if self._secret is None:
            [[secret]] = await self._read(self._sql.installation_secret)  # made with the schema
            self._secret = bytes(secret)
        return self._secret

    # -- reads ------------------------------------------------------------------------------

    async def warnings(self, app_id: str) -> list[StoredWarning]:
        rows = await self._read(self._sql.warnings, (app_id,))
        return [StoredWarning(row[0], row[1], row[2], json.loads(row[3])) for row in rows]

    # -- the dashboard's own state ----------------------------------------------------------

    async def start_admin_session(
        self, session_key: str, password_tag: str, expires_at: int, now: int
    ) -> None:
        def insert(conn: Connection) -> None:
            conn.execute(self._sql.drop_expired_admin_sessions, (now,))
            conn.execute(self._sql.insert_admin_session, (session_key, password_tag, expires_at))

        await self._write(insert)

    async def admin_session_is_live(self, session_key: str, password_tag: str, now: int) -> bool:
        rows = await self._read(self._sql.admin_session_is_live, (session_key, password_tag, now))
        return bool(rows)

    async def end_admin_session(self, session_key: str) -> None:
        await self._write(lambda conn: conn.execute(self._sql.end_admin_session, (session_key,)))

    async def create_defined_event(
        self, app_id: str, definition: Definition, now_ms: int
    ) -> str | None:
        defined_event_id = secrets.token_hex(8)

        def insert(conn: Connection) -> bool:
            cursor = conn.execute(
                self._sql.insert_defined_event,
                (app_id, defined_event_id, definition.name, definition.event_type,
                 definition.selector, definition.target_text, definition.url_contains, now_ms),
            )  # fmt: skip
            return cursor.rowcount == 1

        return defined_event_id if await self._write(insert) else None

    async def defined_events(self, app_id: str) -> list[DefinedEventRow]:
        rows = await self._read(self._sql.defined_events, (app_id,))
        return [_defined_event_row(row) for row in rows]

    async def find_defined_event(
        self, app_id: str, defined_event_id: str
    ) -> DefinedEventRow | None:
        rows = await self._read(self._sql.find_defined_event, (app_id, defined_event_id))
        return _defined_event_row(rows[0]) if rows else None

    async def delete_defined_event(self, app_id: str, defined_event_id: str) -> bool:
        def delete(conn: Connection) -> bool:
            cursor = conn.execute(self._sql.delete_defined_event, (app_id, defined_event_id))
            return cursor.rowcount > 0

        return await self._write(delete)

    # -- deletion ---------------------------------------------------------------------------

    async def request_deletion(self, app_id: str, users: Sequence[dict[str, str]]) -> str:
        request_id = str(uuid.uuid4())

        def insert(conn: Connection) -> None:
            conn.execute(
                self._sql.insert_deletion_request,
                (request_id, app_id, json.dumps(list(users)), now_ms()),
            )

        await self._write(insert)
        return request_id

    async def pending_deletions(self) -> list[str]:
        return [str(row[0]) for row in await self._read(self._sql.pending_deletions)]

    async def find_deletion(self, app_id: str, deletion_request_id: str) -> DeletionRequest | None:
        rows = await self._read(self._sql.find_deletion, (deletion_request_id, app_id))
        if not rows:
            return None
        # "erased" is not complete yet: the backend's files may still hold the users' values.
        complete = rows[0][2] == "complete"
        return DeletionRequest(rows[0][0], rows[0][1], "complete" if complete else "pending")


def _defined_event_row(row: Sequence[Any]) -> DefinedEventRow:
    return DefinedEventRow(row[0], Definition(row[1], row[2], row[3], row[4], row[5]), row[6])


C = TypeVar("C", bound=Connection)


class StateIdentity(ABC, Generic[C]):
    """The `IdentityTransaction` primitives both backends run alike, on one connection inside
    a write transaction, for one app; a backend adds the ones its alias table needs."""

    _sql: ClassVar[StateStatements]

    def __init__(self, conn: C, app_id: str) -> None:
        self.conn = conn
        self.app_id = app_id

    def _one(self, query: str, *params: object) -> Any:
        """The first row of `query`, bound with the app id and then `params`."""
        return self.conn.execute(query, (self.app_id, *params)).fetchone()

    def create_user(
        self, user_id: str, identity: str | None = None, seen: int | None = None
    ) -> bool:
        cursor = self.conn.execute(
            self._sql.create_user, (self.app_id, user_id, identity, seen, seen)
        )
        return cursor.rowcount == 1

    def user_state(self, user_id: str, *, lock: bool = False) -> UserState:
        row = self._one(self._sql.user_state_locked if lock else self._sql.user_state, user_id)
        assert row is not None, f"user_state of unknown user {user_id}"
        return UserState(
            json.loads(row[0]), row[1], row[2], loads_or_none(row[3]), json.loads(row[4])
        )

    def set_user_state(self, user_id: str, state: UserState) -> None:
        initial = state.initial_properties
        self.conn.execute(
            self._sql.set_user_state,
            (dumps(state.properties), state.first_seen, state.last_seen,
             None if initial is None else dumps(initial), dumps(state.account_properties),
             self.app_id, user_id),
        )  # fmt: skip

    def set_initial_properties(self, user_id: str, initial: Mapping[str, str]) -> None:
        self.conn.execute(self._sql.set_initial_properties, (dumps(initial), self.app_id, user_id))

    @abstractmethod
    def touch(self, user_id: str, first_ms: int, last_ms: int) -> None:
        """See `IdentityTransaction.touch`."""

    def touch_all(self, spans: Mapping[str, tuple[int, int]]) -> None:
        for user_id, (first, last) in sorted(spans.items()):
            self.touch(user_id, first, last)

    def server_identifies(self, identity: str, month: str) -> int:
        return int(self._one(self._sql.server_identifies, identity, month)[0])

    def count_server_identify(self, identity: str, month: str, user_id: str) -> None:
        self.conn.execute(self._sql.count_server_identify, (self.app_id, identity, month, user_id))

    def first_application(self, record_id: str) -> bool:
        cursor = self.conn.execute(self._sql.insert_applied_record, (self.app_id, record_id))
        return cursor.rowcount == 1

    @abstractmethod
    def canonical_user(self, user_id: str) -> KnownUser | None:
        """See `IdentityTransaction.canonical_user` (the backend's alias table)."""

    @abstractmethod
    def identity_holder(self, identity: str) -> KnownUser | None:
        """See `IdentityTransaction.identity_holder`."""

    def named_users(self, named_users: Sequence[Mapping[str, str]]) -> list[KnownUser]:
        """The canonical users a deletion request names (by user id or identity) that exist."""
        found = []
        for named in named_users:
            if "user_id" in named:
                user = self.canonical_user(str(named["user_id"]))
            else:
                user = self.identity_holder(named["identity"])
            if user is not None:
                found.append(user)
        return found


@dataclass(frozen=True)
class StateTables:
    """The tables SQLite and PostgreSQL define alike, one `CREATE TABLE` a field; `{int64}` and
    `{blob}` stand for the dialect's column types (`with_types`). SQLite's shipped schema
    versions create them (sqlite_schema.py), so none may change: a new column is a migration
    step there and an `ALTER TABLE` in postgres.py's SCHEMA."""

    app_bridge_origins: str = """
CREATE TABLE IF NOT EXISTS app_bridge_origins (
    app_id TEXT NOT NULL,
    origin TEXT NOT NULL,
    PRIMARY KEY (app_id, origin)
);"""
    applied_records: str = """
CREATE TABLE IF NOT EXISTS applied_records (
    app_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    PRIMARY KEY (app_id, record_id)
);"""
    # Who the server identify API linked, by month.
    server_identifies: str = """
CREATE TABLE IF NOT EXISTS server_identifies (
    app_id TEXT NOT NULL,
    identity TEXT NOT NULL,
    month TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (app_id, identity, month, user_id)
);"""
    auth_tokens: str = """
CREATE TABLE IF NOT EXISTS auth_tokens (
    token TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    expires_at {int64} NOT NULL
);"""
    defined_events: str = """
CREATE TABLE IF NOT EXISTS defined_events (
    app_id TEXT NOT NULL,
    defined_event_id TEXT NOT NULL,
    name TEXT NOT NULL,
    event_type TEXT NULL,
    selector TEXT NULL,
    target_text TEXT NULL,
    url_contains TEXT NULL,
    created_at {int64} NOT NULL,
    PRIMARY KEY (app_id, defined_event_id),
    UNIQUE (app_id, name)
);"""
    dashboard_sessions: str = """
CREATE TABLE IF NOT EXISTS dashboard_sessions (
    session_key TEXT PRIMARY KEY,
    password_tag TEXT NOT NULL,
    expires_at {int64} NOT NULL
);"""
    installation_secret: str = """
CREATE TABLE IF NOT EXISTS installation_secret (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    secret {blob} NOT NULL
);"""

    def with_types(self, *, int64: str, blob: str) -> "StateTables":
        """The definitions with a dialect's types in place of `{int64}` and `{blob}`."""
        return StateTables(
            **{
                field.name: getattr(self, field.name).format(int64=int64, blob=blob)
                for field in fields(self)
            }
        )


SQLITE_TABLES = StateTables().with_types(int64="INTEGER", blob="BLOB")
POSTGRES_TABLES = StateTables().with_types(int64="BIGINT", blob="BYTEA")

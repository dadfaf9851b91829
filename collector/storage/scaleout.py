"""`Storage` on the scale-out pair: events in ClickHouse (clickhouse.py), everything else in
PostgreSQL (postgres.py). Any number of collectors may share one pair.

A write first asks ClickHouse which of its event ids are stored already, then applies the
operations to PostgreSQL's users in one transaction (retried on conflicts with other
collectors), then inserts the new events into ClickHouse; it is answered once both are done.
An event keeps the user id it was sent with: reads resolve each to its canonical user through
PostgreSQL's `merged_into` aliases, so a merge never rewrites an event.
"""

import json
import secrets
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
import psycopg

from collector.clock import now_ms
from collector.identity import (
    IdentifyAction,
    KnownUser,
    decide_identify,
    identify_month,
    merged_properties,
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
    StoredEvent,
    StoredUser,
)
from collector.storage.clickhouse import ClickHouse, ClickHouseAddress, InsertBatcher, Row
from collector.storage.postgres import USER_VALUE_TABLES, Postgres, PostgresAddress

Conn = psycopg.Connection[Any]
EVENT_SELECT = (
    "SELECT event_id, app_id, user_id, session_id, pageview_id, type, name, time, properties,"
    " page, target, source FROM {database}.events FINAL"
)


class ScaleOutStorage:
    """`Storage` on ClickHouse (events) and PostgreSQL (state)."""

    def __init__(self, events_url: str, state_url: str) -> None:
        self._clickhouse = ClickHouse(ClickHouseAddress.parse(events_url))
        self._postgres = Postgres(PostgresAddress.parse(state_url))
        self._clickhouse.create_schema()
        self._postgres.create_schema()
        self._batcher = InsertBatcher(
            lambda rows: self._clickhouse.run(lambda: self._clickhouse.insert_events(rows))
        )
        self._apps: dict[str, App] = {}  # apps are never changed or removed, so cache them

    def close(self) -> None:
        self._clickhouse.close()
        self._postgres.close()

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

        def insert(conn: Conn) -> bool:
            cursor = conn.execute(
                "INSERT INTO apps (app_id, name, api_key, created_at) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT DO NOTHING",
                (app.app_id, app.name, app.api_key, app.created_at),
            )
            return cursor.rowcount == 1

        if not self._postgres.transaction(insert):
            raise ValueError(f"app_id {app.app_id!r} is already taken")
        return app

    def ensure_app(self, app_id: str, name: str) -> App:
        return self.find_app(app_id) or self.create_app(name, app_id)

    def find_app(self, app_id: str) -> App | None:
        app = self._apps.get(app_id)
        if app is None:
            row = self._read_one(
                "SELECT app_id, name, api_key, created_at FROM apps WHERE app_id = %s", (app_id,)
            )
            if row is None:
                return None
            app = self._apps[app_id] = App(*row)
        return app

    def change_bridge_origins(
        self, app_id: str, allow: Sequence[str], disallow: Sequence[str] = ()
    ) -> list[str]:
        if self.find_app(app_id) is None:
            raise ValueError(f"no app {app_id!r}; create it with `footfall apps create`")

        def change(conn: Conn) -> None:
            with conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO app_bridge_origins (app_id, origin) VALUES (%s, %s)"
                    " ON CONFLICT DO NOTHING",
                    [(app_id, origin) for origin in allow],
                )
                cursor.executemany(
                    "DELETE FROM app_bridge_origins WHERE app_id = %s AND origin = %s",
                    [(app_id, origin) for origin in disallow],
                )

        self._postgres.transaction(change)
        return self.bridge_origins(app_id)

    def bridge_origins(self, app_id: str) -> list[str]:
        rows = self._read(
            "SELECT origin FROM app_bridge_origins WHERE app_id = %s ORDER BY origin", (app_id,)
        )
        return [row[0] for row in rows]

    # -- ingest -----------------------------------------------------------------------------

    async def write(self, app_id: str, operations: Sequence[Operation]) -> list[Outcome]:
        received_at = now_ms()
        event_ids = [op.event_id for op in operations if isinstance(op, NewEvent)]
        stored = await self._clickhouse.run(lambda: self._stored_event_ids(app_id, event_ids))

        def apply(conn: Conn) -> tuple[list[Outcome], list[Row]]:
            return _apply_all(conn, app_id, operations, received_at, stored)

        outcomes, rows = await self._postgres.run(lambda: self._postgres.transaction(apply))
        await self._batcher.insert(rows)
        return outcomes

    def _stored_event_ids(self, app_id: str, event_ids: list[str]) -> set[str]:
        if not event_ids:
            return set()
        rows = self._clickhouse.execute(
            f"SELECT event_id FROM {self._clickhouse.database}.events"
            " WHERE app_id = %(app_id)s AND event_id IN %(ids)s",
            {"app_id": app_id, "ids": tuple(event_ids)},
        )
        return {row[0] for row in rows}

    # -- deletion API -----------------------------------------------------------------------

    async def issue_token(self, app_id: str, lifetime_ms: int) -> str:
        token = secrets.token_urlsafe(32)

        def insert(conn: Conn) -> None:
            conn.execute("DELETE FROM auth_tokens WHERE expires_at < %s", (now_ms(),))
            conn.execute(
                "INSERT INTO auth_tokens (token, app_id, expires_at) VALUES (%s, %s, %s)",
                (token, app_id, now_ms() + lifetime_ms),
            )

        await self._postgres.run(lambda: self._postgres.transaction(insert))
        return token

    def token_app(self, token: str) -> str | None:
        row = self._read_one(
            "SELECT app_id FROM auth_tokens WHERE token = %s AND expires_at >= %s",
            (token, now_ms()),
        )
        return None if row is None else str(row[0])

    async def request_deletion(self, app_id: str, users: Sequence[dict[str, str]]) -> str:
        request_id = str(uuid.uuid4())

        def insert(conn: Conn) -> None:
            conn.execute(
                "INSERT INTO deletion_requests (deletion_request_id, app_id, users, status,"
                " requested_at) VALUES (%s, %s, %s, 'pending', %s)",
                (request_id, app_id, json.dumps(list(users)), now_ms()),
            )

        await self._postgres.run(lambda: self._postgres.transaction(insert))
        return request_id

    async def run_deletion(self, deletion_request_id: str) -> None:
        await self._postgres.run(lambda: self._delete_requested_users(deletion_request_id))

    def _delete_requested_users(self, deletion_request_id: str) -> None:
        """Erase the request's users: their ids and events first (events from ClickHouse,
        waited for until off the disk), then their rows, then mark the request complete."""
        request = self._read_one(
            "SELECT app_id, users FROM deletion_requests"
            " WHERE deletion_request_id = %s AND status = 'pending'",
            (deletion_request_id,),
        )
        if request is None:
            return
        app_id, named_users = request[0], json.loads(request[1])
        user_ids = self._postgres.transaction(
            lambda conn: _requested_user_ids(conn, app_id, named_users)
        )
        if user_ids:
            # The deleted events' ids stay (only ids), so a retry of one is a duplicate.
            gone = self._clickhouse.execute(
                f"SELECT DISTINCT event_id FROM {self._clickhouse.database}.events"
                " WHERE app_id = %(app_id)s AND user_id IN %(ids)s",
                {"app_id": app_id, "ids": tuple(user_ids)},
            )
            self._postgres.transaction(
                lambda conn: _remember_deleted_events(conn, app_id, [row[0] for row in gone])
            )
            self._clickhouse.delete_events(app_id, user_ids)
        self._postgres.transaction(
            lambda conn: _delete_user_rows(conn, app_id, user_ids, deletion_request_id)
        )
        self._erase_dead_rows()
        self._postgres.transaction(
            lambda conn: conn.execute(
                "UPDATE deletion_requests SET status = 'complete', completed_at = %s"
                " WHERE deletion_request_id = %s",
                (now_ms(), deletion_request_id),
            )
        )

    def _erase_dead_rows(self) -> None:
        """Rewrite the tables that held deleted values and drop the WAL that recorded them:
        a plain DELETE leaves the row's bytes in its page and in the WAL (docs/clickhouse.md)."""
        self._postgres.autocommit(
            *(f"VACUUM FULL {table}" for table in USER_VALUE_TABLES),
            "SELECT pg_switch_wal()",
            "CHECKPOINT",
        )

    def pending_deletions(self) -> list[str]:
        rows = self._read(
            "SELECT deletion_request_id FROM deletion_requests WHERE status = 'pending'"
            " ORDER BY requested_at"
        )
        return [str(row[0]) for row in rows]

    def find_deletion(self, app_id: str, deletion_request_id: str) -> DeletionRequest | None:
        row = self._read_one(
            "SELECT deletion_request_id, app_id, status FROM deletion_requests"
            " WHERE deletion_request_id = %s AND app_id = %s",
            (deletion_request_id, app_id),
        )
        return None if row is None else DeletionRequest(row[0], row[1], row[2])

    # -- export -----------------------------------------------------------------------------

    def events(self, app_id: str | None = None) -> Iterator[StoredEvent]:
        canonical = self._canonical_users(app_id)
        query = EVENT_SELECT.format(database=self._clickhouse.database)
        params: dict[str, str] = {}
        if app_id is not None:
            query += " WHERE app_id = %(app_id)s"
            params["app_id"] = app_id
        query += " ORDER BY time, received_at, event_id"
        for row in self._clickhouse.iterate(query, params):
            user_id, identity = canonical.get((row[1], row[2]), (row[2], None))
            yield StoredEvent(
                event_id=row[0],
                app_id=row[1],
                user_id=user_id,
                identity=identity,
                session_id=row[3],
                pageview_id=row[4],
                type=row[5],
                name=row[6],
                time=row[7],
                properties=json.loads(row[8]),
                page=_loads_or_none(row[9]),
                target=_loads_or_none(row[10]),
                source=row[11],
            )

    def _canonical_users(self, app_id: str | None) -> dict[tuple[str, str], tuple[str, str | None]]:
        """(app_id, user_id) -> (canonical user_id, its identity), for every known user."""
        rows = self._read(
            "SELECT u.app_id, u.user_id, COALESCE(c.user_id, u.user_id),"
            " CASE WHEN c.user_id IS NULL THEN u.identity ELSE c.identity END"
            " FROM users u LEFT JOIN users c ON c.app_id = u.app_id AND c.user_id = u.merged_into"
            " WHERE %s::text IS NULL OR u.app_id = %s",
            (app_id, app_id),
        )
        return {(row[0], row[1]): (row[2], row[3]) for row in rows}

    def users(self, app_id: str | None = None) -> Iterator[StoredUser]:
        rows = self._read(
            "SELECT u.app_id, u.user_id, u.identity, u.properties,"
            " COALESCE(array_agg(m.user_id ORDER BY m.user_id)"
            "   FILTER (WHERE m.user_id IS NOT NULL), '{}'),"
            " LEAST(MIN(u.first_seen), MIN(m.first_seen)),"
            " GREATEST(MAX(u.last_seen), MAX(m.last_seen))"
            " FROM users u LEFT JOIN users m ON m.app_id = u.app_id AND m.merged_into = u.user_id"
            " WHERE u.merged_into IS NULL AND (%s::text IS NULL OR u.app_id = %s)"
            " GROUP BY u.app_id, u.user_id"
            " ORDER BY 6 NULLS LAST, u.app_id, u.user_id",
            (app_id, app_id),
        )
        for row in rows:
            yield StoredUser(
                app_id=row[0],
                user_id=row[1],
                identity=row[2],
                properties=json.loads(row[3]),
                merged_user_ids=list(row[4]),
                first_seen=row[5],
                last_seen=row[6],
            )

    # -- helpers ----------------------------------------------------------------------------

    def _read(self, query: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        with self._postgres.connection() as conn:
            rows = conn.execute(query, params).fetchall()
            conn.rollback()
        return rows

    def _read_one(self, query: str, params: tuple[object, ...]) -> tuple[Any, ...] | None:
        rows = self._read(query, params)
        return rows[0] if rows else None


def _loads_or_none(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


# -- operations, run inside one PostgreSQL transaction ----------------------------------------


def _apply_all(
    conn: Conn,
    app_id: str,
    operations: Sequence[Operation],
    received_at: int,
    stored_ids: set[str],
) -> tuple[list[Outcome], list[Row]]:
    """Apply `operations` in order: the outcomes, and the event rows for ClickHouse."""
    event_ids = [op.event_id for op in operations if isinstance(op, NewEvent)]
    known = stored_ids | _deleted_event_ids(conn, app_id, event_ids)
    outcomes: list[Outcome] = []
    rows: list[Row] = []
    spans: dict[str, tuple[int, int]] = {}  # user_id named by events -> (first, last) time
    holders: dict[str, str] = {}  # identity -> the user_id its events are stored under
    for op in operations:
        if not isinstance(op, NewEvent):
            _touch_all(conn, app_id, spans)  # an identify may merge them: users exist first
            spans = {}
            holders = {}
            outcomes.append(_apply_user_operation(conn, app_id, op))
            continue
        if op.event_id in known:
            outcomes.append(DUPLICATE)
            continue
        known.add(op.event_id)
        if op.user_id is not None:
            user_id = op.user_id
        else:
            identity = _named_identity(op)
            if identity not in holders:
                holders[identity] = _holder_or_create(conn, app_id, identity).user_id
            user_id = holders[identity]
        first, last = spans.get(user_id, (op.time, op.time))
        spans[user_id] = (min(first, op.time), max(last, op.time))
        rows.append(_event_row(app_id, user_id, op, received_at))
        outcomes.append(STORED)
    _touch_all(conn, app_id, spans)
    return outcomes, rows


def _event_row(app_id: str, user_id: str, event: NewEvent, received_at: int) -> Row:
    return (
        app_id,
        event.event_id,
        user_id,
        event.session_id,
        event.pageview_id,
        event.type,
        event.name,
        event.time,
        received_at,
        _dumps(event.properties),
        None if event.page is None else _dumps(event.page),
        None if event.target is None else _dumps(event.target),
        event.source,
        None if event.session is None else _dumps(event.session),
    )


def _deleted_event_ids(conn: Conn, app_id: str, event_ids: list[str]) -> set[str]:
    """Those of `event_ids` that were stored and deleted with their user: a tracker's retry of
    one must not bring a deleted user back."""
    if not event_ids:
        return set()
    rows = conn.execute(
        "SELECT record_id FROM applied_records WHERE app_id = %s AND record_id = ANY(%s)",
        (app_id, event_ids),
    ).fetchall()
    return {row[0] for row in rows}


def _touch_all(conn: Conn, app_id: str, spans: dict[str, tuple[int, int]]) -> None:
    """Create the users events named, or widen their first and last seen times. A user keeps
    its own span; a canonical user's is that of itself and those merged into it."""
    if not spans:
        return
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO users (app_id, user_id, first_seen, last_seen) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (app_id, user_id) DO UPDATE SET"
            " first_seen = LEAST(users.first_seen, EXCLUDED.first_seen),"
            " last_seen = GREATEST(users.last_seen, EXCLUDED.last_seen)",
            [(app_id, user_id, first, last) for user_id, (first, last) in sorted(spans.items())],
        )


def _apply_user_operation(conn: Conn, app_id: str, op: Identify | SetUserProperties) -> Outcome:
    if op.record_id is not None:
        cursor = conn.execute(
            "INSERT INTO applied_records (app_id, record_id) VALUES (%s, %s)"
            " ON CONFLICT DO NOTHING",
            (app_id, op.record_id),
        )
        if cursor.rowcount == 0:
            return DUPLICATE
    if isinstance(op, Identify):
        return _identify(conn, app_id, op)
    return _set_user_properties(conn, app_id, op)


def _identify(conn: Conn, app_id: str, op: Identify) -> Outcome:
    subject = _canonical(conn, app_id, op.user_id)
    holder = _holder(conn, app_id, op.identity)
    month = identify_month(now_ms())  # the server's month: a backdated call cannot dodge it
    user_ids_this_month = None
    if op.source == "server":
        user_ids_this_month = conn.execute(
            "SELECT COUNT(*) FROM server_identifies"
            " WHERE app_id = %s AND identity = %s AND month = %s",
            (app_id, op.identity, month),
        ).fetchone()[0]  # type: ignore[index]
    decision = decide_identify(
        op.identity, subject, holder, user_ids_this_month=user_ids_this_month
    )
    action = decision.action
    if action is IdentifyAction.REFUSE:
        assert decision.warning_kind is not None and decision.message is not None
        conn.execute(
            "INSERT INTO warnings (app_id, time, kind, message, user_id, detail)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (
                app_id,
                now_ms(),
                decision.warning_kind,
                decision.message,
                op.user_id,
                _dumps({"user_id": op.user_id, "identity": op.identity, "record_id": op.record_id}),
            ),
        )
        return Outcome("refused", decision.message)
    if action is IdentifyAction.CREATE_IDENTIFIED:
        _insert_user(conn, app_id, op.user_id, identity=op.identity, seen=op.time)
    elif action is IdentifyAction.JOIN_HOLDER:
        assert holder is not None
        _insert_user(conn, app_id, op.user_id, merged_into=holder.user_id)
        _touch_all(conn, app_id, {holder.user_id: (op.time, op.time)})
    elif action is IdentifyAction.CLAIM:
        assert subject is not None
        conn.execute(
            "UPDATE users SET identity = %s WHERE app_id = %s AND user_id = %s",
            (op.identity, app_id, subject.user_id),
        )
        _touch_all(conn, app_id, {subject.user_id: (op.time, op.time)})
    elif action is IdentifyAction.MERGE_INTO_HOLDER:
        assert subject is not None and holder is not None
        _merge(conn, app_id, absorbed=subject.user_id, surviving=holder.user_id)
        _touch_all(conn, app_id, {holder.user_id: (op.time, op.time)})
    else:
        assert subject is not None
        _touch_all(conn, app_id, {subject.user_id: (op.time, op.time)})
    if op.source == "server" and action is not IdentifyAction.NOTHING:
        conn.execute(
            "INSERT INTO server_identifies (app_id, identity, month, user_id)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (app_id, op.identity, month, op.user_id),
        )
    return STORED


def _set_user_properties(conn: Conn, app_id: str, op: SetUserProperties) -> Outcome:
    if op.user_id is not None:
        user = _canonical(conn, app_id, op.user_id)
        if user is None:
            _insert_user(conn, app_id, op.user_id)
            user = KnownUser(op.user_id, None)
        _touch_all(conn, app_id, {op.user_id: (op.time, op.time)})
    else:
        user = _holder_or_create(conn, app_id, _named_identity(op))
    old = _properties(conn, app_id, user.user_id)
    conn.execute(
        "UPDATE users SET properties = %s WHERE app_id = %s AND user_id = %s",
        (_dumps({**old, **op.properties}), app_id, user.user_id),
    )
    return STORED


def _named_identity(op: NewEvent | SetUserProperties) -> str:
    """The identity of an operation without a user id (a real check: `python -O` drops asserts)."""
    if op.identity is None:
        raise InvalidOperation(f"{type(op).__name__} names neither a user_id nor an identity")
    return op.identity


def _merge(conn: Conn, app_id: str, *, absorbed: str, surviving: str) -> None:
    """Point the absorbed user and those merged into it at the surviving user, which takes
    the absorbed user's properties where it has none of its own. No event is touched."""
    conn.execute(
        "UPDATE users SET merged_into = %s"
        " WHERE app_id = %s AND (user_id = %s OR merged_into = %s)",
        (surviving, app_id, absorbed, absorbed),
    )
    properties = merged_properties(
        _properties(conn, app_id, absorbed), _properties(conn, app_id, surviving)
    )
    conn.execute(
        "UPDATE users SET properties = %s WHERE app_id = %s AND user_id = %s",
        (_dumps(properties), app_id, surviving),
    )


def _canonical(conn: Conn, app_id: str, user_id: str) -> KnownUser | None:
    row = conn.execute(
        "SELECT COALESCE(c.user_id, u.user_id),"
        " CASE WHEN c.user_id IS NULL THEN u.identity ELSE c.identity END"
        " FROM users u LEFT JOIN users c ON c.app_id = u.app_id AND c.user_id = u.merged_into"
        " WHERE u.app_id = %s AND u.user_id = %s",
        (app_id, user_id),
    ).fetchone()
    return None if row is None else KnownUser(row[0], row[1])


def _holder(conn: Conn, app_id: str, identity: str) -> KnownUser | None:
    row = conn.execute(
        "SELECT user_id FROM users WHERE app_id = %s AND identity = %s AND merged_into IS NULL",
        (app_id, identity),
    ).fetchone()
    return None if row is None else KnownUser(row[0], identity)


def _holder_or_create(conn: Conn, app_id: str, identity: str) -> KnownUser:
    user = _holder(conn, app_id, identity)
    while user is None:
        user_id = str(secrets.randbelow(2**53))
        if _canonical(conn, app_id, user_id) is None:
            _insert_user(conn, app_id, user_id, identity=identity)
            user = KnownUser(user_id, identity)
    return user


def _insert_user(
    conn: Conn,
    app_id: str,
    user_id: str,
    *,
    identity: str | None = None,
    merged_into: str | None = None,
    seen: int | None = None,
) -> None:
    conn.execute(
        "INSERT INTO users (app_id, user_id, identity, first_seen, last_seen, merged_into)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (app_id, user_id, identity, seen, seen, merged_into),
    )


def _properties(conn: Conn, app_id: str, user_id: str) -> dict[str, object]:
    row = conn.execute(
        "SELECT properties FROM users WHERE app_id = %s AND user_id = %s", (app_id, user_id)
    ).fetchone()
    assert row is not None
    properties: dict[str, object] = json.loads(row[0])
    return properties


def _requested_user_ids(conn: Conn, app_id: str, named_users: list[dict[str, str]]) -> list[str]:
    """Every user id of the users a deletion names: each canonical user and those merged in."""
    canonical_ids = []
    for named in named_users:
        if "user_id" in named:
            user = _canonical(conn, app_id, str(named["user_id"]))
        else:
            user = _holder(conn, app_id, named["identity"])
        if user is not None:
            canonical_ids.append(user.user_id)
    if not canonical_ids:
        return []
    rows = conn.execute(
        "SELECT user_id FROM users WHERE app_id = %s"
        " AND (user_id = ANY(%s) OR merged_into = ANY(%s))",
        (app_id, canonical_ids, canonical_ids),
    ).fetchall()
    return sorted(row[0] for row in rows)


def _remember_deleted_events(conn: Conn, app_id: str, event_ids: list[str]) -> None:
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO applied_records (app_id, record_id) VALUES (%s, %s)"
            " ON CONFLICT DO NOTHING",
            [(app_id, event_id) for event_id in event_ids],
        )


def _delete_user_rows(
    conn: Conn, app_id: str, user_ids: list[str], deletion_request_id: str
) -> None:
    conn.execute("DELETE FROM warnings WHERE app_id = %s AND user_id = ANY(%s)", (app_id, user_ids))
    conn.execute(
        "DELETE FROM server_identifies WHERE app_id = %s AND user_id = ANY(%s)",
        (app_id, user_ids),
    )
    conn.execute("DELETE FROM users WHERE app_id = %s AND user_id = ANY(%s)", (app_id, user_ids))
    # The request keeps no identity or user id once they are gone: only its id and status.
    conn.execute(
        "UPDATE deletion_requests SET users = '[]' WHERE deletion_request_id = %s",
        (deletion_request_id,),
    )

"""`Storage` on the scale-out pair: events in ClickHouse (clickhouse.py), everything else in
PostgreSQL (postgres.py). Any number of collectors may share one pair.

A write first asks ClickHouse which of its event ids are stored already, then applies the
operations to PostgreSQL's users in one transaction (`collector.identity` through
`PostgresIdentity`, retried on conflicts with other collectors), then inserts the new events into
ClickHouse; it is answered once both are done. An event keeps the user id it was stored under:
reads resolve each to its canonical user through PostgreSQL's `merged_into` aliases, so a merge
never rewrites an event.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import psycopg

from collector.clock import now_ms
from collector.identity import EventUsers, apply_user_operation
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
    StoredEvent,
    StoredUser,
    TimeBuckets,
    UserRow,
    deletion_log_hash,
)
from collector.storage.candidates import candidates_where
from collector.storage.clickhouse import NO_APP, ClickHouse, ClickHouseAddress, Row
from collector.storage.postgres import (
    USER_VALUE_TABLES,
    Postgres,
    PostgresAddress,
    PostgresIdentity,
)
from collector.storage.state_sql import POSTGRES as SQL
from collector.storage.state_sql import StateStore
from collector.storage.stored_json import dumps, json_object, loads_or_none

T = TypeVar("T")
Conn = psycopg.Connection[Any]
PAGE_ROWS = 10_000  # events read from ClickHouse at a time by the export
CANDIDATE_PAGE_ROWS = 200  # newest candidates read at a time: the dashboard stops after a few

EXPORT_COLUMNS = (
    "event_id, app_id, user_id, session_id, pageview_id, type, name, time, properties, page,"
    " target, source, received_at, seq, context"
)
DASHBOARD_EVENT_COLUMNS = (
    "event_id, time, type, name, user_id, session_id, source, properties, page, target"
)
# What a definition can test, from the JSON text columns (18.16 has no JSONExtract; these read
# a key of a flat object, which page and target are).
_URL = "if(isNull(page), NULL, visitParamExtractString(assumeNotNull(page), 'url'))"
_HIERARCHY = "if(isNull(target), NULL, visitParamExtractString(assumeNotNull(target), 'hierarchy'))"
_TEXT = "if(isNull(target), NULL, visitParamExtractString(assumeNotNull(target), 'text'))"
# A canonical user (`u`) with the number of ids merged into it, and its alias if merged.
USER_COLUMNS = "u.user_id, u.identity, u.properties, u.first_seen, u.last_seen, u.merged_into"
CANONICAL_SELECT = (
    "SELECT u.user_id, COALESCE(c.user_id, u.user_id),"
    " CASE WHEN c.user_id IS NULL THEN u.identity ELSE c.identity END"
    " FROM users u LEFT JOIN users c ON c.app_id = u.app_id AND c.user_id = u.merged_into"
)


def open_scaleout(db: str, state: str) -> "ScaleOutStorage":
    """The pair `--db clickhouse://…` and `--state postgresql://…` name (the opener's hook)."""
    return ScaleOutStorage(db, state)


class ScaleOutStorage(StateStore):
    """`Storage` on ClickHouse (events) and PostgreSQL (state)."""

    def __init__(self, events_url: str, state_url: str) -> None:
        super().__init__(SQL)
        clickhouse_address = ClickHouseAddress.parse(events_url)
        postgres_address = PostgresAddress.parse(state_url)
        self._clickhouse = ClickHouse(clickhouse_address)
        self._postgres = Postgres(postgres_address)
        self._clickhouse.create_schema()
        self._postgres.create_schema()
        self._events = f"{clickhouse_address.database}.events"

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        self._clickhouse.close()
        self._postgres.close()

    # -- ingest -----------------------------------------------------------------------------

    async def write(self, app_id: str, operations: Sequence[Operation]) -> list[Outcome]:
        received_at = now_ms()
        event_ids = [op.event_id for op in operations if isinstance(op, NewEvent)]
        in_clickhouse = await self._clickhouse.stored_event_ids(app_id, event_ids)

        def apply(conn: Conn) -> tuple[list[Outcome], list[Row]]:
            tx = PostgresIdentity(conn, app_id)
            known = in_clickhouse | _deleted_event_ids(conn, app_id, event_ids)
            return _apply_all(tx, operations, received_at, known)

        outcomes, rows = await self._write(apply)
        await self._clickhouse.store_events(rows)
        return outcomes

    # -- reads ------------------------------------------------------------------------------

    async def events(self, app_id: str | None = None) -> AsyncIterator[StoredEvent]:
        canonical = await self._off_loop(lambda: self._canonical_map(app_id))
        where, params = "app_id = %(app_id)s", {"app_id": app_id}
        if app_id is None:
            where, params = "app_id != %(app_id)s", {"app_id": NO_APP}  # all but the wake row
        after: Row | None = None
        while True:
            page = await self._off_loop(partial(self._export_page, where, params, after))
            for row in page:
                user_id, identity = canonical.get((row[1], row[2]), (row[2], None))
                yield StoredEvent(
                    event_id=row[0], app_id=row[1], user_id=user_id, identity=identity,
                    session_id=row[3], pageview_id=row[4], type=row[5], name=row[6], time=row[7],
                    properties=json.loads(row[8]), page=loads_or_none(row[9]),
                    target=loads_or_none(row[10]), source=row[11],
                    context=loads_or_none(row[14]),
                )  # fmt: skip
            if len(page) < PAGE_ROWS:
                return
            after = page[-1]

    def _export_page(self, where: str, params: dict[str, Any], after: Row | None) -> list[Row]:
        """A page of the export in (time, arrival) order, after the row `after`."""
        if after is not None:
            where += (
                " AND (time, received_at, seq, event_id) > (%(time)s, %(received_at)s, %(seq)s,"
                " %(event_id)s)"
            )
            params = {**params, "time": after[7], "received_at": after[12], "seq": after[13],
                      "event_id": after[0]}  # fmt: skip
        return self._clickhouse.execute(
            f"SELECT {EXPORT_COLUMNS} FROM {self._events} FINAL WHERE {where}"
            f" ORDER BY time, received_at, seq, event_id LIMIT {PAGE_ROWS}",
            params,
        )

    def _canonical_map(self, app_id: str | None) -> dict[tuple[str, str], tuple[str, str | None]]:
        """(app_id, user_id) -> (canonical user id, its identity), for every known user."""
        rows = self._postgres.read(
            "SELECT u.app_id, u.user_id, COALESCE(c.user_id, u.user_id),"
            " CASE WHEN c.user_id IS NULL THEN u.identity ELSE c.identity END"
            " FROM users u LEFT JOIN users c ON c.app_id = u.app_id AND c.user_id = u.merged_into"
            " WHERE %s::text IS NULL OR u.app_id = %s",
            (app_id, app_id),
        )
        return {(row[0], row[1]): (row[2], row[3]) for row in rows}

    async def users(self, app_id: str | None = None) -> AsyncIterator[StoredUser]:
        rows = await self._read(
            "SELECT u.app_id, u.user_id, u.identity, u.properties, u.first_seen, u.last_seen,"
            " ARRAY(SELECT m.user_id FROM users m WHERE m.app_id = u.app_id"
            "       AND m.merged_into = u.user_id ORDER BY m.user_id), u.initial_properties,"
            " u.account_properties"
            " FROM users u WHERE u.merged_into IS NULL AND (%s::text IS NULL OR u.app_id = %s)"
            " ORDER BY u.first_seen NULLS LAST, u.seq",
            (app_id, app_id),
        )
        for row in rows:
            yield StoredUser(
                app_id=row[0], user_id=row[1], identity=row[2], properties=json.loads(row[3]),
                merged_user_ids=list(row[6]), first_seen=row[4], last_seen=row[5],
                initial_properties=loads_or_none(row[7]) or {},
                account_properties=json.loads(row[8]),
            )  # fmt: skip

    async def app_totals(self) -> dict[str, AppTotals]:
        events: dict[str, int] = dict(
            await self._clickhouse.query(
                f"SELECT app_id, count() FROM {self._events} FINAL"
                " WHERE app_id != %(no_app)s GROUP BY app_id",
                {"no_app": NO_APP},
            )
        )
        users = dict(
            await self._read(
                "SELECT app_id, COUNT(*) FROM users WHERE merged_into IS NULL GROUP BY app_id"
            )
        )
        return {
            app_id: AppTotals(events.get(app_id, 0), users.get(app_id, 0))
            for app_id in events.keys() | users.keys()
        }

    async def canonical_user_id(self, app_id: str, user: str) -> str | None:
        rows = await self._read(
            "SELECT COALESCE(merged_into, user_id) FROM users"
            " WHERE app_id = %s AND (user_id = %s OR (identity = %s AND merged_into IS NULL))"
            " ORDER BY user_id = %s DESC LIMIT 1",
            (app_id, user, user, user),
        )
        return str(rows[0][0]) if rows else None

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
        def load() -> list[EventRow]:
            where = ["app_id = %(app_id)s"]
            params: dict[str, object] = {"app_id": app_id, "limit": limit}
            if event_type:
                where.append("type = %(type)s")
                params["type"] = event_type
            if name_contains:
                where.append("position(lower(name), lower(%(name)s)) > 0")
                params["name"] = name_contains
            if user_id:
                where.append("user_id IN %(user_ids)s")
                params["user_ids"] = tuple(self._ids_of_user(app_id, user_id))
            if before:
                where.append("(time, event_id) < (%(time)s, %(event_id)s)")
                params["time"], params["event_id"] = before
            rows = self._clickhouse.execute(
                f"SELECT {DASHBOARD_EVENT_COLUMNS} FROM {self._events} FINAL"
                f" WHERE {' AND '.join(where)} ORDER BY time DESC, event_id DESC"
                " LIMIT %(limit)s",
                params,
            )
            return self._event_rows(app_id, rows)

        return await self._off_loop(load)

    async def events_by_id(self, app_id: str, event_ids: Sequence[str]) -> list[EventRow]:
        if not event_ids:
            return []

        def load() -> list[EventRow]:
            rows = self._clickhouse.execute(
                f"SELECT {DASHBOARD_EVENT_COLUMNS} FROM {self._events} FINAL"
                " WHERE app_id = %(app_id)s AND event_id IN %(ids)s"
                " ORDER BY time DESC, event_id DESC",
                {"app_id": app_id, "ids": tuple(event_ids)},
            )
            return self._event_rows(app_id, rows)

        return await self._off_loop(load)

    async def list_users(
        self, app_id: str, *, search: str | None, limit: int, offset: int
    ) -> tuple[list[UserRow], int]:
        def load() -> tuple[list[UserRow], int]:
            where, params = "u.app_id = %s AND u.merged_into IS NULL", [app_id]
            if search:
                where += " AND (strpos(u.identity, %s) > 0 OR strpos(u.user_id, %s) > 0)"
                params += [search, search]
            [[total]] = self._postgres.read(
                f"SELECT COUNT(*) FROM users u WHERE {where}", tuple(params)
            )
            rows = self._postgres.read(
                f"SELECT {USER_COLUMNS} FROM users u WHERE {where}"
                " ORDER BY u.last_seen DESC NULLS LAST, u.user_id LIMIT %s OFFSET %s",
                (*params, limit, offset),
            )
            return self._user_rows(app_id, rows), int(total)

        return await self._off_loop(load)

    async def find_user(self, app_id: str, user_id: str) -> UserRow | None:
        def load() -> UserRow | None:
            rows = self._postgres.read(
                f"SELECT {USER_COLUMNS} FROM users u WHERE u.app_id = %s AND u.user_id = %s",
                (app_id, user_id),
            )
            users = self._user_rows(app_id, rows)
            return users[0] if users else None

        return await self._off_loop(load)

    async def merged_user_ids(self, app_id: str, user_id: str) -> list[str]:
        return await self._off_loop(lambda: self._merged_ids(app_id, user_id))

    def _merged_ids(self, app_id: str, user_id: str) -> list[str]:
        rows = self._postgres.read(
            "SELECT user_id FROM users WHERE app_id = %s AND merged_into = %s"
            " ORDER BY first_seen NULLS FIRST, user_id",
            (app_id, user_id),
        )
        return [row[0] for row in rows]

    async def user_sessions(
        self, app_id: str, user_id: str, *, limit: int, offset: int
    ) -> tuple[list[SessionEvents], int]:
        def load() -> tuple[list[SessionEvents], int]:
            params = {"app_id": app_id, "ids": tuple(self._ids_of_user(app_id, user_id))}
            where = "app_id = %(app_id)s AND user_id IN %(ids)s"
            [[total]] = self._clickhouse.execute(
                f"SELECT uniqExact(ifNull(session_id, '')) FROM {self._events} FINAL WHERE {where}",
                params,
            )
            spans = self._clickhouse.execute(
                f"SELECT session_id, min(time), max(time) AS end FROM {self._events} FINAL"
                f" WHERE {where} GROUP BY session_id ORDER BY end DESC, session_id"
                " LIMIT %(limit)s OFFSET %(offset)s",
                {**params, "limit": limit, "offset": offset},
            )
            sessions = {span[0]: SessionEvents(span[0], span[1], span[2]) for span in spans}
            if spans:
                rows = self._clickhouse.execute(
                    f"SELECT {DASHBOARD_EVENT_COLUMNS} FROM {self._events} FINAL WHERE {where}"
                    " AND time >= %(first)s AND time <= %(last)s ORDER BY time, event_id",
                    {**params, "first": min(s[1] for s in spans),
                     "last": max(s[2] for s in spans)},
                )  # fmt: skip
                for event in self._event_rows(app_id, rows):
                    if event.session_id in sessions:
                        sessions[event.session_id].events.append(event)
            return list(sessions.values()), int(total)

        return await self._off_loop(load)

    async def event_counts(self, app_id: str, window: TimeBuckets) -> list[int]:
        counts = [0] * window.buckets
        rows = await self._clickhouse.query(
            f"SELECT intDiv(time - %(start)s, %(bucket)s) AS bucket, count() FROM {self._events}"
            " FINAL WHERE app_id = %(app_id)s AND time >= %(start)s AND time < %(end)s"
            " GROUP BY bucket",
            {"app_id": app_id, "start": window.start_ms, "end": window.end_ms,
             "bucket": window.bucket_ms},
        )  # fmt: skip
        for index, count in rows:
            counts[index] = count
        return counts

    async def candidate_groups(
        self,
        app_id: str,
        filters: Sequence[CandidateFilter],
        window: TimeBuckets | None = None,
    ) -> list[CandidateGroup]:
        where, params = _candidates_where(filters)
        bucket = "NULL"
        if window is not None:
            bucket = (
                "if(time >= %(start)s AND time < %(end)s, intDiv(time - %(start)s, %(bucket)s),"
                " NULL)"
            )
            params |= {"start": window.start_ms, "end": window.end_ms, "bucket": window.bucket_ms}
        rows = await self._clickhouse.query(
            f"SELECT type, {_URL} AS url, {_HIERARCHY} AS hierarchy, {_TEXT} AS text,"
            f" {bucket} AS bucket, count() FROM {self._events} FINAL"
            f" WHERE app_id = %(app_id)s AND {where} GROUP BY type, url, hierarchy, text, bucket",
            {**params, "app_id": app_id},
        )
        return [
            CandidateGroup(Candidate(type_, url, hierarchy, text), bucket_index, size)
            for type_, url, hierarchy, text, bucket_index, size in rows
        ]

    async def newest_candidates(
        self, app_id: str, candidate_filter: CandidateFilter
    ) -> AsyncIterator[tuple[str, Candidate]]:
        where, params = _candidates_where([candidate_filter])
        params["app_id"] = app_id
        query = (
            f"SELECT event_id, type, {_URL}, {_HIERARCHY}, {_TEXT}, time FROM {self._events}"
            f" FINAL WHERE app_id = %(app_id)s AND {where} {{after}}"
            f" ORDER BY time DESC, event_id DESC LIMIT {CANDIDATE_PAGE_ROWS}"
        )
        after = ""
        while True:
            page = await self._clickhouse.query(query.format(after=after), params)
            for event_id, type_, url, hierarchy, text, _ in page:
                yield event_id, Candidate(type_, url, hierarchy, text)
            if len(page) < CANDIDATE_PAGE_ROWS:
                return
            params |= {"after_time": page[-1][5], "after_id": page[-1][0]}
            after = "AND (time, event_id) < (%(after_time)s, %(after_id)s)"

    def _ids_of_user(self, app_id: str, user_id: str) -> list[str]:
        """The user ids whose events are a canonical user's: its own and those merged into it."""
        return [user_id, *self._merged_ids(app_id, user_id)]

    def _event_rows(self, app_id: str, rows: list[Row]) -> list[EventRow]:
        """Dashboard rows of ClickHouse rows, each under its canonical user."""
        canonical = self._canonical_of(app_id, {row[4] for row in rows})
        events = []
        for row in rows:
            user_id, identity = canonical.get(row[4], (row[4], None))
            events.append(
                EventRow(
                    event_id=row[0],
                    time=row[1],
                    type=row[2],
                    name=row[3],
                    user_id=user_id,
                    identity=identity,
                    session_id=row[5],
                    source=row[6],
                    properties=json_object(row[7]),
                    page=json_object(row[8]),
                    target=json_object(row[9]) if row[9] else None,
                )  # fmt: skip
            )
        return events

    def _canonical_of(self, app_id: str, user_ids: set[str]) -> dict[str, tuple[str, str | None]]:
        """user_id -> (canonical user id, its identity), for these users."""
        if not user_ids:
            return {}
        rows = self._postgres.read(
            f"{CANONICAL_SELECT} WHERE u.app_id = %s AND u.user_id = ANY(%s)",
            (app_id, list(user_ids)),
        )
        return {row[0]: (row[1], row[2]) for row in rows}

    def _user_rows(self, app_id: str, rows: list[tuple[Any, ...]]) -> list[UserRow]:
        """Dashboard rows of users, each with the number of its events (its own and those of
        the ids merged into it)."""
        groups = {row[0]: self._ids_of_user(app_id, row[0]) for row in rows}
        counts: dict[str, int] = {}
        ids = [user_id for group in groups.values() for user_id in group]
        if ids:
            counts = dict(
                self._clickhouse.execute(
                    f"SELECT user_id, count() FROM {self._events} FINAL"
                    " WHERE app_id = %(app_id)s AND user_id IN %(ids)s GROUP BY user_id",
                    {"app_id": app_id, "ids": tuple(ids)},
                )
            )
        return [
            UserRow(row[0], row[1], json_object(row[2]), row[3], row[4],
                    sum(counts.get(user_id, 0) for user_id in groups[row[0]]), row[5])
            for row in rows
        ]  # fmt: skip

    # -- deletion ---------------------------------------------------------------------------

    async def run_deletion(self, deletion_request_id: str) -> None:
        secret = await self.installation_secret()
        await self._off_loop(lambda: self._erase(deletion_request_id, secret))

    def _erase(self, deletion_request_id: str, secret: bytes) -> None:
        """Erase the request's users: their events from ClickHouse (waited for until off the
        disk), then their rows; then the tables are rewritten and the WAL that recorded the
        rows dropped; only then is the request complete."""
        rows = self._postgres.read(SQL.deletion_request, (deletion_request_id,))
        if not rows or rows[0][2] == "complete":
            return
        self._postgres.check_erasable()
        app_id, named_users, status = rows[0][0], json.loads(rows[0][1]), rows[0][2]
        if status == "pending":
            # Heap's deletion "checks all environments in your account" (seed 003).
            for environment in self._environments(app_id):
                self._erase_in(environment, named_users)
            hashes = [deletion_log_hash(secret, app_id, named) for named in named_users]
            self._postgres.transaction(
                lambda conn: conn.execute(
                    SQL.mark_deletion_erased, (json.dumps(hashes), deletion_request_id)
                )
            )
        # The rows are gone from the tables; now from the table files and the WAL.
        self._postgres.autocommit(
            *(f"VACUUM FULL {table}" for table in USER_VALUE_TABLES),
            "SELECT pg_switch_wal()",
            "CHECKPOINT",
        )
        self._postgres.transaction(
            lambda conn: conn.execute(SQL.mark_deletion_complete, (now_ms(), deletion_request_id))
        )

    def _environments(self, app_id: str) -> list[str]:
        """`app_id` and every other app of its project."""
        rows = self._postgres.read(SQL.environments, (app_id, app_id))
        return [row[0] for row in rows]

    def _erase_in(self, app_id: str, named_users: list[dict[str, str]]) -> None:
        """Erase the named users of one app: events (ids kept as tombstones), then rows."""
        users = self._postgres.transaction(
            lambda conn: PostgresIdentity(conn, app_id).named_users(named_users)
        )
        user_ids = self._postgres.transaction(lambda conn: _ids_of(conn, app_id, users))
        if user_ids:
            # The deleted events' ids stay (only ids), so a retry of one is a duplicate.
            gone = self._clickhouse.execute(
                f"SELECT DISTINCT event_id FROM {self._events}"
                " WHERE app_id = %(app_id)s AND user_id IN %(ids)s",
                {"app_id": app_id, "ids": tuple(user_ids)},
            )
            self._postgres.transaction(
                lambda conn: _tombstones(conn, app_id, [row[0] for row in gone])
            )
            self._clickhouse.delete_events(app_id, user_ids)
        self._postgres.transaction(lambda conn: _delete_user_rows(conn, app_id, users, user_ids))

    async def remaining_bytes(self, needles: Sequence[bytes]) -> set[bytes]:
        """The needles found in any stored value of either server, read through SQL (the
        servers' files are elsewhere; tests/scaleout/test_erasure.py byte-scans those)."""

        def scan() -> set[bytes]:
            return {
                needle
                for needle in needles
                if self._clickhouse.holds(needle) or self._postgres.holds(needle)
            }

        return await self._off_loop(scan)

    # -- helpers ----------------------------------------------------------------------------

    async def _write(self, work: Callable[[Conn], T]) -> T:
        return await self._postgres.run(lambda: self._postgres.transaction(work))

    async def _read(self, query: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return await self._postgres.run(lambda: self._postgres.read(query, params))

    async def _off_loop(self, work: Callable[[], T]) -> T:
        return await asyncio.to_thread(work)


def _candidates_where(filters: Sequence[CandidateFilter]) -> tuple[str, dict[str, object]]:
    """`candidates.candidates_where` in ClickHouse's SQL, with its values by name."""
    params: dict[str, object] = {}

    def bind(value: object) -> str:
        name = f"p{len(params)}"
        params[name] = value
        return f"%({name})s"

    return candidates_where(filters, bind, "position({column}, {text}) > 0"), params


# -- operations, run inside one PostgreSQL transaction ----------------------------------------


def _apply_all(
    tx: PostgresIdentity, operations: Sequence[Operation], received_at: int, known: set[str]
) -> tuple[list[Outcome], list[Row]]:
    """Apply `operations` in order: the outcomes, and the event rows for ClickHouse. Events
    between two user operations are stored together: each user they name looked up once and
    touched once."""
    outcomes: list[Outcome] = []
    rows: list[Row] = []
    users = EventUsers(tx)
    for op in operations:
        if not isinstance(op, NewEvent):
            users.finish()  # before an identify may merge these users
            outcomes.append(apply_user_operation(tx, op, received_at))
            continue
        if op.event_id in known:
            outcomes.append(DUPLICATE)
            continue
        known.add(op.event_id)
        user = users.user_of(op)
        rows.append(_event_row(tx.app_id, user.user_id, op, received_at, len(rows)))
        outcomes.append(STORED)
    users.finish()
    return outcomes, rows


def _event_row(app_id: str, user_id: str, event: NewEvent, received_at: int, seq: int) -> Row:
    return (
        app_id, event.event_id, user_id, event.session_id, event.pageview_id, event.type,
        event.name, event.time, received_at, seq, dumps(event.properties),
        None if event.page is None else dumps(event.page),
        None if event.target is None else dumps(event.target), event.source,
        None if event.session is None else dumps(event.session),
        None if event.context is None else dumps(event.context),
    )  # fmt: skip


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


def _ids_of(conn: Conn, app_id: str, users: list[KnownUser]) -> list[str]:
    """Every user id of these canonical users: their own and those merged into them."""
    canonical_ids = [user.user_id for user in users]
    rows = conn.execute(
        "SELECT user_id FROM users WHERE app_id = %s"
        " AND (user_id = ANY(%s) OR merged_into = ANY(%s))",
        (app_id, canonical_ids, canonical_ids),
    ).fetchall()
    return sorted(row[0] for row in rows)


def _tombstones(conn: Conn, app_id: str, event_ids: list[str]) -> None:
    with conn.cursor() as cursor:
        cursor.executemany(
            SQL.insert_applied_record, [(app_id, event_id) for event_id in event_ids]
        )


def _delete_user_rows(conn: Conn, app_id: str, users: list[KnownUser], user_ids: list[str]) -> None:
    """Delete the users' rows and what names them."""
    identities = [user.identity for user in users if user.identity is not None]
    conn.execute(
        "DELETE FROM warnings WHERE app_id = %s AND (user_id = ANY(%s) OR identity = ANY(%s))",
        (app_id, user_ids, identities),
    )
    conn.execute(
        "DELETE FROM server_identifies WHERE app_id = %s"
        " AND (user_id = ANY(%s) OR identity = ANY(%s))",
        (app_id, user_ids, identities),
    )
    conn.execute("DELETE FROM users WHERE app_id = %s AND user_id = ANY(%s)", (app_id, user_ids))

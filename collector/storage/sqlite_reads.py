"""The reads of `SQLiteStorage` (exports, dashboard), as functions of a read-only connection.

Events keep the user id they were stored with; every read resolves it to its canonical user
through `user_aliases` (`_CANONICAL`), so a merge never rewrites events.
"""

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from collector.storage.base import (
    AppTotals,
    Candidate,
    CandidateFilter,
    CandidateGroup,
    EventRow,
    SessionEvents,
    StoredEvent,
    StoredUser,
    TimeBuckets,
    UserRow,
)
from collector.storage.candidates import candidates_where
from collector.storage.stored_json import json_object, loads_or_none

# Joins giving each event `e` its canonical user `u` (through the alias `a` of a merged id).
_CANONICAL_JOIN = """
    LEFT JOIN user_aliases a ON a.app_id = e.app_id AND a.user_id = e.user_id
    LEFT JOIN users u ON u.app_id = e.app_id AND u.user_id = COALESCE(a.canonical_id, e.user_id)
"""
_CANONICAL_ID = "COALESCE(a.canonical_id, e.user_id)"
# The user ids whose events are a canonical user's: its own and those merged into it.
_IDS_OF_USER = (
    "(SELECT :user UNION ALL SELECT user_id FROM user_aliases"
    " WHERE app_id = :app AND canonical_id = :user)"
)
_IS_CANONICAL = (
    "NOT EXISTS (SELECT 1 FROM user_aliases m WHERE m.app_id = u.app_id AND m.user_id = u.user_id)"
)
_EVENT_COLUMNS = f"""
    e.event_id, e.time, e.type, e.name, {_CANONICAL_ID}, u.identity, e.session_id, e.source,
    e.properties, e.page, e.target
"""
# What a definition can test.
_URL = "CASE WHEN json_valid(page) THEN page ->> '$.url' END"
_HIERARCHY = "CASE WHEN json_valid(target) THEN target ->> '$.hierarchy' END"
_TEXT = "CASE WHEN json_valid(target) THEN target ->> '$.text' END"


def export_events_query(app_id: str | None) -> tuple[str, tuple[object, ...]]:
    """The query `events()` streams, ordered by time then arrival; rows for `stored_event`."""
    query = f"""
        SELECT e.event_id, e.app_id, {_CANONICAL_ID} AS user_id, u.identity, e.session_id,
               e.pageview_id, e.type, e.name, e.time, e.properties, e.page, e.target, e.source,
               e.context
        FROM events e {_CANONICAL_JOIN}
        {"" if app_id is None else "WHERE e.app_id = ?"}
        ORDER BY e.time, e.received_at, e.rowid
    """
    return query, (() if app_id is None else (app_id,))


def stored_event(row: sqlite3.Row) -> StoredEvent:
    """A row of `export_events_query`."""
    return StoredEvent(
        event_id=row[0],
        app_id=row[1],
        user_id=row[2],
        identity=row[3],
        session_id=row[4],
        pageview_id=row[5],
        type=row[6],
        name=row[7],
        time=row[8],
        properties=json.loads(row[9]),
        page=loads_or_none(row[10]),
        target=loads_or_none(row[11]),
        source=row[12],
        context=loads_or_none(row[13]),
    )


def export_users_query(app_id: str | None) -> tuple[str, tuple[object, ...]]:
    """The query `users()` streams: canonical users by first seen; rows for `stored_user`."""
    query = f"""
        SELECT u.app_id, u.user_id, u.identity, u.properties, u.first_seen, u.last_seen,
               (SELECT json_group_array(m.user_id) FROM user_aliases m
                WHERE m.app_id = u.app_id AND m.canonical_id = u.user_id),
               u.initial_properties,
               u.account_properties
        FROM users u WHERE {_IS_CANONICAL} {"" if app_id is None else "AND u.app_id = ?"}
        ORDER BY u.first_seen IS NULL, u.first_seen, u.rowid
    """
    return query, (() if app_id is None else (app_id,))


def stored_user(row: sqlite3.Row) -> StoredUser:
    """A row of `export_users_query`."""
    return StoredUser(
        app_id=row[0],
        user_id=row[1],
        identity=row[2],
        properties=json.loads(row[3]),
        merged_user_ids=sorted(json.loads(row[6])),
        first_seen=row[4],
        last_seen=row[5],
        initial_properties=loads_or_none(row[7]) or {},
        account_properties=json.loads(row[8]),
    )


def app_totals(conn: sqlite3.Connection) -> dict[str, AppTotals]:
    """Events and canonical users per app, for apps that have any."""
    events = dict(conn.execute("SELECT app_id, COUNT(*) FROM events GROUP BY app_id").fetchall())
    users = dict(
        conn.execute(f"SELECT app_id, COUNT(*) FROM users u WHERE {_IS_CANONICAL} GROUP BY app_id")
    )
    return {
        app_id: AppTotals(events.get(app_id, 0), users.get(app_id, 0))
        for app_id in events.keys() | users.keys()
    }


def canonical_user_id(conn: sqlite3.Connection, app_id: str, user: str) -> str | None:
    """The canonical user that a user id (merged or not) or an identity names, or None."""
    row = conn.execute(
        """
        SELECT COALESCE((SELECT canonical_id FROM user_aliases a
                         WHERE a.app_id = ?1 AND a.user_id = u.user_id), u.user_id)
        FROM users u WHERE u.app_id = ?1 AND (u.user_id = ?2 OR u.identity = ?2)
        ORDER BY u.user_id = ?2 DESC LIMIT 1
        """,
        (app_id, user),
    ).fetchone()
    return None if row is None else str(row[0])


def recent_events(
    conn: sqlite3.Connection,
    app_id: str,
    *,
    event_type: str | None,
    name_contains: str | None,
    user_id: str | None,
    before: tuple[int, str] | None,
    limit: int,
) -> list[EventRow]:
    """See `EventReader.recent_events`."""
    where = ["e.app_id = :app"]
    if event_type:
        where.append("e.type = :type")
    if name_contains:
        where.append("instr(lower(e.name), lower(:name)) > 0")
    if user_id:
        where.append(f"e.user_id IN {_IDS_OF_USER}")
    if before:
        where.append("(e.time, e.event_id) < (:before_time, :before_id)")
    before_time, before_id = before or (None, None)
    rows = conn.execute(
        f"""
        SELECT {_EVENT_COLUMNS} FROM events e {_CANONICAL_JOIN}
        WHERE {" AND ".join(where)}
        ORDER BY e.time DESC, e.event_id DESC LIMIT :limit
        """,
        {
            "app": app_id,
            "type": event_type,
            "name": name_contains,
            "user": user_id,
            "before_time": before_time,
            "before_id": before_id,
            "limit": limit,
        },
    ).fetchall()
    return [_event_row(row) for row in rows]


def events_by_id(conn: sqlite3.Connection, app_id: str, event_ids: Sequence[str]) -> list[EventRow]:
    """The events with these ids, newest first."""
    if not event_ids:
        return []
    marks = ",".join("?" * len(event_ids))
    rows = conn.execute(
        f"""
        SELECT {_EVENT_COLUMNS} FROM events e {_CANONICAL_JOIN}
        WHERE e.app_id = ? AND e.event_id IN ({marks})
        ORDER BY e.time DESC, e.event_id DESC
        """,
        (app_id, *event_ids),
    ).fetchall()
    return [_event_row(row) for row in rows]


_USER_COLUMNS = """
    u.user_id, u.identity, u.properties, u.first_seen, u.last_seen,
    (SELECT COUNT(*) FROM events e WHERE e.app_id = u.app_id AND e.user_id IN
        (SELECT u.user_id UNION ALL
         SELECT user_id FROM user_aliases WHERE app_id = u.app_id AND canonical_id = u.user_id))
"""


def list_users(
    conn: sqlite3.Connection, app_id: str, *, search: str | None, limit: int, offset: int
) -> tuple[list[UserRow], int]:
    """See `EventReader.list_users`."""
    where = f"u.app_id = :app AND {_IS_CANONICAL}"
    if search:
        where += " AND (instr(u.identity, :search) > 0 OR instr(u.user_id, :search) > 0)"
    params = {"app": app_id, "search": search, "limit": limit, "offset": offset}
    total = conn.execute(f"SELECT COUNT(*) FROM users u WHERE {where}", params).fetchone()[0]
    rows = conn.execute(
        f"""
        SELECT {_USER_COLUMNS} FROM users u WHERE {where}
        ORDER BY u.last_seen DESC, u.user_id LIMIT :limit OFFSET :offset
        """,
        params,
    ).fetchall()
    users = [UserRow(row[0], row[1], json_object(row[2]), row[3], row[4], row[5]) for row in rows]
    return users, int(total)


def find_user(conn: sqlite3.Connection, app_id: str, user_id: str) -> UserRow | None:
    """See `EventReader.find_user`."""
    row = conn.execute(
        f"""
        SELECT {_USER_COLUMNS}, (SELECT canonical_id FROM user_aliases m
                                 WHERE m.app_id = u.app_id AND m.user_id = u.user_id)
        FROM users u WHERE u.app_id = ? AND u.user_id = ?
        """,
        (app_id, user_id),
    ).fetchone()
    if row is None:
        return None
    return UserRow(row[0], row[1], json_object(row[2]), row[3], row[4], row[5], row[6])


def merged_user_ids(conn: sqlite3.Connection, app_id: str, user_id: str) -> list[str]:
    """The user ids merged into this canonical user, first seen first."""
    rows = conn.execute(
        """
        SELECT a.user_id FROM user_aliases a
        LEFT JOIN users m ON m.app_id = a.app_id AND m.user_id = a.user_id
        WHERE a.app_id = ? AND a.canonical_id = ? ORDER BY m.first_seen, a.user_id
        """,
        (app_id, user_id),
    ).fetchall()
    return [row[0] for row in rows]


def user_sessions(
    conn: sqlite3.Connection, app_id: str, user_id: str, *, limit: int, offset: int
) -> tuple[list[SessionEvents], int]:
    """See `EventReader.user_sessions`."""
    params = {"app": app_id, "user": user_id, "limit": limit, "offset": offset}
    total = conn.execute(
        "SELECT COUNT(DISTINCT COALESCE(session_id, '')) FROM events e"
        f" WHERE e.app_id = :app AND e.user_id IN {_IDS_OF_USER}",
        params,
    ).fetchone()[0]
    spans = conn.execute(
        f"""
        SELECT session_id, MIN(time), MAX(time) FROM events e
        WHERE e.app_id = :app AND e.user_id IN {_IDS_OF_USER}
        GROUP BY session_id ORDER BY MAX(time) DESC LIMIT :limit OFFSET :offset
        """,
        params,
    ).fetchall()
    sessions = {span[0]: SessionEvents(span[0], span[1], span[2]) for span in spans}
    if spans:
        rows = conn.execute(
            f"""
            SELECT {_EVENT_COLUMNS} FROM events e {_CANONICAL_JOIN}
            WHERE e.app_id = :app AND e.user_id IN {_IDS_OF_USER}
              AND e.time BETWEEN :start AND :end
            ORDER BY e.time, e.event_id
            """,
            {**params, "start": min(s[1] for s in spans), "end": max(s[2] for s in spans)},
        ).fetchall()
        for row in rows:
            event = _event_row(row)
            if event.session_id in sessions:
                sessions[event.session_id].events.append(event)
    return list(sessions.values()), int(total)


def event_counts(conn: sqlite3.Connection, app_id: str, window: TimeBuckets) -> list[int]:
    """How many events the app stored in each bucket of `window` (by event time)."""
    counts = [0] * window.buckets
    rows = conn.execute(
        """
        SELECT (time - ?) / ?, COUNT(*) FROM events
        WHERE app_id = ? AND time >= ? AND time < ? GROUP BY 1
        """,
        (window.start_ms, window.bucket_ms, app_id, window.start_ms, window.end_ms),
    ).fetchall()
    for index, count in rows:
        counts[index] = count
    return counts


def candidate_groups(
    conn: sqlite3.Connection,
    app_id: str,
    filters: Sequence[CandidateFilter],
    window: TimeBuckets | None,
) -> list[CandidateGroup]:
    """See `EventReader.candidate_groups`. `+app_id`: one scan of the table in storage order
    beats an index lookup into the table for every event."""
    where, where_params = _candidates_where(filters)
    bucket, bucket_params = "NULL", []
    if window is not None:
        bucket = "CASE WHEN time >= ? AND time < ? THEN (time - ?) / ? END"
        bucket_params = [window.start_ms, window.end_ms, window.start_ms, window.bucket_ms]
    cursor = conn.execute(
        f"""
        SELECT type, {_URL}, {_HIERARCHY}, {_TEXT}, {bucket}, COUNT(*) FROM events
        WHERE +app_id = ? AND {where} GROUP BY 1, 2, 3, 4, 5
        """,
        [*bucket_params, app_id, *where_params],
    )
    return [
        CandidateGroup(Candidate(type_, url, hierarchy, text), bucket_index, size)
        for type_, url, hierarchy, text, bucket_index, size in cursor
    ]


def newest_candidates_query(
    app_id: str, candidate_filter: CandidateFilter
) -> tuple[str, list[object]]:
    """The query `newest_candidates` streams (it walks the time index): rows for
    `newest_candidate`."""
    where, params = _candidates_where([candidate_filter])
    query = f"""
        SELECT event_id, type, {_URL}, {_HIERARCHY}, {_TEXT} FROM events
        WHERE app_id = ? AND {where} ORDER BY time DESC, event_id DESC
    """
    return query, [app_id, *params]


def newest_candidate(row: sqlite3.Row) -> tuple[str, Candidate]:
    """A row of `newest_candidates_query`."""
    return row[0], Candidate(row[1], row[2], row[3], row[4])


def _candidates_where(filters: Sequence[CandidateFilter]) -> tuple[str, list[object]]:
    """`candidates.candidates_where` in SQLite's SQL, with its values in order."""
    params: list[object] = []

    def bind(value: object) -> str:
        params.append(value)
        return "?"

    return candidates_where(filters, bind, "instr({column}, {text}) > 0"), params


def _event_row(row: Any) -> EventRow:
    return EventRow(
        event_id=row[0],
        time=row[1],
        type=row[2],
        name=row[3],
        user_id=row[4],
        identity=row[5],
        session_id=row[6],
        source=row[7],
        properties=json_object(row[8]),
        page=json_object(row[9]),
        target=json_object(row[10]) if row[10] else None,
    )

"""Every SQL statement the dashboard runs, against the collector's SQLite file.

The dashboard reads the storage's tables (apps, users, events) on its own connections and owns
two tables of its own: `defined_events` and `dashboard_secret`.
"""

import json
import re
import secrets
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collector.dashboard.chart import Window
from collector.dashboard.definitions import Definition, EventGroup, MatchableEvent, matchable_event
from collector.dashboard.selector import parse_selector, required_substrings

_DASHBOARD_TABLES = """
CREATE TABLE IF NOT EXISTS defined_events (
    app_id TEXT NOT NULL,
    defined_event_id TEXT NOT NULL,
    name TEXT NOT NULL,
    event_type TEXT NULL,
    selector TEXT NULL,
    target_text TEXT NULL,
    url_contains TEXT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, defined_event_id),
    UNIQUE (app_id, name)
);
CREATE TABLE IF NOT EXISTS dashboard_secret (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    secret BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS dashboard_sessions (
    session_key TEXT PRIMARY KEY,
    password_tag TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
"""

_EVENT_COLUMNS = """
    e.event_id, e.time, e.type, e.name, e.user_id, u.identity, e.session_id, e.source,
    e.properties, e.page, e.target
"""


@dataclass(frozen=True)
class AppRow:
    """An app the dashboard can show."""

    app_id: str
    name: str


@dataclass(frozen=True)
class AppTotals:
    """How much an app has collected."""

    events: int = 0
    users: int = 0


@dataclass(frozen=True)
class EventRow:
    """One stored event as the dashboard lists it."""

    event_id: str
    time: int
    type: str
    name: str
    user_id: str
    identity: str | None
    session_id: str | None
    source: str
    properties: dict[str, object]
    page: dict[str, object]
    target: dict[str, object] | None

    @property
    def user_label(self) -> str:
        """How Heap names the user: the identity, or "User <user_id>" while anonymous."""
        return user_label(self.user_id, self.identity)


@dataclass(frozen=True)
class UserRow:
    """A user with first and last activity and the number of events."""

    user_id: str
    identity: str | None
    properties: dict[str, object]
    first_seen: int | None
    last_seen: int | None
    events: int
    merged_into: str | None = None

    @property
    def label(self) -> str:
        """How Heap names the user: the identity, or "User <user_id>" while anonymous."""
        return user_label(self.user_id, self.identity)


@dataclass(frozen=True)
class SessionEvents:
    """A user's events that share a session id, oldest first."""

    session_id: str | None
    start: int
    end: int
    events: list[EventRow] = field(default_factory=list)


@dataclass(frozen=True)
class DefinedEventRow:
    """A stored definition with its id."""

    defined_event_id: str
    definition: Definition
    created_at: int


def user_label(user_id: str, identity: str | None) -> str:
    """The identity of a user, or "User <user_id>" as Heap shows anonymous users."""
    return identity if identity else f"User {user_id}"


def connect(db_path: Path, *, write: bool = False) -> sqlite3.Connection:
    """A connection in WAL mode; read-only (query_only) unless `write`."""
    conn = sqlite3.connect(db_path, timeout=10, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=10000")
    if not write:
        conn.execute("PRAGMA query_only=ON")
    return conn


def ensure_dashboard_tables(conn: sqlite3.Connection) -> None:
    """Create the dashboard's own tables when missing."""
    conn.executescript(_DASHBOARD_TABLES)


def dashboard_secret(conn: sqlite3.Connection) -> bytes:
    """This database's signing secret, made on first use (needs a write connection then)."""
    row = conn.execute("SELECT secret FROM dashboard_secret WHERE id = 1").fetchone()
    if row is None:
        with conn:
            conn.execute(
                "INSERT OR IGNORE INTO dashboard_secret (id, secret) VALUES (1, ?)",
                (secrets.token_bytes(32),),
            )
        row = conn.execute("SELECT secret FROM dashboard_secret WHERE id = 1").fetchone()
    return bytes(row[0])


def insert_session(
    conn: sqlite3.Connection, session_key: str, password_tag: str, expires_at: int, now: int
) -> None:
    """Keep a new admin session (and forget the expired ones)."""
    with conn:
        conn.execute("DELETE FROM dashboard_sessions WHERE expires_at <= ?", (now,))
        conn.execute(
            "INSERT INTO dashboard_sessions (session_key, password_tag, expires_at)"
            " VALUES (?, ?, ?)",
            (session_key, password_tag, expires_at),
        )


def session_is_live(
    conn: sqlite3.Connection, session_key: str, password_tag: str, now: int
) -> bool:
    """Whether the session exists, was started with the current password and has not expired."""
    row = conn.execute(
        "SELECT 1 FROM dashboard_sessions"
        " WHERE session_key = ? AND password_tag = ? AND expires_at > ?",
        (session_key, password_tag, now),
    ).fetchone()
    return row is not None


def delete_session(conn: sqlite3.Connection, session_key: str) -> None:
    """End an admin session."""
    with conn:
        conn.execute("DELETE FROM dashboard_sessions WHERE session_key = ?", (session_key,))


def list_apps(conn: sqlite3.Connection) -> list[AppRow]:
    """Every app, oldest first."""
    rows = conn.execute("SELECT app_id, name FROM apps ORDER BY created_at, app_id").fetchall()
    return [AppRow(*row) for row in rows]


def app_totals(conn: sqlite3.Connection) -> dict[str, AppTotals]:
    """Events and canonical users per app, for apps that have any."""
    events = dict(conn.execute("SELECT app_id, COUNT(*) FROM events GROUP BY app_id"))
    users = dict(
        conn.execute("SELECT app_id, COUNT(*) FROM users WHERE merged_into IS NULL GROUP BY app_id")
    )
    return {
        app_id: AppTotals(events.get(app_id, 0), users.get(app_id, 0))
        for app_id in events.keys() | users.keys()
    }


def canonical_user_id(conn: sqlite3.Connection, app_id: str, user: str) -> str | None:
    """The canonical user that a user id (merged or not) or an identity names, or None."""
    row = conn.execute(
        """
        SELECT COALESCE(merged_into, user_id) FROM users
        WHERE app_id = ? AND (user_id = ? OR (identity = ? AND merged_into IS NULL))
        ORDER BY user_id = ? DESC LIMIT 1
        """,
        (app_id, user, user, user),
    ).fetchone()
    return None if row is None else str(row[0])


def recent_events(
    conn: sqlite3.Connection,
    app_id: str,
    *,
    event_type: str | None = None,
    name_contains: str | None = None,
    user_id: str | None = None,
    before: tuple[int, str] | None = None,
    limit: int = 100,
) -> list[EventRow]:
    """Events newest first, filtered by exact type, name substring and canonical user id.

    `before` is the (time, event_id) of the last row of the previous page.
    """
    where: list[str] = ["e.app_id = ?"]
    params: list[object] = [app_id]
    if event_type:
        where.append("e.type = ?")
        params.append(event_type)
    if name_contains:
        where.append("instr(lower(e.name), lower(?)) > 0")
        params.append(name_contains)
    if user_id:
        where.append("e.user_id = ?")
        params.append(user_id)
    if before:
        where.append("(e.time, e.event_id) < (?, ?)")
        params.extend(before)
    rows = conn.execute(
        f"""
        SELECT {_EVENT_COLUMNS} FROM events e
        LEFT JOIN users u ON u.app_id = e.app_id AND u.user_id = e.user_id
        WHERE {" AND ".join(where)}
        ORDER BY e.time DESC, e.event_id DESC LIMIT ?
        """,
        (*params, limit),
    ).fetchall()
    return [_event_row(row) for row in rows]


def events_by_id(conn: sqlite3.Connection, app_id: str, event_ids: list[str]) -> list[EventRow]:
    """The events with these ids, newest first."""
    if not event_ids:
        return []
    marks = ",".join("?" * len(event_ids))
    rows = conn.execute(
        f"""
        SELECT {_EVENT_COLUMNS} FROM events e
        LEFT JOIN users u ON u.app_id = e.app_id AND u.user_id = e.user_id
        WHERE e.app_id = ? AND e.event_id IN ({marks})
        ORDER BY e.time DESC, e.event_id DESC
        """,
        (app_id, *event_ids),
    ).fetchall()
    return [_event_row(row) for row in rows]


def list_users(
    conn: sqlite3.Connection, app_id: str, *, search: str | None, limit: int, offset: int
) -> tuple[list[UserRow], int]:
    """Canonical users, most recently seen first, and how many match in all.

    `search` matches part of the identity or of the user id.
    """
    where, params = "u.app_id = ? AND u.merged_into IS NULL", [app_id]
    if search:
        where += " AND (instr(u.identity, ?) > 0 OR instr(u.user_id, ?) > 0)"
        params += [search, search]
    total = conn.execute(f"SELECT COUNT(*) FROM users u WHERE {where}", params).fetchone()[0]
    rows = conn.execute(
        f"""
        SELECT u.user_id, u.identity, u.properties, u.first_seen, u.last_seen,
               (SELECT COUNT(*) FROM events e WHERE e.app_id = u.app_id AND e.user_id = u.user_id)
        FROM users u WHERE {where}
        ORDER BY u.last_seen DESC, u.user_id LIMIT ? OFFSET ?
        """,
        (*params, limit, offset),
    ).fetchall()
    users = [UserRow(row[0], row[1], _json_object(row[2]), row[3], row[4], row[5]) for row in rows]
    return users, int(total)


def find_user(conn: sqlite3.Connection, app_id: str, user_id: str) -> UserRow | None:
    """One user by id, canonical or merged, with its event count."""
    row = conn.execute(
        """
        SELECT u.user_id, u.identity, u.properties, u.first_seen, u.last_seen,
               (SELECT COUNT(*) FROM events e WHERE e.app_id = u.app_id AND e.user_id = u.user_id),
               u.merged_into
        FROM users u WHERE u.app_id = ? AND u.user_id = ?
        """,
        (app_id, user_id),
    ).fetchone()
    if row is None:
        return None
    return UserRow(row[0], row[1], _json_object(row[2]), row[3], row[4], row[5], row[6])


def merged_user_ids(conn: sqlite3.Connection, app_id: str, user_id: str) -> list[str]:
    """The user ids that were merged into this canonical user."""
    rows = conn.execute(
        "SELECT user_id FROM users WHERE app_id = ? AND merged_into = ? ORDER BY first_seen",
        (app_id, user_id),
    ).fetchall()
    return [row[0] for row in rows]


def user_sessions(
    conn: sqlite3.Connection, app_id: str, user_id: str, *, limit: int, offset: int
) -> tuple[list[SessionEvents], int]:
    """A page of the user's sessions, newest first, each with its events oldest first.

    Also returns how many sessions the user has in all.
    """
    total = conn.execute(
        "SELECT COUNT(DISTINCT COALESCE(session_id, '')) FROM events "
        "WHERE app_id = ? AND user_id = ?",
        (app_id, user_id),
    ).fetchone()[0]
    spans = conn.execute(
        """
        SELECT session_id, MIN(time), MAX(time) FROM events
        WHERE app_id = ? AND user_id = ?
        GROUP BY session_id ORDER BY MAX(time) DESC LIMIT ? OFFSET ?
        """,
        (app_id, user_id, limit, offset),
    ).fetchall()
    sessions = {span[0]: SessionEvents(span[0], span[1], span[2]) for span in spans}
    if spans:
        rows = conn.execute(
            f"""
            SELECT {_EVENT_COLUMNS} FROM events e
            LEFT JOIN users u ON u.app_id = e.app_id AND u.user_id = e.user_id
            WHERE e.app_id = ? AND e.user_id = ? AND e.time BETWEEN ? AND ?
            ORDER BY e.time, e.event_id
            """,
            (app_id, user_id, min(s[1] for s in spans), max(s[2] for s in spans)),
        ).fetchall()
        for row in rows:
            event = _event_row(row)
            if event.session_id in sessions:
                sessions[event.session_id].events.append(event)
    return list(sessions.values()), int(total)


def event_counts(conn: sqlite3.Connection, app_id: str, window: Window) -> list[int]:
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
    definitions: Sequence[Definition],
    window: Window | None = None,
) -> Iterator[EventGroup]:
    """The app's events that may match one of `definitions`, alike ones grouped and counted.

    SQL keeps only events that pass a definition's necessary conditions; the caller's Matcher
    decides. Groups also split by bucket of `window`. `+app_id`: one scan of the table in storage
    order beats an index lookup into the table for every event.
    """
    where, where_params = _candidates_where(definitions)
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
    for type_, url, hierarchy, text, bucket_index, size in cursor:
        yield EventGroup(matchable_event(type_, url, hierarchy, text), bucket_index, size)


def newest_candidates(
    conn: sqlite3.Connection, app_id: str, definition: Definition
) -> Iterator[tuple[str, MatchableEvent]]:
    """(event_id, MatchableEvent) of the events that may match `definition`, newest first.

    Walks the time index, so a caller that stops after a few matches reads few rows.
    """
    where, params = _candidates_where([definition])
    cursor = conn.execute(
        f"""
        SELECT event_id, type, {_URL}, {_HIERARCHY}, {_TEXT} FROM events
        WHERE app_id = ? AND {where} ORDER BY time DESC, event_id DESC
        """,
        [app_id, *params],
    )
    for event_id, type_, url, hierarchy, text in cursor:
        yield event_id, matchable_event(type_, url, hierarchy, text)


# What a definition can test.
_URL = "CASE WHEN json_valid(page) THEN page ->> '$.url' END"
_HIERARCHY = "CASE WHEN json_valid(target) THEN target ->> '$.hierarchy' END"
_TEXT = "CASE WHEN json_valid(target) THEN target ->> '$.text' END"


def _candidates_where(definitions: Sequence[Definition]) -> tuple[str, list[object]]:
    """A condition on the raw event columns that holds for every event that one of the
    definitions matches, so that most others are skipped before any JSON is parsed."""
    alternatives, params = [], []
    for definition in definitions:
        where, values = _necessary_conditions(definition)
        alternatives.append(" AND ".join(where) or "1")
        params.extend(values)
    return "((" + (") OR (".join(alternatives) or "0") + "))", params


def _necessary_conditions(definition: Definition) -> tuple[list[str], list[object]]:
    where: list[str] = []
    params: list[object] = []
    if definition.event_type:
        where.append("type = ?")
        params.append(definition.event_type)
    if definition.target_text or definition.selector:
        where.append("target IS NOT NULL")
    # A text stored in JSON reads the same in the raw column unless JSON had to escape it.
    needed: list[tuple[str, str]] = []
    if definition.url_contains:
        needed.append(("page", definition.url_contains))
    if definition.target_text:
        needed.append(("target", definition.target_text))
    if definition.selector:
        tokens = required_substrings(parse_selector(definition.selector))
        needed.extend(("lower(target)", token) for token in tokens)
    for column, text in needed:
        if not _JSON_ESCAPED.search(text):
            where.append(f"instr({column}, ?) > 0")
            params.append(text)
    return where, params


# What json.dumps(ensure_ascii=False), the storage's encoder, writes other than as itself.
_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f\x7f]')


def insert_defined_event(
    conn: sqlite3.Connection, app_id: str, definition: Definition, now_ms: int
) -> str | None:
    """Store a definition and return its new id, or None when the app already has that name."""
    defined_event_id = secrets.token_hex(8)
    try:
        with conn:
            conn.execute(
                """
                INSERT INTO defined_events (app_id, defined_event_id, name, event_type, selector,
                                            target_text, url_contains, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
                (
                    app_id,
                    defined_event_id,
                    definition.name,
                    definition.event_type,
                    definition.selector,
                    definition.target_text,
                    definition.url_contains,
                    now_ms,
                ),
            )
    except sqlite3.IntegrityError:
        return None
    return defined_event_id


def list_defined_events(conn: sqlite3.Connection, app_id: str) -> list[DefinedEventRow]:
    """The app's definitions, by name."""
    rows = conn.execute(
        f"{_DEFINED_SELECT} WHERE app_id = ? ORDER BY name COLLATE NOCASE", (app_id,)
    ).fetchall()
    return [_defined_row(row) for row in rows]


def find_defined_event(
    conn: sqlite3.Connection, app_id: str, defined_event_id: str
) -> DefinedEventRow | None:
    """One definition by id, or None."""
    row = conn.execute(
        f"{_DEFINED_SELECT} WHERE app_id = ? AND defined_event_id = ?", (app_id, defined_event_id)
    ).fetchone()
    return None if row is None else _defined_row(row)


def delete_defined_event(conn: sqlite3.Connection, app_id: str, defined_event_id: str) -> bool:
    """Remove a definition (stored events are untouched); False when there was none."""
    with conn:
        cursor = conn.execute(
            "DELETE FROM defined_events WHERE app_id = ? AND defined_event_id = ?",
            (app_id, defined_event_id),
        )
    return cursor.rowcount > 0


_DEFINED_SELECT = """
SELECT defined_event_id, name, event_type, selector, target_text, url_contains, created_at
FROM defined_events
"""


def _defined_row(row: Any) -> DefinedEventRow:
    definition = Definition(row[1], row[2], row[3], row[4], row[5])
    return DefinedEventRow(row[0], definition, row[6])


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
        properties=_json_object(row[8]),
        page=_json_object(row[9]),
        target=_json_object(row[10]) if row[10] else None,
    )


def _json_object(text: object) -> dict[str, object]:
    """A stored JSON object; {} when the column is empty or not an object."""
    if not isinstance(text, str | bytes):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}

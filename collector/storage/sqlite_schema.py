"""The SQLite file's tables, and one migration step per schema version (`PRAGMA user_version`).

A file made before versions existed has version 0 and the tables of `BASE_SCHEMA` (created when
missing); each step of `MIGRATIONS` then runs once, in order, in the transaction that bumps the
version. To change the schema, append a step: never edit one that has shipped.
"""

import json
import sqlite3
from collections.abc import Callable

from collector.storage.base import deletion_log_hash
from collector.storage.state_sql import SQLITE_TABLES as TABLES

# Version 0: the tables as they were before versions (every `CREATE` is `IF NOT EXISTS`).
BASE_SCHEMA = "\n".join([
    """
CREATE TABLE IF NOT EXISTS apps (
    app_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    api_key TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
-- Origins whose pages may talk to an app's embedded tracker (the postMessage bridge). Its own
-- table, created on open, so a database made before it gains it (and apps stay unchanged).""",
    TABLES.app_bridge_origins,
    """
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
CREATE INDEX IF NOT EXISTS events_by_user ON events (app_id, user_id, time);""",
    TABLES.applied_records,
    """
CREATE TABLE IF NOT EXISTS warnings (
    app_id TEXT NOT NULL,
    time INTEGER NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS warnings_by_time ON warnings (app_id, time);""",
    TABLES.server_identifies,
    TABLES.auth_tokens,
    """
CREATE TABLE IF NOT EXISTS deletion_requests (
    deletion_request_id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    users TEXT NOT NULL,
    status TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    completed_at INTEGER NULL
);
""",
])  # fmt: skip


def _aliases_and_dashboard_tables(conn: sqlite3.Connection) -> None:
    """Version 1: merges become aliases read through (events keep the user id stored with
    them), the dashboard's tables and the installation secret move in, and the deletion log
    keeps keyed hashes instead of the users it named."""
    _execute_each(
        conn,
        """
        CREATE TABLE user_aliases (  -- a merged user id and the canonical user it resolves to
            app_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            canonical_id TEXT NOT NULL,
            PRIMARY KEY (app_id, user_id)
        );
        CREATE INDEX user_aliases_by_canonical ON user_aliases (app_id, canonical_id);
        INSERT INTO user_aliases (app_id, user_id, canonical_id)
            SELECT app_id, user_id, merged_into FROM users WHERE merged_into IS NOT NULL;
        DROP INDEX users_by_identity;
        DROP INDEX users_by_merged_into;
        ALTER TABLE users DROP COLUMN merged_into;
        CREATE UNIQUE INDEX users_by_identity ON users (app_id, identity)
            WHERE identity IS NOT NULL;
        """
        + TABLES.defined_events
        + TABLES.dashboard_sessions
        + TABLES.installation_secret
        + """
        CREATE TABLE IF NOT EXISTS dashboard_secret (id INTEGER PRIMARY KEY, secret BLOB NOT NULL);
        -- The dashboard's secret becomes the installation's, so its sessions stay signed alike.
        INSERT INTO installation_secret (id, secret)
            SELECT 1, secret FROM dashboard_secret WHERE id = 1;
        INSERT OR IGNORE INTO installation_secret (id, secret) VALUES (1, randomblob(32));
        DROP TABLE dashboard_secret;
        ALTER TABLE deletion_requests ADD COLUMN user_hashes TEXT NULL;
        """,
    )
    # Completed requests forget whom they named: only keyed hashes stay.
    secret = conn.execute("SELECT secret FROM installation_secret").fetchone()[0]
    completed = conn.execute(
        "SELECT deletion_request_id, app_id, users FROM deletion_requests WHERE status = 'complete'"
    ).fetchall()
    for request_id, app_id, users in completed:
        hashes = [deletion_log_hash(secret, app_id, named) for named in json.loads(users)]
        conn.execute(
            "UPDATE deletion_requests SET users = '[]', user_hashes = ?"
            " WHERE deletion_request_id = ?",
            (json.dumps(hashes), request_id),
        )


def _context_and_projects(conn: sqlite3.Connection) -> None:
    """Version 2: events keep their context (collector/context.py), users Heap's initial
    properties (None until their first web event), and an app may be an environment of
    another app's project."""
    _execute_each(
        conn,
        """
        ALTER TABLE events ADD COLUMN context TEXT NULL;
        ALTER TABLE users ADD COLUMN initial_properties TEXT NULL;
        ALTER TABLE apps ADD COLUMN project_of TEXT NULL;
        """,
    )


def _account_properties(conn: sqlite3.Connection) -> None:
    """Version 3: users keep their account's properties (heap.addAccountProperties)."""
    conn.execute("ALTER TABLE users ADD COLUMN account_properties TEXT NOT NULL DEFAULT '{}'")


# Step n takes the file from version n to n + 1.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _aliases_and_dashboard_tables,
    _context_and_projects,
    _account_properties,
]


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the file (on an autocommit connection) to the newest version, one step per
    transaction; the version it had."""
    found: int | None = None
    while True:
        conn.execute("BEGIN IMMEDIATE")  # another process may be migrating the same file
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            found = version if found is None else found
            if version >= len(MIGRATIONS):
                conn.execute("COMMIT")
                return found
            if version == 0:  # a new file, or one from before versions
                _execute_each(conn, BASE_SCHEMA)
            MIGRATIONS[version](conn)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _execute_each(conn: sqlite3.Connection, script: str) -> None:
    """Run a script's statements one by one inside the open transaction (`executescript`
    would commit it first)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"an incomplete statement in a migration: {statement!r}")

"""The statements that SQLite (sqlite.py) and PostgreSQL (postgres.py, scaleout.py) run alike on
the state tables: apps, tokens, users, the dashboard's rows and the deletion log.

Each is written once, with SQLite's `?` placeholders, in `StateStatements`; `SQLITE` and
`POSTGRES` are that table in each dialect (PostgreSQL's driver takes `%s`), with the few
statements that differ between them overridden by name. Statements only one backend runs (the
alias table, ClickHouse's events) stay in that backend's module.
"""

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from collector.storage.base import DefinedEventRow, Definition

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
    allow_bridge_origin: str = (
        "INSERT INTO app_bridge_origins (app_id, origin) VALUES (?, ?) ON CONFLICT DO NOTHING"
    )
    disallow_bridge_origin: str = "DELETE FROM app_bridge_origins WHERE app_id = ? AND origin = ?"
    bridge_origins: str = "SELECT origin FROM app_bridge_origins WHERE app_id = ? ORDER BY origin"
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
    user_state: str = (
        "SELECT properties, first_seen, last_seen, initial_properties, account_properties"
        " FROM users WHERE app_id = ? AND user_id = ?"
    )
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
)


def defined_event_row(row: Sequence[Any]) -> DefinedEventRow:
    """A row of `defined_events` or `find_defined_event`."""
    return DefinedEventRow(row[0], Definition(row[1], row[2], row[3], row[4], row[5]), row[6])

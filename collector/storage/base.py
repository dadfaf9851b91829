"""The one storage interface: every part of the collector stores and reads through it.

How it fits together (for anyone writing a backend):

- `collector.storage.open_storage(db, state)` is the one opener. `db` a path: `SQLiteStorage`
  (`sqlite.py`). `db` = `clickhouse://HOST:PORT/DB` with `state` = `postgresql://...`: the
  scale-out pair (events in ClickHouse, the small transactional state in PostgreSQL).
- A backend is one object satisfying `Storage`, the union of small protocols by concern:
  `AppStore` (apps, bridge origins, API tokens, the installation secret), `EventWriter` (ingest:
  `write(app_id, operations)`), `EventReader` (exports and every dashboard read), `DashboardStore`
  (admin sessions, defined events), `DeletionStore` (deletion requests and erasure). Every method
  is async; a backend runs blocking work off the event loop (SQLite: on its writer thread or a
  reader thread pool).
- Identity is applied by `collector.identity`, not by a backend. Inside `write`, the backend
  opens one transaction for the app and hands `collector.identity.apply_user_operation` /
  `event_user` an `IdentityTransaction`: a few synchronous primitives (canonical user, holder of
  an identity, create user, claim identity, alias, user state). They are synchronous because
  the whole write runs in the backend's transaction on its own thread (SQLite's single writer
  batches many requests into one commit). A primitive that loses a race to another collector
  (a unique key taken meanwhile) says so by its return value, and `collector.identity` reads
  again and decides again; `user_state(..., lock=True)` must lock the row until the transaction
  ends (PostgreSQL: `SELECT ... FOR UPDATE`).
- A merge never rewrites events: each event keeps the user id it was stored with, and every read
  resolves it to its canonical user through the alias table (`add_alias(from_user, to_user)`;
  chains are flattened when written, so one look-up resolves).
- Errors: `StorageUnavailable` (may pass: the HTTP layer answers 503, the CLI exits 1) is a
  `StorageError`, the one error type callers catch; `InvalidOperation` is a caller's bug;
  ValueError carries a message for the operator (a taken app id, an unknown app).
- After a deletion request reports `complete`, no value of the deleted users is left in the
  backend's files (`DeletionStore.remaining_bytes` lets the contract suite check that), and the
  deletion log keeps only keyed hashes of the users it named (`deletion_log_hash`).
- To add something stored: a method on the protocol of its concern, the SQLite side (a schema
  change is one more step appended to `sqlite_schema.MIGRATIONS`), the scale-out side, and a test
  in tests/storage/, the contract suite every backend runs (`BACKENDS` in its conftest.py). A
  statement SQLite and PostgreSQL run alike is written once, in `state_sql.StateStatements`, and
  a method made only of such statements once, in `state_sql.StateStore` or `StateIdentity`.
"""

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from collector.clock import now_ms

# App ids name Heap's cookies (`_hp2_id.<appId>`) and URLs, so they stay within these characters.
APP_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

JSONScalar = str | int | float | bool


@dataclass(frozen=True)
class App:
    """A tracked site or product: events and API calls name it by `app_id`."""

    app_id: str
    name: str
    api_key: str
    created_at: int  # ms epoch
    # The main environment of the project this app is an environment of (Heap's Main
    # Production, which alone authorises deletions); None: the app is its own project.
    project_of: str | None = None

    @property
    def project_id(self) -> str:
        """The project's id: its main environment's app id."""
        return self.project_of or self.app_id


@dataclass(slots=True)  # not frozen: that makes each one 3-4 times dearer, one per event
class NewEvent:
    """An event to store once per `event_id`; it names its user by `user_id` or by `identity`.
    Nothing changes one once it is made."""

    event_id: str
    type: str
    name: str
    time: int  # ms epoch, client time
    source: Literal["web", "server"]
    user_id: str | None = None
    identity: str | None = None
    session_id: str | None = None
    pageview_id: str | None = None
    properties: dict[str, JSONScalar] = field(default_factory=dict)
    page: dict[str, str] | None = None
    target: dict[str, str] | None = None
    session: dict[str, str] | None = None
    # collector/context.py's CONTEXT_FIELDS (web events); None for server-side API events.
    context: dict[str, object] | None = None


@dataclass(frozen=True)
class Identify:
    """Give `user_id` the `identity`, merging or refusing as `identity.decide_identify` rules;
    the server-side API's identifies (source "server") also count toward Heap's monthly limit."""

    record_id: str | None  # the web record's id; None for the server-side API
    user_id: str
    identity: str
    time: int
    source: Literal["web", "server"] = "web"


@dataclass(frozen=True)
class SetUserProperties:
    """Overwrite properties of the user named by `user_id` (web) or `identity` (server API);
    `scope` "account": of the user's account (heap.addAccountProperties), kept apart."""

    record_id: str | None
    properties: dict[str, JSONScalar]
    time: int
    user_id: str | None = None
    identity: str | None = None
    scope: Literal["user", "account"] = "user"


Operation = NewEvent | Identify | SetUserProperties


@dataclass(frozen=True)
class Outcome:
    """What became of one operation: stored, a repeat of a stored id, or refused with a reason."""

    status: Literal["stored", "duplicate", "refused"]
    message: str | None = None


STORED = Outcome("stored")
DUPLICATE = Outcome("duplicate")


@dataclass(frozen=True)
class StoredEvent:
    """An event as stored, with the identity of its canonical user."""

    event_id: str
    app_id: str
    user_id: str
    identity: str | None
    session_id: str | None
    pageview_id: str | None
    type: str
    name: str
    time: int
    properties: dict[str, JSONScalar]
    page: dict[str, str] | None
    target: dict[str, str] | None
    source: str
    context: dict[str, object] | None = None  # as NewEvent.context


@dataclass(frozen=True)
class StoredUser:
    """A canonical user with the ids merged into it."""

    app_id: str
    user_id: str
    identity: str | None
    properties: dict[str, JSONScalar]
    merged_user_ids: list[str]
    first_seen: int | None
    last_seen: int | None
    # Heap's initial properties (collector.identity.initial_user_properties); {} before any.
    initial_properties: dict[str, str] = field(default_factory=dict)
    account_properties: dict[str, JSONScalar] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredWarning:
    """Something the operator should know (a refused identify), about the user in `detail`."""

    time: int
    kind: str
    message: str
    detail: dict[str, object]


@dataclass(frozen=True)
class KnownUser:
    """A canonical user as the identity rules need to see it."""

    user_id: str
    identity: str | None


@dataclass(frozen=True)
class UserState:
    """What a merge moves from one user to another: properties, the seen span, the initial
    properties (None: none yet) and the account's properties."""

    properties: dict[str, JSONScalar]
    first_seen: int | None
    last_seen: int | None
    initial_properties: dict[str, str] | None = None
    account_properties: dict[str, JSONScalar] = field(default_factory=dict)


@dataclass(frozen=True)
class DeletionRequest:
    """A user-deletion request: the users named, and whether their data is gone yet."""

    deletion_request_id: str
    app_id: str
    status: Literal["pending", "complete"]


# -- what the dashboard reads -------------------------------------------------------------------


@dataclass(frozen=True)
class AppTotals:
    """How much an app has collected."""

    events: int = 0
    users: int = 0


def user_label(user_id: str, identity: str | None) -> str:
    """The identity of a user, or "User <user_id>" as Heap shows anonymous users."""
    return identity if identity else f"User {user_id}"


@dataclass(frozen=True)
class EventRow:
    """One stored event as the dashboard lists it (`user_id`: the canonical user)."""

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
    """A user with first and last activity and the number of events; `merged_into` is set
    when the id asked for was merged into that canonical user."""

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


class TimeBuckets(Protocol):
    """`buckets` consecutive spans of `bucket_ms` from `start_ms` (the dashboard's chart.Window)."""

    @property
    def start_ms(self) -> int: ...
    @property
    def bucket_ms(self) -> int: ...
    @property
    def buckets(self) -> int: ...
    @property
    def end_ms(self) -> int: ...


@dataclass(frozen=True)
class Definition:
    """A defined event: a name plus what an event must match (every criterion that is set)."""

    name: str
    event_type: str | None = None
    selector: str | None = None
    target_text: str | None = None
    url_contains: str | None = None


@dataclass(frozen=True)
class DefinedEventRow:
    """A stored definition with its id."""

    defined_event_id: str
    definition: Definition
    created_at: int


@dataclass(frozen=True)
class CandidateFilter:
    """Conditions every event a definition matches meets, on stored values: the backend skips
    the others before the dashboard tests the rest. Substrings are of the page URL, the target's
    text, and the target's hierarchy lowercased; empty tuples and None test nothing."""

    event_type: str | None = None
    needs_target: bool = False
    url_contains: tuple[str, ...] = ()
    text_contains: tuple[str, ...] = ()
    lower_hierarchy_contains: tuple[str, ...] = ()


@dataclass(frozen=True)
class Candidate:
    """The parts of a stored event a definition tests (None: absent)."""

    type: str
    url: str | None
    hierarchy: str | None
    text: str | None


@dataclass(frozen=True)
class CandidateGroup:
    """`size` events alike in all a definition tests, in bucket `bucket` of the window asked
    for (None: outside it, or no window)."""

    candidate: Candidate
    bucket: int | None
    size: int


def deletion_log_hash(secret: bytes, app_id: str, named: dict[str, str]) -> str:
    """What the deletion log keeps of a user it named ({"user_id"} or {"identity"}): a keyed
    hash, so a copy of the log tells nobody whom it deleted, yet the installation can still
    answer whether a given user was (by hashing that user again)."""
    message = json.dumps([app_id, sorted(named.items())])  # ASCII: any string encodes
    return hmac.new(secret, b"deletion-log|" + message.encode(), hashlib.sha256).hexdigest()


async def new_app(apps: "AppStore", name: str, app_id: str | None, project_of: str | None) -> App:
    """The app `create_app` is to insert: a checked or new id, a fresh API key, and the project
    of the app `project_of` (ValueError for a bad id or an unknown app to join)."""
    if app_id is not None and not APP_ID_PATTERN.match(app_id):
        raise ValueError(
            f"app id {app_id!r} must be 1 to 64 letters, digits, '-' or '_' "
            "(it becomes part of cookie names and URLs)"
        )
    project = None
    if project_of is not None:
        main = await apps.find_app(project_of)
        if main is None:
            raise ValueError(f"no app {project_of!r} to join: give --project an app's id")
        project = main.project_id
    return App(
        app_id=app_id or str(secrets.randbelow(9 * 10**9) + 10**9),
        name=name,
        api_key=secrets.token_hex(16),
        created_at=now_ms(),
        project_of=project,
    )


# -- errors -------------------------------------------------------------------------------------


class StorageError(Exception):
    """Storage failed; the one error type callers catch (never a driver's own)."""


class StorageUnavailable(StorageError):
    """Storage failed for a reason that may pass (busy, disk full, server unreachable): the
    caller should answer 503 (retry later)."""


class InvalidOperation(ValueError):
    """An operation that breaks this interface's rules (say an event naming no user): a bug in
    the caller, so the whole `write` is undone and nothing of it is stored."""


# -- the protocols ------------------------------------------------------------------------------


class AppStore(Protocol):
    """Apps, their bridge origins, the deletion API's tokens and the installation's secret."""

    async def create_app(
        self, name: str, app_id: str | None = None, project_of: str | None = None
    ) -> App:
        """Create an app with a fresh API key, an environment of the project of the app
        `project_of` (else its own project); a bad or taken `app_id`, or an unknown
        `project_of`, raises ValueError."""

    async def ensure_app(self, app_id: str, name: str) -> App:
        """The app `app_id`, created with `name` if it does not exist."""

    async def find_app(self, app_id: str) -> App | None:
        """The app `app_id`, or None."""

    async def list_apps(self) -> list[App]:
        """Every app, oldest first."""

    async def change_bridge_origins(
        self, app_id: str, allow: Sequence[str], disallow: Sequence[str] = ()
    ) -> list[str]:
        """Add `allow` to and remove `disallow` from the origins whose pages may use the app's
        postMessage bridge (already normalized); the list after. No such app: ValueError."""

    async def bridge_origins(self, app_id: str) -> list[str]:
        """The origins allowed to use the app's postMessage bridge, sorted."""

    async def issue_token(self, app_id: str, lifetime_ms: int) -> str:
        """A new bearer token for `app_id`'s deletion API."""

    async def token_app(self, token: str) -> str | None:
        """The app a live token was issued for, or None."""

    async def installation_secret(self) -> bytes:
        """32 random bytes made once per installation (signing keys derive from it)."""


class IdentityTransaction(Protocol):
    """The primitives `collector.identity` applies Heap's identity rules with, for one app,
    inside one backend transaction (see the module docstring); user ids are the app's."""

    def canonical_user(self, user_id: str) -> KnownUser | None:
        """The canonical user `user_id` names (itself, or the user it was merged into)."""

    def identity_holder(self, identity: str) -> KnownUser | None:
        """The canonical user that has `identity`, or None."""

    def create_user(
        self, user_id: str, identity: str | None = None, seen: int | None = None
    ) -> bool:
        """Add a canonical user; False (nothing changed) when `user_id` is known already or
        `identity` is held already (another collector was first)."""

    def claim_identity(self, user_id: str, identity: str) -> bool:
        """Give the anonymous canonical user `identity`; False when another user holds it."""

    def add_alias(self, from_user: str, to_user: str) -> None:
        """Merge: from now on `from_user`, and every id that resolved to it, resolves to the
        canonical `to_user`; `from_user` stops being a canonical user (its state is dropped:
        move it first). Stored events are not touched."""

    def user_state(self, user_id: str, *, lock: bool = False) -> UserState:
        """A canonical user's properties, seen span, initial properties and account
        properties; `lock`: hold the row until the transaction ends (a transactional backend's
        row lock)."""

    def set_user_state(self, user_id: str, state: UserState) -> None:
        """Replace a canonical user's properties, seen span, initial properties and account
        properties."""

    def set_initial_properties(self, user_id: str, initial: Mapping[str, str]) -> None:
        """Give a canonical user Heap's initial properties, unless it has some already (they
        are never overwritten). A backend calls `collector.identity.keep_initial_properties`
        with each user's earliest web event of a write, which calls this."""

    def touch(self, user_id: str, first_ms: int, last_ms: int) -> None:
        """Widen a canonical user's seen span to cover `first_ms` to `last_ms`."""

    def touch_all(self, spans: Mapping[str, tuple[int, int]]) -> None:
        """`touch` each canonical user id of `spans` with its (first_ms, last_ms), in the ids'
        order (so no two transactions deadlock)."""

    def server_identifies(self, identity: str, month: str) -> int:
        """How many user ids the server identify API gave `identity` in `month` ("YYYY-MM")."""

    def count_server_identify(self, identity: str, month: str, user_id: str) -> None:
        """Count that the server identify API gave `identity` to `user_id` in `month`."""

    def add_warning(self, kind: str, message: str, detail: Mapping[str, object]) -> None:
        """Keep a warning for the operator (a refused identify); `detail["user_id"]` names the
        user it is about, so a deletion of that user removes it."""

    def first_application(self, record_id: str) -> bool:
        """Mark a user record (identify, user properties) applied; False if it was already."""


class EventWriter(Protocol):
    """Ingest: events and user operations, applied in order, atomically."""

    async def write(self, app_id: str, operations: Sequence[Operation]) -> list[Outcome]:
        """Apply the operations in order, atomically, returning only once committed; one
        outcome per operation. InvalidOperation (nothing applied) when one names no user."""


class EventReader(Protocol):
    """Reads for the exports and the dashboard; users are canonical, events name their
    canonical user (resolved through the aliases when read)."""

    def events(self, app_id: str | None = None) -> AsyncIterator[StoredEvent]:
        """Stored events, ordered by time then arrival."""

    def users(self, app_id: str | None = None) -> AsyncIterator[StoredUser]:
        """Canonical users, ordered by first seen (never seen last)."""

    async def warnings(self, app_id: str) -> list[StoredWarning]:
        """The app's warnings for the operator, oldest first."""

    async def app_totals(self) -> dict[str, AppTotals]:
        """Events and canonical users per app, for apps that have any."""

    async def canonical_user_id(self, app_id: str, user: str) -> str | None:
        """The canonical user that a user id (merged or not) or an identity names, or None."""

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
        """Events newest first (by time, then event id), filtered by exact type, name substring
        (case-insensitive) and canonical user id; `before` is the (time, event_id) of the last
        row of the previous page."""

    async def events_by_id(self, app_id: str, event_ids: Sequence[str]) -> list[EventRow]:
        """The events with these ids, newest first."""

    async def list_users(
        self, app_id: str, *, search: str | None, limit: int, offset: int
    ) -> tuple[list[UserRow], int]:
        """Canonical users, most recently seen first (then by user id), and how many match in
        all; `search` matches part of the identity or of the user id."""

    async def find_user(self, app_id: str, user_id: str) -> UserRow | None:
        """A canonical user by id with its event count; for a merged id, the row of that id
        with `merged_into` set; None for an unknown id."""

    async def merged_user_ids(self, app_id: str, user_id: str) -> list[str]:
        """The user ids merged into this canonical user, in the order they were merged."""

    async def user_sessions(
        self, app_id: str, user_id: str, *, limit: int, offset: int
    ) -> tuple[list[SessionEvents], int]:
        """A page of the canonical user's sessions (by session id), newest first, each with its
        events oldest first; and how many sessions the user has in all."""

    async def event_counts(self, app_id: str, window: TimeBuckets) -> list[int]:
        """How many events the app stored in each bucket of `window` (by event time)."""

    async def candidate_groups(
        self,
        app_id: str,
        filters: Sequence[CandidateFilter],
        window: TimeBuckets | None = None,
    ) -> list[CandidateGroup]:
        """The app's events that pass one of `filters`, alike ones grouped and counted (split
        by bucket of `window` when given). Passing no filter: no events."""

    def newest_candidates(
        self, app_id: str, candidate_filter: CandidateFilter
    ) -> AsyncIterator[tuple[str, Candidate]]:
        """(event_id, Candidate) of the app's events that pass the filter, newest first,
        read lazily: a caller that stops after a few reads few rows."""


class DashboardStore(Protocol):
    """State the dashboard owns: admin sessions and defined events."""

    async def start_admin_session(
        self, session_key: str, password_tag: str, expires_at: int, now: int
    ) -> None:
        """Keep a new admin session (and forget the expired ones)."""

    async def admin_session_is_live(self, session_key: str, password_tag: str, now: int) -> bool:
        """Whether the session exists, was started with this password tag and has not expired."""

    async def end_admin_session(self, session_key: str) -> None:
        """End an admin session."""

    async def create_defined_event(
        self, app_id: str, definition: Definition, now_ms: int
    ) -> str | None:
        """Store a definition; its new id, or None when the app already has that name."""

    async def defined_events(self, app_id: str) -> list[DefinedEventRow]:
        """The app's definitions, by name (case-insensitive)."""

    async def find_defined_event(
        self, app_id: str, defined_event_id: str
    ) -> DefinedEventRow | None:
        """One definition by id, or None."""

    async def delete_defined_event(self, app_id: str, defined_event_id: str) -> bool:
        """Remove a definition (stored events stay); False when there was none."""


class DeletionStore(Protocol):
    """Heap's user deletion: requests, the deletion itself (an erasure) and its log."""

    async def request_deletion(self, app_id: str, users: Sequence[dict[str, str]]) -> str:
        """Record a pending deletion of users (each {"user_id"} or {"identity"}); its id."""

    async def run_deletion(self, deletion_request_id: str) -> None:
        """Erase the users of a pending request, the users merged into them and all their
        data, in every environment (app) of the requesting app's project (Heap's deletion
        "checks all environments in your account", seed 003); then mark it complete, keeping
        of the users only keyed hashes. The ids of their events stay as tombstones, so a
        retried event is a duplicate, not a new user."""

    async def pending_deletions(self) -> list[str]:
        """Ids of deletion requests not yet complete (to resume after a restart)."""

    async def find_deletion(self, app_id: str, deletion_request_id: str) -> DeletionRequest | None:
        """A deletion request of `app_id`, or None."""

    async def remaining_bytes(self, needles: Sequence[bytes]) -> set[bytes]:
        """Those of `needles` found anywhere in the backend's stored files or tables, read raw
        (the erasure check of the contract suite)."""


class Storage(AppStore, EventWriter, EventReader, DashboardStore, DeletionStore, Protocol):
    """Everything the collector stores: what `open_storage` returns."""

    async def close(self) -> None:
        """Finish pending writes and release the backend."""

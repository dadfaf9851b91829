"""The one interface the rest of the collector uses to store and read data.

Writes are operations (`NewEvent`, `Identify`, `SetUserProperties`) applied in order inside one
transaction per request; identity rules come from `collector.identity`.
"""

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

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
    """Overwrite properties of the user named by `user_id` (web) or `identity` (server API)."""

    record_id: str | None
    properties: dict[str, JSONScalar]
    time: int
    user_id: str | None = None
    identity: str | None = None


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


@dataclass(frozen=True)
class DeletionRequest:
    """A user-deletion request: the users named, and whether their data is gone yet."""

    deletion_request_id: str
    app_id: str
    status: Literal["pending", "complete"]


class StorageError(Exception):
    """Storage failed for a reason that may pass; the caller should answer 503 (retry)."""


class InvalidOperation(ValueError):
    """An operation that breaks this interface's rules (say an event naming no user): a bug in
    the caller, so the whole `write` is undone and nothing of it is stored."""


class Storage(Protocol):
    """Everything the collector stores; writes return only once committed."""

    def create_app(self, name: str, app_id: str | None = None) -> App:
        """Create an app with a fresh API key; a taken `app_id` raises ValueError."""

    def ensure_app(self, app_id: str, name: str) -> App:
        """The app `app_id`, created with `name` if it does not exist."""

    def find_app(self, app_id: str) -> App | None:
        """The app `app_id`, or None."""

    def change_bridge_origins(
        self, app_id: str, allow: Sequence[str], disallow: Sequence[str] = ()
    ) -> list[str]:
        """Add `allow` to and remove `disallow` from the origins whose pages may use the app's
        postMessage bridge (already normalized); the list after. No such app: ValueError."""

    def bridge_origins(self, app_id: str) -> list[str]:
        """The origins allowed to use the app's postMessage bridge, sorted."""

    async def write(self, app_id: str, operations: Sequence[Operation]) -> list[Outcome]:
        """Apply the operations in order, atomically; one outcome per operation.
        InvalidOperation (nothing applied) when one of them names no user."""

    async def issue_token(self, app_id: str, lifetime_ms: int) -> str:
        """A new bearer token for `app_id`'s deletion API."""

    def token_app(self, token: str) -> str | None:
        """The app a live token was issued for, or None."""

    async def request_deletion(self, app_id: str, users: Sequence[dict[str, str]]) -> str:
        """Record a pending deletion of users (each {"user_id"} or {"identity"}); its id."""

    async def run_deletion(self, deletion_request_id: str) -> None:
        """Delete the users of a pending request with their events, then mark it complete."""

    def pending_deletions(self) -> list[str]:
        """Ids of deletion requests not yet complete (to resume after a restart)."""

    def find_deletion(self, app_id: str, deletion_request_id: str) -> DeletionRequest | None:
        """A deletion request of `app_id`, or None."""

    def events(self, app_id: str | None = None) -> Iterator[StoredEvent]:
        """Stored events, ordered by time."""

    def users(self, app_id: str | None = None) -> Iterator[StoredUser]:
        """Canonical users, ordered by first seen."""

    def close(self) -> None:
        """Finish pending writes and release the database."""

"""Heap's identity rules (seed 002): decided by pure functions, applied through the few
primitives of a backend's `IdentityTransaction` (collector/storage/base.py), so every backend
merges alike and none rewrites stored events.

The tracker mints a new user id after `resetIdentity` and when an identified visitor is
identified as someone else, so an identify that would change a user's identity is refused.

Two collectors may see the same user at once. Each primitive that could lose such a race (a user
id or identity taken meanwhile) reports it, and the operation is read and decided again; a merge
locks both users and checks they are still what was decided on.
"""

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from typing import TypeVar

from collector.storage.base import (
    DUPLICATE,
    STORED,
    Identify,
    IdentityTransaction,
    InvalidOperation,
    KnownUser,
    NewEvent,
    Outcome,
    SetUserProperties,
    StorageUnavailable,
    UserState,
)
from snippet.validate import identity_problem
from snippet.wire import UTM_PARAMETERS

# Reads and decisions again after a lost race; more losses in a row mean something is wrong.
MAX_RACES = 8
T = TypeVar("T")
V = TypeVar("V")


class IdentifyAction(Enum):
    CREATE_IDENTIFIED = "create the user with the identity"
    JOIN_HOLDER = "create the user already merged into the identity's holder"
    NOTHING = "nothing to do: the user already has the identity"
    CLAIM = "the anonymous user takes the identity"
    MERGE_INTO_HOLDER = "merge the anonymous user into the identity's holder"
    REFUSE = "refuse, with a warning"


# Heap's server identify gives an identity to at most 10 user ids a month; the 11th is ignored.
SERVER_IDENTIFY_USER_IDS_PER_MONTH = 10
_LINKING_ACTIONS = frozenset(
    {
        IdentifyAction.CREATE_IDENTIFIED,
        IdentifyAction.JOIN_HOLDER,
        IdentifyAction.CLAIM,
        IdentifyAction.MERGE_INTO_HOLDER,
    }
)


@dataclass(frozen=True)
class IdentifyDecision:
    """What to do with one identify call, and for a refusal, the warning to record."""

    action: IdentifyAction
    warning_kind: str | None = None
    message: str | None = None


def decide_identify(
    identity: str,
    subject: KnownUser | None,
    holder: KnownUser | None,
    *,
    user_ids_this_month: int | None = None,
) -> IdentifyDecision:
    """Decide `identify(subject, identity)`, where `holder` is the user that has `identity`.

    `subject` is the canonical user of the sent user id (None when that id is new);
    `user_ids_this_month` counts the user ids the server identify API already gave `identity`
    this month (None: the call is not capped, as for the web tracker's identify).
    """
    decision = _decide_uncapped(identity, subject, holder)
    if (
        user_ids_this_month is not None
        and user_ids_this_month >= SERVER_IDENTIFY_USER_IDS_PER_MONTH
        and decision.action in _LINKING_ACTIONS
    ):
        return IdentifyDecision(
            IdentifyAction.REFUSE,
            "identify_monthly_limit",
            f"identity {identity!r} was already given to {user_ids_this_month} user ids this month"
            f" through the server identify API; at most {SERVER_IDENTIFY_USER_IDS_PER_MONTH}"
            " a month, so this call is ignored",
        )
    return decision


def identify_month(ms: int) -> str:
    """The calendar month (UTC) in which a server identify counts, as "YYYY-MM"."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m")


def _decide_uncapped(
    identity: str, subject: KnownUser | None, holder: KnownUser | None
) -> IdentifyDecision:
    problem = identity_problem(identity)
    if problem is not None:
        return IdentifyDecision(IdentifyAction.REFUSE, "refused_identity", problem)
    if subject is None:
        if holder is None:
            return IdentifyDecision(IdentifyAction.CREATE_IDENTIFIED)
        return IdentifyDecision(IdentifyAction.JOIN_HOLDER)
    if subject.identity == identity:
        return IdentifyDecision(IdentifyAction.NOTHING)
    if subject.identity is not None:
        return IdentifyDecision(
            IdentifyAction.REFUSE,
            "identity_conflict",
            f"user {subject.user_id} is already identified as {subject.identity!r}; "
            f"refusing to change it to {identity!r} (a new identity needs a new user id)",
        )
    if holder is None:
        return IdentifyDecision(IdentifyAction.CLAIM)
    return IdentifyDecision(IdentifyAction.MERGE_INTO_HOLDER)


def merged_properties(absorbed: Mapping[str, V], surviving: Mapping[str, V]) -> dict[str, V]:
    """Properties after a merge: the surviving user's values win on conflicts."""
    return {**absorbed, **surviving}


def merged_span(*times: int | None) -> tuple[int | None, int | None]:
    """(first_seen, last_seen) covering every known time."""
    known = [time for time in times if time is not None]
    if not known:
        return None, None
    return min(known), max(known)


def apply_user_operation(
    tx: IdentityTransaction, op: Identify | SetUserProperties, now_ms: int
) -> Outcome:
    """Apply an identify or a user-properties operation once per record id."""
    if op.record_id is not None and not tx.first_application(op.record_id):
        return DUPLICATE
    if isinstance(op, Identify):
        return _retried(lambda: _try_identify(tx, op, now_ms))
    user = event_user(tx, op)
    if op.user_id is not None:  # the web tracker's: the visitor is active now
        tx.touch(user.user_id, op.time, op.time)
    old = tx.user_state(user.user_id, lock=True)
    if op.scope == "account":
        new = replace(old, account_properties={**old.account_properties, **op.properties})
    else:
        new = replace(old, properties={**old.properties, **op.properties})
    tx.set_user_state(user.user_id, new)
    return STORED


def event_user(tx: IdentityTransaction, op: NewEvent | SetUserProperties) -> KnownUser:
    """The canonical user an operation names by user id or by identity, created when new
    (an identity nobody has yet gets a new user id)."""
    if op.user_id is not None:
        user_id = op.user_id
        return _retried(lambda: tx.canonical_user(user_id) or _created(tx, user_id, None))
    if op.identity is None:  # a real check: `python -O` drops asserts
        raise InvalidOperation(f"{type(op).__name__} names neither a user_id nor an identity")
    identity = op.identity
    return _retried(
        lambda: (
            tx.identity_holder(identity) or _created(tx, str(secrets.randbelow(2**53)), identity)
        )
    )


def _created(tx: IdentityTransaction, user_id: str, identity: str | None) -> KnownUser | None:
    return KnownUser(user_id, identity) if tx.create_user(user_id, identity) else None


def _retried(attempt: Callable[[], T | None]) -> T:
    """The first result of `attempt` that is not None (None: it lost a race; read again)."""
    for _ in range(MAX_RACES):
        result = attempt()
        if result is not None:
            return result
    raise StorageUnavailable(
        f"the users named changed under {MAX_RACES} tries in a row (other collectors writing"
        " them at once); retry the request"
    )


def _try_identify(tx: IdentityTransaction, op: Identify, now_ms: int) -> Outcome | None:
    subject = tx.canonical_user(op.user_id)
    holder = tx.identity_holder(op.identity)
    # The month is the server's: a backdated timestamp must not dodge the monthly limit.
    month = identify_month(now_ms)
    given = tx.server_identifies(op.identity, month) if op.source == "server" else None
    decision = decide_identify(op.identity, subject, holder, user_ids_this_month=given)
    action = decision.action
    if action is IdentifyAction.REFUSE:
        assert decision.warning_kind is not None and decision.message is not None
        detail = {"user_id": op.user_id, "identity": op.identity, "record_id": op.record_id}
        tx.add_warning(decision.warning_kind, decision.message, detail)
        return Outcome("refused", decision.message)
    if action is IdentifyAction.CREATE_IDENTIFIED:
        if not tx.create_user(op.user_id, op.identity, op.time):
            return None
    elif action is IdentifyAction.JOIN_HOLDER:
        assert holder is not None
        if not tx.create_user(op.user_id) or not _merge(tx, op.user_id, holder, op.time):
            return None
    elif action is IdentifyAction.CLAIM:
        assert subject is not None
        if not tx.claim_identity(subject.user_id, op.identity):
            return None
        tx.touch(subject.user_id, op.time, op.time)
    elif action is IdentifyAction.MERGE_INTO_HOLDER:
        assert subject is not None and holder is not None
        if not _merge(tx, subject.user_id, holder, op.time):
            return None
    else:
        assert subject is not None
        tx.touch(subject.user_id, op.time, op.time)
    if op.source == "server" and action is not IdentifyAction.NOTHING:
        tx.count_server_identify(op.identity, month, op.user_id)
    return STORED


def _merge(tx: IdentityTransaction, absorbed: str, holder: KnownUser, time: int) -> bool:
    """Merge the anonymous canonical user `absorbed` into `holder`: aliases, properties (the
    holder's win) and seen span. False when either changed since it was read."""
    assert holder.identity is not None
    # Locks in one order (by id), so two merges of the same pair cannot deadlock.
    states = {
        user_id: tx.user_state(user_id, lock=True) for user_id in sorted({absorbed, holder.user_id})
    }
    if (
        tx.canonical_user(absorbed) != KnownUser(absorbed, None)
        or tx.identity_holder(holder.identity) != holder
    ):
        return False
    old, new = states[absorbed], states[holder.user_id]
    tx.add_alias(absorbed, holder.user_id)
    first, last = merged_span(old.first_seen, old.last_seen, new.first_seen, new.last_seen, time)
    merged = UserState(
        merged_properties(old.properties, new.properties),
        first,
        last,
        new.initial_properties or old.initial_properties,  # the holder's are never overwritten
        merged_properties(old.account_properties, new.account_properties),
    )
    tx.set_user_state(holder.user_id, merged)
    return True


# Heap's user properties that the first recorded session sets and nothing changes after.
INITIAL_FROM_SESSION = {
    "Initial Referrer": "initial_referrer",
    "Initial Landing Page": "landing_page",
    **{f"Initial UTM {name[4:].capitalize()}": name for name in UTM_PARAMETERS},
}
INITIAL_FROM_CONTEXT = {
    "Initial Browser": "browser",
    "Initial Device Type": "device_type",
    "Initial Platform": "os",
    "Initial Country": "country",
    "Initial Region": "region",
    "Initial City": "city",
}


def initial_user_properties(
    session: Mapping[str, str] | None, context: Mapping[str, object] | None
) -> dict[str, str]:
    """Heap's initial user properties from a user's first web event: its session's landing
    page, referrer and UTM parameters, and its browser, device, platform and place (those
    known)."""
    session, context = session or {}, context or {}
    found: dict[str, object] = {
        name: session.get(field) for name, field in INITIAL_FROM_SESSION.items()
    }
    found |= {name: context.get(field) for name, field in INITIAL_FROM_CONTEXT.items()}
    return {name: value for name, value in found.items() if isinstance(value, str)}


class EventUsers:
    """The canonical users of a run of events with no user operation between them (an identify
    could merge them): each user named is looked up once, and at `finish` touched once with the
    span of its events and given the initial properties of its earliest web event."""

    def __init__(self, tx: IdentityTransaction) -> None:
        self._tx = tx
        self._users: dict[tuple[str | None, str | None], KnownUser] = {}  # (user_id, identity)
        self._spans: dict[str, tuple[int, int]] = {}  # canonical user_id -> (first, last) time
        self._earliest_web: dict[str, NewEvent] = {}  # canonical user_id -> its earliest web event

    def user_of(self, event: NewEvent) -> KnownUser:
        """The canonical user `event` is stored under (created when new)."""
        named = (event.user_id, None if event.user_id is not None else event.identity)
        user = self._users.get(named)
        if user is None:
            user = self._users[named] = event_user(self._tx, event)
        first, last = self._spans.get(user.user_id, (event.time, event.time))
        self._spans[user.user_id] = (min(first, event.time), max(last, event.time))
        earliest = self._earliest_web.get(user.user_id)
        if event.source == "web" and (earliest is None or event.time < earliest.time):
            self._earliest_web[user.user_id] = event
        return user

    def finish(self) -> None:
        """Touch the users and keep their initial properties (in one order: no two
        transactions deadlock); the run is over."""
        self._tx.touch_all(self._spans)
        for user_id, event in sorted(self._earliest_web.items()):
            keep_initial_properties(self._tx, user_id, event)
        self._users, self._spans, self._earliest_web = {}, {}, {}


def keep_initial_properties(tx: IdentityTransaction, user_id: str, event: NewEvent) -> None:
    """Give the canonical user the initial properties of `event`, its earliest web event of a
    write, unless it has some (set once, never overwritten)."""
    if event.source != "web":
        return  # a server-side event tells nothing of the visitor's first session
    initial = initial_user_properties(event.session, event.context)
    if initial:
        tx.set_initial_properties(user_id, initial)

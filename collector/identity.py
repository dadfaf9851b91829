"""Heap's identity rules (seed 002) as pure functions; storage applies what they decide.

The tracker mints a new user id after `resetIdentity` and when an identified visitor is
identified as someone else, so an identify that would change a user's identity is refused.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

from snippet.validate import identity_problem


@dataclass(frozen=True)
class KnownUser:
    """A canonical user as the rules need to see it."""

    user_id: str
    identity: str | None


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


def merged_properties(
    absorbed: dict[str, object], surviving: dict[str, object]
) -> dict[str, object]:
    """Properties after a merge: the surviving user's values win on conflicts."""
    return {**absorbed, **surviving}


def merged_span(*times: int | None) -> tuple[int | None, int | None]:
    """(first_seen, last_seen) covering every known time."""
    known = [time for time in times if time is not None]
    if not known:
        return None, None
    return min(known), max(known)

"""The heap.* calls: what each call's arguments allow, and what an identify changes."""

from dataclasses import dataclass, field
from typing import Literal

from snippet.validate import (
    RESERVED_TRACK_NAMES,
    Scalar,
    airkit_event_problem,
    clean_properties,
    clean_user_properties,
    event_name_problem,
    identity_problem,
    normalize_identity,
)

IdentifyChange = Literal["same", "first", "switch"]


@dataclass
class Checked:
    """A call's usable arguments and plain-English problems; `ok` False: nothing usable."""

    ok: bool = True
    value: str = ""
    properties: dict[str, Scalar] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def check_track(args: list[object]) -> Checked:
    """track(name, properties), or track({event, properties}) as Airkit's Analytics Send Event
    passes it: a valid, unreserved name; good properties kept, bad ones named."""
    if args and isinstance(args[0], dict):
        problem = airkit_event_problem(args[0], extra_args=len(args) - 1)
        if problem is not None:
            return Checked(ok=False, problems=[problem])
        args = [args[0]["event"], args[0].get("properties")]
    name = args[0] if args else None
    problem = event_name_problem(name)
    if problem is None and name in RESERVED_TRACK_NAMES:
        problem = f"event name {name!r} is reserved for autocaptured events"
    if problem is not None:
        return Checked(ok=False, problems=[problem])
    cleaned = clean_properties(args[1] if len(args) > 1 else None)
    assert isinstance(name, str)
    return Checked(value=name, properties=cleaned.properties, problems=cleaned.problems)


def check_identify(args: list[object]) -> Checked:
    """identify(identity): a string or whole number that names one person."""
    identity = args[0] if args else None
    problem = identity_problem(identity)
    if problem is not None:
        return Checked(ok=False, problems=[problem])
    text = normalize_identity(identity)
    assert text is not None
    return Checked(value=text)


def identify_change(current: str | None, new: str) -> IdentifyChange:
    """Seed 002: same identity → nothing; anonymous → identified; identified → a new user."""
    if current == new:
        return "same"
    return "first" if current is None else "switch"


def check_properties(args: list[object], *, user: bool = False) -> Checked:
    """add(User|Event)Properties(properties): an object; good properties kept, bad ones named."""
    if not args or args[0] is None:
        return Checked(ok=False, problems=["properties must be an object, got nothing"])
    cleaned = clean_user_properties(args[0]) if user else clean_properties(args[0])
    return Checked(
        ok=bool(cleaned.properties), properties=cleaned.properties, problems=cleaned.problems
    )


def check_property_name(args: list[object]) -> Checked:
    """removeEventProperty(name): a non-empty string."""
    name = args[0] if args else None
    if not isinstance(name, str) or not name:
        return Checked(ok=False, problems=["property name must be a non-empty string"])
    return Checked(value=name)

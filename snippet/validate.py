"""Heap's limits on names, identities and properties, shared by the tracker and the collector.

Each check returns what was kept plus plain-English problems, so callers can warn once and go on.
"""

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from snippet.wire import CUSTOM, EVENT_TYPES, PageContext, Scalar, js_number

EVENT_NAME_MAX = 255
SERVER_EVENT_NAME_MAX = 1024  # Heap's server-side track allows longer names than the web API
PROPERTY_KEY_MAX = 511  # keys must be shorter than 512
EVENT_VALUE_MAX = 1023  # values must be shorter than 1024
USER_VALUE_MAX = 255  # user property values: 255 characters or fewer
IDENTITY_MAX = 254  # identities must be shorter than 255
SCREEN_SIDE_MAX = 100_000  # CSS pixels: beyond any screen; a larger number is not a screen
LANGUAGE_MAX = 35  # BCP 47's longest tags in use
TIME_ZONE_MAX = 64  # IANA names are at most 30 characters; room for what browsers invent
USER_ID_MAX = 2**53 - 1  # Heap user ids are decimal numbers a JavaScript double holds exactly
# How Heap's server-side track stores an array value: its items joined, ["a", "b"] as "a||b".
SERVER_ARRAY_SEPARATOR = "||"
# The names of pageviews and autocaptured events: a custom event may not take them.
RESERVED_TRACK_NAMES = frozenset(EVENT_TYPES) - {CUSTOM}
# Tuples for isinstance: a `str | int` union in a function body is built anew at every call.
_SCALAR_TYPES = (str, int, float, bool)
_SEQUENCE_TYPES = (list, tuple)
_PROPERTY_VALUE_TYPES = _SCALAR_TYPES + _SEQUENCE_TYPES

# Identities that would merge every visitor into one user (Heap's warning, PostHog's list).
_REFUSED_ANY_CASE = frozenset(
    {
        "anonymous",
        "guest",
        "distinctid",
        "distinct_id",
        "id",
        "not_authenticated",
        "email",
        "undefined",
        "true",
        "false",
        "user",
        "null",
        "none",
        "nan",
    }
)
_REFUSED_EXACT = frozenset({"[object Object]", "0", "-1", "[]", "{}"})


AIRKIT_EVENT_KEYS = frozenset({"event", "properties"})  # Airkit's Analytics Send Event


@dataclass
class Cleaned:
    """Properties that passed, and one line per property that did not."""

    properties: dict[str, Scalar] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def event_name_problem(name: object, *, limit: int = EVENT_NAME_MAX) -> str | None:
    """Why `name` cannot name an event, or None when it can."""
    if not isinstance(name, str):
        return f"event name must be a string, got {_type_name(name)}"
    if not name.strip():
        return "event name must not be empty"
    if len(name) > limit:
        return f"event name is {len(name)} characters; the limit is {limit}"
    return None


def airkit_event_problem(sent: dict[object, object], *, extra_args: int) -> str | None:
    """Why an `{event, properties}` object cannot be tracked, in one line, or None."""
    extra_keys = sorted(str(key) for key in sent if key not in AIRKIT_EVENT_KEYS)
    event = sent.get("event")
    properties = sent.get("properties")
    if extra_keys:
        problem = f"unexpected keys {', '.join(repr(key) for key in extra_keys)}"
    elif not isinstance(event, str):
        got = _type_name(event) if "event" in sent else "nothing"
        problem = f"'event' must be the event name, a string; got {got}"
    elif properties is not None and not isinstance(properties, dict):
        problem = f"'properties' must be an object; got {_type_name(properties)}"
    elif extra_args:
        problem = "pass the object alone, with no second argument"
    else:
        return None
    return (
        f"ignored an {{event, properties}} object: {problem} (send "
        "{event: 'Name', properties: {...}}, or track('Name', {...}))"
    )


def normalize_identity(identity: object) -> str | None:
    """An identity as Heap stores it: strings as given, whole numbers as their decimal text."""
    if isinstance(identity, bool):
        return None
    if isinstance(identity, int):
        return str(identity)
    if isinstance(identity, float) and identity.is_integer():
        return str(int(identity))
    if isinstance(identity, str):
        return identity
    return None


def identity_problem(identity: object) -> str | None:
    """Why `identity` may not identify a user, or None when it may."""
    text = normalize_identity(identity)
    if text is None:
        return f"identity must be a string or a whole number, got {_type_name(identity)}"
    bare = text.strip()
    if len(bare) >= 2 and bare[0] == bare[-1] and bare[0] in "'\"":
        bare = bare[1:-1].strip()
    if not bare:
        return "identity must not be empty"
    if bare.lower() in _REFUSED_ANY_CASE or bare in _REFUSED_EXACT:
        return (
            f"identity {text!r} is not unique to one person and would merge every visitor "
            "into one user; pass a real user id or email"
        )
    if len(text) > IDENTITY_MAX:
        return f"identity is {len(text)} characters; it must be shorter than 255"
    return None


def user_id_problem(user_id: object) -> str | None:
    """Why `user_id` is not a Heap user id (a decimal number from 0 to 2^53-1), or None."""
    text = str(user_id) if isinstance(user_id, int) and not isinstance(user_id, bool) else user_id
    if not isinstance(text, str):
        return f"user_id must be a string of digits, got {_type_name(user_id)}"
    if not (text.isascii() and text.isdigit()) or len(text) > 16 or int(text) > USER_ID_MAX:
        return f"user_id {text[:40]!r} is not a number from 0 to 2^53-1"
    return None


def clean_properties(
    properties: object,
    *,
    value_limit: int = EVENT_VALUE_MAX,
    forbidden_keys: frozenset[str] = frozenset(),
) -> Cleaned:
    """Flatten nested objects with dots, drop null values, and keep what fits Heap's limits."""
    return _cleaned(properties, _flatten_all, None, value_limit, forbidden_keys)


def clean_user_properties(properties: object) -> Cleaned:
    """User properties: values of 255 characters or fewer, and never a `user_id` key."""
    return clean_properties(
        properties, value_limit=USER_VALUE_MAX, forbidden_keys=frozenset({"user_id"})
    )


def clean_server_properties(properties: object, *, user: bool) -> Cleaned:
    """Properties of Heap's server-side track (`user` False) or add_user_properties (True), in
    the shapes Heap documents: values a number or a string (no flattening, no booleans); an
    array value of a track, of numbers and strings, becomes one string joined with "||"."""
    if user:
        return _cleaned(
            properties, _items, _server_user_value, USER_VALUE_MAX, frozenset({"user_id"})
        )
    return _cleaned(properties, _items, _server_event_value, EVENT_VALUE_MAX, frozenset())


def _cleaned(
    properties: object,
    items: Callable[[dict[object, object]], list[tuple[str, object]]],
    convert: Callable[[str, object], object] | None,
    value_limit: int,
    forbidden_keys: frozenset[str],
) -> Cleaned:
    """What passes of `properties`: each of its `items` as `convert` makes it (a _Refusal says
    why not), checked against Heap's limits; null values dropped."""
    cleaned = Cleaned()
    if properties is None:
        return cleaned
    if not isinstance(properties, dict):
        cleaned.problems.append(f"properties must be an object, got {_type_name(properties)}")
        return cleaned
    for key, sent in items(properties):
        value = sent if convert is None else convert(key, sent)
        if isinstance(value, _Refusal):
            cleaned.problems.append(value.problem)
            continue
        problem = _property_problem(key, value, value_limit, forbidden_keys)
        if problem is None:
            cleaned.properties[key] = _as_scalar(value)
        elif problem:
            cleaned.problems.append(problem)
    return cleaned


def _flatten_all(mapping: dict[object, object]) -> list[tuple[str, object]]:
    return _flatten(mapping, "")


def _items(mapping: dict[object, object]) -> list[tuple[str, object]]:
    return [(str(key), value) for key, value in mapping.items()]


@dataclass(frozen=True)
class _Refusal:
    problem: str


def _server_event_value(key: str, value: object) -> object:
    return _server_value(key, value, user=False)


def _server_user_value(key: str, value: object) -> object:
    return _server_value(key, value, user=True)


def _server_value(key: str, value: object, *, user: bool) -> object:
    """The value a server-side property is stored as, or why it is refused."""
    what = "user property" if user else "property"
    if isinstance(value, bool):
        return _Refusal(
            f"{what} {key!r} is a boolean; Heap's server-side API takes a number or a string:"
            f' send "{str(value).lower()}" or {int(value)}'
        )
    if isinstance(value, dict):
        return _Refusal(
            f"{what} {key!r} is an object; Heap's server-side API takes a number or a string:"
            f" send its fields as properties of their own ({key}.<field>)"
        )
    if isinstance(value, _SEQUENCE_TYPES):
        if user:
            return _Refusal(
                f"user property {key!r} is an array; Heap takes arrays for event properties"
                " only: send a number or a string"
            )
        if not all(_is_number_or_string(item) for item in value):
            return _Refusal(
                f"property {key!r} is an array with an item that is not a number or a string;"
                f' Heap joins an array of numbers and strings into one ("a||b||c")'
            )
        return SERVER_ARRAY_SEPARATOR.join(_as_text(item) for item in value)
    return value


def _is_number_or_string(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str | int) and not isinstance(value, bool)


def _as_text(value: object) -> str:
    return js_number(value) if isinstance(value, float) else str(value)


def clean_page_context(value: object) -> PageContext:
    """The page context the loader sent, each field kept only when it has its shape (sizes
    whole numbers of pixels, names short strings), else None: it describes, nothing depends
    on it, so a bad field is dropped rather than the event."""
    sent = value if isinstance(value, dict) else {}
    return {
        "screen": _size(sent.get("screen")),
        "viewport": _size(sent.get("viewport")),
        "language": _short_text(sent.get("language"), LANGUAGE_MAX),
        "time_zone": _short_text(sent.get("time_zone"), TIME_ZONE_MAX),
    }


def _size(value: object) -> dict[str, int] | None:
    if not isinstance(value, dict):
        return None
    width, height = value.get("width"), value.get("height")
    for side in (width, height):
        if not isinstance(side, int) or isinstance(side, bool) or not 0 <= side <= SCREEN_SIDE_MAX:
            return None
    assert isinstance(width, int) and isinstance(height, int)
    return {"width": width, "height": height}


def _short_text(value: object, limit: int) -> str | None:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        return None
    return value.strip()


def _flatten(mapping: dict[object, object], prefix: str) -> list[tuple[str, object]]:
    pairs: list[tuple[str, object]] = []
    for raw_key, value in mapping.items():
        key = f"{prefix}{raw_key}"
        if isinstance(value, dict):
            pairs.extend(_flatten(value, key + "."))
        else:
            pairs.append((key, value))
    return pairs


def _as_scalar(value: object) -> Scalar:
    if isinstance(value, _SEQUENCE_TYPES):
        return json.dumps(value, separators=(",", ":"), default=str)
    assert isinstance(value, _SCALAR_TYPES)
    return value


def _property_problem(
    key: str, value: object, value_limit: int, forbidden_keys: frozenset[str]
) -> str | None:
    """'' means drop silently (Heap drops null values); None means keep."""
    if value is None:
        return ""
    if not key.strip():
        return "property keys must not be empty"
    if len(key) > PROPERTY_KEY_MAX:
        return f"property key {key[:40]!r}… is {len(key)} characters; it must be shorter than 512"
    if key in forbidden_keys:
        return f"{key!r} cannot be used as a property key"
    if isinstance(value, float) and not math.isfinite(value):
        return f"property {key!r} is {value}; numbers must be finite"
    if not isinstance(value, _PROPERTY_VALUE_TYPES):
        return f"property {key!r} must be a string, number or boolean, got {_type_name(value)}"
    if len(str(_as_scalar(value))) > value_limit:
        return f"property {key!r} is longer than {value_limit} characters"
    return None


def _type_name(value: object) -> str:
    return {
        type(None): "null",
        bool: "boolean",
        int: "number",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)

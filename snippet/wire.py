"""The wire format (docs/protocol.md, section 4): what the tracker sends and the collector reads.

One module for both sides, as `validate.py` is: event types, field names, text caps, the record
builders, the ingest body and `js_json`, the encoder that writes JSON as JavaScript would.
"""

import json
import math
import re

from snippet import __version__

LIBRARY = f"footfall-web/{__version__}"

# Event types. The autocaptured ones are also the loader's record kinds for those interactions.
PAGEVIEW = "pageview"
CUSTOM = "custom"
AUTOCAPTURED_TYPES = ("click", "change", "submit")
EVENT_TYPES = (PAGEVIEW, *AUTOCAPTURED_TYPES, CUSTOM)

# Wire record kinds.
EVENT = "event"
IDENTIFY = "identify"
USER_PROPERTIES = "user_properties"
ACCOUNT_PROPERTIES = "account_properties"
RECORD_KINDS = (EVENT, IDENTIFY, USER_PROPERTIES, ACCOUNT_PROPERTIES)

# An event id, which is also the id the loader draws for each record it observes.
EVENT_ID = re.compile(r"[0-9a-f]{32}")

PAGE_FIELDS = ("url", "domain", "path", "query", "hash", "title", "referrer")
TARGET_FIELDS = ("tag", "id", "class", "text", "href", "hierarchy")
UTM_PARAMETERS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
SESSION_FIELDS = ("landing_page", "initial_referrer")  # and the landing page's UTM parameters
# What the loader reads of the visitor's device (docs/protocol.md, section 1): screen and
# viewport as {"width", "height"} in CSS pixels, the browser's language, its IANA time zone.
PAGE_CONTEXT_FIELDS = ("screen", "viewport", "language", "time_zone")

# Text caps, in characters. The tracker cuts a target's text and hierarchy at TARGET_TEXT_MAX
# and page strings at PAGE_TEXT_MAX (as PostHog cuts href); the collector refuses a longer target
# string and cuts page and session strings at STORED_TEXT_MAX (other senders may send more).
TARGET_TEXT_MAX = 1024
PAGE_TEXT_MAX = 2048
STORED_TEXT_MAX = 8192
# What the loader reads of an element before Python decides (docs/protocol.md, section 1), filled
# into loader.js by build.py: attribute values cut at the target cap, and twice that of text,
# since redaction may remove part of what was read.
OBSERVED_ATTR_MAX = TARGET_TEXT_MAX
OBSERVED_TEXT_MAX = 2 * TARGET_TEXT_MAX

Scalar = str | int | float | bool  # a property value
Page = dict[str, str]
Target = dict[str, str]
PageContext = dict[str, object]  # PAGE_CONTEXT_FIELDS, None when unknown


def event_record(
    *,
    event_id: str,
    event_type: str,
    name: str,
    time: float,
    user_id: str,
    session_id: str,
    pageview_id: str,
    properties: dict[str, Scalar],
    page: Page,
    target: Target | None,
    session: dict[str, str],
    context: PageContext,
) -> dict[str, object]:
    """An `event` wire record; `time` in ms since the epoch (sent whole)."""
    return _record(
        EVENT,
        event_id,
        time,
        user_id,
        type=event_type,
        name=name,
        session_id=session_id,
        pageview_id=pageview_id,
        properties=properties,
        page=page,
        target=target,
        session=session,
        context=context,
    )


def identify_record(
    *, event_id: str, time: float, user_id: str, identity: str | None
) -> dict[str, object]:
    """An `identify` wire record: `user_id` is known as `identity` from now on."""
    return _record(IDENTIFY, event_id, time, user_id, identity=identity)


def user_properties_record(
    *, event_id: str, time: float, user_id: str, properties: dict[str, Scalar]
) -> dict[str, object]:
    """A `user_properties` wire record: properties set on the user."""
    return _record(USER_PROPERTIES, event_id, time, user_id, properties=properties)


def account_properties_record(
    *, event_id: str, time: float, user_id: str, properties: dict[str, Scalar]
) -> dict[str, object]:
    """An `account_properties` wire record: properties set on the user's account."""
    return _record(ACCOUNT_PROPERTIES, event_id, time, user_id, properties=properties)


def _record(
    kind: str, event_id: str, time: float, user_id: str, **fields: object
) -> dict[str, object]:
    """What every wire record carries, then its kind's own fields."""
    return {"kind": kind, "event_id": event_id, "time": int(time), "user_id": user_id, **fields}


def ingest_body(app_id: str, sent_at_ms: float, records_json: list[str]) -> str:
    """The `POST /api/ingest` body, from records already in JSON (each encoded once)."""
    head = js_json({"app_id": app_id, "sent_at": int(sent_at_ms), "library": LIBRARY})
    return f'{head[:-1]},"records":[{",".join(records_json)}]}}'


def js_json(value: object) -> str:
    """JSON text exactly as JavaScript's JSON.stringify writes it (numbers and escapes too)."""
    if _has_floats_js_writes_differently(value):
        return _js_json_by_hand(value)
    return _escape_lone_surrogates(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _has_floats_js_writes_differently(value: object) -> bool:
    if isinstance(value, str):
        return False
    if isinstance(value, float):
        return not math.isfinite(value) or repr(value) != js_number(value)
    if isinstance(value, dict):
        return any(_has_floats_js_writes_differently(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_has_floats_js_writes_differently(item) for item in value)
    return False


def _js_json_by_hand(value: object) -> str:
    if isinstance(value, float):
        return js_number(value)
    if isinstance(value, dict):
        items = (f"{js_json(str(key))}:{_js_json_by_hand(item)}" for key, item in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_js_json_by_hand(item) for item in value) + "]"
    return js_json(value)


def _escape_lone_surrogates(text: str) -> str:
    """JSON.stringify writes a lone surrogate as \\udXXX; Python leaves it raw."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "".join(
            f"\\u{ord(char):04x}" if "\ud800" <= char <= "\udfff" else char for char in text
        )


def js_number(number: float) -> str:
    """A float as JavaScript's Number#toString writes it: 1 not 1.0, 1e-7 not 1e-07."""
    if not math.isfinite(number):
        return "null"
    if number == 0:
        return "0"
    sign = "-" if number < 0 else ""
    mantissa, _, exponent_text = repr(abs(number)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    exponent = int(exponent_text or "0")
    if whole != "0":
        point = len(whole) + exponent  # value = 0.DIGITS × 10**point
    else:
        point = exponent - (len(fraction) - len(fraction.lstrip("0")))
    digits = (whole + fraction).lstrip("0").rstrip("0")
    if len(digits) <= point <= 21:
        text = digits + "0" * (point - len(digits))
    elif 0 < point <= 21:
        text = f"{digits[:point]}.{digits[point:]}"
    elif -6 < point <= 0:
        text = "0." + "0" * -point + digits
    else:
        tail = f".{digits[1:]}" if len(digits) > 1 else ""
        text = f"{digits[0]}{tail}e{'+' if point >= 1 else '-'}{abs(point - 1)}"
    return sign + text

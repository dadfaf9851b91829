"""The postMessage bridge (docs/protocol.md, section 8): the page embedding an app tells the app's
tracker who the visitor is, adds user properties and sends events, from allowed origins only."""

from dataclasses import dataclass
from urllib.parse import urlsplit

BRIDGE_MARKER = "bridge"  # `footfall` of a message to the tracker (the loader forwards these)
REPLY_MARKER = "bridge-reply"  # `footfall` of the tracker's answer to getUserId
BRIDGE_HELD_MAX = 100  # messages kept while the collector's list of origins is on its way
# action → the message keys that become the heap call's arguments, in order (the last optional)
BRIDGE_ACTIONS: dict[str, tuple[str, ...]] = {
    "identify": ("identity",),
    "addUserProperties": ("properties",),
    "track": ("event", "properties"),
    "getUserId": (),
}
_OPTIONAL = {"track": "properties"}


@dataclass(frozen=True)
class BridgeCall:
    """What a bridge message asks: a heap method and its arguments, or `getUserId`."""

    method: str
    args: list[object]


def bridge_call(data: object) -> BridgeCall | str:
    """The call a bridge message makes, or why the message is not one (a plain-English line)."""
    if not isinstance(data, dict) or data.get("footfall") != BRIDGE_MARKER:
        return f"a bridge message must be an object with footfall: {BRIDGE_MARKER!r}"
    action = data.get("action")
    if not isinstance(action, str) or action not in BRIDGE_ACTIONS:
        known = ", ".join(sorted(BRIDGE_ACTIONS))
        return f"bridge action {action!r} is not one of {known}"
    keys = BRIDGE_ACTIONS[action]
    extra = sorted(str(key) for key in data if key not in {"footfall", "action", *keys})
    if extra:
        return f"bridge {action}: unexpected keys {', '.join(repr(key) for key in extra)}"
    missing = [key for key in keys if key not in data and key != _OPTIONAL.get(action)]
    if missing:
        return f"bridge {action}: missing {', '.join(repr(key) for key in missing)}"
    return BridgeCall(action, [data[key] for key in keys if key in data])


def allowed_origins(configured: object) -> tuple[frozenset[str], list[str]]:
    """The origins in a list (heap.load's `bridgeOrigins`, or the collector's list), and a
    problem for each entry that is not an origin. `*` is never accepted."""
    if configured is None:
        return frozenset(), []
    if not isinstance(configured, list):
        return frozenset(), ["bridgeOrigins must be a list of origins like 'https://example.com'"]
    origins: set[str] = set()
    problems: list[str] = []
    for entry in configured:
        origin = normalized_origin(entry)
        if origin is None:
            problems.append(
                f"bridgeOrigins: {entry!r} is not an origin (scheme://host[:port], no path, "
                "no '*'); ignored"
            )
        else:
            origins.add(origin)
    return frozenset(origins), problems


def normalized_origin(text: object) -> str | None:
    """`scheme://host[:port]` in lower case as browsers give `MessageEvent.origin`, or None."""
    if not isinstance(text, str):
        return None
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host or "*" in host:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")

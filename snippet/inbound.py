"""The loader's messages (docs/protocol.md, section 1), parsed into typed values."""

import json
from dataclasses import dataclass, field

from snippet.ids import proposed_numeric_id
from snippet.validate import clean_page_context
from snippet.wire import AUTOCAPTURED_TYPES, EVENT_ID, PageContext

RECORD_KINDS = frozenset(
    {"call", "navigate", *AUTOCAPTURED_TYPES, "hide", "cookie_domain", "bridge"}
)


class BadInput(ValueError):
    """A message or record the loader should never have sent; the text says what was wrong."""


@dataclass(frozen=True)
class Boot:
    """What the loader knows at start: the app, heap.load's config, and where the page lives."""

    app_id: str
    config: dict[str, object]
    server: str
    hostname: str
    protocol: str = "https:"
    in_iframe: bool = False
    user_id: str | None = None  # drawn by the loader on a first visit; Python validates it
    # Drawn by the loader for a session Python starts at boot (no live session cookie), so that
    # heap.getSessionId() answers at once and the collector's fallback run picks the same one.
    session_id: str | None = None
    # The visitor's screen, viewport, language and time zone, sent with every event.
    context: PageContext = field(default_factory=lambda: clean_page_context(None))


@dataclass(frozen=True)
class Message:
    """One message from the loader: the page's cookies and the records seen since the last one."""

    cookies: str
    records: list[object]
    boot: Boot | None = None
    seq: int | None = None  # acknowledged with a `handled` op once every record is handled
    beacon_sent: tuple[str, ...] = ()  # event ids an unload beacon delivered


@dataclass(frozen=True)
class Element:
    """One element of a click/change/submit chain, as the loader saw it."""

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    # Text nodes in order, each with the value of its nearest `data-heap-redact-text` up to
    # this element (None: no marker).
    text: list[tuple[str, str | None]] = field(default_factory=list)
    cursor: str = ""


def parse_message(message_json: str) -> Message:
    """Parse one loader message; raise BadInput when its envelope is unusable."""
    try:
        raw = json.loads(message_json)
    except (TypeError, ValueError) as error:
        raise BadInput(f"message is not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise BadInput("message must be a JSON object")
    cookies = raw.get("cookies", "")
    if not isinstance(cookies, str):
        raise BadInput("message 'cookies' must be a string")
    records = raw.get("records", [])
    if not isinstance(records, list):
        raise BadInput("message 'records' must be an array")
    boot = _parse_boot(raw["boot"]) if "boot" in raw else None
    seq = raw.get("seq")
    if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool)):
        raise BadInput("message 'seq' must be a whole number")
    beacon_sent = raw.get("beacon_sent", [])
    if not isinstance(beacon_sent, list) or not all(isinstance(i, str) for i in beacon_sent):
        raise BadInput("message 'beacon_sent' must be an array of event ids")
    return Message(
        cookies=cookies, records=records, boot=boot, seq=seq, beacon_sent=tuple(beacon_sent)
    )


def _parse_boot(raw: object) -> Boot:
    if not isinstance(raw, dict):
        raise BadInput("'boot' must be an object")
    app_id = raw.get("app_id")
    if isinstance(app_id, int) and not isinstance(app_id, bool):
        app_id = str(app_id)
    if not isinstance(app_id, str) or not app_id.strip():
        raise BadInput("'boot.app_id' must be a non-empty string")
    config = raw.get("config") or {}
    if not isinstance(config, dict):
        raise BadInput("'boot.config' must be an object")
    return Boot(
        app_id=app_id.strip(),
        config=config,
        server=_boot_text(raw, "server"),
        hostname=_boot_text(raw, "hostname").lower().rstrip("."),
        protocol=_boot_text(raw, "protocol") or "https:",
        in_iframe=raw.get("in_iframe") is True,
        user_id=proposed_numeric_id(raw.get("user_id")),
        session_id=proposed_numeric_id(raw.get("session_id")),
        context=clean_page_context(raw.get("context")),
    )


def _boot_text(raw: dict[str, object], key: str) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str):
        raise BadInput(f"'boot.{key}' must be a string")
    return value


def record_kind(record: object) -> str:
    """The record's kind, or BadInput naming what is wrong with it."""
    if not isinstance(record, dict):
        raise BadInput("a record must be an object")
    kind = record.get("kind")
    if kind not in RECORD_KINDS:
        raise BadInput(f"unknown record kind {kind!r}")
    assert isinstance(kind, str)
    return kind


def record_time(record: dict[str, object], fallback_ms: float) -> float:
    """The record's observation time in ms, or `fallback_ms` when the loader left it out."""
    time = record.get("time")
    if isinstance(time, int | float) and not isinstance(time, bool) and time > 0:
        return float(time)
    return fallback_ms


def record_id(record: dict[str, object]) -> str | None:
    """The id the loader drew when it observed the record, or None when it has none usable."""
    value = record.get("id")
    return value if isinstance(value, str) and EVENT_ID.fullmatch(value) else None


def record_text(record: dict[str, object], key: str) -> str:
    """A string field of a record; BadInput when it is missing or not a string."""
    value = record.get(key)
    if not isinstance(value, str):
        raise BadInput(f"{record.get('kind')} record needs a string '{key}'")
    return value


def record_page(record: dict[str, object]) -> dict[str, str]:
    """The record's `page` ({url, title, referrer}); missing title/referrer become ''."""
    page = record.get("page")
    if not isinstance(page, dict) or not isinstance(page.get("url"), str):
        raise BadInput(f"{record.get('kind')} record needs a 'page' with a string 'url'")
    return {key: _text(page.get(key)) for key in ("url", "title", "referrer")}


def record_chain(record: dict[str, object]) -> list[Element]:
    """The record's element chain, target first."""
    chain = record.get("chain")
    if not isinstance(chain, list) or not chain:
        raise BadInput(f"{record.get('kind')} record needs a non-empty 'chain'")
    return [_parse_element(raw) for raw in chain]


def record_call(record: dict[str, object]) -> tuple[str, list[object]]:
    """The method name and arguments of a `call` record."""
    method = record_text(record, "method")
    args = record.get("args", [])
    if not isinstance(args, list):
        raise BadInput(f"call record for {method!r} needs an 'args' array")
    return method, args


def _parse_element(raw: object) -> Element:
    if not isinstance(raw, dict) or not isinstance(raw.get("tag"), str):
        raise BadInput("each chain element needs a string 'tag'")
    attrs = raw.get("attrs") or {}
    if not isinstance(attrs, dict):
        raise BadInput("a chain element's 'attrs' must be an object")
    text = raw.get("text") or []
    if not isinstance(text, list):
        raise BadInput("a chain element's 'text' must be an array")
    return Element(
        tag=str(raw["tag"]).lower(),
        attrs={str(name).lower(): _text(value) for name, value in attrs.items()},
        text=[_text_segment(segment) for segment in text],
        cursor=_text(raw.get("cursor")),
    )


def _text_segment(raw: object) -> tuple[str, str | None]:
    if isinstance(raw, list) and len(raw) == 2 and isinstance(raw[0], str):
        marker = raw[1]
        if marker is None or isinstance(marker, str):
            return raw[0], marker
        return raw[0], ""  # a marker of no known shape redacts: err on the safe side
    raise BadInput("each text segment must be [text, redact_marker_value_or_null]")


def _text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)

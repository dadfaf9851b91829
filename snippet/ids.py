"""Heap-style ids: decimal user, session and pageview ids, and hex event ids."""

import hashlib
import secrets

_ID_LOW = 10**14  # 15 digits at least, like Heap's
_ID_HIGH = 2**53  # below 2**53, so the id survives a JavaScript number


def new_numeric_id() -> str:
    """A fresh user, session or pageview id: a decimal string of 15-16 digits below 2**53."""
    return str(_ID_LOW + secrets.randbelow(_ID_HIGH - _ID_LOW))


def derived_numeric_id(purpose: str, record_id: str) -> str:
    """A pageview or session id that follows from the record that began it, so that the
    collector's fallback (docs/protocol.md, section 7) and a later replay in the browser give
    the same one: 15-16 digits below 2**53, like new_numeric_id."""
    digest = hashlib.sha256(f"{purpose}:{record_id}".encode()).digest()
    return str(_ID_LOW + int.from_bytes(digest[:8], "big") % (_ID_HIGH - _ID_LOW))


def proposed_numeric_id(value: object) -> str | None:
    """A user or session id the loader drew and proposes, if it has new_numeric_id's form."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        return None
    return value if _ID_LOW <= int(value) < _ID_HIGH and value[0] != "0" else None


def new_event_id() -> str:
    """A fresh event id: 32 lowercase hex characters."""
    return secrets.token_hex(16)


def adopt_numeric_id(value: object) -> str | None:
    """A stored id as a decimal string (trackerVersion 3.0 held numbers), or None if unusable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    elif isinstance(value, str):
        text = value.strip()
    else:
        return None
    if not text.isdigit() or not text.isascii() or int(text) >= _ID_HIGH:
        return None
    return str(int(text))  # "0123" and "123" are one user

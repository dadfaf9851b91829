"""The JSON text of stored values, for every backend: one encoding, and how reads decode it."""

import json
from typing import Any

import orjson


def dumps(value: object) -> str:
    """Compact JSON text. orjson writes what json.dumps would (values are validated finite, so
    no NaN), several times faster; json takes what orjson refuses (whole numbers past 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads_or_none(text: str | None) -> Any:
    """The value of a JSON column that may be NULL."""
    return None if text is None else json.loads(text)


def json_object(text: object) -> dict[str, object]:
    """A stored JSON object; {} when the column is empty or not an object."""
    if not isinstance(text, str | bytes):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}

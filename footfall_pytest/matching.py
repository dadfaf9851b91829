"""Filters on exported rows (DESIGN.md contract 4) and the table of nearest events a failure shows.

A filter names a field by a dotted path (`target.text`, `page.path`, `properties.plan`); as a
keyword argument, `__` stands for the dot (`page__path="/cart"`). Its value is compared with
`==`, or searched when it is a compiled regular expression, or called when it is a function.
"""

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

Row = dict[str, Any]
# Short names for the fields event filters use most: wait_for(type="click", text="Buy").
EVENT_SHORTCUTS = {"text": "target.text", "path": "page.path"}
TABLE_ROWS = 8
TEXT_WIDTH = 28


class _Missing:
    def __repr__(self) -> str:
        return "(no such field)"


MISSING: Any = _Missing()


def filter_paths(filters: Mapping[str, object], shortcuts: Mapping[str, str]) -> dict[str, object]:
    """The filters keyed by dotted path: shortcuts expanded, `__` read as `.`."""
    by_path: dict[str, object] = {}
    for key, expected in filters.items():
        path = shortcuts.get(key, key.replace("__", "."))
        by_path[path] = expected
    return by_path


def field_value(row: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or MISSING. Keys may hold dots themselves (Heap flattens
    nested properties as `a.b`), so the longest key that matches is taken first."""
    value: Any = row
    parts = path.split(".")
    while parts:
        if not isinstance(value, Mapping):
            return MISSING
        for cut in range(len(parts), 0, -1):
            key = ".".join(parts[:cut])
            if key in value:
                value, parts = value[key], parts[cut:]
                break
        else:
            return MISSING
    return value


def value_matches(actual: Any, expected: object) -> bool:
    """Whether one field's value satisfies one filter value."""
    if actual is MISSING:
        return False
    if isinstance(expected, re.Pattern):
        return isinstance(actual, str) and expected.search(actual) is not None
    if callable(expected):
        return bool(expected(actual))
    return bool(actual == expected)


def matched_count(row: Mapping[str, Any], filters: Mapping[str, object]) -> int:
    """How many of the filters (keyed by path) the row satisfies."""
    return sum(value_matches(field_value(row, path), want) for path, want in filters.items())


def select(rows: Sequence[Row], filters: Mapping[str, object]) -> list[Row]:
    """The rows that satisfy every filter (keyed by path), in their order."""
    return [row for row in rows if matched_count(row, filters) == len(filters)]


def describe_filters(filters: Mapping[str, object]) -> str:
    """`type='click', target.text='Buy'`, for messages."""
    return ", ".join(f"{path}={_describe_value(want)}" for path, want in filters.items())


def unknown_paths(rows: Sequence[Row], filters: Mapping[str, object]) -> list[str]:
    """The filter paths no row has at all (a misspelt field never matches, silently)."""
    return [
        path for path in filters if rows and all(field_value(row, path) is MISSING for row in rows)
    ]


def nearest_events_table(events: Sequence[Row], filters: Mapping[str, object]) -> str:
    """The events that satisfy most of the filters (latest first among equals), as a table:
    how many filters matched, type, name, target text, path, time."""
    order = sorted(
        range(len(events)), key=lambda index: (-matched_count(events[index], filters), -index)
    )
    header = ("matched", "type", "name", "target.text", "page.path", "time")
    lines = [header]
    for index in order[:TABLE_ROWS]:
        event = events[index]
        lines.append(
            (
                f"{matched_count(event, filters)}/{len(filters)}",
                str(event.get("type")),
                _cut(str(event.get("name"))),
                _cut(_text(field_value(event, "target.text"))),
                _cut(_text(field_value(event, "page.path"))),
                _clock(event.get("time")),
            )
        )
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    table = [
        "  " + "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in lines
    ]
    if len(events) > TABLE_ROWS:
        table.append(f"  ... and {len(events) - TABLE_ROWS} more")
    return "\n".join(line.rstrip() for line in table)


def _describe_value(want: object) -> str:
    if isinstance(want, re.Pattern):
        return f"re.compile({want.pattern!r})"
    if callable(want):
        return getattr(want, "__name__", "<function>")
    return repr(want)


def _text(value: Any) -> str:
    return "" if value is MISSING or value is None else str(value)


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TEXT_WIDTH else text[: TEXT_WIDTH - 1] + "…"


def epoch_ms(iso_time: str) -> int:
    """An exported ISO 8601 time (`collector.export.iso_time`) as epoch milliseconds."""
    return round(datetime.fromisoformat(iso_time.replace("Z", "+00:00")).timestamp() * 1000)


def _clock(iso_time: object) -> str:
    """The time of day of an exported ISO 8601 time, to the millisecond."""
    if not isinstance(iso_time, str):
        return ""
    moment = datetime.fromisoformat(iso_time.replace("Z", "+00:00"))
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"

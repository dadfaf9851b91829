"""The export contract (DESIGN.md, contract 4): stored rows as JSON-lines objects."""

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

from collector.context import CONTEXT_FIELDS
from collector.storage.base import StoredEvent, StoredUser

NO_CONTEXT = dict.fromkeys(CONTEXT_FIELDS)  # a server-side event's: nothing of a visitor


def iso_time(ms: int | None) -> str | None:
    """Epoch milliseconds as ISO 8601 UTC with milliseconds: 2023-11-14T22:13:20.000Z."""
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def exported_event(event: StoredEvent) -> dict[str, object]:
    """One line of `footfall events`."""
    return {
        "event_id": event.event_id,
        "app_id": event.app_id,
        "user_id": event.user_id,
        "identity": event.identity,
        "session_id": event.session_id,
        "pageview_id": event.pageview_id,
        "type": event.type,
        "name": event.name,
        "time": iso_time(event.time),
        "properties": event.properties,
        "page": event.page,
        "target": event.target,
        "source": event.source,
        "context": NO_CONTEXT if event.context is None else {**NO_CONTEXT, **event.context},
    }


def exported_user(user: StoredUser) -> dict[str, object]:
    """One line of `footfall users`."""
    return {
        "user_id": user.user_id,
        "identity": user.identity,
        "properties": user.properties,
        "merged_user_ids": user.merged_user_ids,
        "first_seen": iso_time(user.first_seen),
        "last_seen": iso_time(user.last_seen),
        "initial_properties": user.initial_properties,
        "account_properties": user.account_properties,
    }


def write_json_lines(rows: Iterable[dict[str, object]], out: TextIO) -> None:
    """One compact JSON object per line."""
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")

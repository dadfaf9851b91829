"""Deletion is erasure, on every backend: once a request reports `complete`, no value of the
deleted users is left anywhere in the backend's files (scanned raw, in several encodings), the
deletion log included; the other users stay whole; a retried event of a deleted user stays out.

Every value is generated per run, so a value found can only come from this test's writes."""

import json
import secrets
from dataclasses import dataclass

import pytest

from collector.storage.base import (
    Identify,
    NewEvent,
    Operation,
    SetUserProperties,
    Storage,
)
from tests.run_async import run_async
from tests.storage.conftest import stored_events, stored_users, write
from tests.storage.operations import APP, T0


def encodings(value: str) -> set[bytes]:
    """The byte strings a backend could keep `value` as: UTF-8, UTF-16 either way, and the JSON
    string bodies of an ASCII-escaping and a raw encoder."""
    return {
        value.encode("utf-8"),
        value.encode("utf-16-le"),
        value.encode("utf-16-be"),
        json.dumps(value)[1:-1].encode(),
        json.dumps(value, ensure_ascii=False)[1:-1].encode("utf-8"),
    }


@dataclass
class Person:
    """One person's generated values and the operations that store them: two devices merged by
    an identify, pages, a click, properties, a refused second identity, a server identify."""

    user_id: str
    other_device: str
    server_user_id: str
    identity: str
    refused_identity: str
    values: list[str]
    operations: list[Operation]
    event_ids: list[str]


def generated_person(label: str) -> Person:
    token = secrets.token_hex(6)
    # User ids as the tracker makes them: 16 digits, below 2**53.
    user_id, other_device, server_user_id = (
        str(secrets.randbelow(2**53 - 10**15) + 10**15) for _ in range(3)
    )
    identity = f"{label}.{token}@Ärger.example"
    refused_identity = f'{label}-other-"{token}"'
    url = f"https://shop.example/{label}/{token}?q=日本{token}"
    title = f"Über {label} {token} — ✓"
    referrer = f"https://ref.example/{token}\\back"
    text = f"Buy {label} {token} \u00a0now"
    event_name = f"Checkout {label} {token}"
    prop_key, prop_value = f"plan_{token}", f"Pro {label} ☃ {token}"
    page = {"url": url, "title": title, "referrer": referrer, "path": f"/{label}/{token}"}
    target = {"tag": "button", "text": text, "hierarchy": f"@button;#b{token};|"}
    session = {"landing_page": url, "initial_referrer": referrer}
    # Ids of events and records stay as tombstones: none may contain a value of the person.
    event_ids = [secrets.token_hex(16) for _ in range(4)]
    record_ids = [secrets.token_hex(16) for _ in range(4)]

    def event(n: int, user: str, type_: str, name: str, **fields: object) -> NewEvent:
        return NewEvent(
            event_id=event_ids[n], type=type_, name=name, time=T0 + n, source="web",
            user_id=user, session_id=f"{n}{token}", pageview_id=token, page=page,
            session=session, **fields,  # type: ignore[arg-type]
        )  # fmt: skip

    operations: list[Operation] = [
        event(0, user_id, "pageview", "pageview"),
        Identify(record_ids[0], user_id, identity, T0 + 1),
        event(1, other_device, "click", "click", target=target),
        event(2, other_device, "custom", event_name, properties={prop_key: prop_value}),
        Identify(record_ids[1], other_device, identity, T0 + 3),
        SetUserProperties(record_ids[2], {prop_key: prop_value}, T0 + 4, user_id=user_id),
        Identify(record_ids[3], user_id, refused_identity, T0 + 5),  # refused: a warning
        Identify(None, server_user_id, identity, T0 + 6, source="server"),
        event(3, server_user_id, "custom", event_name),
    ]
    values = [user_id, other_device, server_user_id, identity, refused_identity, url, title]
    values += [referrer, text, event_name, prop_key, prop_value, token]
    return Person(
        user_id, other_device, server_user_id, identity, refused_identity, values, operations,
        event_ids,
    )  # fmt: skip


def needles(person: Person) -> set[bytes]:
    return {needle for value in person.values for needle in encodings(value)}


def remaining(storage: Storage, person: Person) -> set[bytes]:
    return run_async(storage.remaining_bytes(sorted(needles(person))))


def delete(storage: Storage, *users: dict[str, str]) -> str:
    request_id = run_async(storage.request_deletion(APP, list(users)))
    assert run_async(storage.find_deletion(APP, request_id)).status == "pending"  # type: ignore[union-attr]
    run_async(storage.run_deletion(request_id))
    return request_id


@pytest.mark.parametrize("named_by", ["identity", "canonical user_id", "merged user_id"])
def test_a_complete_deletion_leaves_no_value_of_the_user(storage: Storage, named_by: str) -> None:
    kate, jack = generated_person("kate"), generated_person("jack")
    for person in (kate, jack):
        statuses = write(storage, APP, *person.operations)
        assert statuses.count("refused") == 1 and statuses.count("stored") == 8
    found_before = remaining(storage, kate)
    assert all(encodings(value) & found_before for value in kate.values)  # the scan sees them

    named = {
        "identity": {"identity": kate.identity},
        "canonical user_id": {"user_id": kate.user_id},
        "merged user_id": {"user_id": kate.other_device},
    }[named_by]
    request_id = delete(storage, named)

    found = run_async(storage.find_deletion(APP, request_id))
    assert found is not None and found.status == "complete"
    assert remaining(storage, kate) == set()
    found_after = remaining(storage, jack)
    assert all(encodings(value) & found_after for value in jack.values)
    [jack_user] = stored_users(storage, APP)
    merged = sorted([jack.other_device, jack.server_user_id])
    assert (jack_user.identity, jack_user.merged_user_ids) == (jack.identity, merged)
    assert {event.event_id for event in stored_events(storage, APP)} == set(jack.event_ids)
    assert [warning.detail["user_id"] for warning in run_async(storage.warnings(APP))] == [
        jack.user_id
    ]


def test_a_retried_event_of_a_deleted_user_is_a_duplicate_and_brings_nobody_back(
    storage: Storage,
) -> None:
    kate = generated_person("kate")
    write(storage, APP, *kate.operations)
    delete(storage, {"identity": kate.identity})
    retried = [op for op in kate.operations if isinstance(op, NewEvent)]
    assert write(storage, APP, *retried) == ["duplicate"] * len(retried)
    assert stored_users(storage, APP) == [] and stored_events(storage, APP) == []
    assert remaining(storage, kate) == set()


def test_a_deletion_naming_nobody_known_completes_and_changes_nothing(storage: Storage) -> None:
    jack = generated_person("jack")
    write(storage, APP, *jack.operations)
    before = stored_events(storage, APP), stored_users(storage, APP)
    request_id = delete(storage, {"identity": "nobody@example.com"}, {"user_id": "123"})
    assert run_async(storage.find_deletion(APP, request_id)).status == "complete"  # type: ignore[union-attr]
    assert (stored_events(storage, APP), stored_users(storage, APP)) == before
    assert run_async(storage.find_deletion("another-app", request_id)) is None


def test_deletion_requests_are_pending_until_run_and_listed_for_a_restart(
    storage: Storage,
) -> None:
    first = run_async(storage.request_deletion(APP, [{"user_id": "1"}]))
    second = run_async(storage.request_deletion(APP, [{"identity": "x"}]))
    assert run_async(storage.pending_deletions()) == [first, second]
    run_async(storage.run_deletion(first))
    run_async(storage.run_deletion(first))  # again: nothing left to do
    assert run_async(storage.pending_deletions()) == [second]

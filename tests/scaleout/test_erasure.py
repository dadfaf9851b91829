"""Deletion is erasure on the scale-out pair: once a deletion is complete, a byte scan of
ClickHouse's and PostgreSQL's data directories finds none of the deleted user's values, while
another user's values are still found by the same scan (so the scan can see what is there)."""

import random
import string
from collections.abc import Iterator

import pytest

from collector.run_sync import collected
from collector.storage import open_storage
from collector.storage.base import (
    Identify,
    NewEvent,
    Operation,
    SetUserProperties,
    Storage,
    StorageError,
)
from tests.run_async import run_async
from tests.scaleout.byte_scan import files_holding
from tests.services import ClickHouseServer, PostgresServer, running_postgres

APP = "erasure"
T0 = 1_700_000_000_000
# Letters of several scripts and the separators identities and URLs are made of; no character
# JSON escapes, so a value's UTF-8 bytes are what both servers store.
ALPHABET = string.ascii_letters + string.digits + "-_.@+:/ éüßøçñЖЯλπ日本語"


def generated_value(rng: random.Random, label: str) -> str:
    body = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(10, 24)))
    return f"{label}{rng.randrange(10**12):012d}{body}"


@pytest.fixture
def storage(
    clickhouse_server: ClickHouseServer, postgres_server: PostgresServer
) -> Iterator[Storage]:
    store = open_storage(
        clickhouse_server.database_url(clickhouse_server.create_database()),
        postgres_server.database_url(postgres_server.create_database()),
    )
    yield store
    run_async(store.close())


def person(rng: random.Random, n: int) -> tuple[dict[str, str], list[Operation]]:
    """A person's values (two devices' user ids, identity, event name, property, URL, title,
    user property) and the operations that store them: the second device merges into the first."""
    values = {
        "user_id": str(rng.randrange(10**15, 10**16)),
        "second_user_id": str(rng.randrange(10**15, 10**16)),
        "identity": generated_value(rng, "id"),
        "event_name": generated_value(rng, "ev"),
        "property": generated_value(rng, "pr"),
        "path": generated_value(rng, "pa").replace(" ", "-"),
        "title": generated_value(rng, "ti"),
        "user_property": generated_value(rng, "up"),
    }
    page = {"url": f"https://shop.example{values['path']}", "path": values["path"],
            "title": values["title"], "domain": "shop.example", "query": "", "hash": "",
            "referrer": ""}  # fmt: skip
    operations: list[Operation] = []
    for device, user_id in enumerate((values["user_id"], values["second_user_id"])):
        operations += [
            NewEvent(f"{n:08x}{device:08x}{0:016x}", "pageview", "pageview", T0 + n, "web",
                     user_id=user_id, page=page),
            NewEvent(f"{n:08x}{device:08x}{1:016x}", "custom", values["event_name"], T0 + n,
                     "web", user_id=user_id, properties={"note": values["property"]}, page=page),
            Identify(f"{n:08x}{device:08x}{2:016x}", user_id, values["identity"], T0 + n),
        ]  # fmt: skip
    operations.append(
        SetUserProperties(None, {"plan": values["user_property"]}, T0 + n, values["user_id"])
    )
    return values, operations


def test_a_complete_deletion_leaves_no_deleted_value_in_either_servers_files(
    storage: Storage, clickhouse_server: ClickHouseServer, postgres_server: PostgresServer
) -> None:
    rng = random.Random()
    people = [person(rng, n) for n in range(40)]
    for _, operations in people:
        run_async(storage.write(APP, operations))
    deleted, kept = people[7][0], people[30][0]

    def found(values: dict[str, str]) -> set[str]:
        postgres_server.connect().execute("CHECKPOINT")  # the rows into the table files too
        files = files_holding(clickhouse_server.data_dir, values.values())
        files += files_holding(postgres_server.data_dir, values.values())
        return {value for _, value in files}

    assert found(deleted) == set(deleted.values())  # the scan sees every value before

    request = run_async(storage.request_deletion(APP, [{"identity": deleted["identity"]}]))
    run_async(storage.run_deletion(request))
    found_request = run_async(storage.find_deletion(APP, request))
    assert found_request is not None and found_request.status == "complete"

    assert found(deleted) == set()
    assert found(kept) == set(kept.values())
    users = {user.identity for user in collected(storage.users(APP))}
    assert run_async(storage.remaining_bytes([v.encode() for v in deleted.values()])) == set()
    assert deleted["identity"] not in users and kept["identity"] in users


def test_a_deletion_stays_pending_where_the_wal_would_keep_the_values(
    clickhouse_server: ClickHouseServer,
) -> None:
    with running_postgres("wal_recycle=on") as recycling:  # PostgreSQL's default
        storage = open_storage(
            clickhouse_server.database_url(clickhouse_server.create_database()),
            recycling.database_url(recycling.create_database()),
        )
        try:
            values, operations = person(random.Random(), 1)
            run_async(storage.write(APP, operations))
            request = run_async(storage.request_deletion(APP, [{"user_id": values["user_id"]}]))
            with pytest.raises(StorageError, match="set wal_recycle = off"):
                run_async(storage.run_deletion(request))
            found_request = run_async(storage.find_deletion(APP, request))
            assert found_request is not None and found_request.status == "pending"
        finally:
            run_async(storage.close())

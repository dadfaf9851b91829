"""Account properties (heap.addAccountProperties): kept on the user apart from its properties,
moved by a merge as user properties are, applied once per record id, erased with the user."""

from dataclasses import replace

from collector.storage.base import SetUserProperties, Storage
from tests.run_async import run_async
from tests.storage.conftest import stored_users, write
from tests.storage.operations import APP, identify, pageview, set_props


def account(user_id: str, n: int, **properties: str | int) -> SetUserProperties:
    return replace(set_props(user_id, n, **properties), scope="account")


def test_account_properties_are_kept_apart_and_merged_like_user_properties(
    storage: Storage,
) -> None:
    run_async(storage.ensure_app(APP, "Shop"))
    statuses = write(
        storage,
        APP,
        pageview("11", 1),
        account("11", 2, Tier="Gold", Seats=5),
        set_props("11", 3, Tier="user's own"),
        account("11", 2, Tier="a retry of record 2"),
        identify("11", "kate", 4),
        pageview("22", 5),  # kate on another device, with an account property of its own
        account("22", 6, Tier="Silver", Region="EU"),
        identify("22", "kate", 7),
    )
    assert statuses == [*["stored"] * 3, "duplicate", *["stored"] * 4]
    [kate] = stored_users(storage, APP)
    assert kate.user_id == "11" and kate.merged_user_ids == ["22"]
    assert kate.properties == {"Tier": "user's own"}
    assert kate.account_properties == {"Tier": "Gold", "Seats": 5, "Region": "EU"}  # holder wins


def test_account_properties_are_erased_with_their_user(storage: Storage) -> None:
    run_async(storage.ensure_app(APP, "Shop"))
    write(storage, APP, pageview("31", 1), account("31", 2, Owner="zq-owner-7x"))
    deletion = run_async(storage.request_deletion(APP, [{"user_id": "31"}]))
    run_async(storage.run_deletion(deletion))
    assert stored_users(storage, APP) == []
    assert run_async(storage.remaining_bytes([b"zq-owner-7x"])) == set()

"""Contract: an event's context is stored as written; Heap's initial user properties come from a
user's first web event and are never overwritten (a merge keeps the holder's); an app may be an
environment of another app's project, and a deletion covers every environment."""

import pytest

from collector.storage.base import SetUserProperties, Storage
from tests.collector.context_cases import IPHONE_IN_LONDON
from tests.run_async import run_async
from tests.storage.conftest import stored_events, stored_users, write
from tests.storage.operations import APP, T0, identify, pageview

CONTEXT = {
    "screen": {"width": 390, "height": 844},
    "viewport": {"width": 390, "height": 664},
    "language": "en-GB",
    "time_zone": "Europe/London",
    **IPHONE_IN_LONDON,
}


def visit(user_id: str, n: int, city: str, landing: str) -> object:
    """A web pageview from `city`, in a session that landed on `landing`."""
    session = {"landing_page": landing, "initial_referrer": "", "utm_source": f"src-{n}"}
    return pageview(user_id, n, session=session, context={**CONTEXT, "city": city})


def test_an_events_context_is_stored_as_written(storage: Storage) -> None:
    write(storage, APP, pageview("11", 1, context=CONTEXT), pageview("11", 2))
    assert [e.context for e in stored_events(storage, APP)] == [CONTEXT, None]


def test_initial_properties_come_from_the_first_web_event_and_never_change(
    storage: Storage,
) -> None:
    later_first = visit("21", 5, "Leeds", "https://shop.example/later")
    write(storage, APP, later_first, visit("21", 2, "London", "https://shop.example/first"))
    write(storage, APP, visit("21", 1, "York", "https://shop.example/older"))  # a later write
    user_properties = SetUserProperties(None, {"Initial City": "Paris"}, T0 + 9, user_id="21")
    write(storage, APP, user_properties)
    [user] = stored_users(storage, APP)
    assert user.initial_properties["Initial City"] == "London"  # the first write's earliest
    assert user.initial_properties["Initial Landing Page"] == "https://shop.example/first"
    assert user.initial_properties["Initial UTM Source"] == "src-2"
    assert user.properties == {"Initial City": "Paris"}  # a property of its own, apart


def test_a_merge_keeps_the_holders_initial_properties_or_takes_the_absorbed_users(
    storage: Storage,
) -> None:
    server_known = SetUserProperties(None, {"plan": "Pro"}, T0, identity="mia")
    write(storage, APP, server_known)  # a user with no web event: no initial properties
    assert stored_users(storage, APP)[0].initial_properties == {}
    write(storage, APP, visit("31", 1, "Sydney", "https://a.example/"), identify("31", "mia", 2))
    write(storage, APP, visit("32", 3, "London", "https://b.example/"), identify("32", "mia", 4))
    [mia] = stored_users(storage, APP)
    assert mia.identity == "mia" and sorted(mia.merged_user_ids) == ["31", "32"]
    assert mia.initial_properties["Initial City"] == "Sydney"
    assert mia.properties == {"plan": "Pro"}


def test_a_server_side_event_sets_no_initial_properties(storage: Storage) -> None:
    server_event = pageview("41", 1, session={"landing_page": "x"})
    server_event.source = "server"
    write(storage, APP, server_event)
    assert stored_users(storage, APP)[0].initial_properties == {}


def test_a_deletion_covers_every_environment_of_the_project(storage: Storage) -> None:
    main = run_async(storage.create_app("Shop", "shop"))
    staging = run_async(storage.create_app("Shop staging", "shop-staging", "shop"))
    # Joining through an environment joins its project.
    preview = run_async(storage.create_app("Shop preview", "shop-preview", "shop-staging"))
    other = run_async(storage.create_app("Blog", "blog"))
    assert main.project_id == staging.project_id == preview.project_id == "shop"
    assert other.project_id == "blog"
    found = run_async(storage.find_app("shop-preview"))
    assert found is not None and found.project_id == "shop"
    with pytest.raises(ValueError, match="no app 'nowhere' to join"):
        run_async(storage.create_app("Lost", "lost", "nowhere"))
    for app in (main, staging, preview, other):
        write(storage, app.app_id, pageview("51", 1), identify("51", "gone", 2), pageview("52", 3))
    request_id = run_async(storage.request_deletion("shop", [{"identity": "gone"}]))
    run_async(storage.run_deletion(request_id))
    for app in (main, staging, preview):
        assert [u.user_id for u in stored_users(storage, app.app_id)] == ["52"]
    assert sorted(u.user_id for u in stored_users(storage, "blog")) == ["51", "52"]

"""What every backend reads back: the exports (DESIGN.md contract 4) and the dashboard's reads,
with merged users resolved to their canonical user."""

from collections.abc import Callable

import pytest

from collector.dashboard.chart import Window
from collector.storage.base import Identify, NewEvent, Storage
from tests.run_async import run_async
from tests.storage.conftest import stored_events, stored_users, write
from tests.storage.operations import APP, T0, identify, set_props

OTHER_APP = "43"


def event(
    n: int, user_id: str, type_: str = "custom", name: str = "Buy", **fields: object
) -> NewEvent:
    return NewEvent(
        event_id=f"{n:032x}", type=type_, name=name, time=T0 + n, source="web", user_id=user_id,
        session_id=str(fields.pop("session", "s1")), pageview_id="p", **fields,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture
def shop(storage: Storage) -> Storage:
    """Kate (user 11, identified) browsed on two devices (22 merged into her), Bob (33) is
    anonymous; another app has an event of its own."""
    write(
        storage, APP,
        event(1, "11", "pageview", "pageview", session="s1",
              page={"url": "https://shop.example/", "title": "Shop ✓"}),
        event(2, "11", "click", "click", session="s1",
              target={"tag": "a", "text": "Buy", "hierarchy": "@a;|"}),
        identify("11", "kate@example.com", 3),
        event(4, "22", name="Add To Cart", session="s2",
              properties={"big": 2**70, "price": 9.5, "ok": True, "note": "日本"}),
        event(5, "33", name="Browse", session="s3"),
        set_props("22", 6, plan="Pro"),
        identify("22", "kate@example.com", 7),
        event(8, "22", name="Checkout", session="s2"),
        set_props("33", 9, plan="Free"),
    )  # fmt: skip
    write(storage, OTHER_APP, event(1, "11", name="Elsewhere"))
    return storage


def test_the_events_export_names_each_events_canonical_user(shop: Storage) -> None:
    events = stored_events(shop, APP)
    assert [(e.name, e.user_id, e.identity) for e in events] == [
        ("pageview", "11", "kate@example.com"),
        ("click", "11", "kate@example.com"),
        ("Add To Cart", "11", "kate@example.com"),
        ("Browse", "33", None),
        ("Checkout", "11", "kate@example.com"),
    ]
    assert events[0].page == {"url": "https://shop.example/", "title": "Shop ✓"}
    assert events[1].target == {"tag": "a", "text": "Buy", "hierarchy": "@a;|"}
    assert events[2].properties == {"big": 2**70, "price": 9.5, "ok": True, "note": "日本"}
    assert (events[2].session_id, events[2].source, events[2].time) == ("s2", "web", T0 + 4)
    assert len(stored_events(shop)) == 6  # every app
    assert [e.name for e in stored_events(shop, OTHER_APP)] == ["Elsewhere"]


def test_the_users_export_lists_canonical_users_by_first_seen(shop: Storage) -> None:
    users = stored_users(shop, APP)
    assert [(u.user_id, u.identity, u.merged_user_ids) for u in users] == [
        ("11", "kate@example.com", ["22"]),
        ("33", None, []),
    ]
    kate, bob = users
    assert kate.properties == {"plan": "Pro"} and bob.properties == {"plan": "Free"}
    assert (kate.first_seen, kate.last_seen) == (T0 + 1, T0 + 8)
    assert (bob.first_seen, bob.last_seen) == (T0 + 5, T0 + 9)


def test_totals_count_events_and_canonical_users_per_app(shop: Storage) -> None:
    totals = run_async(shop.app_totals())
    assert (totals[APP].events, totals[APP].users) == (5, 2)
    assert (totals[OTHER_APP].events, totals[OTHER_APP].users) == (1, 1)


@pytest.mark.parametrize(
    ("named", "canonical"),
    [("22", "11"), ("11", "11"), ("kate@example.com", "11"), ("33", "33"), ("nobody", None)],
)
def test_any_id_or_identity_names_its_canonical_user(
    shop: Storage, named: str, canonical: str | None
) -> None:
    assert run_async(shop.canonical_user_id(APP, named)) == canonical


def test_recent_events_newest_first_filtered_and_paged(shop: Storage) -> None:
    def names(**filters: object) -> list[str]:
        return [row.name for row in run_async(shop.recent_events(APP, **filters))]  # type: ignore[arg-type]

    assert names() == ["Checkout", "Browse", "Add To Cart", "click", "pageview"]
    assert names(event_type="custom") == ["Checkout", "Browse", "Add To Cart"]
    assert names(name_contains="CART") == ["Add To Cart"]  # any case
    assert names(user_id="11") == ["Checkout", "Add To Cart", "click", "pageview"]
    assert names(user_id="33", event_type="custom") == ["Browse"]
    first_page = run_async(shop.recent_events(APP, limit=2))
    cursor = (first_page[-1].time, first_page[-1].event_id)
    assert names(before=cursor, limit=2) == ["Add To Cart", "click"]
    [checkout] = run_async(shop.recent_events(APP, limit=1))
    assert (checkout.user_id, checkout.identity, checkout.user_label) == (
        "11", "kate@example.com", "kate@example.com"
    )  # fmt: skip


def test_events_by_id_come_newest_first_and_only_of_the_app(shop: Storage) -> None:
    ids = [f"{n:032x}" for n in (1, 5, 4)]
    assert [row.name for row in run_async(shop.events_by_id(APP, ids))] == [
        "Browse", "Add To Cart", "pageview"
    ]  # fmt: skip
    assert [row.name for row in run_async(shop.events_by_id(OTHER_APP, ids))] == ["Elsewhere"]
    assert run_async(shop.events_by_id(APP, [])) == []


def test_users_list_most_recent_first_with_counts_and_search(shop: Storage) -> None:
    users, total = run_async(shop.list_users(APP, search=None, limit=10, offset=0))
    assert total == 2
    assert [(u.user_id, u.events, u.label) for u in users] == [
        ("33", 1, "User 33"),
        ("11", 4, "kate@example.com"),
    ]
    assert run_async(shop.list_users(APP, search=None, limit=1, offset=1))[0][0].user_id == "11"
    for search, expected in [("kate", ["11"]), ("3", ["33"]), ("22", []), ("zzz", [])]:
        found, count = run_async(shop.list_users(APP, search=search, limit=10, offset=0))
        assert ([u.user_id for u in found], count) == (expected, len(expected))


def test_find_user_tells_a_merged_id_where_it_went(shop: Storage) -> None:
    kate = run_async(shop.find_user(APP, "11"))
    assert kate is not None and (kate.identity, kate.events, kate.merged_into) == (
        "kate@example.com", 4, None
    )  # fmt: skip
    merged = run_async(shop.find_user(APP, "22"))
    assert merged is not None and merged.merged_into == "11"
    assert run_async(shop.find_user(APP, "99")) is None
    assert run_async(shop.merged_user_ids(APP, "11")) == ["22"]
    assert run_async(shop.merged_user_ids(APP, "33")) == []


def test_a_timeline_pages_sessions_newest_first_with_their_events_in_order(
    shop: Storage,
) -> None:
    sessions, total = run_async(shop.user_sessions(APP, "11", limit=10, offset=0))
    assert total == 2
    assert [(s.session_id, [e.name for e in s.events]) for s in sessions] == [
        ("s2", ["Add To Cart", "Checkout"]),
        ("s1", ["pageview", "click"]),
    ]
    assert (sessions[0].start, sessions[0].end) == (T0 + 4, T0 + 8)
    older, _ = run_async(shop.user_sessions(APP, "11", limit=1, offset=1))
    assert [s.session_id for s in older] == ["s1"]


def test_event_counts_fill_the_buckets_of_a_window(shop: Storage) -> None:
    window = Window(start_ms=T0 + 2, bucket_ms=3, buckets=2)  # times T0+2 to T0+7
    assert run_async(shop.event_counts(APP, window)) == [2, 1]  # events at 2, 4 | 5


def test_the_server_identify_gives_an_identity_to_at_most_ten_user_ids_a_month(
    storage: Storage,
) -> None:
    def server_identify(user_id: str) -> str:
        op = Identify(None, user_id, "kate", T0, source="server")
        return write(storage, APP, op)[0]

    statuses = [server_identify(str(100 + n)) for n in range(11)]
    assert statuses == ["stored"] * 10 + ["refused"]
    assert server_identify("100") == "stored"  # one of the ten again
    [kate] = stored_users(storage, APP)
    assert len(kate.merged_user_ids) == 9
    assert [w.kind for w in run_async(storage.warnings(APP))] == ["identify_monthly_limit"]


def test_reads_of_an_empty_storage(open_shared: Callable[[], Storage]) -> None:
    empty = open_shared()
    assert stored_events(empty) == [] and stored_users(empty) == []
    assert run_async(empty.app_totals()) == {}
    assert run_async(empty.recent_events(APP)) == []
    assert run_async(empty.list_users(APP, search=None, limit=5, offset=0)) == ([], 0)
    assert run_async(empty.user_sessions(APP, "11", limit=5, offset=0)) == ([], 0)

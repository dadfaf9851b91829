"""Heap's server-side APIs over real HTTP: track, add_user_properties, identify, rate limits."""

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.collector.wire import batch, event, identify, json_values
from tests.live_server import LiveServer, run_cli, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with start_server(tmp_path_factory.mktemp("server-api")) as live:
        yield live


def new_app(server: LiveServer) -> str:
    created = run_cli("apps", "create", "--name", "API", "--db", str(server.db_path))
    return str(created[0]["app_id"])


def post(server: LiveServer, path: str, body: object) -> httpx.Response:
    return httpx.post(server.url + path, json=body, timeout=30)


def events(server: LiveServer, app_id: str) -> list[dict]:
    return run_cli("events", "--db", str(server.db_path), "--app", app_id)


def users(server: LiveServer, app_id: str) -> list[dict]:
    return run_cli("users", "--db", str(server.db_path), "--app", app_id)


def test_track_single_stores_a_server_custom_event(server: LiveServer) -> None:
    app_id = new_app(server)
    answer = post(
        server,
        "/api/track",
        {
            "app_id": app_id,
            "identity": "alice@example.com",
            "event": "Refund",
            "properties": {"amount": 12.5, "reason": "late", "items": ["socks", "shoes", 2]},
            "timestamp": "2017-03-10T22:21:56+00:00",
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1
    [row] = events(server, app_id)
    assert row["source"] == "server" and row["type"] == "custom" and row["name"] == "Refund"
    assert row["identity"] == "alice@example.com"
    assert row["time"] == "2017-03-10T22:21:56.000Z"
    # Heap's shape for an array value of a server-side track: its items joined with "||".
    assert row["properties"] == {"amount": 12.5, "reason": "late", "items": "socks||shoes||2"}
    assert row["page"] is None and row["target"] is None


@pytest.mark.parametrize(
    ("properties", "says"),
    [
        ({"reason": {"code": "late"}}, "'reason' is an object; Heap's server-side API takes"),
        ({"paid": True}, "'paid' is a boolean; Heap's server-side API takes a number or a string"),
        ({"items": ["a", {"b": 1}]}, "an item that is not a number or a string"),
        ({"items": ["a", None]}, "an item that is not a number or a string"),
        ({"items": [True]}, "an item that is not a number or a string"),
        ({"note": "x" * 1024}, "longer than 1023 characters"),
        ({"items": ["x" * 600, "y" * 600]}, "longer than 1023 characters"),  # once joined
        ({"k" * 512: 1}, "it must be shorter than 512"),
    ],
)
def test_track_refuses_values_heap_refuses_saying_what_to_send(
    server: LiveServer, properties: dict, says: str
) -> None:
    app_id = new_app(server)
    call = {"app_id": app_id, "identity": "ida", "event": "Paid", "properties": properties}
    answer = post(server, "/api/track", call)
    assert answer.status_code == 400
    assert says in answer.json()["error"]
    assert events(server, app_id) == []


def test_track_keeps_numbers_strings_and_joined_arrays_and_drops_nulls(
    server: LiveServer,
) -> None:
    app_id = new_app(server)
    properties = {"n": 3, "price": 9.5, "tag": "", "gone": None, "ids": [1, 2.5, "x"], "none": []}
    call = {"app_id": app_id, "identity": "ida", "event": "Paid", "properties": properties}
    assert post(server, "/api/track", call).json()["accepted"] == 1
    [row] = events(server, app_id)
    assert row["properties"] == {"n": 3, "price": 9.5, "tag": "", "ids": "1||2.5||x", "none": ""}


@pytest.mark.parametrize(
    ("properties", "says"),
    [
        ({"address": {"city": "Berlin"}}, "user property 'address' is an object"),
        ({"vip": False}, "user property 'vip' is a boolean"),
        ({"plans": ["a", "b"]}, "user property 'plans' is an array; Heap takes arrays for event"),
        ({"bio": "x" * 256}, "longer than 255 characters"),
        ({"user_id": "7"}, "'user_id' cannot be used as a property key"),
    ],
)
def test_add_user_properties_refuses_what_is_not_a_number_or_a_string(
    server: LiveServer, properties: dict, says: str
) -> None:
    app_id = new_app(server)
    call = {"app_id": app_id, "identity": "jo", "properties": {"plan": "Pro", **properties}}
    answer = post(server, "/api/add_user_properties", call)
    assert answer.status_code == 400
    assert says in answer.json()["error"]
    assert users(server, app_id) == []  # nothing of the call is stored


def test_track_bulk_keeps_good_items_and_reports_bad_ones(server: LiveServer) -> None:
    app_id = new_app(server)
    answer = post(
        server,
        "/api/track",
        {
            "app_id": app_id,
            "events": [
                {"identity": "bob", "event": "A"},
                {"identity": "bob"},
                {"user_id": "123", "event": "B", "timestamp": "2024-01-02T03:04:05Z"},
                {"identity": "guest", "event": "C"},
                {"identity": "bob", "user_id": "1", "event": "D"},
                {"identity": "bob", "event": "E", "timestamp": "yesterday"},
                "not an object",
            ],
        },
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["accepted"] == 2
    assert [r["index"] for r in body["rejected"]] == [1, 3, 4, 5, 6]
    assert "would merge every visitor" in body["rejected"][1]["error"]
    assert "exactly one of identity or user_id" in body["rejected"][2]["error"]
    assert "ISO 8601" in body["rejected"][3]["error"]
    assert sorted(r["name"] for r in events(server, app_id)) == ["A", "B"]


def test_idempotency_key_stores_an_event_once(server: LiveServer) -> None:
    app_id = new_app(server)
    call = {"app_id": app_id, "identity": "carl", "event": "Paid", "idempotency_key": "order-7"}
    assert post(server, "/api/track", call).json()["accepted"] == 1
    assert post(server, "/api/track", {**call, "event": "Changed"}).json()["duplicates"] == 1
    assert [r["name"] for r in events(server, app_id)] == ["Paid"]


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"identity": "x", "event": "E"}, 400, "app_id"),
        ({"app_id": "999999", "identity": "x", "event": "E"}, 404, "unknown app_id"),
        ({"app_id": "APP", "identity": "x", "event": "E" * 1025}, 400, "limit is 1024"),
        ({"app_id": "APP", "identity": "x", "event": "E", "properties": [1]}, 400, "object"),
        ({"app_id": "APP", "events": []}, 400, "non-empty array"),
        ({"app_id": "APP", "events": [{"identity": "x", "event": "E"}] * 1001}, 400, "at most"),
        ({"app_id": "APP", "events": [{}, {}]}, 400, "no item is usable"),
    ],
)
def test_track_bad_input(server: LiveServer, body: dict, status: int, says: str) -> None:
    if body.get("app_id") == "APP":
        body = {**body, "app_id": new_app(server)}
    answer = post(server, "/api/track", body)
    assert answer.status_code == status
    assert says in answer.json()["error"]


def test_add_user_properties_single_bulk_and_unknown_identity(server: LiveServer) -> None:
    app_id = new_app(server)
    single = {"app_id": app_id, "identity": "dora", "properties": {"plan": "Pro", "n": 1}}
    assert post(server, "/api/add_user_properties", single).status_code == 200
    bulk = {
        "app_id": app_id,
        "users": [
            {"identity": "dora", "properties": {"plan": "Enterprise"}},
            {"identity": "eve", "properties": {"email": "eve@example.com"}},
            {"identity": "eve", "properties": {"ID": "7"}},
            {"identity": "eve", "properties": {"bio": "x" * 256}},
        ],
    }
    answer = post(server, "/api/add_user_properties", bulk)
    assert answer.json()["accepted"] == 2
    assert [r["index"] for r in answer.json()["rejected"]] == [2, 3]
    found = {u["identity"]: u for u in users(server, app_id)}
    assert found["dora"]["properties"] == {"plan": "Enterprise", "n": 1}
    assert found["eve"]["properties"] == {"email": "eve@example.com"}
    assert found["eve"]["first_seen"] is None  # a user with no events yet


def test_web_visitor_identified_later_joins_the_server_user(server: LiveServer) -> None:
    app_id = new_app(server)
    props = {"app_id": app_id, "identity": "fay", "properties": {"plan": "Pro"}}
    post(server, "/api/add_user_properties", props)
    visit = batch(app_id, event("9001"), identify("9001", "fay"))
    assert httpx.post(server.url + "/api/ingest", json=visit).json()["accepted"] == 2
    [fay] = users(server, app_id)
    assert fay["merged_user_ids"] == ["9001"] and fay["properties"] == {"plan": "Pro"}
    assert [e["user_id"] for e in events(server, app_id)] == [fay["user_id"]]


def test_server_identify_merges_and_drops_a_second_identity(server: LiveServer) -> None:
    app_id = new_app(server)
    httpx.post(server.url + "/api/ingest", json=batch(app_id, event("9100"), event("9101")))
    post(server, "/api/track", {"app_id": app_id, "identity": "gil", "event": "Signup"})
    assert post(
        server, "/api/v1/identify", {"app_id": app_id, "user_id": "9100", "identity": "gil"}
    ).json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    dropped = post(
        server, "/api/v1/identify", {"app_id": app_id, "user_id": "9100", "identity": "hal"}
    )
    assert dropped.status_code == 200
    [refused] = dropped.json()["rejected"]
    assert refused["index"] == 0 and "already identified" in refused["error"]
    by_identity = {u["identity"]: u for u in users(server, app_id)}
    assert set(by_identity) == {"gil", None}
    assert by_identity["gil"]["merged_user_ids"] == ["9100"]


def identify_call(server: LiveServer, app_id: str, user_id: str, identity: str) -> dict:
    call = {"app_id": app_id, "user_id": user_id, "identity": identity}
    answer = post(server, "/api/v1/identify", call)
    assert answer.status_code == 200, answer.text
    body: dict = answer.json()
    return body


def warnings_of(server: LiveServer, app_id: str) -> list[tuple[str, str, dict]]:
    with closing(sqlite3.connect(server.db_path)) as conn:
        rows = conn.execute(
            "SELECT kind, message, detail FROM warnings WHERE app_id = ? ORDER BY rowid", (app_id,)
        ).fetchall()
    return [(kind, message, json.loads(detail)) for kind, message, detail in rows]


def test_server_identify_gives_an_identity_to_at_most_10_user_ids_a_month(
    server: LiveServer,
) -> None:
    app_id = new_app(server)
    late = "9310"  # a visitor with history, who would be the 11th user id
    httpx.post(server.url + "/api/ingest", json=batch(app_id, event(late)))
    for n in range(10):
        assert identify_call(server, app_id, f"93{n:02}", "nia")["accepted"] == 1
    ignored = identify_call(server, app_id, late, "nia")
    assert ignored["accepted"] == 0
    assert "at most 10 a month" in ignored["rejected"][0]["error"]
    assert identify_call(server, app_id, "9399", "nia")["accepted"] == 0  # the 12th too
    assert identify_call(server, app_id, "9303", "nia")["accepted"] == 1  # one of the 10 again
    [(kind, message, detail)] = [w for w in warnings_of(server, app_id) if w[2]["user_id"] == late]
    assert kind == "identify_monthly_limit" and "'nia'" in message
    assert detail == {"user_id": late, "identity": "nia", "record_id": None}
    by_id = {u["user_id"]: u for u in users(server, app_id)}
    assert by_id["9300"]["identity"] == "nia"
    assert by_id["9300"]["merged_user_ids"] == [f"93{n:02}" for n in range(1, 10)]
    assert by_id[late]["identity"] is None  # not merged: its events stay its own
    assert {e["user_id"] for e in events(server, app_id)} == {late}
    assert "9399" not in by_id
    # Another identity has its own ten; the web tracker's identify is not capped.
    assert identify_call(server, app_id, "9320", "oli")["accepted"] == 1
    web = httpx.post(server.url + "/api/ingest", json=batch(app_id, identify(late, "nia")))
    assert web.json()["accepted"] == 1
    assert late in {u["identity"]: u for u in users(server, app_id)}["nia"]["merged_user_ids"]


def test_the_server_identify_limit_counts_this_month_only(server: LiveServer) -> None:
    app_id = new_app(server)
    with closing(sqlite3.connect(server.db_path)) as conn, conn:
        conn.executemany(  # ten user ids given "pia" in an earlier month
            "INSERT INTO server_identifies (app_id, identity, month, user_id) VALUES (?, ?, ?, ?)",
            [(app_id, "pia", "2001-02", f"94{n:02}") for n in range(10)],
        )
    assert identify_call(server, app_id, "9450", "pia")["accepted"] == 1


def test_track_rate_limit_per_identity(server: LiveServer) -> None:
    app_id = new_app(server)
    burst = [{"identity": "ivy", "event": "Tick"}] * 1000
    assert post(server, "/api/track", {"app_id": app_id, "events": burst}).status_code == 200
    other = post(server, "/api/track", {"app_id": app_id, "identity": "jon", "event": "Tick"})
    assert other.status_code == 200  # the limit is per identity
    limited = post(server, "/api/track", {"app_id": app_id, "identity": "ivy", "event": "Tick"})
    assert limited.status_code == 429
    assert "1000 per 60 s" in limited.json()["error"]
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert len(events(server, app_id)) == 1001  # the refused call stored nothing


def test_track_rate_limit_per_app(server: LiveServer) -> None:
    app_id = new_app(server)
    started = time.monotonic()
    for n in range(15):
        burst = [{"identity": f"u{n}", "event": "Tick"}] * 1000
        answer = post(server, "/api/track", {"app_id": app_id, "events": burst})
        assert answer.status_code == 200, (n, answer.text)
    limited = post(server, "/api/track", {"app_id": app_id, "identity": "new", "event": "Tick"})
    assert limited.status_code == 429, time.monotonic() - started
    assert "15000 per 60 s" in limited.json()["error"]
    assert int(limited.headers["retry-after"]) >= 1
    other_app = new_app(server)
    fine = post(server, "/api/track", {"app_id": other_app, "identity": "new", "event": "Tick"})
    assert fine.status_code == 200


def test_add_user_properties_rate_limit(server: LiveServer) -> None:
    app_id = new_app(server)
    call = {"app_id": app_id, "identity": "kim", "properties": {"n": 1}}
    started = time.monotonic()
    for _ in range(30):
        assert post(server, "/api/add_user_properties", call).status_code == 200
    limited = post(server, "/api/add_user_properties", call)
    taken = time.monotonic() - started  # the calls are slower on a busy machine
    assert limited.status_code == 429
    assert "30 per 30 s" in limited.json()["error"]
    # Until the first call leaves the window: 30 s after it, whole seconds rounded up.
    assert 30 - taken - 1 <= int(limited.headers["retry-after"]) <= 30
    other = {**call, "identity": "lee"}
    assert post(server, "/api/add_user_properties", other).status_code == 200
    too_many = {"app_id": app_id, "users": [{"identity": "max", "properties": {"n": 1}}] * 31}
    assert post(server, "/api/add_user_properties", too_many).status_code == 400


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(["/api/track", "/api/add_user_properties", "/api/v1/identify"]),
    body=st.dictionaries(
        st.sampled_from(
            [
                "app_id",
                "identity",
                "user_id",
                "event",
                "properties",
                "timestamp",
                "idempotency_key",
                "events",
                "users",
                "session_id",
            ]
        ),
        json_values,
    ),
)
def test_arbitrary_calls_never_fail_the_server(server: LiveServer, path: str, body: dict) -> None:
    answer = post(server, path, body)
    assert answer.status_code < 500, answer.text
    assert answer.status_code == 200 or answer.json()["error"]

"""Two real `footfall serve` processes on one ClickHouse + PostgreSQL pair: browsers of the same
people reach both at the same moment, and the pair ends with exactly seed 002's merges; every
surface (ingest, server-side APIs, deletion, exports, dashboard) works on it."""

import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.collector.test_dashboard_pages import PASSWORD, Admin, define, defined_count, rows
from tests.collector.test_deletion import V0
from tests.collector.wire import batch, event, identify
from tests.live_server import run_cli, start_server
from tests.services import ClickHouseServer, PostgresServer

APP_ID = "pair"
PEOPLE = 6
BROWSERS_PER_PERSON = 4  # each an anonymous user id that identifies as the person
# ClickHouse removes a mutation's old parts on its next background pass (about 10 s idle).
DELETION_SECONDS = 60


@dataclass
class Pair:
    """The `--db`/`--state` options of one ClickHouse + PostgreSQL pair, and its servers."""

    options: tuple[str, ...]
    app: dict[str, str]  # the app `footfall apps create` made: app_id, api_key


@pytest.fixture
def pair(clickhouse_server: ClickHouseServer, postgres_server: PostgresServer) -> Pair:
    database = clickhouse_server.create_database()
    state = postgres_server.database_url(postgres_server.create_database())
    options = ("--db", clickhouse_server.database_url(database), "--state", state)
    [app] = run_cli("apps", "create", "--name", "Pair", "--app-id", APP_ID, *options)
    return Pair(options, app)


def _anonymous_id() -> str:
    return str(secrets.randbelow(2**53 - 10**15) + 10**15)


def test_two_collectors_hammering_the_same_identities_end_with_seed_002s_merges(
    pair: Pair, tmp_path: Path
) -> None:
    people = {f"person-{n}@example.com": [_anonymous_id() for _ in range(BROWSERS_PER_PERSON)]
              for n in range(PEOPLE)}  # fmt: skip
    requests = []  # (collector index, body): each browser's pageview + identify + a custom event
    sent_events: dict[str, str] = {}  # event_id -> the identity it must end under
    for identity, browsers in people.items():
        for number, user_id in enumerate(browsers):
            before, after = event(user_id), event(user_id, "custom", "Checkout")
            sent_events[before["event_id"]] = sent_events[after["event_id"]] = identity
            body = batch(APP_ID, before, identify(user_id, identity), after)
            requests.append((number % 2, body))
            requests.append(((number + 1) % 2, body))  # the tracker's retry, to the other one
    with (
        start_server(tmp_path, *pair.options) as first,
        start_server(tmp_path, *pair.options) as second,
    ):
        urls = [first.url, second.url]
        start_together = threading.Barrier(len(requests))

        def send(request: tuple[int, dict]) -> int:
            start_together.wait()
            return httpx.post(
                urls[request[0]] + "/api/ingest", json=request[1], timeout=60
            ).status_code

        with ThreadPoolExecutor(len(requests)) as pool:
            statuses = list(pool.map(send, requests))
    assert statuses == [200] * len(requests)

    users = run_cli("users", *pair.options, "--app", APP_ID)
    assert sorted(user["identity"] for user in users) == sorted(people)
    for user in users:
        browsers = people[user["identity"]]
        # Anonymous to existing identity: one browser's user holds it, the others merged in.
        assert user["user_id"] in browsers
        assert sorted([user["user_id"], *user["merged_user_ids"]]) == sorted(browsers)
    canonical = {user["identity"]: user["user_id"] for user in users}
    events = run_cli("events", *pair.options, "--app", APP_ID)
    assert sorted(e["event_id"] for e in events) == sorted(sent_events)  # each stored once
    for stored in events:
        identity = sent_events[stored["event_id"]]
        assert (stored["user_id"], stored["identity"]) == (canonical[identity], identity)


def test_every_surface_works_on_the_pair_through_either_collector(
    pair: Pair, tmp_path: Path
) -> None:
    api_key = pair.app["api_key"]
    login = ("--admin-password", PASSWORD)
    with (
        start_server(tmp_path, *pair.options, *login) as first,
        start_server(tmp_path, *pair.options, *login) as second,
    ):
        view, buy = event("1001", "pageview"), event("1001", "click")
        other = event("2002", "pageview")
        answer = httpx.post(first.url + "/api/ingest", json=batch(APP_ID, view, buy, other))
        assert answer.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
        retried = httpx.post(second.url + "/api/ingest", json=batch(APP_ID, view))
        assert retried.json()["duplicates"] == 1  # the other collector stored it
        login_call = batch(APP_ID, identify("1001", "kate@example.com"))
        assert httpx.post(second.url + "/api/ingest", json=login_call).status_code == 200
        track = {"app_id": APP_ID, "identity": "kate@example.com", "event": "Refund"}
        assert httpx.post(first.url + "/api/track", json=track).status_code == 200
        props = {"app_id": APP_ID, "identity": "kate@example.com", "properties": {"plan": "Pro"}}
        assert httpx.post(second.url + "/api/add_user_properties", json=props).status_code == 200

        [kate, anonymous] = run_cli("users", *pair.options, "--app", APP_ID)
        assert (kate["user_id"], kate["identity"], kate["properties"]) == (
            "1001", "kate@example.com", {"plan": "Pro"}
        )  # fmt: skip
        assert anonymous["user_id"] == "2002"
        exported = run_cli("events", *pair.options, "--app", APP_ID)
        assert [(e["name"], e["user_id"]) for e in exported] == [
            ("pageview", "1001"), ("click", "1001"), ("pageview", "2002"), ("Refund", "1001")
        ]  # fmt: skip

        admin = Admin(second)  # whichever collector: the dashboard's session lives in PostgreSQL
        assert admin.log_in().status_code == 303
        assert APP_ID in admin.get("/").text
        assert rows(admin.get("/events", app=APP_ID, type="click")) == [buy["event_id"]]
        users_page = admin.get("/users", app=APP_ID)
        assert "kate@example.com" in users_page.text and "User 2002" in users_page.text
        timeline = admin.get("/users/1001", app=APP_ID)
        assert set(rows(timeline)) == {view["event_id"], buy["event_id"], exported[3]["event_id"]}
        defined = define(admin, APP_ID, name="Clicks", event_type="click")
        assert defined_count(admin.follow(defined)) == 1
        on_first = Admin(first)
        on_first.client.cookies = admin.client.cookies  # a session made on the other collector
        assert "Clicks" in on_first.get("/defined-events", app=APP_ID).text

        token = httpx.post(first.url + f"{V0}/auth_token", auth=(APP_ID, api_key)).json()
        bearer = {"authorization": f"Bearer {token['auth_token']}"}
        deletion = httpx.post(
            f"{second.url}{V0}/user_deletion",
            json={"users": [{"identity": "kate@example.com"}]},
            headers=bearer,
        )
        assert deletion.status_code == 201
        status_url = f"{first.url}{V0}/deletion_status/{deletion.json()['deletion_request_id']}"
        deadline = time.monotonic() + DELETION_SECONDS
        while httpx.get(status_url, headers=bearer).json()["status"] != "complete":
            assert time.monotonic() < deadline, "the deletion did not complete"
            time.sleep(0.2)
    assert [u["user_id"] for u in run_cli("users", *pair.options, "--app", APP_ID)] == ["2002"]
    assert [e["user_id"] for e in run_cli("events", *pair.options, "--app", APP_ID)] == ["2002"]

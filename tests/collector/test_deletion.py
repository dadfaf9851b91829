"""Heap's user-deletion API over real HTTP, and that the data really leaves the SQLite file."""

import secrets
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.collector.wire import batch, event, identify, page, user_properties
from tests.live_server import REPO_ROOT, LiveServer, run_cli, start_server
from tests.storage.test_deletion import encodings

V0 = "/api/public/v0"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with start_server(tmp_path_factory.mktemp("deletion")) as live:
        yield live


@pytest.fixture(scope="module")
def app(server: LiveServer) -> dict:
    return run_cli("apps", "create", "--name", "Deletion", "--db", str(server.db_path))[0]


@pytest.fixture(scope="module")
def token(server: LiveServer, app: dict) -> str:
    answer = httpx.post(server.url + f"{V0}/auth_token", auth=(app["app_id"], app["api_key"]))
    assert answer.status_code == 200
    return str(answer.json()["auth_token"])


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def rows(server: LiveServer, query: str, *params: object) -> list[tuple]:
    with closing(sqlite3.connect(server.db_path)) as conn:
        return conn.execute(query, params).fetchall()


def wait_complete(server: LiveServer, token: str, request_id: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = httpx.get(f"{server.url}{V0}/deletion_status/{request_id}", headers=bearer(token))
        assert status.status_code == 200
        assert status.json()["deletion_request_id"] == request_id
        if status.json()["status"] == "complete":
            return
        assert status.json()["status"] == "pending"
        time.sleep(0.05)
    raise AssertionError("the deletion did not complete")


def test_deleting_a_user_removes_events_properties_and_merged_users(
    server: LiveServer, app: dict, token: str
) -> None:
    app_id = app["app_id"]
    ingest = batch(
        app_id,
        event("501"),
        user_properties("501", {"plan": "Pro"}),
        identify("501", "doomed@example.com"),
        event("502"),  # the same person on another device, merged in
        identify("502", "doomed@example.com"),
        event("503"),  # someone else, who stays
        identify("503", "kept@example.com"),
    )
    assert httpx.post(server.url + "/api/ingest", json=ingest).json()["accepted"] == 7
    identify_refused = batch(app_id, identify("501", "other@example.com"))
    httpx.post(server.url + "/api/ingest", json=identify_refused)  # leaves a warning about 501
    server_identify = {"app_id": app_id, "user_id": "504", "identity": "doomed@example.com"}
    assert httpx.post(server.url + "/api/v1/identify", json=server_identify).status_code == 200
    answer = httpx.post(
        f"{server.url}{V0}/user_deletion",
        json={"users": [{"identity": "doomed@example.com"}, {"user_id": 999}]},
        headers=bearer(token),
    )
    assert answer.status_code == 201
    body = answer.json()
    assert body["status"] == "pending"
    assert body["deletion_request_location"] == (
        f"{server.url}{V0}/deletion_status/{body['deletion_request_id']}"
    )
    wait_complete(server, token, body["deletion_request_id"])
    left = run_cli("users", "--db", str(server.db_path), "--app", app_id)
    assert [u["identity"] for u in left] == ["kept@example.com"]
    exported = run_cli("events", "--db", str(server.db_path), "--app", app_id)
    assert [e["user_id"] for e in exported] == ["503"]
    for table in ("users", "events"):
        stored = rows(server, f"SELECT user_id FROM {table} WHERE app_id = ?", app_id)
        assert {user_id for (user_id,) in stored} == {"503"}
    assert rows(server, "SELECT * FROM warnings WHERE detail LIKE '%501%'") == []
    assert rows(server, "SELECT * FROM server_identifies WHERE app_id = ?", app_id) == []


def test_deleting_by_a_merged_user_id_deletes_the_person(
    server: LiveServer, app: dict, token: str
) -> None:
    app_id = app["app_id"]
    ingest = batch(app_id, identify("601", "pat"), event("602"), identify("602", "pat"))
    httpx.post(server.url + "/api/ingest", json=ingest)
    answer = httpx.post(
        f"{server.url}{V0}/user_deletion",
        json={"users": [{"user_id": "602"}]},
        headers=bearer(token),
    )
    wait_complete(server, token, answer.json()["deletion_request_id"])
    assert rows(server, "SELECT * FROM users WHERE user_id IN ('601', '602')") == []


def test_a_retry_of_a_deleted_users_event_does_not_bring_the_user_back(
    server: LiveServer, app: dict, token: str
) -> None:
    # The tracker keeps unacknowledged events and resends them with their ids: one whose answer
    # was lost may come again after its user was deleted.
    app_id = app["app_id"]
    sent = event("651")
    assert httpx.post(server.url + "/api/ingest", json=batch(app_id, sent)).status_code == 200
    answer = httpx.post(
        f"{server.url}{V0}/user_deletion",
        json={"users": [{"user_id": "651"}]},
        headers=bearer(token),
    )
    wait_complete(server, token, answer.json()["deletion_request_id"])
    retried = httpx.post(server.url + "/api/ingest", json=batch(app_id, sent, event("652")))
    assert retried.json() == {"accepted": 1, "duplicates": 1, "rejected": []}
    assert rows(server, "SELECT user_id FROM users WHERE user_id IN ('651', '652')") == [("652",)]
    assert rows(server, "SELECT * FROM events WHERE event_id = ?", sent["event_id"]) == []


@pytest.mark.parametrize(
    "auth",
    [None, ("nope", "x"), ("APP", "wrong-key"), "Basic !!!", "Bearer abc", b"Basic \xe9\xe9"],
)
def test_auth_token_refuses_bad_credentials(server: LiveServer, app: dict, auth: object) -> None:
    kwargs: dict = {}
    if isinstance(auth, tuple):
        kwargs["auth"] = (app["app_id"] if auth[0] == "APP" else auth[0], auth[1])
    elif isinstance(auth, str | bytes):  # bytes: a header's latin-1 text, not base64
        kwargs["headers"] = {"authorization": auth}
    answer = httpx.post(server.url + f"{V0}/auth_token", **kwargs)
    assert answer.status_code == 401
    assert answer.json()["err"]["message"]


@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer not-a-token", "Basic eDp5"])
def test_deletion_endpoints_need_a_live_token(
    server: LiveServer, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"authorization": authorization}
    deletion = httpx.post(
        f"{server.url}{V0}/user_deletion", json={"users": [{"user_id": 1}]}, headers=headers
    )
    assert deletion.status_code == 401 and deletion.json()["err"]["message"]
    status = httpx.get(f"{server.url}{V0}/deletion_status/x", headers=headers)
    assert status.status_code == 401


def test_another_apps_token_cannot_see_a_request(server: LiveServer, app: dict, token: str) -> None:
    other = run_cli("apps", "create", "--name", "Other", "--db", str(server.db_path))[0]
    other_token = httpx.post(
        server.url + f"{V0}/auth_token", auth=(other["app_id"], other["api_key"])
    ).json()["auth_token"]
    mine = httpx.post(
        f"{server.url}{V0}/user_deletion", json={"users": [{"user_id": 1}]}, headers=bearer(token)
    ).json()["deletion_request_id"]
    status = httpx.get(f"{server.url}{V0}/deletion_status/{mine}", headers=bearer(other_token))
    assert status.status_code == 404
    assert "no deletion request" in status.json()["err"]["message"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, "users"),
        ({"users": []}, "users"),
        ({"users": [{"user_id": 1, "identity": "a"}]}, "exactly one"),
        ({"users": [{"user_id": "abc"}]}, "users[0]"),
        ({"users": [{"identity": "null"}]}, "users[0]"),
        ({"users": [{"user_id": 1}] * 10_001}, "at most 10000"),
    ],
)
def test_user_deletion_bad_bodies(server: LiveServer, token: str, body: dict, says: str) -> None:
    answer = httpx.post(f"{server.url}{V0}/user_deletion", json=body, headers=bearer(token))
    assert answer.status_code == 400
    assert says in answer.json()["err"]["message"]


def test_ten_thousand_users_in_one_request(server: LiveServer, token: str) -> None:
    users = [{"user_id": 10**12 + n} for n in range(10_000)]  # ids no other test uses
    answer = httpx.post(
        f"{server.url}{V0}/user_deletion", json={"users": users}, headers=bearer(token)
    )
    assert answer.status_code == 201
    wait_complete(server, token, answer.json()["deletion_request_id"])


def test_a_deletion_erases_the_user_in_every_environment_of_the_project(
    server: LiveServer,
) -> None:
    db = str(server.db_path)
    production = run_cli("apps", "create", "--name", "Shop", "--db", db)[0]
    staging = run_cli(
        "apps", "create", "--name", "Shop staging", "--project", production["app_id"], "--db", db
    )[0]
    assert production["project_id"] == staging["project_id"] == production["app_id"]
    elsewhere = run_cli("apps", "create", "--name", "Another project", "--db", db)[0]
    for app_id in (production["app_id"], staging["app_id"], elsewhere["app_id"]):
        sent = batch(
            app_id,
            event("601"),
            identify("601", "gone@example.com"),
            event("602"),
            identify("602", "stays@example.com"),
            event("603"),  # anonymous, deleted by user id where it exists
        )
        assert httpx.post(server.url + "/api/ingest", json=sent).json()["accepted"] == 5

    # Heap authorises deletions for the Main Production environment only: here, the app whose
    # id names the project.
    refused = httpx.post(
        server.url + f"{V0}/auth_token", auth=(staging["app_id"], staging["api_key"])
    )
    assert refused.status_code == 401
    assert f"authenticate with app {production['app_id']}" in refused.json()["err"]["message"]
    token = httpx.post(
        server.url + f"{V0}/auth_token", auth=(production["app_id"], production["api_key"])
    ).json()["auth_token"]
    answer = httpx.post(
        f"{server.url}{V0}/user_deletion",
        json={"users": [{"identity": "gone@example.com"}, {"user_id": 603}]},
        headers=bearer(token),
    )
    assert answer.status_code == 201
    wait_complete(server, token, answer.json()["deletion_request_id"])

    for app in (production, staging):
        left = run_cli("users", "--db", db, "--app", app["app_id"])
        assert [u["identity"] for u in left] == ["stays@example.com"]
        events_left = run_cli("events", "--db", db, "--app", app["app_id"])
        assert {e["user_id"] for e in events_left} == {"602"}
    # Another project's users with the same identity and ids are not touched.
    others = run_cli("users", "--db", db, "--app", elsewhere["app_id"])
    assert sorted(str(u["identity"]) for u in others) == [
        "None", "gone@example.com", "stays@example.com"
    ]  # fmt: skip


def test_an_app_joins_only_a_project_that_exists(server: LiveServer) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "collector.cli", "apps", "create", "--name", "Lost"]
        + ["--project", "no-such-app", "--db", str(server.db_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "no app 'no-such-app' to join" in done.stderr


def stored_bytes(server: LiveServer) -> bytes:
    """The SQLite file and its -wal and -shm as they are on disk now."""
    names = [server.db_path, *(Path(f"{server.db_path}{end}") for end in ("-wal", "-shm"))]
    return b"".join(path.read_bytes() for path in names if path.exists())


def test_a_complete_deletion_leaves_nothing_of_the_user_in_the_running_servers_files(
    server: LiveServer, app: dict, token: str
) -> None:
    marker = secrets.token_hex(6)  # in every value below, and nowhere else
    identity = f"erase.{marker}@Ärger.example"
    # Tracker user ids: 16 digits, below 2**53.
    phone, laptop = (str(secrets.randbelow(2**53 - 10**15) + 10**15) for _ in range(2))
    visited = {**page(f"/erase/{marker}"), "title": f"Über {marker} ✓"}
    sent = batch(
        app["app_id"],
        event(laptop, page=visited),
        event(laptop, "custom", f"Checkout {marker}", page=visited),
        user_properties(laptop, {f"plan_{marker}": f"Pro ☃ {marker}"}),
        identify(laptop, identity),
        event(phone, "click", page=visited),
        identify(phone, identity),
    )
    assert httpx.post(server.url + "/api/ingest", json=sent).json()["accepted"] == 6
    values = [marker, identity, phone, laptop, visited["url"], visited["title"]]
    before = stored_bytes(server)
    assert all(any(n in before for n in encodings(value)) for value in values)  # it can see
    answer = httpx.post(
        f"{server.url}{V0}/user_deletion", json={"users": [{"identity": identity}]},
        headers=bearer(token),
    )  # fmt: skip
    wait_complete(server, token, answer.json()["deletion_request_id"])
    files = stored_bytes(server)  # the server still runs
    assert [n for value in values for n in encodings(value) if n in files] == []

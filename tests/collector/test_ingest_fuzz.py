"""Arbitrary bodies thrown at `POST /api/ingest` (hypothesis): never a 5xx, never stored garbage."""

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snippet.pageview import UTM_PARAMETERS
from tests.collector.wire import event, identify, json_values, user_properties
from tests.live_server import LiveServer, start_server

EXAMPLES = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

VALID_RECORDS = st.sampled_from(
    [
        lambda: event("700"),
        lambda: event("701", "click", properties={"a": 1}),
        lambda: event("702", "custom", name="Buy"),
        lambda: identify("703", "fuzz@example.com"),
        lambda: user_properties("704", {"plan": "Pro"}),
    ]
).map(lambda make: make())


@st.composite
def mutated_records(draw: st.DrawFn) -> Any:
    """A valid record with some fields replaced, removed or added at random."""
    record: dict[str, Any] = draw(VALID_RECORDS)
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from([*record, "extra"]))
        if draw(st.booleans()):
            record[key] = draw(json_values)
        else:
            record.pop(key, None)
    return record


@st.composite
def batches(draw: st.DrawFn) -> Any:
    records = draw(st.lists(mutated_records() | VALID_RECORDS | json_values, max_size=6))
    body: dict[str, Any] = {
        "app_id": draw(st.sampled_from(["demo", "demo", "nope", 0])),
        "records": records,
    }
    if draw(st.booleans()):
        body[draw(st.sampled_from(["app_id", "records", "sent_at"]))] = draw(json_values)
    return body


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with start_server(tmp_path_factory.mktemp("fuzz"), "--demo") as live:
        yield live
        assert_nothing_stored_is_garbage(live)


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def check_answer(answer: httpx.Response, body: Any = None) -> None:
    assert answer.status_code < 500, answer.text
    payload = answer.json()
    if answer.status_code != 200:
        assert isinstance(payload["error"], str) and payload["error"]
        return
    if isinstance(body, dict) and isinstance(body.get("records"), list):
        counted = payload["accepted"] + payload["duplicates"] + len(payload["rejected"])
        assert counted == len(body["records"])


@EXAMPLES
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes(client: httpx.Client, raw: bytes) -> None:
    check_answer(client.post("/api/ingest", content=raw))


@EXAMPLES
@given(body=json_values)
def test_arbitrary_json(client: httpx.Client, body: Any) -> None:
    check_answer(client.post("/api/ingest", content=json.dumps(body)), body)


@EXAMPLES
@given(body=batches())
def test_mutated_batches(client: httpx.Client, body: Any) -> None:
    check_answer(client.post("/api/ingest", content=json.dumps(body)), body)


HEX32 = re.compile(r"[0-9a-f]{32}")
PAGE_KEYS = {"url", "domain", "path", "query", "hash", "title", "referrer"}
TARGET_KEYS = {"tag", "id", "class", "text", "href", "hierarchy"}
SESSION_KEYS = {"landing_page", "initial_referrer", *UTM_PARAMETERS}


def assert_nothing_stored_is_garbage(server: LiveServer) -> None:
    with closing(sqlite3.connect(server.db_path)) as conn:
        conn.row_factory = sqlite3.Row
        events = conn.execute("SELECT * FROM events").fetchall()
        users = {r["user_id"]: r for r in conn.execute("SELECT * FROM users").fetchall()}
    assert events, "the fuzzing stored nothing at all: the valid records did not get through"
    for row in events:
        assert row["app_id"] == "demo"
        assert HEX32.fullmatch(row["event_id"])
        assert row["type"] in {"pageview", "click", "change", "submit", "custom"}
        assert row["user_id"] in users and users[row["user_id"]]["merged_into"] is None
        assert row["sent_user_id"].isdigit()
        properties = json.loads(row["properties"])
        assert all(isinstance(v, str | int | float | bool) for v in properties.values())
        page = json.loads(row["page"])
        assert set(page) == PAGE_KEYS and all(isinstance(v, str) for v in page.values())
        target = json.loads(row["target"]) if row["target"] else None
        assert (target is not None) == (row["type"] in {"click", "change", "submit"})
        assert target is None or set(target) == TARGET_KEYS
        session = json.loads(row["session"]) if row["session"] else {}
        assert set(session) <= SESSION_KEYS and all(isinstance(v, str) for v in session.values())
        assert not session or {"landing_page", "initial_referrer"} <= set(session)
        assert 0 < row["time"] < 4_102_444_800_000
    for user in users.values():
        assert user["user_id"].isdigit()
        assert isinstance(json.loads(user["properties"]), dict)

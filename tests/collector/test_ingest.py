"""`POST /api/ingest` over real HTTP against the real server and SQLite file."""

import gzip
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from collector.batch_answer import DROPPED_BOTS_HEADER
from collector.context import CONTEXT_FIELDS
from collector.export import iso_time
from snippet.wire import PAGE_TEXT_MAX
from tests.collector.wire import batch, event, identify, user_properties
from tests.collector.wire import page as wire_page
from tests.live_server import LiveServer, run_cli, start_server
from tests.snippet.fake_browser import (
    START_MS,
    FakeBrowser,
    boot,
    call,
    el,
    interaction,
    message,
    navigate,
)
from tests.snippet.fake_browser import page as tracker_page

TEXT_PLAIN = {"content-type": "text/plain;charset=UTF-8"}
RECENT_MS = (int(time.time()) - 3600) * 1000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with start_server(tmp_path_factory.mktemp("ingest"), "--demo") as live:
        yield live


@pytest.fixture(scope="module")
def app_id(server: LiveServer) -> str:
    created = run_cli("apps", "create", "--name", "Ingest", "--db", str(server.db_path))
    return str(created[0]["app_id"])


def post(server: LiveServer, body: object, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(
        server.url + "/api/ingest", content=content, headers={**TEXT_PLAIN, **headers}
    )


def events_of(server: LiveServer, app_id: str) -> list[dict]:
    return run_cli("events", "--db", str(server.db_path), "--app", app_id)


def test_stores_an_event_and_exports_it_per_the_contract(server: LiveServer, app_id: str) -> None:
    click = event("1001", "click", properties={"plan": "Pro", "n": 2})
    answer = post(server, batch(app_id, click))
    assert answer.status_code == 200
    assert answer.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    [row] = [row for row in events_of(server, app_id) if row["event_id"] == click["event_id"]]
    assert row == {
        "event_id": click["event_id"],
        "app_id": app_id,
        "user_id": "1001",
        "identity": None,
        "session_id": click["session_id"],
        "pageview_id": click["pageview_id"],
        "type": "click",
        "name": "click",
        "time": row["time"],
        "properties": {"plan": "Pro", "n": 2},
        "page": click["page"],
        "target": click["target"],
        "source": "web",
        # The page's context as sent; httpx's User-Agent names no browser, loopback no place.
        "context": {**dict.fromkeys(CONTEXT_FIELDS), **click["context"]},
    }
    assert row["time"].endswith("Z") and row["time"].startswith("20")


def test_the_same_event_id_is_stored_once(server: LiveServer, app_id: str) -> None:
    pageview = event("1002")
    assert post(server, batch(app_id, pageview, pageview)).json()["duplicates"] == 1
    assert post(server, batch(app_id, pageview)).json() == {
        "accepted": 0,
        "duplicates": 1,
        "rejected": [],
    }
    assert [r["event_id"] for r in events_of(server, app_id)].count(pageview["event_id"]) == 1


def test_identify_and_user_properties_repeated_in_one_batch_are_applied_once(
    server: LiveServer, app_id: str
) -> None:
    """Storage, not the pipeline, keeps each record id once, within a batch as across them."""
    login, plan = identify("1020", "dee@example.com"), user_properties("1020", {"plan": "Pro"})
    answer = post(server, batch(app_id, login, plan, login, plan)).json()
    assert answer == {"accepted": 2, "duplicates": 2, "rejected": []}
    assert post(server, batch(app_id, plan)).json()["duplicates"] == 1


def test_gzip_by_header_and_by_magic_bytes(server: LiveServer, app_id: str) -> None:
    by_header, by_magic = event("1003"), event("1003")
    zipped = gzip.compress(json.dumps(batch(app_id, by_header)).encode())
    assert post(server, zipped, **{"content-encoding": "gzip"}).json()["accepted"] == 1
    zipped = gzip.compress(json.dumps(batch(app_id, by_magic)).encode())
    assert post(server, zipped).json()["accepted"] == 1


def test_a_partly_bad_batch_keeps_its_good_records(server: LiveServer, app_id: str) -> None:
    good = event("1004")
    answer = post(
        server,
        batch(
            app_id,
            {"kind": "mystery"},
            good,
            event("1004", event_id="not-hex"),
            event("1004", "custom", name="click"),
            event("1004", properties={"k": {"deep": [1, 2]}, "v": "x" * 2000}),
        ),
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["accepted"] == 1
    assert [r["index"] for r in body["rejected"]] == [0, 2, 3, 4]
    assert "event_id" in body["rejected"][1]["error"]
    assert "reserved" in body["rejected"][2]["error"]
    assert "longer than 1023" in body["rejected"][3]["error"]
    assert [r["event_id"] for r in events_of(server, app_id) if r["user_id"] == "1004"] == [
        good["event_id"]
    ]


def test_lone_surrogates_become_replacement_characters(server: LiveServer, app_id: str) -> None:
    # JSON.stringify writes a lone surrogate (a title cut mid-emoji) as an escape; json.dumps too.
    cut = event(
        "1005", "custom", name="Buy \ud83d", properties={"t\udc00": "x\ud800"}, page=wire_page()
    )
    cut["page"]["title"] = "Shoes \ud83d"
    answer = post(server, batch(app_id, cut))
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1
    [row] = [r for r in events_of(server, app_id) if r["event_id"] == cut["event_id"]]
    assert row["name"] == "Buy \ufffd"
    assert row["properties"] == {"t\ufffd": "x\ufffd"}
    assert row["page"]["title"] == "Shoes \ufffd"


def stored_sessions(server: LiveServer, *event_ids: str) -> list[dict | None]:
    with closing(sqlite3.connect(server.db_path)) as conn:
        found = dict(conn.execute("SELECT event_id, session FROM events").fetchall())
    return [None if found[e] is None else json.loads(found[e]) for e in event_ids]


def test_the_session_is_stored_but_not_exported(server: LiveServer, app_id: str) -> None:
    landing = {
        "landing_page": "https://shop.example.com/?utm_source=news&utm_campaign=spring",
        "initial_referrer": "https://news.example.org/",
        "utm_source": "news",
        "utm_campaign": "spring",
        "unknown": "dropped",
    }
    with_session, without = event("1011", session=landing), event("1011", session=None)
    assert post(server, batch(app_id, with_session, without)).json()["accepted"] == 2
    assert stored_sessions(server, with_session["event_id"], without["event_id"]) == [
        {key: value for key, value in landing.items() if key != "unknown"},
        None,
    ]
    [row] = [r for r in events_of(server, app_id) if r["event_id"] == with_session["event_id"]]
    assert "session" not in row and "landing_page" not in json.dumps(row)


def test_long_page_and_session_strings_are_cut_long_targets_refused(
    server: LiveServer, app_id: str
) -> None:
    url = "https://shop.example.com/?state=" + "x" * 20_000
    long_page = event("1012", page={**wire_page(), "url": url, "title": "T" * 9000})
    long_session = event("1012", session={"landing_page": url})
    long_target = event("1012", "click")
    long_target["target"] = {**long_target["target"], "href": "/" * 8193}
    answer = post(server, batch(app_id, long_page, long_session, long_target)).json()
    assert answer["accepted"] == 2
    assert answer["rejected"] == [
        {"index": 2, "error": "target.href is longer than 8192 characters"}
    ]
    [page_row] = [r for r in events_of(server, app_id) if r["event_id"] == long_page["event_id"]]
    assert page_row["page"]["url"] == url[:8192] and page_row["page"]["title"] == "T" * 8192
    assert stored_sessions(server, long_session["event_id"]) == [
        {"landing_page": url[:8192], "initial_referrer": ""}
    ]


def tracker_bodies(app_id: str) -> list[str]:
    """The bodies the real tracker (snippet/, on a fake browser) sends for a varied visit."""
    browser = FakeBrowser()
    landing = "https://shop.example.com/landing?utm_source=news&utm_campaign=spring"
    first = navigate(landing, page=tracker_page(landing, "Landing", "https://news.example.org/"))
    receiver = boot(browser, [first], app_id=app_id)
    buy = el("a", href="/cart?" + "x" * 1000, id="buy", **{"class": "btn primary"})
    receiver.receive(
        message(
            interaction("click", el("span", text="Buy now"), buy, el("div", id="root")),
            interaction("change", el("input", type="email", name="email"), el("form", id="f")),
            interaction("submit", el("form", id="f")),
            call("addEventProperties", {"Logged In": True, "tier": 2}),
            call("track", "Purchase", {"amount": 12.5, "gift": True, "n": {"x": 1}, "l": [1]}),
            call("identify", "alice@example.com"),
            call("addUserProperties", {"plan": "Pro", "seats": 3}),
            navigate("https://shop.example.com/spa#" + "s" * 10_000, cause="push"),
            call("identify", 12345),  # identified → another identity: a new user
            call("resetIdentity"),
            interaction("click", el("button", text="Help")),
            {"kind": "hide"},
        )
    )
    browser.advance(10)  # every batch is sent
    assert not browser.warnings()
    return [moved_to_recent(body) for _, body in browser.sent]


def moved_to_recent(body: str) -> str:
    """The body with its records' times moved from the fake browser's clock (2023) to
    RECENT_MS, inside the window of the past the collector takes."""
    parsed = json.loads(body)
    for record in parsed["records"]:
        record["time"] += RECENT_MS - START_MS
    return json.dumps(parsed)


def test_everything_the_tracker_sends_is_stored(server: LiveServer, app_id: str) -> None:
    bodies = tracker_bodies(app_id)
    sent = [record for body in bodies for record in json.loads(body)["records"]]
    assert {r["kind"] for r in sent} == {"event", "identify", "user_properties"}
    for body in bodies:
        answer = post(server, body.encode())
        assert answer.json() == {
            "accepted": len(json.loads(body)["records"]),
            "duplicates": 0,
            "rejected": [],
        }
    exported = {row["event_id"]: row for row in events_of(server, app_id)}
    events = [r for r in sent if r["kind"] == "event"]
    sessions = stored_sessions(server, *(r["event_id"] for r in events))
    for record, session in zip(events, sessions, strict=True):
        row = exported[record["event_id"]]
        for key in ("type", "name", "session_id", "pageview_id", "properties", "target"):
            assert row[key] == record[key], key
        assert row["page"] == record["page"]
        assert row["time"] == iso_time(RECENT_MS)
        assert session == record["session"]
    # The 10,000-character URL went out cut to the tracker's limit, and was stored whole.
    assert any(r["page"]["url"].startswith("https://shop.example.com/spa#sss") for r in events)
    assert max(len(r["page"]["url"]) for r in events) == PAGE_TEXT_MAX
    assert sessions[0] == {
        "landing_page": "https://shop.example.com/landing?utm_source=news&utm_campaign=spring",
        "initial_referrer": "https://news.example.org/",
        "utm_source": "news",
        "utm_campaign": "spring",
    }
    users = {
        u["identity"]: u for u in run_cli("users", "--db", str(server.db_path), "--app", app_id)
    }
    assert users["alice@example.com"]["properties"] == {"plan": "Pro", "seats": 3}
    assert "12345" in users


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"session": "https://shop.example.com/"}, "session must be an object"),
        ({"session": {"landing_page": 7}}, "session.landing_page must be a string"),
        ({"session": {"landing_page": "/", "utm_source": ["a"]}}, "session.utm_source must be"),
        ({"page": None}, "page must be an object"),
        ({"page": {**wire_page(), "title": 1}}, "page.title must be a string"),
        ({"session_id": ""}, "session_id must be"),
        ({"pageview_id": "a b"}, "pageview_id must be"),
        ({"user_id": "-1"}, "user_id '-1' is not a number"),
        ({"time": "1700000000000"}, "time must be milliseconds"),
        ({"type": "scroll"}, "type must be one of"),
        ({"target": {"tag": "a"}}, "a pageview event has no target"),
        ({"properties": {"p": {"q": None, "r": {}}, "s": [None]}}, None),  # nothing bad left
    ],
)
def test_each_event_field_is_checked(
    server: LiveServer, app_id: str, fields: dict, says: str | None
) -> None:
    answer = post(server, batch(app_id, {**event("1013"), **fields})).json()
    if says is None:
        assert answer["accepted"] == 1
    else:
        assert says in answer["error"], answer


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"", 400, "empty"),
        (b"\xff\xfe\x00", 400, "UTF-8"),
        (b'{"app_id": 1, "records": [], "x": NaN}', 400, "NaN"),
        (b"[]", 400, "JSON object"),
        (b'{"records": []}', 400, "app_id"),
        (b'{"app_id": "demo", "records": {}}', 400, "records must be an array"),
        (b'{"app_id": "demo", "records": []}', 400, "records is empty"),
        (b'{"app_id": "demo", "records": [1, {"kind": "x"}]}', 400, "no record is usable"),
        (b'{"app_id": "no-such-app", "records": [1]}', 404, "unknown app_id"),
        (b"\x1f\x8b\x08\x00garbage", 400, "gzip"),
    ],
)
def test_bad_bodies_get_a_json_error_that_says_why(
    server: LiveServer, body: bytes, status: int, says: str
) -> None:
    answer = post(server, body)
    assert answer.status_code == status
    assert says in answer.json()["error"]


def test_oversized_bodies_are_refused_even_when_gzipped(server: LiveServer, app_id: str) -> None:
    huge = json.dumps(batch(app_id, event("1005", properties={"p": "x" * 1000}))).encode()
    huge = huge[:-2] + b" " * (6 * 1024 * 1024) + huge[-2:]
    assert post(server, huge).status_code == 413
    bomb = post(server, gzip.compress(huge), **{"content-encoding": "gzip"})
    assert bomb.status_code == 413
    assert "decompressed" in bomb.json()["error"]


def test_unsupported_content_encoding(server: LiveServer, app_id: str) -> None:
    answer = post(server, batch(app_id, event("1006")), **{"content-encoding": "br"})
    assert answer.status_code == 415


def test_cors_preflight_and_answers_allow_any_origin(server: LiveServer, app_id: str) -> None:
    origin = "https://shop.example.com"
    preflight = httpx.options(
        server.url + "/api/ingest",
        headers={"origin": origin, "access-control-request-method": "POST"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == origin
    assert "POST" in preflight.headers["access-control-allow-methods"]
    answer = post(server, batch(app_id, event("1007")), origin=origin)
    assert answer.headers["access-control-allow-origin"] == origin
    error = post(server, b"{", origin=origin)
    assert error.headers["access-control-allow-origin"] == origin


def test_bots_are_answered_and_dropped(server: LiveServer, app_id: str) -> None:
    crawled = [event("1008"), event("1008", "custom", name="Crawled"), {"kind": "mystery"}]
    answer = post(server, batch(app_id, *crawled), **{"user-agent": "Googlebot/2.1"})
    assert answer.status_code == 200
    assert answer.json() == {"accepted": 0, "duplicates": 0, "rejected": []}
    assert answer.headers[DROPPED_BOTS_HEADER] == "3"  # every record of the batch, counted
    stored = {r["event_id"] for r in events_of(server, app_id)}
    assert not stored & {record.get("event_id") for record in crawled}
    visitor = post(server, batch(app_id, event("1008")), **{"user-agent": "Mozilla/5.0"})
    assert visitor.json()["accepted"] == 1 and DROPPED_BOTS_HEADER not in visitor.headers


def test_keep_bots_stores_what_bots_send(tmp_path: Path) -> None:
    with start_server(tmp_path, "--demo", "--keep-bots") as live:
        crawled = event("1030")
        answer = post(live, batch("demo", crawled), **{"user-agent": "Googlebot/2.1"})
        assert answer.json()["accepted"] == 1 and DROPPED_BOTS_HEADER not in answer.headers
    assert [r["event_id"] for r in events_of(live, "demo")] == [crawled["event_id"]]


def test_user_properties_and_identify_records(server: LiveServer, app_id: str) -> None:
    answer = post(
        server,
        batch(
            app_id,
            event("1009"),
            user_properties("1009", {"plan": "Pro", "user_id": "x"}),
            user_properties("1009", {"plan": "Free", "seats": 3}),
            user_properties("1009", {"Tier": "Gold"}, kind="account_properties"),
            user_properties("1009", {"Owner": "v" * 300}, kind="account_properties"),
            identify("1009", "carol@example.com"),
        ),
    )
    assert answer.json()["accepted"] == 4
    rejected = [problem["error"] for problem in answer.json()["rejected"]]
    assert "'user_id' cannot be used" in rejected[0] and "255" in rejected[1]
    users = run_cli("users", "--db", str(server.db_path), "--app", app_id)
    [carol] = [u for u in users if u["user_id"] == "1009"]
    assert carol["identity"] == "carol@example.com"
    assert carol["properties"] == {"plan": "Free", "seats": 3}
    assert carol["account_properties"] == {"Tier": "Gold"}


def test_unknown_api_routes_answer_json(server: LiveServer) -> None:
    answer = httpx.get(server.url + "/api/nowhere")
    assert answer.status_code == 404
    assert "nowhere" in answer.json()["error"]


def test_writes_survive_a_restart(tmp_path: Path) -> None:
    with start_server(tmp_path, "--demo") as live:
        stored = event("1010")
        assert post(live, batch("demo", stored)).json()["accepted"] == 1
    assert [r["event_id"] for r in events_of(live, "demo")] == [stored["event_id"]]

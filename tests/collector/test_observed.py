"""`POST /api/observed` over real HTTP against the real server: the pageviews of a page that hid
before its tracker ran become the events the tracker would have made, stored once even when the
next page's tracker replays the same navigation from its journal."""

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from snippet.cookies import encode_cookie_value
from tests.live_server import LiveServer, run_cli, start_server
from tests.snippet import fake_browser
from tests.snippet.fake_browser import FakeBrowser, boot, el, interaction

NOW_MS = float(time.time_ns() // 1_000_000)  # the collector refuses web events a month old

TEXT_PLAIN = {"content-type": "text/plain;charset=UTF-8"}  # what sendBeacon sends with a string
USER_ID = "4503599627370495"
SESSION_ID = "5120000000000001"  # the loader's proposal (docs/protocol.md, section 1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with start_server(tmp_path_factory.mktemp("observed")) as live:
        yield live


@pytest.fixture
def app_id(server: LiveServer, request: pytest.FixtureRequest) -> str:
    created = run_cli(
        "apps", "create", "--name", request.node.name[:40], "--db", str(server.db_path)
    )
    return str(created[0]["app_id"])


def navigate(url: str = "https://shop.example.com/", **fields: Any) -> dict:
    """A navigation the loader recorded a few seconds ago."""
    return fake_browser.navigate(url, **{"time": NOW_MS - 5000, **fields})


def fallback_body(app_id: str, records: list[dict], cookies: str = "", **config: object) -> dict:
    """What snippet/loader.js sends to /api/observed at pagehide."""
    return {
        "boot": {
            "app_id": app_id,
            "config": config,
            "server": "http://127.0.0.1:8000",
            "hostname": "shop.example.com",
            "protocol": "https:",
            "in_iframe": False,
            "user_id": USER_ID,
            "session_id": SESSION_ID,
            "context": fake_browser.PAGE_CONTEXT,
        },
        "cookies": cookies,
        "records": [
            {key: r[key] for key in ("kind", "id", "time", "page", "cause")} for r in records
        ],
    }


def post(server: LiveServer, body: object, **headers: str) -> httpx.Response:
    return httpx.post(
        server.url + "/api/observed",
        content=json.dumps(body).encode(),
        headers={**TEXT_PLAIN, **headers},
    )


def events(server: LiveServer, app_id: str) -> list[dict]:
    return run_cli("events", "--db", str(server.db_path), "--app", app_id)


def test_a_pageview_is_made_as_the_tracker_makes_it_and_the_replay_is_stored_once(
    server: LiveServer, app_id: str
) -> None:
    load = navigate("https://shop.example.com/landing?utm_source=ad&card=4111111111111111")
    answer = post(server, fallback_body(app_id, [load]), origin="https://shop.example.com")
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1
    assert answer.headers["access-control-allow-origin"] == "https://shop.example.com"
    (stored,) = events(server, app_id)
    assert stored["event_id"] == load["id"] and stored["type"] == "pageview"
    assert stored["user_id"] == USER_ID
    assert stored["properties"] == {"utm_source": "ad"}
    assert "4111111111111111" not in json.dumps(stored)  # scrubbed as in the browser
    assert stored["page"]["path"] == "/landing"

    # The next page's tracker replays the journaled navigation and a click on it.
    browser = FakeBrowser(now_ms=NOW_MS)
    click = interaction("click", el("a", "Next", href="/next"), time=NOW_MS - 4000)
    boot(browser, [load, click], app_id=app_id, user_id=USER_ID, session_id=SESSION_ID)
    browser.advance(2)
    replay = httpx.post(server.url + "/api/ingest", content=browser.sent[0][1], headers=TEXT_PLAIN)
    assert replay.json() == {"accepted": 1, "duplicates": 1, "rejected": []}
    found = events(server, app_id)
    assert [e["type"] for e in found] == ["pageview", "click"]
    assert found[1]["pageview_id"] == found[0]["pageview_id"]
    assert found[1]["session_id"] == found[0]["session_id"]


def test_a_first_visits_pageview_is_stored_in_the_session_the_loader_proposed(
    server: LiveServer, app_id: str
) -> None:
    # The page hid before its Python booted, then lived on: its Python handles the navigation
    # (stored once, by the fallback) and a click, and both sides pick the proposed session.
    load = navigate()
    assert post(server, fallback_body(app_id, [load])).status_code == 200
    browser = FakeBrowser(now_ms=NOW_MS)
    click = interaction("click", el("button", "Buy"), time=NOW_MS - 4000)
    boot(browser, [load, click], app_id=app_id, user_id=USER_ID, session_id=SESSION_ID)
    browser.advance(2)
    httpx.post(server.url + "/api/ingest", content=browser.sent[0][1], headers=TEXT_PLAIN)
    found = events(server, app_id)
    assert [(e["type"], e["session_id"]) for e in found] == [
        ("pageview", SESSION_ID),
        ("click", SESSION_ID),
    ]


def test_the_visitors_cookies_give_the_user_session_and_event_properties(
    server: LiveServer, app_id: str
) -> None:
    ids = encode_cookie_value(
        {"userId": "7035907387929425", "pageviewId": "1", "sessionId": "3312313741047499"}
    )
    session = encode_cookie_value(
        {"ts": NOW_MS - 60_000, "d": "shop.example.com", "h": "/", "q": "", "g": "", "r": ""}
    )
    props = encode_cookie_value({"Logged In": True})
    cookies = (
        f"_hp2_id.{app_id}={ids}; _hp2_ses_props.{app_id}={session}; _hp2_props.{app_id}={props}"
    )
    spa = [navigate("https://shop.example.com/a"), navigate("https://shop.example.com/a?x=1")]
    spa[1]["cause"] = "replaceState"  # only the query changed: no pageview, as in the browser
    assert post(server, fallback_body(app_id, spa, cookies)).json()["accepted"] == 1
    (stored,) = events(server, app_id)
    assert (stored["user_id"], stored["session_id"]) == ("7035907387929425", "3312313741047499")
    assert stored["properties"] == {"Logged In": True}


def test_without_consent_where_it_is_required_nothing_is_stored(
    server: LiveServer, app_id: str
) -> None:
    waiting = post(server, fallback_body(app_id, [navigate()], requireConsent=True))
    out = post(server, fallback_body(app_id, [navigate()], f"_ff_consent.{app_id}=0"))
    given = post(
        server, fallback_body(app_id, [navigate()], f"_ff_consent.{app_id}=1", requireConsent=True)
    )
    assert [r.json()["accepted"] for r in (waiting, out, given)] == [0, 0, 1]
    assert len(events(server, app_id)) == 1


def test_only_navigations_are_taken(server: LiveServer, app_id: str) -> None:
    body = fallback_body(app_id, [navigate()])
    body["records"].append(interaction("click", el("button", "Secret text", id="b")))
    assert post(server, body).json()["accepted"] == 1
    assert [e["type"] for e in events(server, app_id)] == ["pageview"]


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ([], 400, "boot, cookies and records"),
        ({"records": []}, 400, "boot, cookies and records"),
        ({"boot": {"app_id": ""}, "records": []}, 400, "boot.app_id"),
        ({"boot": {"app_id": "x"}, "records": {}}, 400, "records must be an array"),
        ({"boot": {"app_id": "x"}, "records": [{"kind": "click"}]}, 400, "no navigate record"),
        ({"boot": {"app_id": "nope"}, "records": [navigate()]}, 404, "unknown app_id"),
    ],
)
def test_unusable_bodies_get_a_clear_error(
    server: LiveServer, body: object, status: int, says: str
) -> None:
    answer = post(server, body)
    assert answer.status_code == status
    assert says in answer.json()["error"]


def test_a_bad_navigation_is_passed_over_and_the_good_one_kept(
    server: LiveServer, app_id: str
) -> None:
    body = fallback_body(app_id, [navigate(), navigate("https://shop.example.com/two")])
    del body["records"][0]["page"]
    assert post(server, body).json()["accepted"] == 1
    (stored,) = events(server, app_id)
    assert stored["page"]["path"] == "/two"


def test_navigations_the_tracker_cannot_use_get_its_reason(server: LiveServer, app_id: str) -> None:
    body = fallback_body(app_id, [navigate()])
    del body["records"][0]["page"]
    answer = post(server, body)
    assert answer.status_code == 400
    assert "needs a 'page'" in answer.json()["error"]


def test_preflight_is_answered_like_ingest(server: LiveServer) -> None:
    answer = httpx.options(server.url + "/api/observed", headers={"origin": "https://a.example"})
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == "https://a.example"

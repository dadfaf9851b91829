"""The dashboard in Chromium: log in, watch live events, read a timeline, define an event."""

import json
import re
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.live_server import LiveServer, run_cli, start_server

pytestmark = pytest.mark.browser

PASSWORD = "let me in"
NOW_MS = int(time.time() * 1000)
BUY = "@div;#root;|@form;#checkout;|@button;#buy;.btn;[type=submit];|"
NAV = "@div;#root;|@nav;|@a;.nav;[href=/help];|"


def record(user_id: str, type_: str, session_id: str, at: int, **fields: object) -> dict:
    return {
        "kind": "event",
        "event_id": uuid.uuid4().hex,
        "type": type_,
        "name": fields.pop("name", type_),
        "time": at,
        "user_id": user_id,
        "session_id": session_id,
        "pageview_id": "1",
        "properties": {},
        "page": {"url": "https://shop.example.com/", "domain": "shop.example.com", "path": "/"},
        "target": fields.pop("target", None),
        **fields,
    }


def click_on(hierarchy: str, text: str) -> dict[str, str]:
    return {
        "tag": "button",
        "id": "",
        "class": "",
        "text": text,
        "href": "",
        "hierarchy": hierarchy,
    }


def ingest(server: LiveServer, *records: dict) -> None:
    body = {"app_id": "shop", "sent_at": NOW_MS, "library": "test/0", "records": list(records)}
    answer = httpx.post(
        server.url + "/api/ingest",
        content=json.dumps(body),
        headers={"content-type": "text/plain;charset=UTF-8"},
    )
    assert answer.json()["accepted"] == len(records), answer.text


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with start_server(tmp_path_factory.mktemp("dashboard"), "--admin-password", PASSWORD) as live:
        run_cli("apps", "create", "--name", "Shop", "--app-id", "shop", "--db", str(live.db_path))
        day = 24 * 3_600_000
        ingest(
            live,
            # anonymous 1001: yesterday's session, then today's
            record("1001", "pageview", "s-yesterday", NOW_MS - day),
            record(
                "1001", "click", "s-yesterday", NOW_MS - day + 1000, target=click_on(BUY, "Buy")
            ),
            record("1001", "pageview", "s-today", NOW_MS - 60_000),
            record(
                "1001",
                "click",
                "s-today",
                NOW_MS - 50_000,
                target=click_on(BUY + "@span;.icon;|", ""),
            ),
            record("1001", "click", "s-today", NOW_MS - 40_000, target=click_on(NAV, "Help")),
            # alice
            record("2002", "pageview", "s-alice", NOW_MS - 30_000),
        )
        ingest(
            live,
            {
                "kind": "identify",
                "event_id": uuid.uuid4().hex,
                "time": NOW_MS - 20_000,
                "user_id": "2002",
                "identity": "alice@example.com",
            },
        )
        yield live


def test_log_in_watch_live_events_read_a_timeline_and_define_an_event(
    server: LiveServer, page: Page
) -> None:
    page.goto(f"{server.url}/dashboard/events?app=shop")
    expect(page).to_have_url(re.compile(r"/dashboard/login\?next="))

    page.fill("input[name=password]", "not it")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_have_text("Wrong password.")

    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/dashboard/events\?app=shop$"))
    rows = page.locator("#event-rows tr")
    expect(rows).to_have_count(6)
    expect(rows.first).to_contain_text("alice@example.com")
    expect(rows.nth(1)).to_contain_text("User 1001")

    # Live: an event sent now shows up on top without reloading the page.
    page.evaluate("window.stillTheSamePage = true")
    ingest(server, record("2002", "custom", "s-alice", int(time.time() * 1000), name="Live ping"))
    expect(rows.first).to_contain_text("Live ping", timeout=10_000)
    expect(rows).to_have_count(7)
    assert page.evaluate("window.stillTheSamePage") is True

    # The timeline: today's session first, each session's events in order.
    page.locator("#event-rows a", has_text="User 1001").first.click()
    expect(page.locator("h1")).to_have_text("User 1001")
    sessions = page.locator("section.session")
    expect(sessions).to_have_count(2)
    expect(sessions.nth(0)).to_have_attribute("data-session-id", "s-today")
    expect(sessions.nth(1)).to_have_attribute("data-session-id", "s-yesterday")
    expect(sessions.nth(0).locator("tbody tr")).to_have_count(3)
    expect(sessions.nth(0).locator("tbody tr").nth(2)).to_contain_text("Help")

    # A defined event counts the clicks stored before it existed, the icon inside the button too.
    page.click("nav >> text=Defined events")
    page.fill("input[name=name]", "Hover buy")
    page.fill("input[name=selector]", "#buy:hover")
    page.click("text=Define event")
    expect(page.get_by_role("alert")).to_contain_text("pseudo-class ':hover' is not supported")
    expect(page.locator("input[name=name]")).to_have_value("Hover buy")

    page.fill("input[name=name]", "Buy clicks")
    page.select_option("select[name=event_type]", "click")
    page.fill("input[name=selector]", "form#checkout > #buy")
    page.click("text=Define event")
    expect(page.locator("h1")).to_have_text("Buy clicks")
    expect(page.locator("#defined-count")).to_have_text("2")
    expect(page.locator("svg.chart")).to_have_attribute("aria-label", re.compile(r": 2 in all$"))

    page.click("nav >> text=Defined events")
    listed = page.locator("tr", has_text="Buy clicks")
    expect(listed.locator("td.count")).to_have_text("2")

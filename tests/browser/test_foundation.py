"""End to end on the demo app that `./dev.sh demo` runs.

Heap's snippet on the demo page → Python in a worker → collector → `footfall events`.
"""

import json
import time
from collections.abc import Callable
from urllib.parse import unquote

import pytest
from playwright.sync_api import Page

from tests.live_server import LiveServer, run_cli

pytestmark = pytest.mark.browser


def wait_for_events(
    server: LiveServer, predicate: Callable[[list[dict]], bool], timeout_s: float = 20
) -> list[dict]:
    """Poll `footfall events` for the demo app until `predicate` holds for what was stored."""
    deadline = time.monotonic() + timeout_s
    while True:
        events = run_cli("events", "--db", str(server.db_path), "--app", "demo")
        if predicate(events) or time.monotonic() > deadline:
            return events
        time.sleep(0.2)


def test_pageview_and_click_reach_footfall_events(server: LiveServer, page: Page) -> None:
    warnings: list[str] = []
    page.on("console", lambda message: warnings.append(message.text))
    page.goto(f"{server.url}/demo/")
    # Clicked before Python is ready: the loader must buffer it, not lose it.
    page.click("#buy-yoyo")
    assert page.evaluate("heap.loaded") is True
    assert page.evaluate("heap.appid") == "demo"
    page.wait_for_function("heap.ready === true", timeout=30_000)

    events = wait_for_events(
        server, lambda found: {"pageview", "click"} <= {event["type"] for event in found}
    )
    by_type = {event["type"]: event for event in events}
    assert set(by_type) >= {"pageview", "click"}, (events, warnings)

    pageview, click = by_type["pageview"], by_type["click"]
    assert pageview["name"] == "pageview"
    assert pageview["target"] is None
    assert pageview["page"]["path"] == "/demo/"
    assert pageview["page"]["title"] == "Footfall demo shop"
    assert pageview["page"]["domain"] == "127.0.0.1"
    assert pageview["source"] == "web"
    assert pageview["identity"] is None
    assert pageview["time"].endswith(("Z", "+00:00"))

    assert click["target"]["tag"] == "button"
    assert click["target"]["id"] == "buy-yoyo"
    assert click["target"]["class"] == "btn"
    assert click["target"]["text"] == "Add to cart"
    assert click["target"]["hierarchy"].endswith("@button;#buy-yoyo;.btn;[type=button];|")
    assert click["target"]["hierarchy"].startswith("@div;#root;|")
    assert click["user_id"] == pageview["user_id"]
    assert click["session_id"] == pageview["session_id"]
    assert click["pageview_id"] == pageview["pageview_id"]
    assert len({event["event_id"] for event in events}) == len(events)

    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    id_cookie = json.loads(unquote(cookies["_hp2_id.demo"]["value"]))
    assert id_cookie["userId"] == pageview["user_id"] == page.evaluate("heap.userId")
    assert id_cookie["sessionId"] == pageview["session_id"]
    assert id_cookie["pageviewId"] == pageview["pageview_id"]
    assert id_cookie["trackerVersion"] == "4.0"
    assert cookies["_hp2_id.demo"]["path"] == "/"


def test_track_from_the_page_is_a_custom_event(server: LiveServer, page: Page) -> None:
    page.goto(f"{server.url}/demo/")
    page.wait_for_function("heap.ready === true", timeout=30_000)
    # Its onclick calls heap.track('Purchase', {dollars: 50, item: 'Furby'}).
    page.click("#buy-furby")

    events = wait_for_events(
        server, lambda found: any(event["name"] == "Purchase" for event in found)
    )
    purchase = next(event for event in events if event["name"] == "Purchase")
    assert purchase["type"] == "custom"
    assert purchase["properties"] == {"dollars": 50, "item": "Furby"}
    assert purchase["target"] is None
    assert purchase["page"]["path"] == "/demo/"

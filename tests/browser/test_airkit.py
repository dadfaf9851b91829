"""Airkit embeds in a real browser, with two sites on the running collector: the host page at
127.0.0.1 embeds the app from localhost (site/embed.html, site/airkit-app.html). The app loads the
tracker with `{preset: "airkit"}`, uses Airkit's two actions, and hears the host through the
postMessage bridge only when the app allows the host's origin."""

import json

from playwright.sync_api import Frame, Page

from tests.browser.conftest import Demo
from tests.live_server import run_cli

APP_HOST = "localhost"  # the iframe's site; the host page is at 127.0.0.1


def app_frame(page: Page) -> Frame:
    """The embedded app's frame, once its tracker is ready."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('iframe')].some(f => f.src.includes('airkit-app'))"
    )
    page.wait_for_load_state()
    frame = next(f for f in page.frames if "airkit-app.html" in f.url)
    frame.wait_for_function("window.heap && heap.ready === true", timeout=30_000)
    return frame


def id_cookies(page: Page, app_id: str) -> list[dict]:
    """Every `_hp2_id` cookie of the app's site, each with its `partitionKey` if partitioned."""
    cookies = page.context.cookies()
    return [c for c in cookies if c["name"] == f"_hp2_id.{app_id}" and c["domain"] == APP_HOST]


def allow_host(demo: Demo) -> None:
    run_cli(
        "apps", "update", demo.app_id, "--db", str(demo.server.db_path),
        "--allow-origin", demo.server.url,
    )  # fmt: skip


def test_the_embed_keeps_its_user_across_reloads_in_partitioned_secure_cookies(
    demo: Demo,
) -> None:
    demo.page.goto(demo.url("embed.html"))
    user_id = app_frame(demo.page).evaluate("heap.userId")
    assert user_id
    for _ in range(2):
        demo.page.reload()
        assert app_frame(demo.page).evaluate("heap.userId") == user_id
    [embedded] = id_cookies(demo.page, demo.app_id)
    assert embedded["secure"] is True and embedded["sameSite"] == "None"
    assert embedded.get("partitionKey") == "http://127.0.0.1"  # in the host site's partition

    # The same app opened first-party: its own, unpartitioned cookie (a different jar).
    port = demo.server.url.rsplit(":", 1)[1]
    demo.page.goto(f"http://{APP_HOST}:{port}/demo/airkit-app.html?app={demo.app_id}")
    demo.page.wait_for_function("heap.ready === true", timeout=30_000)
    first_party = [c for c in id_cookies(demo.page, demo.app_id) if not c.get("partitionKey")]
    assert len(first_party) == 1
    assert first_party[0]["secure"] is True and first_party[0]["sameSite"] == "None"


def test_airkit_actions_and_the_allowed_host_reach_footfall_events(demo: Demo) -> None:
    allow_host(demo)
    demo.page.goto(demo.url("embed.html"))
    frame = app_frame(demo.page)
    demo.page.click("#sign-in")
    demo.page.wait_for_function("document.querySelector('#app-user').textContent !== ''")
    assert demo.page.text_content("#app-user") == frame.evaluate("heap.userId")
    assert frame.evaluate("heap.identity") == "alice@example.com"
    frame.click("#book")

    def complete(events: list[dict]) -> bool:
        names = {event["name"] for event in events}
        return {"Partner signed in", "Appointment booked", "click"} <= names

    events = demo.events(complete)
    assert complete(events), events
    by_name = {event["name"]: event for event in events}
    assert by_name["Appointment booked"]["properties"]["slot"] == "Tue 10:00"
    assert by_name["Partner signed in"]["properties"]["partner"] == "127.0.0.1"
    assert by_name["click"]["target"]["text"] == ""  # the preset's disableTextCapture
    assert "Alice Example" not in json.dumps(events) and "4111" not in json.dumps(events)
    [user] = [u for u in demo.users() if u["identity"] == "alice@example.com"]
    assert user["properties"]["partner_plan"] == "gold"
    assert {event["user_id"] for event in events} <= {user["user_id"], *user["merged_user_ids"]}


def test_a_third_origin_changes_nothing_and_is_reported_once(demo: Demo) -> None:
    allow_host(demo)  # 127.0.0.1 may; evil.localhost, embedding the same app, may not
    warnings: list[str] = []
    demo.page.on("console", lambda message: warnings.append(message.text))
    port = demo.server.url.rsplit(":", 1)[1]
    demo.page.goto(f"http://evil.localhost:{port}/demo/embed.html?app={demo.app_id}")
    frame = app_frame(demo.page)
    user_id = frame.evaluate("heap.userId")
    demo.page.click("#sign-in")
    refused = f"ignored a bridge message from http://evil.localhost:{port}"
    for _ in range(300):
        if any(refused in text for text in warnings):
            break
        demo.page.wait_for_timeout(100)
    # Records are handled in order: once the app's own event is stored, so are the host's.
    frame.evaluate("heap.track('After the host')")
    events = demo.events(lambda found: any(e["name"] == "After the host" for e in found))
    assert "After the host" in {event["name"] for event in events}
    assert "Partner signed in" not in {event["name"] for event in events}
    assert frame.evaluate("[heap.userId, heap.identity]") == [user_id, None]
    assert demo.page.text_content("#app-user") == ""
    assert all(user["identity"] is None for user in demo.users())
    assert all("partner_plan" not in user["properties"] for user in demo.users())
    assert len([text for text in warnings if refused in text]) == 1, warnings

"""Heap's web API in a real browser, into `footfall events` / `footfall users`: identify and reset
flows, event properties in `_hp2_props`, queued calls, invalid calls, and Heap cookies adopted."""

from urllib.parse import quote

import pytest
from playwright.sync_api import Browser

from collector.demo_site import install_snippet
from tests.browser.conftest import Demo, of_type

pytestmark = pytest.mark.browser


def test_identify_then_reset_follows_heaps_identity_rules(demo: Demo) -> None:
    demo.open("form.html")
    anonymous_id = demo.page.evaluate("heap.userId")
    demo.page.fill("#email", "kate@example.com")
    demo.page.select_option("#plan", "Pro")
    demo.page.click("#submit-signup")  # identify(email) + addUserProperties({plan})
    demo.page.wait_for_function("heap.identity === 'kate@example.com'")
    assert demo.page.evaluate("heap.userId") == anonymous_id  # anonymous → new identity

    demo.page.click("#logout")  # resetIdentity
    demo.page.wait_for_function("heap.identity === null")
    reset_id = demo.page.evaluate("heap.userId")
    assert reset_id != anonymous_id
    demo.page.click("#plan")

    def after_reset(found: list[dict]) -> bool:
        return any(event["user_id"] == reset_id for event in found)

    events = demo.events(after_reset)
    before = [event for event in events if event["user_id"] == anonymous_id]
    after = [event for event in events if event["user_id"] == reset_id]
    assert before and after
    assert {event["identity"] for event in before} == {"kate@example.com"}
    assert {event["identity"] for event in after} == {None}
    assert {event["session_id"] for event in before}.isdisjoint(
        {event["session_id"] for event in after}
    )
    users = {user["user_id"]: user for user in demo.users()}
    assert users[anonymous_id]["identity"] == "kate@example.com"
    assert users[anonymous_id]["properties"] == {"plan": "Pro"}
    cookie = demo.cookie_json("_hp2_id")
    assert isinstance(cookie, dict)
    assert cookie["userId"] == reset_id and cookie["identity"] is None


def test_same_identity_on_a_second_device_merges_its_history(demo: Demo, browser: Browser) -> None:
    demo.open()
    demo.page.evaluate("heap.identify('jack@example.com')")
    first_device = demo.page.evaluate("heap.userId")

    phone = browser.new_context()
    phone_page = phone.new_page()
    phone_page.goto(demo.url())
    phone_page.wait_for_function("heap.ready === true", timeout=30_000)
    second_device = phone_page.evaluate("heap.userId")
    phone_page.click("#buy-yoyo")  # anonymous history on the second device
    phone_page.evaluate("heap.identify('jack@example.com')")

    def merged(found: list[dict]) -> bool:
        clicks = [event for event in found if event["type"] == "click"]
        return bool(clicks) and clicks[0]["identity"] == "jack@example.com"

    events = demo.events(merged)
    phone.close()
    click = next(event for event in events if event["type"] == "click")
    assert click["identity"] == "jack@example.com"
    assert click["user_id"] == first_device  # anonymous → existing identity: history merged
    users = [user for user in demo.users() if user["identity"] == "jack@example.com"]
    assert len(users) == 1
    assert users[0]["user_id"] == first_device
    assert second_device in users[0]["merged_user_ids"]


def test_event_properties_persist_in_hp2_props_and_ride_on_every_event(demo: Demo) -> None:
    demo.open()
    demo.page.evaluate("heap.addEventProperties({'Logged In': true, 'Plan': 'Free'})")
    demo.page.evaluate("heap.removeEventProperty('Plan')")
    demo.page.wait_for_function(
        f"document.cookie.includes('_hp2_props.{demo.app_id}=%7B%22Logged%20In%22%3Atrue%7D')"
    )
    demo.open()  # a new page load: the properties come back from the cookie
    demo.page.click("#buy-yoyo")
    events = demo.events(of_type("click"))
    click = next(event for event in events if event["type"] == "click")
    pageviews = [event for event in events if event["type"] == "pageview"]
    assert click["properties"] == {"Logged In": True}
    assert pageviews[-1]["properties"].get("Logged In") is True
    assert demo.cookie_json("_hp2_props") == {"Logged In": True}

    demo.page.evaluate("heap.clearEventProperties(); heap.track('After clear')")
    events = demo.events(lambda found: any(e["name"] == "After clear" for e in found))
    after = next(event for event in events if event["name"] == "After clear")
    assert "Logged In" not in after["properties"]


def test_calls_queued_before_load_replay_in_call_order(demo: Demo) -> None:
    # The stub queues calls as [method, ...args] in the window.heap array until the script loads.
    demo.page.add_init_script(
        "window.heap = [['track', 'Queued early', {n: 1}], ['identify', 'queued@example.com'],"
        " ['track', 'Logout'], ['resetIdentity'], ['addEventProperties', {Plan: 'Pro'}]];"
    )
    demo.open()
    events = demo.events(lambda found: any(e["type"] == "pageview" for e in found))
    by_name = {event["name"]: event for event in events}
    queued, logout, pageview = by_name["Queued early"], by_name["Logout"], by_name["pageview"]
    assert queued["identity"] == "queued@example.com"  # identify merged the anonymous user in
    assert queued["properties"] == {"n": 1}
    assert logout["identity"] == "queued@example.com" and logout["properties"] == {}
    assert pageview["identity"] is None and pageview["user_id"] != logout["user_id"]
    assert pageview["properties"] == {"Plan": "Pro"}  # the stub's calls came before the load
    assert demo.page.evaluate("heap.identity") is None


def test_a_deeply_nested_queued_call_costs_nothing_else(demo: Demo) -> None:
    # One call's properties nested thousands deep ride in the boot message with every record.
    demo.page.add_init_script(
        """let deep = {}; for (let i = 0; i < 3000; i++) deep = {d: deep};
        window.heap = [['track', 'Deep', deep], ['track', 'Queued after it']];"""
    )
    demo.open()
    events = demo.events(lambda found: any(e["name"] == "Queued after it" for e in found))
    assert {"pageview", "Deep", "Queued after it"} <= {event["name"] for event in events}


def test_invalid_calls_warn_once_and_never_throw(demo: Demo) -> None:
    warnings: list[str] = []
    errors: list[str] = []
    demo.page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    demo.page.on("pageerror", lambda error: errors.append(str(error)))
    demo.open()
    demo.page.evaluate(
        """() => {
        heap.identify('guest');
        heap.identify('');
        heap.track('x'.repeat(300));
        heap.track('Good', {ok: 1, bad: 'v'.repeat(2000)});
        heap.addUserProperties({user_id: 5});
        heap.push(['track', 'Pushed after load']);
        heap.load('another-app');
        return heap.identity;
    }"""
    )
    events = demo.events(lambda found: any(e["name"] == "Pushed after load" for e in found))
    names = [event["name"] for event in events]
    assert "Good" in names and "Pushed after load" in names
    assert not any(len(name) > 255 for name in names)
    good = next(event for event in events if event["name"] == "Good")
    assert good["properties"] == {"ok": 1}
    assert all(event["identity"] is None for event in events)
    demo.page.wait_for_timeout(300)  # Playwright delivers console events while it is called
    footfall = [text for text in warnings if text.startswith("[footfall]")]
    assert any("guest" in text for text in footfall)
    assert any("255" in text for text in footfall)
    assert any("user_id" in text for text in footfall)
    assert len(footfall) >= 5
    assert errors == []


def test_a_second_snippet_is_harmless(demo: Demo) -> None:
    # Heap's stub, run again, replaces heap.track & co. with functions that call heap.push.
    errors: list[str] = []
    demo.page.on("pageerror", lambda error: errors.append(str(error)))
    demo.open()
    stub = install_snippet(demo.server.url, demo.app_id)
    body = stub.removeprefix('<script type="text/javascript">').removesuffix("</script>")
    demo.page.evaluate(f"() => {{ {body} }}")
    demo.page.evaluate("heap.track('After a second snippet', {n: 2})")
    events = demo.events(lambda found: any(e["name"] == "After a second snippet" for e in found))
    after = [event for event in events if event["name"] == "After a second snippet"]
    assert [event["properties"] for event in after] == [{"n": 2}]
    assert errors == []


def test_a_tracker_that_never_starts_keeps_a_bounded_buffer(demo: Demo) -> None:
    # The worker cannot load (say a CSP forbids it): the loader must not hoard the page's records.
    warnings: list[str] = []
    demo.page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    demo.page.route("**/js/w/**", lambda route: route.abort())
    demo.open(wait_ready=False)
    demo.page.wait_for_function("heap.loaded === true")
    demo.page.evaluate("() => { for (let i = 0; i < 1500; i++) heap.track('Early ' + i); }")
    demo.page.wait_for_timeout(300)  # Playwright delivers console events while it is called
    assert any("has not started" in text for text in warnings)
    assert demo.page.evaluate("heap.ready") is False


def test_a_visitor_with_heaps_cookie_keeps_their_user_id(demo: Demo) -> None:
    heap_cookie = (
        '{"userId":"7035907387929425","pageviewId":"3533035492830499",'
        '"sessionId":"3312313741047499","identity":null,"trackerVersion":"4.0"}'
    )
    host = demo.server.url.split("//")[1].split(":")[0]
    demo.page.context.add_cookies(
        [
            {
                "name": f"_hp2_id.{demo.app_id}",
                "value": quote(heap_cookie, safe=""),
                "domain": host,
                "path": "/",
            }
        ]
    )
    demo.open()
    assert demo.page.evaluate("heap.userId") == "7035907387929425"
    events = demo.events(of_type("pageview"))
    assert events[0]["user_id"] == "7035907387929425"

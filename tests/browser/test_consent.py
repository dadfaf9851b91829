"""Consent, beyond Heap: with `requireConsent`, nothing is stored or sent before `heap.optIn()`;
`heap.optOut()` clears our cookies and stops capture, on this page and the next."""

import pytest

from tests.browser.conftest import Demo, of_type

pytestmark = pytest.mark.browser


def our_cookies(demo: Demo) -> list[str]:
    return [c["name"] for c in demo.page.context.cookies() if c["name"].startswith("_hp2_")]


def test_nothing_is_stored_or_sent_before_opt_in(demo: Demo) -> None:
    ingest: list[str] = []
    demo.page.context.on(
        "request",
        lambda request: ingest.append(request.url) if "/api/ingest" in request.url else None,
    )
    demo.open("consent.html")
    demo.page.click("#buy")
    demo.page.wait_for_timeout(2500)  # longer than a batch takes to go out
    assert ingest == []
    assert our_cookies(demo) == []

    demo.page.click("#accept")
    demo.page.click("#buy")
    events = demo.events(of_type("click"))
    clicked = [event["target"]["id"] for event in events if event["type"] == "click"]
    assert "buy" in clicked and "accept" in clicked
    assert f"_hp2_id.{demo.app_id}" in our_cookies(demo)

    demo.open("consent.html")  # the choice is remembered: no new optIn needed
    demo.page.click("#buy")
    events = demo.events(lambda found: sum(e["type"] == "pageview" for e in found) >= 2)
    assert sum(event["type"] == "pageview" for event in events) >= 2


def test_opt_out_clears_cookies_and_stops_capture(demo: Demo) -> None:
    demo.open("consent.html")
    demo.page.click("#accept")
    demo.events(of_type("click"))
    assert our_cookies(demo)

    demo.page.click("#decline")
    demo.page.wait_for_function(f"!document.cookie.includes('_hp2_id.{demo.app_id}')")
    assert our_cookies(demo) == []
    stored = len(demo.events())
    demo.page.click("#buy")
    demo.open("consent.html")  # a later page honours the opt-out too
    demo.page.click("#buy")
    demo.page.wait_for_timeout(2500)
    assert len(demo.events()) == stored
    assert our_cookies(demo) == []

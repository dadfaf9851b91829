"""Context in a real browser: the page's screen, viewport, language and time zone, the
request's browser and place (the visitor's address forwarded by a trusted proxy on loopback), on
every exported event, and the user's initial properties, set on the first visit and never
changed."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import Demo, of_type
from tests.forwarding_proxy import ForwardingProxy
from tests.live_server import LiveServer, start_server

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1024, "height": 700}
LONDON, MOUNTAIN_VIEW = "81.2.69.142", "8.8.8.8"  # where the bundled DB-IP database puts them


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tracker_bundle: Path) -> Iterator[LiveServer]:
    """A collector that believes X-Forwarded-For from loopback, where the test's proxy is."""
    with start_server(
        tmp_path_factory.mktemp("context"), "--demo", "--trusted-proxy", "127.0.0.1"
    ) as live:
        yield live


@pytest.fixture
def browser_context_args(browser_context_args: dict) -> dict:
    return {
        **browser_context_args,
        "viewport": VIEWPORT,
        "locale": "de-CH",
        "timezone_id": "Europe/Zurich",
    }


@pytest.fixture
def proxy(server: LiveServer) -> Iterator[ForwardingProxy]:
    """The HTTPS proxy in front of the collector, on loopback: the page, the tracker and its
    batches all go through it, and it forwards the visitor's address."""
    with ForwardingProxy(server.url, forwarded_for=LONDON) as running:
        yield running


def open_page(page: Page, proxy: ForwardingProxy, demo: Demo, path: str, query: str) -> str:
    url = f"{proxy.url}/demo/{path}?app={demo.app_id}&{query}"
    page.goto(url)
    page.wait_for_function("heap.ready === true", timeout=30_000)
    return url


def test_events_and_users_are_exported_with_their_context(
    demo: Demo, page: Page, proxy: ForwardingProxy
) -> None:
    landing = open_page(page, proxy, demo, "", "utm_source=newsletter&utm_campaign=spring")
    [pageview] = [e for e in demo.events(of_type("pageview")) if e["type"] == "pageview"]
    context = pageview["context"]
    screen = page.evaluate("[screen.width, screen.height]")
    assert context["screen"] == {"width": screen[0], "height": screen[1]}
    assert context["viewport"] == VIEWPORT
    assert context["language"] == "de-CH" and context["time_zone"] == "Europe/Zurich"
    user_agent = page.evaluate("navigator.userAgent")
    assert "Chrome" in context["browser"] and context["browser_version"] in user_agent
    assert context["os"] == "Linux" and context["device_type"] == "Desktop"
    assert (context["country"], context["region"], context["city"]) == ("GB", "England", "London")
    assert context["ip"] is None  # not kept without --store-ip

    [user] = demo.users()
    assert user["initial_properties"] == {
        "Initial Referrer": "",
        "Initial Landing Page": landing,
        "Initial UTM Source": "newsletter",
        "Initial UTM Campaign": "spring",
        "Initial Browser": context["browser"],
        "Initial Device Type": "Desktop",
        "Initial Platform": "Linux",
        "Initial Country": "GB",
        "Initial Region": "England",
        "Initial City": "London",
    }

    # The same visitor, later, from elsewhere, in a new session: the events say where they are
    # now; the initial properties stay those of the first visit.
    proxy.forwarded_for = MOUNTAIN_VIEW
    page.context.clear_cookies(name=f"_hp2_ses_props.{demo.app_id}")
    open_page(page, proxy, demo, "spa.html", "utm_source=ads")
    page.evaluate("heap.track('Came back')")
    came_back = demo.events(lambda found: any(e["name"] == "Came back" for e in found))
    [later] = [e for e in came_back if e["name"] == "Came back"]
    assert later["user_id"] == pageview["user_id"]
    assert later["session_id"] != pageview["session_id"]
    assert later["context"]["city"] == "Mountain View"
    assert [u["initial_properties"] for u in demo.users()] == [user["initial_properties"]]

"""Heap's current install snippet (developers.heap.io/docs/web), verbatim but for its host, and
the classic one, in a real browser on a site of their own origin: every method of both snippets,
the calls queued before the tracker loaded replayed in order, and `heap.userId` read at once on a
visitor's first page, then found in `footfall events` / `footfall users`."""

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Page

from collector.demo_site import HEAP_CURRENT_SNIPPET, HEAP_V4_SNIPPET
from tests.browser.conftest import Demo
from tests.browser.host_page import HostSite, host_site
from tests.live_server import LiveServer

pytestmark = pytest.mark.browser
# Heap's current snippet, the same pointed at the classic path, and the classic snippet.
SNIPPETS = ("current", "current-at-js-path", "classic")
USER_ID = re.compile(r"[1-9]\d{14,15}")
# Every method of Heap's current snippet (the list in its text), then the classic one's.
CURRENT_METHODS = re.findall(r'"(\w+)"', re.findall(r"n=\[(.*?)\]", HEAP_CURRENT_SNIPPET)[0])
CLASSIC_METHODS = re.findall(r'"(\w+)"', re.findall(r"p=\[(.*?)\]", HEAP_V4_SNIPPET, re.S)[0])
BODY = "<div id=card class=card><p id=blurb>A yo-yo <b>card</b></p></div>"
# Read the instant the loader has run (a capture listener on its script element's load):
# what a page's own script right after the snippet's load sees, before Python has started.
AT_LOAD = """<script nonce="footfall-test">
document.addEventListener('load', (event) => {
  if (!/heap_config\\.js|heap-.*\\.js/.test(event.target.src || '')) return;
  window.atLoad = {userId: heap.userId, getUserId: heap.getUserId(), ready: heap.ready,
                   loaded: heap.loaded};
}, true);
</script>"""


def host_page(site: HostSite, path: str, server: LiveServer, app_id: str, snippet: str,
              **options: Any) -> str:  # fmt: skip
    """Serve a host page with `snippet` (one of SNIPPETS); its URL."""
    url = site.page(path, server.url, app_id, current=snippet != "classic", **options)
    if snippet == "current-at-js-path":
        html, headers = site.pages[path]
        config_path, js_path = '/config/"+e+"/heap_config.js"', '/js/heap-"+e+".js"'
        assert html.count(config_path) == 1
        site.pages[path] = (html.replace(config_path, js_path), headers)
    return url


@pytest.fixture(scope="module")
def site() -> Iterator[HostSite]:
    with host_site() as serving:
        yield serving


class Visit(Demo):
    """Host pages in `page`, with our console warnings and the page's errors, and what the
    collector stored for the app (Demo's events and users)."""

    def __init__(self, page: Page, server: LiveServer, app_id: str) -> None:
        super().__init__(server, app_id, page)
        self.warnings: list[str] = []
        self.errors: list[str] = []
        page.on("console", lambda m: self.warnings.append(m.text) if "[footfall]" in m.text else 0)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def go(self, url: str) -> None:
        """Open `url` and wait until the tracker has started."""
        self.page.goto(url)
        self.page.wait_for_function("heap.ready === true", timeout=60_000)

    def named(self, name: str) -> Callable[[list[dict]], bool]:
        return lambda found: any(event["name"] == name for event in found)

    def warnings_once(
        self, enough: Callable[[list[str]], bool], timeout_s: float = 10
    ) -> list[str]:
        """The warnings, once `enough` holds or `timeout_s` passed. A warning the worker posted
        reaches `self.warnings` only while Playwright is called (sync API), so this keeps
        calling it: the events being stored does not mean the page's console was read."""
        deadline = time.monotonic() + timeout_s
        while not enough(self.warnings) and time.monotonic() < deadline:
            self.page.wait_for_timeout(50)
        return self.warnings


@pytest.fixture
def visit(page: Page, server: LiveServer, app_id: str) -> Visit:
    return Visit(page, server, app_id)


def test_the_current_snippet_replays_its_queue_in_call_order(
    visit: Visit, site: HostSite, server: LiveServer, app_id: str
) -> None:
    # Called right after the snippet, before the tracker's script ran: the stubs queue them in
    # window.heapReadyCb as {name, fn}.
    queued = """<script nonce="footfall-test">
    heap.track('Queued early', {n: 1});
    heap.identify('queued@example.com');
    heap.addUserProperties({Plan: 'Pro'});
    heap.track('Logout');
    heap.resetIdentity();
    heap.addEventProperties({'Logged In': false});
    heap.addPageviewProperties({Section: 'Landing'});
    heap.onReady(() => { window.readyUserId = heap.getUserId(); });
    heap.addTransformer('rename', (event) => event);
    heap.getUserId();
    </script>"""
    visit.go(site.page("/queued", server.url, app_id, current=True, after=queued, body=BODY))
    assert visit.page.evaluate("heap.loaded") is True
    assert visit.page.evaluate("window.heapReadyCb.length") == 0
    events = visit.events(lambda found: {"Queued early", "Logout", "pageview"} <= named(found))
    by_name = {event["name"]: event for event in events}
    early, logout, pageview = by_name["Queued early"], by_name["Logout"], by_name["pageview"]
    assert early["identity"] == "queued@example.com" and early["properties"] == {"n": 1}
    assert logout["identity"] == "queued@example.com" and logout["properties"] == {}
    assert pageview["identity"] is None and pageview["user_id"] != logout["user_id"]
    assert pageview["properties"] == {"Logged In": False, "Section": "Landing"}
    assert visit.page.evaluate("window.readyUserId") == pageview["user_id"]
    users = {user["user_id"]: user for user in visit.users()}
    assert users[logout["user_id"]]["properties"] == {"Plan": "Pro"}
    hook = "heap.addTransformer is accepted and has no effect"
    assert any(hook in w for w in visit.warnings_once(lambda ws: any(hook in w for w in ws)))
    assert visit.errors == []


def named(events: list[dict]) -> set[str]:
    return {event["name"] for event in events}


@pytest.mark.parametrize("snippet", SNIPPETS)
def test_every_method_of_both_snippets_exists_and_does_what_heap_documents(
    visit: Visit, site: HostSite, server: LiveServer, app_id: str, snippet: str
) -> None:
    url = host_page(site, f"/{snippet}", server, app_id, snippet, body=BODY)
    visit.go(url)
    missing = visit.page.evaluate(
        "(names) => names.filter((name) => typeof heap[name] !== 'function')",
        [*CURRENT_METHODS, *CLASSIC_METHODS, "push", "load"],
    )
    assert missing == []
    assert visit.page.evaluate("[heap.appid, heap.loaded]") == [app_id, True]
    user_id = visit.page.evaluate("heap.getUserId()")
    assert user_id == visit.page.evaluate("heap.userId") and USER_ID.fullmatch(user_id)
    assert visit.page.evaluate("heap.getIdentity()") is None
    session_id = visit.page.evaluate("heap.getSessionId()")

    visit.page.evaluate(
        """() => {
        heap.addEventProperties({Plan: 'Pro', Gone: 1});
        heap.removeEventProperty('Gone');
        heap.addPageviewProperties({Section: 'Shop', Tab: 'All'});
        heap.removePageviewProperty('Tab');
        heap.track('Bought', {item: 'yo-yo'});
        heap.addUserProperties({Name: 'Kate'});
        heap.addAccountProperties({Tier: 'Gold', Seats: 5});
        heap.identify('kate@example.com');
        heap.addAdapter({name: 'an adapter'});
        heap.addTransformerFn('t', (event) => event);
        heap.addTransformerFn('t2', (event) => event);
        heap.init('another-env');
        heap.clearPageviewProperties();
        heap.track('After clearing', {});
        heap.trackPageview({Step: 'Checkout'});
        heap.track('On the tracked pageview');
        heap.clearEventProperties();
        heap.track('Plain');
    }"""
    )
    visit.page.wait_for_function("heap.getIdentity() === 'kate@example.com'")
    assert visit.page.evaluate("heap.identity") == "kate@example.com"
    events = visit.events(visit.named("Plain"))
    by_name = {event["name"]: event for event in events}
    assert by_name["Bought"]["properties"] == {"Plan": "Pro", "Section": "Shop", "item": "yo-yo"}
    assert by_name["Bought"]["session_id"] == session_id
    assert by_name["After clearing"]["properties"] == {"Plan": "Pro"}
    tracked = [e for e in events if e["type"] == "pageview" and e["properties"].get("Step")]
    assert [e["properties"] for e in tracked] == [{"Plan": "Pro", "Step": "Checkout"}]
    on_it = by_name["On the tracked pageview"]
    assert on_it["pageview_id"] == tracked[0]["pageview_id"]
    assert on_it["properties"] == {"Plan": "Pro", "Step": "Checkout"}
    assert by_name["Plain"]["properties"] == {"Step": "Checkout"}
    assert {event["identity"] for event in events} == {"kate@example.com"}
    users = {user["user_id"]: user for user in visit.users()}
    assert users[user_id]["identity"] == "kate@example.com"
    assert users[user_id]["properties"] == {"Name": "Kate"}
    assert users[user_id]["account_properties"] == {"Tier": "Gold", "Seats": 5}

    def hooks(warnings: list[str]) -> list[str]:
        return [w for w in warnings if "is accepted and has no effect" in w]

    def second_load(warnings: list[str]) -> bool:
        return any("already loaded" in w for w in warnings)

    warnings = visit.warnings_once(lambda ws: len(hooks(ws)) >= 2 and second_load(ws))
    assert len(hooks(warnings)) == 2  # addAdapter once, addTransformerFn once for its two calls
    assert second_load(warnings)  # init, as a second load
    assert visit.errors == []


def test_stop_and_start_tracking_are_consent(
    visit: Visit, site: HostSite, server: LiveServer, app_id: str
) -> None:
    visit.go(site.page("/consent", server.url, app_id, current=True, body=BODY))
    before = visit.page.evaluate("heap.getUserId()")
    visit.page.evaluate("heap.stopTracking(); heap.track('While stopped')")
    visit.page.wait_for_function(f"!document.cookie.includes('_hp2_id.{app_id}=')")
    visit.page.evaluate("heap.startTracking(); heap.track('Started again')")
    events = visit.events(visit.named("Started again"))
    assert "While stopped" not in named(events)
    again = next(event for event in events if event["name"] == "Started again")
    assert again["user_id"] != before  # Footfall's opt-out forgets the visitor
    assert visit.page.evaluate("heap.getUserId()") == again["user_id"]


@pytest.mark.parametrize("snippet", SNIPPETS)
def test_a_first_page_reads_heap_user_id_at_once_and_it_is_the_exported_one(
    visit: Visit, site: HostSite, server: LiveServer, app_id: str, snippet: str
) -> None:
    url = host_page(site, f"/first-{snippet}", server, app_id, snippet, after=AT_LOAD)
    visit.go(url)
    at_load = visit.page.evaluate("window.atLoad")
    assert at_load["ready"] is False and at_load["loaded"] is True  # Python had not started
    user_id = at_load["userId"]
    assert USER_ID.fullmatch(user_id) and at_load["getUserId"] == user_id
    assert visit.page.evaluate("heap.userId") == user_id  # the tracker kept it
    visit.page.evaluate("heap.track('Landing')")
    events = visit.events(visit.named("Landing"))
    assert {event["user_id"] for event in events} == {user_id}
    assert [user["user_id"] for user in visit.users()] == [user_id]


def test_under_require_consent_the_first_page_id_is_kept_only_after_opt_in(
    visit: Visit, site: HostSite, server: LiveServer, app_id: str
) -> None:
    url = site.page(
        "/first-consent", server.url, app_id, current=True, after=AT_LOAD,
        config={"requireConsent": True},
    )  # fmt: skip
    visit.go(url)
    user_id = visit.page.evaluate("window.atLoad.userId")
    assert USER_ID.fullmatch(user_id)
    visit.page.evaluate("window.dispatchEvent(new Event('pagehide'))")  # the journal's moment
    stored = visit.page.evaluate(
        "[document.cookie, Object.keys(localStorage).filter((key) => key.includes(heap.appid))]"
    )
    assert stored == ["", []]  # nothing of ours before consent
    visit.page.evaluate("heap.startTracking(); heap.track('Consented')")
    events = visit.events(visit.named("Consented"))
    assert {event["user_id"] for event in events} == {user_id}
    visit.page.wait_for_function(f"document.cookie.includes('{user_id}')")


def test_a_second_copy_of_the_current_snippet_is_harmless(
    visit: Visit, site: HostSite, server: LiveServer, app_id: str
) -> None:
    visit.go(site.page("/twice", server.url, app_id, current=True, body=BODY))
    # A second copy (say one inline, one from a tag manager): its stubs replace heap.track & co.
    # and queue in the same window.heapReadyCb, which runs them at once.
    snippet = HEAP_CURRENT_SNIPPET.replace("https://cdn.us.heap-api.com", server.url)
    body = snippet.removeprefix('<script type="text/javascript">').removesuffix("</script>")
    visit.page.evaluate(f"() => {{ {body % {'app_id': repr(app_id), 'config': ''}} }}")
    visit.page.evaluate("heap.track('After a second snippet', {n: 2}); heap.identify('two')")
    events = visit.events(visit.named("After a second snippet"))
    after = [event for event in events if event["name"] == "After a second snippet"]
    assert [(event["properties"], event["identity"]) for event in after] == [({"n": 2}, "two")]
    assert visit.page.evaluate("[heap.loaded, window.heapReadyCb.length]") == [True, 0]
    assert visit.errors == []

"""Hostile host pages (issue 8 item 7, issue 10's "Host pages"): Content-Security-Policies, no
Worker, builtins replaced after load, throwing getters and storage, arguments that cannot become
strings, a sandboxed iframe. No exception of ours ever reaches the page, `heap.*` keeps working,
a page that cannot run the tracker gets one warning and still has its pageviews counted (by the
collector's fallback), and the README's policy is proven to work.

Each page lives on its own origin (another port on loopback), as a site and its Footfall server
do, so the tracker's worker starts from a `blob:` URL under the page's policy."""

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page

from tests.browser.host_page import HostSite, host_site
from tests.live_server import LiveServer, run_cli

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
NONCE = "'nonce-footfall-test'"
BUY = "<button id=buy type=button>Buy</button>"


@pytest.fixture(scope="module")
def site() -> Iterator[HostSite]:
    with host_site() as serving:
        yield serving


class Visit:
    """A page in a fresh browser context, with our console warnings and the page's errors."""

    def __init__(self, browser: Browser) -> None:
        self.context = browser.new_context()
        self.page: Page = self.context.new_page()
        self.warnings: list[str] = []
        self.errors: list[str] = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _on_console(self, message: ConsoleMessage) -> None:
        if "[footfall]" in message.text:
            self.warnings.append(message.text)

    def open(self, url: str, until: str = "heap.ready === true") -> None:
        """Go to `url` and wait until the tracker reached `until`."""
        self.page.goto(url)
        assert self.until(f"window.heap && {until}"), self.warnings

    def until(self, expression: str, timeout_s: float = 60) -> bool:
        """Poll `expression` (page.evaluate works under any CSP; wait_for_function does not)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.page.evaluate(expression):
                return True
            time.sleep(0.25)
        return False

    def leave(self) -> None:
        """Go to another page (pagehide: the journal and the fallback beacon). The context stays
        open until the test closes it: closing a browser profile may cut a beacon short."""
        self.page.goto("about:blank")


def events(server: LiveServer, app_id: str, path: str, count: int = 1) -> list[dict]:
    """The app's events on `path`, once `count` are stored (or 20 s passed)."""
    deadline = time.monotonic() + 20
    while True:
        found = [
            event
            for event in run_cli("events", "--db", str(server.db_path), "--app", app_id)
            if event["page"]["path"] == path
        ]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def readme_policy(server: LiveServer) -> str:
    """The Content-Security-Policy the README tells sites to set, for this server; the site's
    own inline snippet is allowed by its nonce."""
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"^Content-Security-Policy: (.+)$", readme, re.MULTILINE)
    assert found, "the README must give the Content-Security-Policy a site needs"
    policy = found.group(1).replace("https://footfall.example.com", server.url)
    return policy.replace("'self'", f"'self' {NONCE}")


def test_the_readme_policy_lets_the_tracker_run_with_no_warning(
    browser: Browser, server: LiveServer, app_id: str, site: HostSite
) -> None:
    policy = readme_policy(server)
    url = site.page(
        "/csp/readme", server.url, app_id, body=BUY, headers={"Content-Security-Policy": policy}
    )
    visit = Visit(browser)
    visit.open(url)
    visit.page.click("#buy")
    found = events(server, app_id, "/csp/readme", 2)
    assert sorted(event["type"] for event in found) == ["click", "pageview"]
    assert (visit.warnings, visit.errors) == ([], [])
    visit.context.close()


@pytest.mark.parametrize(
    ("policy", "directive"),
    [
        (
            "script-src {nonce} {server}; worker-src blob: {server}; connect-src {server}",
            "script-src",
        ),
        (
            "script-src {nonce} {server} 'wasm-unsafe-eval'; worker-src blob:; "
            "connect-src {server}",
            "worker-src",
        ),
        (
            "script-src {nonce} {server} 'wasm-unsafe-eval'; worker-src {server}; "
            "connect-src {server}",
            "worker-src",
        ),
    ],
    ids=["no-wasm-unsafe-eval", "worker-src-blob-only", "worker-src-without-blob"],
)
def test_a_blocking_policy_gets_one_warning_naming_it_and_pageviews_still_count(
    browser: Browser,
    server: LiveServer,
    app_id: str,
    site: HostSite,
    policy: str,
    directive: str,
    request: pytest.FixtureRequest,
) -> None:
    policy = policy.format(nonce=NONCE, server=server.url)
    # The case's name, not a number: a long number in the URL may pass the Luhn check, and the
    # tracker rightly scrubs it from the stored URL and title as a card number.
    path = f"/csp/{request.node.callspec.id}"
    url = site.page(path, server.url, app_id, body=BUY, headers={"Content-Security-Policy": policy})
    visit = Visit(browser)
    visit.open(url, until="heap.loaded === true")
    visit.page.evaluate("heap.track('Still works', {n: 1})")
    visit.page.click("#buy")
    time.sleep(2)  # time for a late second warning to show
    assert not visit.page.evaluate("heap.ready")
    assert len(visit.warnings) == 1, visit.warnings
    assert directive in visit.warnings[0] and "cannot run" in visit.warnings[0]
    visit.leave()
    (pageview,) = events(server, app_id, path)
    assert pageview["type"] == "pageview" and pageview["page"]["title"] == f"Host {path}"
    assert visit.errors == []
    visit.context.close()


def test_a_browser_without_worker_gets_one_warning_and_its_pageviews_count(
    browser: Browser, server: LiveServer, app_id: str, site: HostSite
) -> None:
    url = site.page(
        "/no-worker", server.url, app_id, before="<script>delete window.Worker</script>", body=BUY
    )
    visit = Visit(browser)
    visit.open(url, until="heap.loaded === true")
    visit.page.click("#buy")
    assert visit.warnings == [
        "[footfall] the tracker cannot run on this page: this browser has no Worker; pageviews "
        "are still counted by the collector (the README lists the Content-Security-Policy it "
        "needs)"
    ]
    visit.leave()
    assert [event["type"] for event in events(server, app_id, "/no-worker")] == ["pageview"]
    assert visit.errors == []
    visit.context.close()


# Run by the page itself (not page.evaluate): after the tracker booted, the page replaces what
# the loader uses, then goes on calling heap.* and navigating.
BREAK_BUILTINS = """<script>
function breakEverything() {
  var boom = function () { throw new Error("the page broke this"); };
  window.fetch = boom;
  JSON.stringify = boom;
  JSON.parse = boom;
  Array.prototype.slice = boom;
  Array.prototype.concat = boom;
  console.warn = boom;
  window.getComputedStyle = boom;
  window.queueMicrotask = boom;
  window.setTimeout = boom;
  Promise.prototype.then = boom;
  // A router that replaces pushState with its own, calling the one it found.
  var found = history.pushState;
  history.pushState = function (state, title, url) { found.call(history, state, title, url); };
  heap.track("After the break", {step: 1});
}
</script>"""
BREAK_BODY = (
    BUY + "<button id=break type=button onclick='breakEverything()'>Break</button>"
    "<button id=nav type=button onclick=\"history.pushState({}, '', '/broken/next')\">Next</button>"
)


def test_builtins_replaced_after_load_do_not_stop_the_tracker(
    browser: Browser, server: LiveServer, app_id: str, site: HostSite
) -> None:
    url = site.page("/broken/", server.url, app_id, before=BREAK_BUILTINS, body=BREAK_BODY)
    visit = Visit(browser)
    visit.open(url)
    visit.page.click("#break")
    visit.page.click("#buy")
    visit.page.click("#nav")
    visit.page.click("#buy")
    first = events(server, app_id, "/broken/", 5)
    second = events(server, app_id, "/broken/next", 2)

    def seen(found: list[dict]) -> list[str]:
        return [event["name"] + "#" + (event["target"] or {}).get("id", "") for event in found]

    assert seen(first) == ["pageview#", "click#break", "After the break#", "click#buy", "click#nav"]
    assert seen(second) == ["pageview#", "click#buy"]
    assert visit.errors == []
    visit.context.close()


HOSTILE_BEFORE = """<script>
// Cookies and storage that throw for the page's own code, as some consent tools make them.
Object.defineProperty(document, "cookie", {get: function () { throw new Error("no cookies"); },
                                           set: function () { throw new Error("no cookies"); }});
Object.defineProperty(window, "localStorage",
                      {get: function () { throw new Error("no storage"); }});
console.warn = "not a function";
</script>"""
HOSTILE_CALLS = """
heap.track(Object.create(null));
heap.track({toJSON: function () { throw new Error("no JSON"); }, toString: null});
heap.track("Symbol", {s: Symbol("x")});
heap.track("BigInt", {n: 10n});
heap.identify(new Proxy({}, {get: function () { throw new Error("trap"); },
                             ownKeys: function () { throw new Error("trap"); }}));
heap.addUserProperties(Object.create(null));
heap.track("Fine", {ok: true});
"""


def test_throwing_cookies_storage_console_and_unprintable_arguments(
    browser: Browser, server: LiveServer, app_id: str, site: HostSite
) -> None:
    url = site.page("/hostile", server.url, app_id, before=HOSTILE_BEFORE, body=BUY)
    visit = Visit(browser)
    visit.open(url)
    visit.page.evaluate(f"() => {{ {HOSTILE_CALLS} }}")
    visit.page.click("#buy")
    found = events(server, app_id, "/hostile", 4)
    names = [event["name"] for event in found]
    assert names[0] == "pageview" and "Fine" in names and "click" in names
    assert visit.errors == []
    visit.context.close()


def test_a_throwing_heap_appid_is_one_warning_and_no_exception(
    browser: Browser, server: LiveServer, app_id: str, site: HostSite
) -> None:
    before = """<script>
    window.heap = [];
    Object.defineProperty(heap, "appid", {get: function () { throw new Error("no id"); },
                                          set: function () {}});
    </script>"""
    url = site.page("/appid", server.url, app_id, before=before, body=BUY)
    visit = Visit(browser)
    visit.page.goto(url)
    visit.page.wait_for_load_state("load")
    visit.page.evaluate("heap.track('Queued')")  # the stub still queues: no exception
    visit.page.click("#buy")
    assert len(visit.warnings) == 1 and "heap.appid cannot be read" in visit.warnings[0]
    assert visit.errors == []
    visit.context.close()


def test_a_sandboxed_iframe_gets_one_warning_and_no_events(
    browser: Browser, server: LiveServer, app_id: str, site: HostSite
) -> None:
    frame = site.page("/sandboxed/frame", server.url, app_id, body=BUY)
    outer = site.url("/sandboxed/")
    site.pages["/sandboxed/"] = (f'<iframe sandbox="allow-scripts" src="{frame}"></iframe>', {})
    visit = Visit(browser)
    visit.page.goto(outer)
    inner = visit.page.frames[1]
    deadline = time.monotonic() + 20
    while not inner.evaluate("!!(window.heap && heap.loaded)") and time.monotonic() < deadline:
        time.sleep(0.2)
    inner.evaluate("heap.track('In the sandbox')")
    inner.click("#buy")
    time.sleep(2)
    assert len(visit.warnings) == 1 and "opaque origin" in visit.warnings[0], visit.warnings
    visit.leave()
    time.sleep(1)  # a beacon, were one sent, would be stored by now
    assert run_cli("events", "--db", str(server.db_path), "--app", app_id) == []
    assert visit.errors == []
    visit.context.close()

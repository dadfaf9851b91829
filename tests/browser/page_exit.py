"""Page-exit scenarios in a real Chromium against a real collector, shared by
tests/browser/test_page_exit.py and bench/bench_page_exit.py.

Each scenario runs a number of tries, each in a fresh browser context (a fresh profile: no
cookies, no localStorage, no boot snapshot), and counts the events lost (expected, not stored)
and stored twice (the same observation stored under two ids). Every try marks its landing page
with `try=<n>` in the query, so the events of one try are told apart from another's.
"""

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from playwright.sync_api import Browser, BrowserContext, Page

from tests.live_server import LiveServer, run_cli

MOBILE_CPU_SLOWDOWN = 4
MOBILE_BITS_PER_S = 9_000_000
MOBILE_RTT_MS = 60
WAIT_FOR_EVENTS_S = 30
BOOT_TIMEOUT_MS = 120_000  # a fresh boot takes 4 s on 2 idle cores, 20 s and more on busy ones


@dataclass(frozen=True)
class Expected:
    """An event a try must store once: its type, its page's path and try, its target id."""

    type: str
    path: str
    try_number: int
    target_id: str = ""

    def matches(self, event: dict) -> bool:
        target = event.get("target") or {}
        return (
            event["type"] == self.type
            and event["page"]["path"] == self.path
            and f"try={self.try_number}" in event["page"]["query"]
            and target.get("id", "") == self.target_id
        )


@dataclass
class Tally:
    """One scenario's result: tries, events lost, events stored twice."""

    scenario: str
    tries: int = 0
    lost: int = 0
    doubled: int = 0
    missing: list[Expected] = field(default_factory=list)


REPORT: list[Tally] = []


def report_table(tallies: list[Tally]) -> str:
    """The scenario → tries / lost / doubled table."""
    width = max([len("scenario"), *(len(t.scenario) for t in tallies)])
    lines = [f"{'scenario':<{width}}  tries  lost  doubled"]
    lines += [f"{t.scenario:<{width}}  {t.tries:>5}  {t.lost:>4}  {t.doubled:>7}" for t in tallies]
    return "\n".join(lines)


class Site:
    """The demo site of one app on the live collector."""

    def __init__(self, server: LiveServer, app_id: str) -> None:
        self.server, self.app_id = server, app_id

    def url(self, name: str, try_number: int, extra: str = "") -> str:
        return f"{self.server.url}/demo/{name}?app={self.app_id}&try={try_number}{extra}"

    def other_site(self) -> str:
        """Another site on loopback: another origin, where our tracker is not."""
        return self.server.url.replace("127.0.0.1", "localhost") + "/api/health"

    def events(self) -> list[dict]:
        return run_cli("events", "--db", str(self.server.db_path), "--app", self.app_id)

    def settle(self, expected: list[Expected], timeout_s: float = WAIT_FOR_EVENTS_S) -> list[dict]:
        """The app's events once every expected one is stored (or time is up), and a second
        more, so that a late double would be counted too."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = self.events()
            done = all(any(e.matches(event) for event in found) for e in expected)
            if done or time.monotonic() > deadline:
                time.sleep(1)
                return self.events()
            time.sleep(0.5)


def tally(scenario: str, tries: int, expected: list[Expected], events: list[dict]) -> Tally:
    """Count what was lost and what was stored twice, and keep it for the report."""
    result = Tally(scenario, tries)
    for wanted in expected:
        stored = sum(wanted.matches(event) for event in events)
        if stored == 0:
            result.lost += 1
            result.missing.append(wanted)
    # The same observation stored twice shows as two events alike in everything but their id.
    alike = Counter(
        (e["type"], e["name"], e["time"], e["page"]["url"], str(e["target"])) for e in events
    )
    result.doubled = sum(count - 1 for count in alike.values() if count > 1)
    REPORT.append(result)
    return result


def throttle_like_a_phone(page: Page) -> None:
    """The mobile profile: 4x CPU slowdown, 9 Mbps, 60 ms round trips (CDP)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": MOBILE_CPU_SLOWDOWN})
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": MOBILE_RTT_MS,
            "downloadThroughput": MOBILE_BITS_PER_S / 8,
            "uploadThroughput": MOBILE_BITS_PER_S / 8,
        },
    )


def fresh_page(browser: Browser, mobile: bool = False) -> tuple[BrowserContext, Page]:
    """A page in a new context: a first visit, with nothing kept from an earlier one."""
    context = browser.new_context()
    page = context.new_page()
    if mobile:
        throttle_like_a_phone(page)
    return context, page


def wait_until(started: float, seconds: float) -> None:
    """Sleep until `seconds` after the monotonic time `started`."""
    time.sleep(max(0.0, started + seconds - time.monotonic()))


def wait_for_boot(page: Page) -> None:
    """Wait until the tracker has booted and handled the boot message (a fresh boot: no
    snapshot in a new profile). One at a time: fresh boots side by side starve 2 cores."""
    page.wait_for_function("heap.ready === true", timeout=BOOT_TIMEOUT_MS)


def run_scenario(
    scenario: str,
    site: Site,
    tries: int,
    one_try: Callable[[int], tuple[BrowserContext, list[Expected]]],
) -> Tally:
    """Run `one_try(n)` for n = 1..tries, each giving its context and the events it expects;
    count them once they are stored, then close the contexts (closing a browser profile at
    once may cut its last beacons short)."""
    contexts: list[BrowserContext] = []
    expected: list[Expected] = []
    for number in range(1, tries + 1):
        context, wanted = one_try(number)
        contexts.append(context)
        expected += wanted
    events = site.settle(expected)
    for context in contexts:
        context.close()
    return tally(scenario, tries, expected, events)


def landing_click_and_next_page(number: int) -> list[Expected]:
    """A try's landing pageview, its click on #buy-yoyo and the next page's pageview."""
    return [
        Expected("pageview", "/demo/", number),
        Expected("click", "/demo/", number, "buy-yoyo"),
        Expected("pageview", "/demo/form.html", number),
    ]


# -- the scenarios (issue 8's table) --


def landing_left_before_boot(browser: Browser, site: Site, tries: int) -> Tally:
    """A first visit: a click on the landing page, which is left about 1 s after load, before
    the tracker booted; the pageview comes by the fallback, the click by the next page's boot."""

    def one_try(number: int) -> tuple[BrowserContext, list[Expected]]:
        context, page = fresh_page(browser)
        started = time.monotonic()
        page.goto(site.url("", number))
        page.click("#buy-yoyo")
        wait_until(started, 1.0)
        page.goto(site.url("form.html", number))
        wait_for_boot(page)
        return context, landing_click_and_next_page(number)

    return run_scenario("first visit, landing left 1 s after load", site, tries, one_try)


def closed_after(browser: Browser, site: Site, tries: int, delay_s: float, mobile: bool) -> Tally:
    """A first visit closed `delay_s` after the navigation began (or at load, if later): its
    pageview comes by the fallback."""

    def one_try(number: int) -> tuple[BrowserContext, list[Expected]]:
        context, page = fresh_page(browser, mobile)
        started = time.monotonic()
        page.goto(site.url("", number))
        wait_until(started, delay_s)
        page.close()
        return context, [Expected("pageview", "/demo/", number)]

    profile = "mobile" if mobile else "desktop"
    scenario = f"page closed {delay_s:g} s after navigation ({profile})"
    return run_scenario(scenario, site, tries, one_try)


def click_then_leave(browser: Browser, site: Site, tries: int) -> Tally:
    """A click right after the loader ran, then the visitor goes to another site (odd tries) or
    closes the tab (even tries); the next visit's boot delivers it."""

    def one_try(number: int) -> tuple[BrowserContext, list[Expected]]:
        context, page = fresh_page(browser)
        page.goto(site.url("", number))
        page.click("#buy-yoyo")
        if number % 2:
            page.goto(site.other_site())
            page.wait_for_timeout(1000)  # the visitor looks at the other site, then closes it
        page.close()
        next_visit = context.new_page()
        next_visit.goto(site.url("form.html", number))
        wait_for_boot(next_visit)
        return context, landing_click_and_next_page(number)

    return run_scenario("click, then another site / tab closed", site, tries, one_try)


# A booted page's link (or form) whose handler calls heap.track and which leaves at once.
LEAVING_ELEMENT = """([kind, href]) => {
  const leave = document.createElement(kind === "link" ? "a" : "form");
  leave.id = "leave";
  if (kind === "link") {
    leave.href = href;
    leave.textContent = "Sign up";
    leave.setAttribute("onclick", "heap.track('Leaving', {by: 'link'})");
  } else {
    // A GET form: its fields become the query, so they carry the app and the try.
    const url = new URL(href);
    leave.action = url.pathname;
    leave.setAttribute("onsubmit", "heap.track('Leaving', {by: 'form'})");
    for (const [name, value] of url.searchParams) {
      const field = document.createElement("input");
      Object.assign(field, {type: "hidden", name, value});
      leave.append(field);
    }
    leave.insertAdjacentHTML("beforeend", "<button id=send type=submit>Send</button>");
  }
  document.body.append(leave);
}"""


def tracked_exit(browser: Browser, site: Site, tries: int, kind: str) -> Tally:
    """A booted tracker (a repeat visit): a link click or a native form submit whose handler
    calls heap.track and which navigates at once; what Python had not handled comes by the
    journal to the next page's boot."""
    context = browser.new_context()
    first = context.new_page()
    first.goto(site.url("", 0))
    wait_for_boot(first)  # the profile now has the tracker's cookies and boot snapshot
    first.close()

    def one_try(number: int) -> tuple[BrowserContext, list[Expected]]:
        page = context.new_page()
        page.goto(site.url("", number))
        wait_for_boot(page)
        page.evaluate(LEAVING_ELEMENT, [kind, site.url("form.html", number)])
        with page.expect_navigation():
            page.click("#leave" if kind == "link" else "#send")
        wait_for_boot(page)
        page.close()
        target = "leave" if kind == "link" else "send"
        return context, [
            Expected("custom", "/demo/", number),
            Expected("click", "/demo/", number, target),
            Expected("pageview", "/demo/form.html", number),
        ]

    scenario = f"booted page, {kind} calling heap.track leaves at once"
    return run_scenario(scenario, site, tries, one_try)

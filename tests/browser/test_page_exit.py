"""Nothing observed is lost at the edges of a visit, and nothing is stored twice (issue 8): real
Chromium, the real collector, six tries of each scenario in fresh profiles. The table of
scenario → tries / lost / doubled is printed at the end of the run."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.browser import page_exit
from tests.browser.page_exit import Site, Tally
from tests.live_server import LiveServer

pytestmark = pytest.mark.browser
TRIES = 6


@pytest.fixture(scope="module", autouse=True)
def print_the_table(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    plugins = request.config.pluginmanager
    reporter = plugins.get_plugin("terminalreporter")
    capture = plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None and page_exit.REPORT:
        with capture.global_and_fixture_disabled():  # printed, not captured with the test's output
            reporter.write_line("\n\npage exit (issue 8): events lost and stored twice")
            reporter.write_line(page_exit.report_table(page_exit.REPORT))


@pytest.fixture
def site(server: LiveServer, app_id: str) -> Site:
    return Site(server, app_id)


def assert_nothing_lost_or_doubled(result: Tally) -> None:
    assert (result.lost, result.doubled) == (0, 0), result.missing


def test_a_first_visit_left_before_boot_keeps_its_pageview_and_click(
    browser: Browser, site: Site
) -> None:
    assert_nothing_lost_or_doubled(page_exit.landing_left_before_boot(browser, site, TRIES))


@pytest.mark.parametrize("mobile", [False, True], ids=["desktop", "mobile"])
@pytest.mark.parametrize("delay_s", [0.5, 1.0, 1.5])
def test_a_page_closed_soon_after_navigation_keeps_its_pageview(
    browser: Browser, site: Site, delay_s: float, mobile: bool
) -> None:
    assert_nothing_lost_or_doubled(page_exit.closed_after(browser, site, TRIES, delay_s, mobile))


def test_a_click_before_the_visitor_leaves_is_delivered_by_the_next_visit(
    browser: Browser, site: Site
) -> None:
    assert_nothing_lost_or_doubled(page_exit.click_then_leave(browser, site, TRIES))


@pytest.mark.parametrize("kind", ["link", "form"])
def test_a_tracked_link_or_form_that_leaves_a_booted_page_at_once_is_delivered(
    browser: Browser, site: Site, kind: str
) -> None:
    assert_nothing_lost_or_doubled(page_exit.tracked_exit(browser, site, TRIES, kind))


def ours_in_storage(page: Page) -> list[str]:
    return [key for key in page.evaluate("Object.keys(localStorage)") if key.startswith("_ff_")]


def test_without_consent_nothing_is_kept_or_sent_and_an_opt_out_deletes_the_journal(
    browser: Browser, site: Site
) -> None:
    context = browser.new_context()
    sent: list[str] = []
    context.on("request", lambda r: sent.append(r.url) if "/api/" in r.url else None)
    page = context.new_page()
    page.goto(site.url("consent.html", 1))  # requireConsent, and no opt-in yet
    page.click("#buy")
    page.goto(site.url("consent.html", 2, "&tracker=off"))  # left before boot: pagehide
    assert ours_in_storage(page) == []
    page.wait_for_timeout(1000)
    assert sent == [] and site.events() == []

    page.goto(site.url("", 3))  # consent not required here: the page hides with a journal
    page.click("#buy-yoyo")
    page.evaluate("window.dispatchEvent(new Event('pagehide'))")
    assert any(key.startswith("_ff_journal.") for key in ours_in_storage(page))
    page.evaluate("heap.optOut()")
    page.wait_for_function("heap.ready === true", timeout=page_exit.BOOT_TIMEOUT_MS)
    page.wait_for_function("!Object.keys(localStorage).some(k => k.startsWith('_ff_'))")
    context.close()


def test_a_first_visit_reads_its_user_id_at_once_and_keeps_it(browser: Browser, site: Site) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(site.url("", 1))
    user_id = page.evaluate("heap.userId")
    assert page.evaluate("heap.ready") is False
    assert isinstance(user_id, str) and user_id.isdigit() and 10**14 <= int(user_id) < 2**53
    page_exit.wait_for_boot(page)
    assert page.evaluate("heap.userId") == user_id
    (pageview,) = site.settle([page_exit.Expected("pageview", "/demo/", 1)])
    assert pageview["user_id"] == user_id
    cookie = next(c for c in context.cookies() if c["name"] == f"_hp2_id.{site.app_id}")
    assert user_id in cookie["value"]
    context.close()


def test_a_first_visit_has_its_session_id_at_once_and_one_session_across_the_fallback(
    browser: Browser, site: Site
) -> None:
    # The landing page is left before its tracker booted: its pageview comes by the fallback,
    # which starts the session the loader proposed; the next page replays it from the journal
    # and must be in that same session, with its own pageview and click.
    context, page = page_exit.fresh_page(browser)
    page.goto(site.url("", 1))
    session_id = page.evaluate("heap.getSessionId()")
    assert page.evaluate("heap.ready") is False
    assert isinstance(session_id, str) and session_id.isdigit()
    assert 10**14 <= int(session_id) < 2**53
    page.goto(site.url("form.html", 1))
    assert page.evaluate("[heap.ready, heap.getSessionId()]") == [False, session_id]
    page_exit.wait_for_boot(page)
    page.click("#email")
    expected = [
        page_exit.Expected("pageview", "/demo/", 1),
        page_exit.Expected("pageview", "/demo/form.html", 1),
        page_exit.Expected("click", "/demo/form.html", 1, "email"),
    ]
    stored = site.settle(expected)
    assert all(any(wanted.matches(event) for event in stored) for wanted in expected), stored
    assert {event["session_id"] for event in stored} == {session_id}
    assert page.evaluate("heap.getSessionId()") == session_id
    context.close()

"""The pytest plugin as a project uses it: pytest runs inside pytest (pytester), in a subprocess,
with real pages in Debian's Chromium and the real collector the plugin starts.

One inner run holds several inner tests, so the collector and the browser start once; the outer
tests read that run's outcome and failure messages.
"""

import re

import pytest

from collector.demo_site import install_snippet
from tests.pytest_plugin.conftest import SLOW_MACHINE_TIMEOUT

pytestmark = pytest.mark.browser
pytest_plugins = ["pytester"]

INNER_TIMEOUT_S = 300

# Heap's classic snippet as on a site Heap tracks (its CDN, a proxy as trackingServer).
HEAP_CLASSIC = install_snippet(
    "https://cdn.heapanalytics.com", "555001", {"trackingServer": "https://heap-proxy.localhost"}
)

# Heap's current snippet (shared/reference/browser-sdks.md 1.1): calls wait in heapReadyCb.
HEAP_CURRENT = """<script type="text/javascript">
window.heapReadyCb=window.heapReadyCb||[],window.heap=window.heap||[],heap.load=function(e,t){
window.heap.envId=e,window.heap.clientConfig=t=t||{},
window.heap.clientConfig.shouldFetchServerConfig=!1;
var a=document.createElement("script");a.type="text/javascript",a.async=!0,
a.src="https://cdn.us.heap-api.com/config/"+e+"/heap_config.js";
var r=document.getElementsByTagName("script")[0];r.parentNode.insertBefore(a,r);
var n=["init","startTracking","stopTracking","track","resetIdentity","identify","getSessionId",
"getUserId","getIdentity","addUserProperties","addEventProperties","removeEventProperty",
"clearEventProperties","addAccountProperties","addAdapter","addTransformer",
"addTransformerFn","onReady","addPageviewProperties","removePageviewProperty",
"clearPageviewProperties","trackPageview"],
i=function(e){return function(){var t=Array.prototype.slice.call(arguments,0);
window.heapReadyCb.push({name:e,fn:function(){heap[e]&&heap[e].apply(heap,t)}})}};
for(var p=0;p<n.length;p++)heap[n[p]]=i(n[p])};
heap.load("777002");
heap.track("Queued before load", {step: 1});
</script>"""

PAGES = {
    "CLASSIC": f"""<!doctype html><title>Shop</title>{HEAP_CLASSIC}
<button id="buy" onclick="heap.track('Purchase', {{plan: 'Pro', 'Base.appName': 'Shop'}})">
Buy now</button>
<input id="password" type="password">
<button id="log-in" onclick="heap.identify('kate@example.com')">Log in</button>""",
    "CURRENT": f'<!doctype html><title>Current</title>{HEAP_CURRENT}<button id="go">Go</button>',
    "PLAIN": '<!doctype html><title>No snippet</title><button id="plain">Plain button</button>',
}

INNER_TESTS = """
import re

from pages import CLASSIC, CURRENT, PLAIN


def serve(page, html):
    page.route(
        "http://site.localhost/", lambda route: route.fulfill(body=html, content_type="text/html")
    )
    page.goto("http://site.localhost/")


def test_classic_snippet(page, analytics):
    serve(page, CLASSIC)
    page.click("#buy")
    click = analytics.wait_for(type="click", text="Buy now")
    assert click["app_id"] == "555001" and click["target"]["id"] == "buy"
    purchase = analytics.wait_for(name="Purchase", properties__plan="Pro")
    assert analytics.events(**{"properties.Base.appName": "Shop"}) == [purchase]
    assert analytics.events(text=re.compile("^Buy")) == [click]
    assert analytics.events(type=lambda kind: kind in ("click", "custom")) == [click, purchase]
    assert analytics.identity_of(page) is None
    page.fill("#password", "Hunter2-first-secret")
    page.click("#log-in")
    assert analytics.identity_of(page) == "kate@example.com"
    [kate] = analytics.users(identity="kate@example.com")
    assert kate["user_id"] == page.evaluate("heap.userId")
    assert analytics.wait_for(type="change")["target"]["tag"] == "input"
    analytics.assert_never_sent("Hunter2-first-secret")


def test_current_snippet(page, analytics):
    serve(page, CURRENT)
    queued = analytics.wait_for(name="Queued before load")
    assert queued["app_id"] == "777002" and queued["properties"] == {"step": 1}
    page.click("#go")
    analytics.wait_for(type="click", text="Go")


def test_install_on_a_page_without_a_snippet(page, analytics):
    analytics.install("plain-app", {"disableTextCapture": True})
    serve(page, PLAIN)
    page.click("#plain")
    click = analytics.wait_for(type="click", page__path="/")
    assert click["app_id"] == "plain-app" and click["target"]["text"] == ""


def test_a_test_without_analytics_keeps_its_page_as_it_is(page):
    serve(page, CLASSIC)  # its Heap snippet's script is not routed: it fails to load here
    page.wait_for_load_state("load")  # an async script holds the load event until it settles
    assert page.evaluate("Array.isArray(window.heap) && window.heap.loaded === undefined")


def test_wait_for_fails_with_the_nearest_events(page, analytics):
    serve(page, CLASSIC)
    page.click("#buy")
    analytics.wait_for(name="Purchase")
    analytics.wait_for(type="click", text="Checkout", timeout=1)


def test_assert_never_sent_finds_a_leak(page, analytics):
    serve(page, CLASSIC)
    page.evaluate("localStorage.setItem('draft', 'Leaked-Secret-42')")
    page.evaluate("heap.track('Oops', {note: 'Leaked-Secret-42'})")
    analytics.wait_for(name="Oops")
    analytics.assert_never_sent("Leaked-Secret-42")


def test_assert_never_sent_without_a_tracker_proves_nothing(page, analytics):
    serve(page, PLAIN)
    analytics.assert_never_sent("Anything-At-All")
"""


def test_fixtures_on_real_pages_and_their_failure_messages(inner_project: pytest.Pytester) -> None:
    pages = "".join(f"{name} = {html!r}\n" for name, html in PAGES.items())
    inner_project.makepyfile(pages=pages, test_pages=INNER_TESTS)
    result = inner_project.runpytest_subprocess(
        "-p", "no:cacheprovider", SLOW_MACHINE_TIMEOUT, "-rf", timeout=INNER_TIMEOUT_S
    )
    output = result.stdout.str()
    result.assert_outcomes(passed=4, failed=3)
    for passing in (
        "classic_snippet",
        "current_snippet",
        "install_on_a_page_without_a_snippet",
        "a_test_without_analytics_keeps_its_page_as_it_is",
    ):
        assert f"FAILED test_pages.py::test_{passing}" not in output

    nearest = _failure(output, "test_wait_for_fails_with_the_nearest_events")
    assert "no event with type='click', target.text='Checkout' within 1 s" in nearest
    assert re.search(r"matched +type +name +target\.text +page\.path +time", nearest)
    assert re.search(r"1/2 +click +click +Buy now +/ +\d\d:\d\d:\d\d\.\d{3}", nearest)
    assert re.search(r"0/2 +custom +Purchase", nearest)
    assert "change" not in nearest  # the earlier test's change event is not this test's
    assert "_no_such_event" not in nearest  # the plugin's own frames are hidden

    leak = _failure(output, "test_assert_never_sent_finds_a_leak")
    assert "secrets were sent or stored" in leak
    assert "'Leaked-Secret-42' in request POST /api/ingest that reached the collector" in leak
    assert "web storage of http://site.localhost/" in leak
    assert re.search(r"collector file footfall\.sqlite3(-wal)? at byte \d+", leak)

    nothing = _failure(output, "test_assert_never_sent_without_a_tracker_proves_nothing")
    assert "nothing reached the test collector since the test started" in nothing


def _failure(output: str, test_name: str) -> str:
    """The failure section pytest printed for one inner test."""
    sections = re.split(r"\n_{3,} (test_\w+)\[chromium\] _{3,}\n", output)
    for name, body in zip(sections[1::2], sections[2::2], strict=True):
        if name == test_name:
            return body
    raise AssertionError(f"no failure printed for {test_name}:\n{output}")

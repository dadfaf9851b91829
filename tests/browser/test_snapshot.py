"""Boot snapshots (docs/protocol.md, section 5): every visit, the first one too, restores the
snapshot build.py made; the page's storage holds nothing of it (and what earlier versions kept
there is deleted); a snapshot that does not restore costs nothing but time."""

from playwright.sync_api import Route

from tests.browser.conftest import Demo, of_type

# The names of the page's caches that earlier versions kept their snapshot in.
OLD_CACHES = """
  caches.keys().then(names => names.filter(name => name.startsWith("footfall-snapshot ")))
"""
PUT_OLD_CACHE = """async () => {
  const cache = await caches.open("footfall-snapshot 314.0.7 0123456789ab");
  await cache.put(location.origin + "/snapshot", new Response(new Uint8Array(1024)));
}"""


def test_a_first_visit_boots_from_the_build_snapshot_and_stores_nothing(demo: Demo) -> None:
    warnings: list[str] = []
    demo.page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    requested: list[str] = []  # the worker's requests too
    demo.page.context.on("request", lambda request: requested.append(request.url))
    demo.open()
    assert demo.page.evaluate("heap.bootMode") == "snapshot"
    # The wasm comes inside the boot file, before the snapshot: it is downloaded once.
    assert [url.rsplit("/", 1)[1] for url in requested if url.endswith((".wasm", ".bin"))] == [
        "boot.bin"
    ]
    demo.page.click("#buy-yoyo")
    [click] = [event for event in demo.events(of_type("click")) if event["type"] == "click"]
    assert click["target"]["id"] == "buy-yoyo"
    assert demo.page.evaluate(OLD_CACHES) == []
    assert demo.page.evaluate("caches.keys()") == []
    assert warnings == []


def test_what_earlier_versions_kept_in_cache_storage_is_deleted(demo: Demo) -> None:
    demo.open("consent.html")  # deleting needs no consent: the tracker waits for it here
    demo.page.evaluate(PUT_OLD_CACHE)
    assert demo.page.evaluate(OLD_CACHES) != []
    demo.open("consent.html")
    demo.page.wait_for_function(f"{OLD_CACHES}.then(names => names.length === 0)")


def test_a_snapshot_that_does_not_restore_costs_nothing_but_time(demo: Demo) -> None:
    warnings: list[str] = []
    demo.page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)

    def damaged(route: Route) -> None:
        route.fulfill(status=200, body=b"\0" * 64, content_type="application/octet-stream")

    demo.page.context.route("**/boot.bin", damaged)
    demo.open()
    assert demo.page.evaluate("heap.bootMode") == "fresh"
    assert any("did not restore" in warning for warning in warnings), warnings
    demo.page.click("#buy-furby")
    [click] = [event for event in demo.events(of_type("click")) if event["type"] == "click"]
    assert click["target"]["id"] == "buy-furby"

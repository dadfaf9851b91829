"""Boot snapshots (docs/protocol.md, section 5): the first visit boots fresh and keeps a snapshot
in the page's Cache Storage, a repeat visit restores it, a broken one costs nothing but time, and
nothing is kept without consent."""

import time
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import Demo

pytestmark = pytest.mark.browser

# What the page's origin holds of ours: [cache name, [byte length of each entry]]. Opening a cache
# creates it, so a check that the worker deleted ours looks at names only (OUR_CACHE_NAMES).
OUR_CACHE_NAMES = """
  caches.keys().then(names => names.filter(name => name.startsWith("footfall-snapshot ")))
"""
OUR_CACHES = """async () => {
  const found = [];
  for (const name of await caches.keys()) {
    if (!name.startsWith("footfall-snapshot ")) continue;
    const cache = await caches.open(name);
    const sizes = [];
    for (const request of await cache.keys()) {
      sizes.push((await (await cache.match(request)).arrayBuffer()).byteLength);
    }
    found.push([name, sizes]);
  }
  return found;
}"""
# Whether the tracker was ready when the page saw each click.
READY_AT_CLICK = """
document.addEventListener("click", () => {
  (window.__readyAtClick = window.__readyAtClick || []).push(window.heap.ready);
}, true);
"""
SNAPSHOT_MIN_BYTES = 10_000_000


def our_caches(
    page: Page,
    until: Callable[[list[Any]], bool] = bool,
    timeout_s: float = 20,
    script: str = OUR_CACHES,
) -> list[Any]:
    """The page's caches of ours (`script`), polled until `until` holds (or time runs out)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found: list[Any] = page.evaluate(script)
        if until(found) or time.monotonic() > deadline:
            return found
        page.wait_for_timeout(200)


def holds_snapshot(found: list[Any]) -> bool:
    """One cache of ours, holding a whole snapshot."""
    return len(found) == 1 and bool(found[0][1]) and found[0][1][0] > SNAPSHOT_MIN_BYTES


def test_a_repeat_visit_boots_from_the_snapshot(demo: Demo) -> None:
    demo.page.add_init_script(READY_AT_CLICK)
    warnings: list[str] = []
    demo.page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)

    demo.open()
    assert demo.page.evaluate("heap.bootMode") == "fresh"
    found = our_caches(demo.page, until=holds_snapshot)
    assert holds_snapshot(found), found
    name = found[0][0]
    first_user = demo.page.evaluate("heap.userId")

    demo.open(wait_ready=False)
    demo.page.wait_for_function("window.heap && heap.__footfall === true")
    demo.page.click("#buy-yoyo")
    demo.page.wait_for_function("heap.ready === true", timeout=30_000)
    assert demo.page.evaluate("[heap.bootMode, window.__readyAtClick]") == ["snapshot", [False]]
    events = demo.events(lambda found: any(e["type"] == "click" for e in found))
    [click] = [event for event in events if event["type"] == "click"]
    assert (click["target"]["id"], click["user_id"]) == ("buy-yoyo", first_user)

    # A snapshot that does not restore: a warning, a fresh boot, tracking as usual, and an empty
    # entry in its place so that this build stops trying.
    demo.page.evaluate(
        """async (name) => {
            const cache = await caches.open(name);
            const [key] = await cache.keys();
            await cache.put(key, new Response(new Uint8Array(64)));
        }""",
        name,
    )
    demo.open()
    assert demo.page.evaluate("heap.bootMode") == "fresh"
    assert any("did not restore" in warning for warning in warnings), warnings
    demo.page.click("#buy-furby")
    demo.events(lambda found: sum(e["type"] == "click" for e in found) == 2)
    assert our_caches(demo.page, until=lambda f: f == [[name, [0]]]) == [[name, [0]]]


def test_nothing_is_kept_without_consent_and_opt_out_deletes_it(demo: Demo) -> None:
    demo.open("consent.html")
    assert demo.page.evaluate("heap.bootMode") == "fresh"
    # Longer than writing the snapshot takes once allowed (below).
    assert our_caches(demo.page, until=bool, timeout_s=3) == []

    demo.page.click("#accept")  # the snapshot made on this page is kept once allowed
    assert holds_snapshot(our_caches(demo.page, until=holds_snapshot))

    demo.page.click("#decline")
    assert our_caches(demo.page, lambda found: not found, script=OUR_CACHE_NAMES) == []

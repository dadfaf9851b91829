"""How fast the tracker starts, and what it costs the host page. Prints figures; asserts nothing.

For the demo shop page in Debian's Chromium, against a real `footfall serve` on loopback:
- time from navigation to the first pageview request on the wire, cold (new browser context,
  empty HTTP cache), warm from the boot snapshot the cold visit stored (a reload in the same
  context), and warm without it (a reload after deleting the page's Cache Storage: HTTP cache
  only); each line says how the tracker booted (`heap.bootMode`);
- the longest main-thread task (PerformanceObserver "longtask", 50 ms and over) during the first
  seconds, with the tracker booting fresh, booting from a snapshot, and without it
  (`?tracker=off`).

    python bench/bench_startup.py [--runs 5] [--installers lockfile,micropip]
"""

import argparse
import collections
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.conftest import CHROMIUM_FLAGS  # noqa: E402
from tests.browser.test_snapshot import holds_snapshot, our_caches  # noqa: E402
from tests.live_server import start_server  # noqa: E402

LONG_TASK_PROBE = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__longTasks.push(entry.duration);
}).observe({type: "longtask", buffered: true});
"""
FORGET_CACHES = "caches.keys().then((names) => Promise.all(names.map((n) => caches.delete(n))))"


class Timing:
    """Milliseconds to the first pageview on the wire, and how the tracker booted, per run."""

    def __init__(self) -> None:
        self.ms: list[float] = []
        self.modes: collections.Counter[str] = collections.Counter()

    def add(self, ms: float, mode: str) -> None:
        self.ms.append(ms)
        self.modes[mode] += 1

    def __str__(self) -> str:
        modes = ", ".join(f"{mode} {count}" for mode, count in sorted(self.modes.items()))
        return f"{summary(self.ms)}  boots: {modes}"


def first_pageview_ms(context: BrowserContext, url: str, reload: bool) -> tuple[float, str]:
    """Milliseconds from starting the navigation to the first ingest POST carrying a pageview,
    and `heap.bootMode` once the tracker is ready."""
    page = context.pages[0] if reload and context.pages else context.new_page()
    seen: list[float] = []

    def on_request(request: object) -> None:
        body = getattr(request, "post_data", None) or ""
        if "/api/ingest" in getattr(request, "url", "") and '"pageview"' in body and not seen:
            seen.append(time.perf_counter())

    page.on("request", on_request)
    started = time.perf_counter()
    if reload:
        page.reload()
    else:
        page.goto(url)
    deadline = started + 30
    while not seen and time.perf_counter() < deadline:
        page.wait_for_timeout(20)
    page.remove_listener("request", on_request)
    page.wait_for_function("!window.heap || heap.ready === true", timeout=30_000)
    mode = str(page.evaluate("window.heap ? heap.bootMode : 'none'"))
    return (seen[0] - started) * 1000 if seen else float("nan"), mode


def wait_for_snapshot(context: BrowserContext) -> None:
    """Until the page's Cache Storage holds the boot snapshot the last visit made."""
    if not holds_snapshot(our_caches(context.pages[0], until=holds_snapshot)):
        print("warning: no boot snapshot was stored", file=sys.stderr)


def longest_task_ms(browser: Browser, url: str, settle_ms: int, snapshot: bool = False) -> float:
    """The longest main-thread task while the page loads; with `snapshot`, the load follows a
    first visit that stored the boot snapshot."""
    context = browser.new_context()
    context.add_init_script(LONG_TASK_PROBE)
    page = context.new_page()
    if snapshot:
        page.goto(url)
        wait_for_snapshot(context)
    page.goto(url)
    page.wait_for_timeout(settle_ms)
    tasks: list[float] = page.evaluate("window.__longTasks")
    context.close()
    return max(tasks, default=0.0)


def summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):7.0f} ms  "
        f"min {min(values):7.0f}  max {max(values):7.0f}  (n={len(values)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--installers",
        default="lockfile,micropip",
        help="comma-separated: how the worker installs the snippet wheel (build.py --installer)",
    )
    args = parser.parse_args()
    installers = args.installers.split(",")
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS
        )
        servers = {}
        for installer in installers:
            bundle = Path(tmp) / installer
            subprocess.run(
                [
                    sys.executable,
                    str(ROOT / "build.py"),
                    "--out",
                    str(bundle),
                    "--installer",
                    installer,
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            folder = Path(tmp) / f"server-{installer}"
            folder.mkdir()
            servers[installer] = start_server(folder, "--demo", "--bundle-dir", str(bundle))
        cold = {installer: Timing() for installer in installers}
        snapshot = {installer: Timing() for installer in installers}
        http_only = {installer: Timing() for installer in installers}
        try:
            for _ in range(args.runs):  # interleaved, so all see the same machine load
                for installer, server in servers.items():
                    context = browser.new_context()
                    url = f"{server.url}/demo/"
                    cold[installer].add(*first_pageview_ms(context, url, reload=False))
                    wait_for_snapshot(context)
                    snapshot[installer].add(*first_pageview_ms(context, url, reload=True))
                    context.pages[0].evaluate(FORGET_CACHES)
                    http_only[installer].add(*first_pageview_ms(context, url, reload=True))
                    context.close()
            page_url = f"{servers[installers[0]].url}/demo/"
            with_tracker = [longest_task_ms(browser, page_url, 6000) for _ in range(args.runs)]
            from_snapshot = [
                longest_task_ms(browser, page_url, 6000, snapshot=True) for _ in range(args.runs)
            ]
            without = [
                longest_task_ms(browser, page_url + "?tracker=off", 6000) for _ in range(args.runs)
            ]
        finally:
            for server in servers.values():
                server.stop()
            browser.close()
    for installer in installers:
        for label, timing in (
            ("cold", cold),
            ("warm, snapshot", snapshot),
            ("warm, HTTP cache only", http_only),
        ):
            print(f"[{installer}] first pageview on the wire, {label + ':':22} {timing[installer]}")
    print(f"longest main-thread task (>= 50 ms), tracker fresh:    {summary(with_tracker)}")
    print(f"longest main-thread task (>= 50 ms), tracker snapshot: {summary(from_snapshot)}")
    print(f"longest main-thread task (>= 50 ms), none:             {summary(without)}")
    print("(0 ms: no long task at all)")


if __name__ == "__main__":
    main()

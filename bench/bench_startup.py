"""How fast the tracker starts, and what it costs the host page. Prints figures; asserts nothing.

For the demo shop page in Debian's Chromium, against a real `footfall serve` on loopback:
- time from navigation to the first pageview request on the wire, cold (new browser context,
  empty HTTP cache) and warm (a reload in the same context);
- the longest main-thread task (PerformanceObserver "longtask", 50 ms and over) during the first
  seconds, with the tracker and without it (`?tracker=off`).

    python bench/bench_startup.py [--runs 5] [--installers lockfile,micropip]
"""

import argparse
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
from tests.live_server import start_server  # noqa: E402

LONG_TASK_PROBE = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__longTasks.push(entry.duration);
}).observe({type: "longtask", buffered: true});
"""


def first_pageview_ms(context: BrowserContext, url: str, reload: bool) -> float:
    """Milliseconds from starting the navigation to the first ingest POST carrying a pageview."""
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
    return (seen[0] - started) * 1000 if seen else float("nan")


def longest_task_ms(browser: Browser, url: str, settle_ms: int) -> float:
    context = browser.new_context()
    context.add_init_script(LONG_TASK_PROBE)
    page = context.new_page()
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
        cold: dict[str, list[float]] = {installer: [] for installer in installers}
        warm: dict[str, list[float]] = {installer: [] for installer in installers}
        try:
            for _ in range(args.runs):  # interleaved, so both see the same machine load
                for installer, server in servers.items():
                    context = browser.new_context()
                    url = f"{server.url}/demo/"
                    cold[installer].append(first_pageview_ms(context, url, reload=False))
                    context.pages[0].wait_for_timeout(500)
                    warm[installer].append(first_pageview_ms(context, url, reload=True))
                    context.close()
            page_url = f"{servers[installers[0]].url}/demo/"
            with_tracker = [longest_task_ms(browser, page_url, 6000) for _ in range(args.runs)]
            without = [
                longest_task_ms(browser, page_url + "?tracker=off", 6000) for _ in range(args.runs)
            ]
        finally:
            for server in servers.values():
                server.stop()
            browser.close()
    for installer in installers:
        print(f"[{installer}] first pageview on the wire, cold:  {summary(cold[installer])}")
        print(f"[{installer}] first pageview on the wire, warm:  {summary(warm[installer])}")
    print(f"longest main-thread task (>= 50 ms), tracker: {summary(with_tracker)}")
    print(f"longest main-thread task (>= 50 ms), none:    {summary(without)}")
    print("(0 ms: no long task at all)")


if __name__ == "__main__":
    main()

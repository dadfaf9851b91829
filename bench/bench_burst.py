"""How fast a burst of clicks drains to the collector. Prints figures; asserts nothing.

Debian's Chromium opens the demo shop against a real `footfall serve` on loopback, waits until
the tracker is ready, makes N synthetic clicks (100 per macrotask) and times until the collector's
SQLite file holds all of them; it prints events/s and the machine's load.

    python bench/bench_burst.py [--clicks 10000] [--runs 1]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.conftest import CHROMIUM_FLAGS  # noqa: E402
from tests.browser.delivery_faults import click_burst, wait_for_count  # noqa: E402
from tests.live_server import run_cli, start_server  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clicks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        server = start_server(Path(tmp), "--demo")
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS
        )
        try:
            for run in range(args.runs):
                [app] = run_cli(
                    "apps", "create", "--name", f"burst{run}", "--db", str(server.db_path)
                )
                app_id = str(app["app_id"])
                context = browser.new_context()
                page = context.new_page()
                page.goto(f"{server.url}/demo/?app={app_id}")
                page.wait_for_function("heap.ready === true", timeout=60_000)
                wait_for_count(server.db_path, app_id, 1, 30, "pageview")
                started = time.perf_counter()
                click_burst(page, args.clicks)
                clicked = time.perf_counter() - started
                stored = wait_for_count(server.db_path, app_id, args.clicks, 600, "click")
                drained = time.perf_counter() - started
                context.close()
                print(
                    f"{len(stored)}/{args.clicks} clicks stored in {drained:.2f} s "
                    f"({len(stored) / drained:.0f} events/s; clicking took {clicked:.2f} s); "
                    f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
                )
        finally:
            browser.close()
            server.stop()


if __name__ == "__main__":
    main()

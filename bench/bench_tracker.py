"""What a tracker costs a host page, and how soon its first event is on the wire: no tracker,
posthog-js and Footfall side by side in one Chromium run. Prints figures; asserts nothing.

The same host page (36 buttons, a hero text block, some script of its own) is served three ways
from a loopback server: without a tracker, with posthog-js (the npm package pinned in
package.json, loaded by PostHog's snippet from a second loopback origin that also answers its API,
autocapture on) and with Footfall (Heap's snippet pointed at a real `footfall serve`). Debian's
Chromium loads each under two profiles (desktop; mobile: CDP CPU throttling 4x and 9 Mbps /
60 ms RTT), cold (a fresh browser context: empty HTTP cache) then warm (the same context, a repeat
visit), `--runs` times, interleaved so that every variant sees the same machine load.

    python bench/bench_tracker.py [--runs 5] [--profiles desktop,mobile] [--variants ...]

See bench/README.md for what each column measures.
"""

import argparse
import gzip
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import (
    BrowserContext,
    CDPSession,
    Page,
    Playwright,
    Request,
    sync_playwright,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.conftest import CHROMIUM_FLAGS  # noqa: E402
from tests.live_server import run_cli, start_server  # noqa: E402

POSTHOG_DIST = ROOT / "node_modules" / "posthog-js" / "dist"
VARIANTS = ("none", "posthog", "footfall")
PROFILES: dict[str, dict[str, Any]] = {
    "desktop": {"cpu": 1, "network": None},
    "mobile": {
        "cpu": 4,
        "network": {
            "offline": False,
            "latency": 60,  # ms, added to each round trip
            "downloadThroughput": 9_000_000 / 8,  # bytes/s
            "uploadThroughput": 9_000_000 / 8,
        },
    },
}
SETTLE_MS = 1500  # after the first event: later long tasks, LCP, a snapshot write, count too
MIN_WINDOW_MS = 3000  # a load is watched at least this long (the page without tracker too)
FIRST_EVENT_TIMEOUT_S = 60

# Installed before any page script: what the page paints, its long tasks, when it was clicked.
PROBE = """
window.__bench = {lcp: 0, tasks: [], clicks: []};
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__bench.lcp = entry.startTime;
}).observe({type: "largest-contentful-paint", buffered: true});
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__bench.tasks.push(entry.duration);
}).observe({type: "longtask", buffered: true});
addEventListener("click", () => {
  window.__bench.clicks.push(performance.timeOrigin + performance.now());
}, true);
"""

HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bench shop</title>
<style>
body {{ font: 16px/1.5 sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem; }}
.grid {{ display: grid; grid-template-columns: repeat(6, 1fr); gap: .5rem; }}
.hero {{ font-size: 1.4rem; padding: 2rem; background: #eef; }}
</style>
{tracker}
</head><body>
<h1>Bench shop</h1>
<p class="hero" id="hero">{hero}</p>
<div class="grid">{buttons}</div>
<ul id="catalogue"></ul>
<script>
// The page's own work: build a catalogue, wire every button, do a little arithmetic.
(function () {{
  var list = document.getElementById("catalogue");
  for (var i = 0; i < 300; i++) {{
    var item = document.createElement("li");
    item.textContent = "Item " + i + " costs " + (i * 1.07).toFixed(2);
    list.appendChild(item);
  }}
  var total = 0;
  for (var j = 0; j < 2e6; j++) total += Math.sqrt(j);
  document.querySelectorAll("button").forEach(function (button) {{
    button.addEventListener("click", function () {{ button.dataset.clicked = total > 0; }});
  }});
}})();
</script>
</body></html>
"""
HERO = "Everything in this shop is hand-picked. " * 12
BUTTONS = "".join(f'<button id="buy-{i}" class="buy">Buy item {i}</button>' for i in range(36))

# PostHog's HTML snippet (its web docs): a stub that queues calls and loads /static/array.js
# from api_host, then the init call.
POSTHOG_SNIPPET = """<script>
!function(t,e){var o,n,p,r;e.__SV||(window.posthog=e,e._i=[],e.init=function(i,s,a){function g(t,e){
var o=e.split(".");2==o.length&&(t=t[o[0]],e=o[1]),t[e]=function(){t.push([e].concat(
Array.prototype.slice.call(arguments,0)))}}(p=t.createElement("script")).type="text/javascript",
p.crossOrigin="anonymous",p.async=!0,p.src=s.api_host.replace(".i.posthog.com",
"-assets.i.posthog.com")+"/static/array.js",(r=t.getElementsByTagName("script")[0]).parentNode
.insertBefore(p,r);var u=e;for(void 0!==a?u=e[a]=[]:a="posthog",u.people=u.people||[],
u.toString=function(t){var e="posthog";return"posthog"!==a&&(e+="."+a),t||(e+=" (stub)"),e},
u.people.toString=function(){return u.toString(1)+".people (stub)"},o=("init capture register "+
"register_once register_for_session unregister unregister_for_session getFeatureFlag "+
"getFeatureFlagPayload isFeatureEnabled reloadFeatureFlags onFeatureFlags onSessionId identify "+
"setPersonProperties group resetGroups reset get_distinct_id getGroups get_session_id alias "+
"set_config startSessionRecording stopSessionRecording captureException opt_in_capturing "+
"opt_out_capturing has_opted_in_capturing has_opted_out_capturing debug").split(" "),n=0;
n<o.length;n++)g(u,o[n]);e._i.push([i,s,a])},e.__SV=1)}(document,window.posthog||[]);
posthog.init("phc_bench", {api_host: "%(api_host)s", autocapture: true,
  person_profiles: "identified_only",
  opt_out_useragent_filter: true});  // else it drops every event of HeadlessChrome as a bot's
</script>"""

# Heap's classic snippet (README.md), pointed at the Footfall collector.
FOOTFALL_SNIPPET = """<script type="text/javascript">
window.heap=window.heap||[],heap.load=function(e,t){window.heap.appid=e,window.heap.config=t=t||{};
var r=document.createElement("script");r.type="text/javascript",r.async=!0,
r.src="%(collector)s/js/heap-"+e+".js";
var a=document.getElementsByTagName("script")[0];a.parentNode.insertBefore(r,a);
for(var n=function(e){return function(){
heap.push([e].concat(Array.prototype.slice.call(arguments,0)))}},
p=["addEventProperties","addUserProperties","clearEventProperties","identify","resetIdentity",
"removeEventProperty","setEventProperties","track","unsetEventProperty"],o=0;o<p.length;o++)
heap[p[o]]=n(p[o])};
heap.load("%(app_id)s");
</script>"""


# What PostHog's API answers a project with autocapture on and nothing else (no recordings,
# surveys or site apps), so posthog-js loads no extension scripts.
POSTHOG_CONFIG = json.dumps(
    {
        "token": "phc_bench",
        "supportedCompression": ["gzip", "gzip-js"],
        "autocapture_opt_out": False,
        "sessionRecording": False,
        "heatmaps": False,
        "surveys": False,
        "defaultIdentifiedOnly": True,
        "hasFeatureFlags": False,
    }
)
POSTHOG_FLAGS = json.dumps(
    {"featureFlags": {}, "featureFlagPayloads": {}, "errorsWhileComputingFlags": False}
)


def is_event_request(variant: str, request: Request) -> bool:
    """Whether this request carries the variant's events to its collector."""
    if request.method != "POST":
        return False
    path = urllib.request.urlparse(request.url).path
    if variant == "posthog":
        return path in ("/e/", "/i/v0/e/", "/batch/", "/capture/")
    return path == "/api/ingest"  # Footfall, from any bundle


# ---- loopback servers ------------------------------------------------------------------------


class LoopbackHandler(http.server.BaseHTTPRequestHandler):
    """Host pages on one origin; posthog-js and an endpoint that takes its requests on another."""

    pages: dict[str, bytes] = {}
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, body: bytes, content_type: str, cache: str = "no-store"):
        gzipped = "gzip" in self.headers.get("Accept-Encoding", "") and len(body) > 1024
        if gzipped:
            body = gzip.compress(body, 6, mtime=0)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
        self.send_header("Access-Control-Allow-Credentials", "true")
        self.send_header("Access-Control-Allow-Headers", "*")
        self.send_header("Timing-Allow-Origin", "*")
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        self.wfile.write(body)

    def do_OPTIONS(self) -> None:
        self._answer(204, b"", "text/plain")

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path in self.pages:
            self._answer(200, self.pages[path], "text/html; charset=utf-8")
        elif path.startswith("/static/") and (POSTHOG_DIST / path[8:]).is_file():
            # Cached as PostHog's asset host caches it.
            script = (POSTHOG_DIST / path[8:]).read_bytes()
            self._answer(200, script, "text/javascript", "public, max-age=3600")
        elif path.endswith("/config.js"):
            script = "(window._POSTHOG_REMOTE_CONFIG = window._POSTHOG_REMOTE_CONFIG || {})"
            script += f'["phc_bench"] = {{config: {POSTHOG_CONFIG}, siteApps: []}};'
            self._answer(200, script.encode(), "text/javascript")
        elif path.endswith("/config"):
            self._answer(200, POSTHOG_CONFIG.encode(), "application/json")
        else:
            self._answer(200, b"{}", "application/json")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/flags"):
            self._answer(200, POSTHOG_FLAGS.encode(), "application/json")
        else:
            self._answer(200, b'{"status": 1}', "application/json")


@contextmanager
def loopback_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), LoopbackHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# ---- one page load ----------------------------------------------------------------------------


@dataclass
class Load:
    """What one page load measured; None where it does not apply."""

    lcp_ms: float
    blocking_ms: float
    longest_task_ms: float
    first_event_ms: float | None
    bytes: int
    click_ms: float | None = None
    worker_heap: int | None = None
    renderer_rss: int = 0


class WorkerProbe:
    """CDP sessions on the page's dedicated workers (Playwright gives none), for their memory."""

    def __init__(self, cdp: CDPSession) -> None:
        self.cdp, self.sessions, self.answers = cdp, [], {}
        self._next_id = 1
        cdp.on("Target.attachedToTarget", lambda event: self.sessions.append(event["sessionId"]))
        cdp.on("Target.receivedMessageFromTarget", self._on_message)
        cdp.send(
            "Target.setAutoAttach",
            {"autoAttach": True, "waitForDebuggerOnStart": False, "flatten": False},
        )

    def _on_message(self, event: dict[str, Any]) -> None:
        message = json.loads(event["message"])
        if "id" in message:
            self.answers[message["id"]] = message

    def call(self, page: Page, session: str, method: str, **params: object) -> dict[str, Any]:
        ask = self._next_id
        self._next_id += 1
        message = json.dumps({"id": ask, "method": method, "params": params})
        self.cdp.send("Target.sendMessageToTarget", {"sessionId": session, "message": message})
        deadline = time.monotonic() + 10
        while ask not in self.answers and time.monotonic() < deadline:
            page.wait_for_timeout(20)
        answer = self.answers.pop(ask, {})
        if "result" not in answer:
            raise RuntimeError(f"{method} on a worker: {answer.get('error', 'no answer')}")
        return answer["result"]

    def js_heap(self, page: Page) -> int | None:
        """Bytes used by the newest worker's JS heap (Runtime.getHeapUsage on its target). It
        leaves out WebAssembly memory (Runtime.queryObjects, which could count it, crashes the
        renderer once Pyodide is loaded): `renderer_rss` has that."""
        if not self.sessions:
            return None
        try:
            return int(self.call(page, self.sessions[-1], "Runtime.getHeapUsage")["usedSize"])
        except RuntimeError as error:
            print(f"warning: {error}", file=sys.stderr)
            return None


def renderer_rss() -> int:
    """Resident bytes of the biggest renderer process this bench started: the page's (one
    browser is open at a time; Chromium may keep a small spare renderer beside it)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    ours, grew = {os.getpid()}, True
    while grew:
        found = {pid for pid, parent in parents.items() if parent in ours} - ours
        ours |= found
        grew = bool(found)
    sizes = [0]
    for pid in ours:
        try:
            if b"--type=renderer" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) * 1024)
    return max(sizes)


def page_for(context: BrowserContext, profile: str) -> tuple[Page, WorkerProbe]:
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    settings = PROFILES[profile]
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": settings["cpu"]})
    if settings["network"]:
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", settings["network"])
    return page, WorkerProbe(cdp)


def load(page: Page, probe: WorkerProbe, variant: str, url: str, click: bool) -> Load:
    """Navigate, wait for the first event on the wire (and SETTLE_MS more), read the probes;
    with `click`, then click a button and time the request that carries it."""
    events: list[tuple[float, Request]] = []
    finished: list[Request] = []

    def on_request(request: Request) -> None:
        if is_event_request(variant, request):
            events.append((time.time() * 1000, request))

    def on_finished(request: Request) -> None:
        finished.append(request)

    context = page.context
    context.on("request", on_request)
    context.on("requestfinished", on_finished)
    started = time.monotonic()
    page.goto(url, wait_until="commit")
    time_origin: float = page.evaluate("performance.timeOrigin")
    if variant != "none":
        deadline = started + FIRST_EVENT_TIMEOUT_S
        while not events and time.monotonic() < deadline:
            page.wait_for_timeout(10)
    first_event = sent_at(events[0]) - time_origin if events else None
    waited_ms = (time.monotonic() - started) * 1000
    page.wait_for_timeout(max(SETTLE_MS, MIN_WINDOW_MS - waited_ms))
    bench = page.evaluate("window.__bench")
    click_ms = None
    if click and variant != "none":
        before = len(events)
        page.click("#buy-7")
        deadline = time.monotonic() + 15
        while len(events) == before and time.monotonic() < deadline:
            page.wait_for_timeout(10)
        clicked_at = page.evaluate("window.__bench.clicks.at(-1)")
        if len(events) > before:
            click_ms = sent_at(events[before]) - clicked_at
    worker_heap = probe.js_heap(page) if variant not in ("none", "posthog") else None
    rss = renderer_rss()
    context.remove_listener("request", on_request)
    context.remove_listener("requestfinished", on_finished)
    tasks = bench["tasks"]
    return Load(
        lcp_ms=bench["lcp"],
        blocking_ms=sum(max(0.0, task - 50) for task in tasks),
        longest_task_ms=max(tasks, default=0.0),
        first_event_ms=first_event,
        bytes=sum(transfer_bytes(request) for request in finished if request.url != url),
        click_ms=click_ms,
        worker_heap=worker_heap,
        renderer_rss=rss,
    )


def sent_at(event: tuple[float, Request]) -> float:
    """Epoch ms the request started: the browser's own timing once known, else when we saw it."""
    seen_ms, request = event
    started: float = request.timing.get("startTime", -1)
    return started if started > 0 else seen_ms


def transfer_bytes(request: Request) -> int:
    """Bytes on the wire for the response (headers and encoded body); 0 from a cache."""
    try:
        sizes = request.sizes()
    except Exception:  # a request the browser cancelled or served without a response
        return 0
    return int(sizes["responseBodySize"] + sizes["responseHeadersSize"])


def main_thread_js_gzip(page: Page) -> int:
    """Gzip -9 bytes of every script element's source (a module worker's imports show in the
    page's resource timing too, so that cannot tell them apart)."""
    urls = page.evaluate("[...document.scripts].map((script) => script.src).filter(Boolean)")
    total = 0
    for url in urls:
        with urllib.request.urlopen(url) as response:  # loopback only
            total += len(gzip.compress(response.read(), 9))
    return total


# ---- the run ----------------------------------------------------------------------------------


@dataclass
class Row:
    cold: list[Load] = field(default_factory=list)
    warm: list[Load] = field(default_factory=list)
    js_gzip: int | None = None


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def run(
    playwright: Playwright, urls: dict[str, str], profiles: list[str], runs: int
) -> dict[tuple[str, str], Row]:
    rows = {(profile, variant): Row() for profile in profiles for variant in urls}
    for profile in profiles:
        for index in range(runs):
            for variant, url in urls.items():
                # A browser profile on disk, as visitors have: a Playwright context without
                # one keeps its HTTP cache in memory and caches no response over about 1 MB.
                with tempfile.TemporaryDirectory() as user_data:
                    context = playwright.chromium.launch_persistent_context(
                        user_data, executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS
                    )
                    try:
                        visit_twice(context, rows[profile, variant], profile, variant, url)
                    finally:
                        context.close()
                print(f"[bench] {profile} run {index + 1}/{runs} {variant} done", file=sys.stderr)
    return rows


def visit_twice(context: BrowserContext, row: Row, profile: str, variant: str, url: str) -> None:
    """A cold load, then a warm one (same profile and HTTP cache) ending with a click."""
    context.add_init_script(PROBE)
    page, probe = page_for(context, profile)
    row.cold.append(load(page, probe, variant, url, click=False))
    if row.js_gzip is None:
        row.js_gzip = main_thread_js_gzip(page)
    page.goto("about:blank")  # the cold page's unload beacons go out now
    page.wait_for_timeout(500)
    row.warm.append(load(page, probe, variant, url, click=True))


def spread(values: list[float | None], unit: str = "", scale: float = 1.0) -> str:
    """Median [min-max] of the known values, or '-'."""
    known = [value / scale for value in values if value is not None]
    if not known:
        return "-"
    median, low, high = statistics.median(known), min(known), max(known)
    digits = 2 if scale > 1 else 0
    return f"{median:,.{digits}f}{unit} [{low:,.{digits}f}-{high:,.{digits}f}]"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def print_table(rows: dict[tuple[str, str], Row], runs: int) -> None:
    header = (
        "| profile / page | host LCP ms | blocking ms | longest task ms | first event, cold ms "
        "| first event, warm ms | click to request ms | bytes, first visit | main-thread JS gzip "
        "| worker JS heap | renderer RSS |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for (profile, variant), row in rows.items():
        both = row.cold + row.warm
        tracked = variant != "none"
        cells = [
            f"{profile}, {variant}",
            spread([load.lcp_ms for load in both]),
            spread([load.blocking_ms for load in both]),
            spread([load.longest_task_ms for load in both]),
            spread([load.first_event_ms for load in row.cold]),
            spread([load.first_event_ms for load in row.warm]),
            spread([load.click_ms for load in row.warm]),
            spread([float(load.bytes) for load in row.cold], " MB", 1e6) if tracked else "-",
            f"{row.js_gzip / 1000:.1f} KB" if tracked and row.js_gzip else "-",
            spread([load.worker_heap for load in both], " MB", 1e6),
            spread([float(load.renderer_rss) for load in both], " MB", 1e6),
        ]
        print("| " + " | ".join(cells) + " |")
    print(
        f"\nmedian [min-max] of {runs} cold and {runs} warm loads each (LCP, blocking, tasks and "
        "memory: cold and warm together); bytes: every response of a cold visit but the page's"
    )
    for (profile, variant), row in rows.items():
        bare = rows.get((profile, "none"))
        if variant == "none" or bare is None:
            continue

        def added(figure: str, row: Row = row, bare: Row = bare) -> float:
            def middle(of: Row) -> float:
                return median([getattr(load, figure) for load in of.cold + of.warm])

            return middle(row) - middle(bare)

        print(
            f"{profile}, {variant} over no tracker: host LCP {added('lcp_ms'):+.0f} ms, "
            f"blocking {added('blocking_ms'):+.0f} ms, "
            f"longest task {added('longest_task_ms'):+.0f} ms, "
            f"renderer RSS {added('renderer_rss') / 1e6:+.1f} MB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profiles", default="desktop,mobile")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument(
        "--bundle-dir", type=Path, default=None, help="a built bundle (default: run build.py)"
    )
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="one more Footfall variant, NAME, from the bundle in DIR (say, an older build)",
    )
    args = parser.parse_args()
    variants = args.variants.split(",")
    profiles = args.profiles.split(",")
    if "posthog" in variants and not (POSTHOG_DIST / "array.js").is_file():
        sys.exit("bench: node_modules/posthog-js is missing: run `npm ci` in the repository")
    print(f"[bench] start: {uptime()}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp, loopback_server() as host, loopback_server() as ph:
        bundle = args.bundle_dir
        if bundle is None:
            bundle = Path(tmp) / "tracker"
            subprocess.run(
                [sys.executable, str(ROOT / "build.py"), "--out", str(bundle)],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        bundles = {"footfall": bundle} | dict(
            (name, Path(folder)) for name, folder in (also.split("=", 1) for also in args.also)
        )
        variants += [name for name in bundles if name != "footfall" and name not in variants]
        snippets = {"none": "", "posthog": POSTHOG_SNIPPET % {"api_host": ph}}
        with ExitStack() as servers:
            for name, folder in bundles.items():
                data = Path(tmp) / f"collector-{name}"
                data.mkdir()
                collector = servers.enter_context(start_server(data, "--bundle-dir", str(folder)))
                app = run_cli("apps", "create", "--name", name, "--db", str(collector.db_path))
                snippets[name] = FOOTFALL_SNIPPET % {
                    "collector": collector.url,
                    "app_id": app[0]["app_id"],
                }
            LoopbackHandler.pages = {
                f"/{variant}.html": HOST_PAGE.format(
                    tracker=snippets[variant], hero=HERO, buttons=BUTTONS
                ).encode()
                for variant in variants
            }
            urls = {variant: f"{host}/{variant}.html" for variant in variants}
            with sync_playwright() as playwright:
                rows = run(playwright, urls, profiles, args.runs)
    print_table(rows, args.runs)
    print(f"load: {uptime()}")


if __name__ == "__main__":
    main()

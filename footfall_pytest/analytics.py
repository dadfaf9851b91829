"""The test collector (one per test session, or per xdist worker) and the `analytics` fixture's
object: what this test's pages sent, read back through the export format (DESIGN.md contract 4).
"""

import base64
import contextlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from collector.export import exported_event, exported_user
from collector.request_body import RequestProblem, decompress
from collector.request_log import MAX_LOGGED_BODY
from collector.run_sync import collected, run_sync
from collector.storage import open_storage
from collector.storage.base import APP_ID_PATTERN
from footfall_pytest import leaks, matching
from footfall_pytest.live_server import LiveServer, start_server
from footfall_pytest.tracker_on_page import (
    HEAP_SCRIPT_URL,
    classic_snippet_init_script,
    load_from_collector,
)

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Frame, Page, Request, Route

POLL_SECONDS = 0.2
AGREEMENT_SECONDS = 0.6
T = TypeVar("T")


@dataclass(frozen=True)
class LoggedRequest:
    """One request as it reached the collector (its request log), body gunzipped."""

    time: int  # ms
    method: str
    path: str
    query: str
    body: bytes

    def text(self) -> str:
        """Path, query and body as one searchable string."""
        query = f"?{self.query}" if self.query else ""
        return f"{self.path}{query}\n{self.body.decode('utf-8', 'replace')}"


class FootfallCollector:
    """A `footfall serve` on a free loopback port with a temporary SQLite file and a request log,
    serving the tracker bundle in `bundle_dir`; read through the storage interface."""

    def __init__(self, server: LiveServer, request_log: Path, bundle_dir: Path) -> None:
        self.server = server
        self.url = server.url
        self.db_path = server.db_path
        self.request_log = request_log
        self.bundle_dir = bundle_dir
        self.storage = open_storage(server.db_path)

    @classmethod
    def start(cls, directory: Path, bundle_dir: Path) -> "FootfallCollector":
        """Start one whose files live in `directory` (which must exist)."""
        request_log = directory / "requests.jsonl"
        server = start_server(
            directory,
            *("--bundle-dir", str(bundle_dir), "--request-log", str(request_log)),
            *("--site-dir", str(directory / "no-demo-site")),
            *("--admin-password", secrets.token_urlsafe(12)),
            cwd=directory,
        )
        return cls(server, request_log, bundle_dir)

    def stop(self) -> None:
        """Stop the server, then close the storage this process reads."""
        self.server.stop()
        run_sync(self.storage.close())

    def ensure_app(self, app_id: str) -> None:
        """Make `app_id` known, so the collector accepts what a page sends for it."""
        run_sync(self.storage.ensure_app(app_id, f"test app {app_id}"))

    def events(self) -> list[dict[str, Any]]:
        """Every stored event, as `footfall events` prints them (oldest first)."""
        return [exported_event(event) for event in collected(self.storage.events())]

    def users(self) -> list[dict[str, Any]]:
        """Every canonical user, as `footfall users` prints them."""
        return [exported_user(user) for user in collected(self.storage.users())]

    def requests_since(self, since_ms: int) -> list[LoggedRequest]:
        """The requests that reached the collector at or after `since_ms`."""
        if not self.request_log.exists():
            return []
        found = []
        for line in self.request_log.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # the line being written right now
            if entry["time"] >= since_ms:
                body = _gunzipped(base64.b64decode(entry["body"]))
                found.append(
                    LoggedRequest(
                        entry["time"], entry["method"], entry["path"], entry["query"], body
                    )
                )
        return found

    def stored_files(self) -> list[Path]:
        """The SQLite file and its -wal and -shm companions, those that exist."""
        names = [self.db_path, Path(f"{self.db_path}-wal"), Path(f"{self.db_path}-shm")]
        return [path for path in names if path.exists()]


class Analytics:
    """What this test's pages sent to the test collector, and assertions on it. Events and users
    are those seen since the test started; filters are described in `footfall_pytest.matching`."""

    def __init__(
        self, collector: FootfallCollector, context: "BrowserContext", timeout: float
    ) -> None:
        self.collector = collector
        self.context = context
        self.timeout = timeout
        self.started_ms = int(time.time() * 1000)
        self.problems: list[str] = [  # what went wrong putting the tracker on a page
            f"{page.url} was opened before the analytics fixture, so its Heap snippet was not"
            " routed: let the fixture that opens pages take `analytics` as an argument"
            for page in context.pages
            if page.url != "about:blank"
        ]
        self._seen_requests: list[tuple[str, bytes]] = []  # (url, body) the browser sent us
        context.route(HEAP_SCRIPT_URL, self._route_heap_script)
        context.on("request", self._keep_request)
        # A page on an origin other than loopback may reach the collector only with this; a
        # browser that does not know the permission has no such check.
        with contextlib.suppress(Exception):
            context.grant_permissions(["local-network-access"])

    # -- putting the tracker on pages -----------------------------------------------------------

    def install(
        self, app_id: str = "footfall-test", config: dict[str, object] | None = None
    ) -> None:
        """Add Heap's classic snippet for `app_id` (with `heap.load`'s `config`) to every page this
        context opens from now on; for pages that have no Heap snippet of their own."""
        self.collector.ensure_app(app_id)
        self.context.add_init_script(
            script=classic_snippet_init_script(self.collector.url, app_id, config)
        )

    def _route_heap_script(self, route: "Route") -> None:
        url = route.request.url
        match = HEAP_SCRIPT_URL.match(url)
        if match is None or url.startswith(self.collector.url + "/"):
            route.fallback()
            return
        app_id = match.group(1) or match.group(2)
        if not APP_ID_PATTERN.match(app_id):
            self.problems.append(f"{url}: {app_id!r} is not an app id Footfall accepts")
            route.fulfill(status=404, body="not a Footfall app id")
            return
        self.collector.ensure_app(app_id)
        # The loader, from the collector, at the path the page's snippet asked for.
        path = f"/config/{app_id}/heap_config.js" if match.group(2) else f"/js/heap-{app_id}.js"
        route.fulfill(
            status=200,
            content_type="text/javascript; charset=utf-8",
            headers={"Cache-Control": "no-store"},
            body=load_from_collector(url, self.collector.url + path, self.collector.url),
        )

    def _keep_request(self, request: "Request") -> None:
        if request.url.startswith(self.collector.url + "/"):
            self._seen_requests.append((request.url, _gunzipped(request.post_data_buffer or b"")))

    # -- reading what was captured --------------------------------------------------------------

    def events(self, **filters: object) -> list[dict[str, Any]]:
        """The events stored since this test started that satisfy every filter, oldest first:
        `events(type="click", text="Buy")`, `events(page__path="/cart")`,
        `events(**{"properties.plan": "Pro"})`."""
        paths = matching.filter_paths(filters, matching.EVENT_SHORTCUTS)
        return matching.select(self._test_events(), paths)

    def users(self, **filters: object) -> list[dict[str, Any]]:
        """The users seen since this test started that satisfy every filter:
        `users(identity="kate@example.com")`, `users(properties__plan="Pro")`."""
        paths = matching.filter_paths(filters, {})
        recent = [user for user in self.collector.users() if self._is_recent(user["last_seen"])]
        return matching.select(recent, paths)

    def wait_for(self, timeout: float | None = None, **filters: object) -> dict[str, Any]:
        """The first event since this test started that satisfies every filter, waiting up to
        `timeout` seconds (`--footfall-timeout`) for it; else AssertionError with a table of the
        nearest events captured instead."""
        __tracebackhide__ = True  # the failure is the test's, not the plugin's
        paths = matching.filter_paths(filters, matching.EVENT_SHORTCUTS)
        seconds = self.timeout if timeout is None else timeout
        found = _poll(lambda: matching.select(self._test_events(), paths), seconds)
        if found:
            return found[0]
        raise AssertionError(self._no_such_event(paths, seconds))

    def identity_of(self, page: "Page | Frame", timeout: float | None = None) -> str | None:
        """The identity the collector holds for the user this page's tracker is (`heap.userId`,
        followed through merges); None while that user is anonymous. Waits up to `timeout` for
        the tracker to be ready and for the collector to agree with the page's `heap.identity`
        for AGREEMENT_SECONDS in a row (an identify call just made reaches the tracker in that
        time); if they never agree, the collector's answer."""
        __tracebackhide__ = True  # the failure is the test's, not the plugin's
        seconds = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + seconds
        page.wait_for_function(
            "() => window.heap && heap.ready === true && typeof heap.userId === 'string'",
            timeout=seconds * 1000,
        )
        agreed_since: float | None = None
        while True:
            user_id, belief = page.evaluate("[heap.userId, heap.identity]")
            user = self._canonical_user(user_id)
            now = time.monotonic()
            if user is None or user["identity"] != belief:
                agreed_since = None
            else:
                agreed_since = now if agreed_since is None else agreed_since
                if now - agreed_since >= AGREEMENT_SECONDS:
                    return user["identity"]
            if now >= deadline:
                break
            time.sleep(POLL_SECONDS)
        if user is not None:
            return user["identity"]  # the collector disagrees with the page: the test says so
        raise AssertionError(
            f"the page's tracker is user {user_id}, whom the collector has not seen within"
            f" {seconds:g} s (no event of that user reached it)" + self._problems_note()
        )

    def _canonical_user(self, user_id: str) -> dict[str, Any] | None:
        """The canonical user that `user_id` is, or was merged into."""
        for user in self.collector.users():
            if user_id == user["user_id"] or user_id in user["merged_user_ids"]:
                return user
        return None

    def assert_never_sent(self, *secret_strings: str, allow_nothing_sent: bool = False) -> None:
        """Fail if any secret is in a request that reached the collector since this test started
        (bodies gunzipped), a request this context sent it, a cookie, this context's open pages'
        localStorage, sessionStorage or IndexedDB, or the collector's SQLite files (bytewise);
        raw, URL-, form-, JSON- or HTML-encoded. Unless `allow_nothing_sent`, it also fails when
        nothing reached the collector, since then it proves nothing."""
        __tracebackhide__ = True  # the failure is the test's, not the plugin's
        leaks.check_secrets(secret_strings)
        received = self.collector.requests_since(self.started_ms)
        if not allow_nothing_sent and not any(request.body for request in received):
            raise AssertionError(
                "nothing reached the test collector since the test started, so"
                " assert_never_sent would prove nothing: is the tracker on the page? (pass"
                " allow_nothing_sent=True if nothing is the point)" + self._problems_note()
            )
        sightings: list[leaks.Sighting] = []
        for request in received:
            where = f"request {request.method} {request.path} that reached the collector"
            sightings += leaks.find_in_text(secret_strings, request.text(), where)
        for url, body in self._seen_requests:
            text = f"{url}\n{body.decode('utf-8', 'replace')}"
            sightings += leaks.find_in_text(secret_strings, text, f"request to {url}")
        for cookie in self.context.cookies():
            where = f"cookie {cookie['name']} of {cookie['domain']}"
            sightings += leaks.find_in_text(secret_strings, cookie["value"], where)
        for origin, storage in self._web_storage():
            sightings += leaks.find_in_text(secret_strings, storage, f"web storage of {origin}")
        for path in self.collector.stored_files():
            data = path.read_bytes()
            sightings += leaks.find_in_bytes(secret_strings, data, f"collector file {path.name}")
        if sightings:
            lines = "\n".join(f"  - {sighting.secret!r} in {sighting}" for sighting in sightings)
            raise AssertionError(f"secrets were sent or stored:\n{lines}")

    # -- helpers --------------------------------------------------------------------------------

    def _test_events(self) -> list[dict[str, Any]]:
        return [event for event in self.collector.events() if self._is_recent(event["time"])]

    def _is_recent(self, iso_time: str | None) -> bool:
        """Whether an exported time is at or after this test's start (stragglers of an earlier
        test were observed before it)."""
        if iso_time is None:
            return False
        return matching.epoch_ms(iso_time) >= self.started_ms

    def _web_storage(self) -> list[tuple[str, str]]:
        """(origin, JSON of localStorage, sessionStorage and IndexedDB) of every frame open."""
        found = []
        for page in self.context.pages:
            for frame in page.frames:
                if not frame.url.startswith(("http://", "https://")):
                    continue
                try:
                    found.append((frame.url, frame.evaluate(_READ_WEB_STORAGE)))
                except Exception as error:  # a frame detached or without storage access
                    found.append((frame.url, f"(unreadable: {error})"))
        return found

    def _no_such_event(self, paths: dict[str, object], seconds: float) -> str:
        captured = self._test_events()
        wanted = matching.describe_filters(paths) or "(any event)"
        message = f"no event with {wanted} within {seconds:g} s"
        if not captured:
            message += (
                "; nothing was captured since the test started: is the tracker on the page"
                " (its Heap snippet, or analytics.install() before page.goto)?"
            )
        else:
            message += (
                f"; {len(captured)} event(s) captured since the test started, nearest first:\n"
                + matching.nearest_events_table(captured, paths)
            )
            unknown = matching.unknown_paths(captured, paths)
            if unknown:
                message += f"\nno captured event has the field(s) {', '.join(unknown)}"
        return message + self._problems_note()

    def _problems_note(self) -> str:
        return "".join(f"\nputting the tracker on the page: {problem}" for problem in self.problems)


# The page's storage as one JSON string; IndexedDB where the browser can list its databases.
_READ_WEB_STORAGE = """async () => {
  const dump = {local: Object.entries(localStorage), session: Object.entries(sessionStorage)};
  dump.indexedDB = {};
  const databases = indexedDB.databases ? await indexedDB.databases() : [];
  for (const {name} of databases) {
    const db = await new Promise((ok, fail) => {
      const opening = indexedDB.open(name);
      opening.onsuccess = () => ok(opening.result);
      opening.onerror = () => fail(opening.error);
    });
    for (const store of db.objectStoreNames) {
      const rows = await new Promise((ok, fail) => {
        const reading = db.transaction(store).objectStore(store).getAll();
        reading.onsuccess = () => ok(reading.result);
        reading.onerror = () => fail(reading.error);
      });
      dump.indexedDB[name + "/" + store] = rows;
    }
    db.close();
  }
  return JSON.stringify(dump, (key, value) =>
    value instanceof ArrayBuffer || ArrayBuffer.isView(value)
      ? new TextDecoder().decode(value) : value);
}"""


def _poll(read: Callable[[], T], seconds: float) -> T:
    """`read()` until it gives something truthy or `seconds` pass; its last answer."""
    deadline = time.monotonic() + seconds
    while True:
        answer = read()
        if answer or time.monotonic() >= deadline:
            return answer
        time.sleep(POLL_SECONDS)


def _gunzipped(raw: bytes) -> bytes:
    try:
        return decompress(raw, "", MAX_LOGGED_BODY)
    except RequestProblem:
        return raw  # not gzip after all, or cut: search it as it came

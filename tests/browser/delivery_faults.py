"""Shared helpers of the delivery fault tests and the burst benchmark: synthetic click bursts on
a booted demo page, counting what the collector stored (lost and doubled), and a loopback proxy
that injects collector faults."""

import gzip
import json
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from playwright.sync_api import Page

# Clicks `count` times on `selector`, `per_task` clicks per macrotask, so the loader makes
# messages of that many records, as a fast visitor or a script would.
BURST_SCRIPT = """async ([selector, count, perTask]) => {
  const element = document.querySelector(selector);
  for (let done = 0; done < count; done += perTask) {
    for (let i = done; i < Math.min(count, done + perTask); i++) element.click();
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}"""


def click_burst(page: Page, count: int, selector: str = "#buy-yoyo", per_task: int = 100) -> None:
    """`count` synthetic clicks on one element of a booted page."""
    page.evaluate(BURST_SCRIPT, [selector, count, per_task])


def stored_counts(db_path: Path, app_id: str, event_type: str | None = None) -> Counter[str]:
    """How many rows each event id has in the collector's SQLite file (read-only, beside the
    running server: WAL readers never block its writer)."""
    query = "SELECT event_id FROM events WHERE app_id = ?"
    args: tuple[str, ...] = (app_id,)
    if event_type is not None:
        query += " AND type = ?"
        args = (app_id, event_type)
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as conn:
        return Counter(row[0] for row in conn.execute(query, args))


MARK_PROPERTY = "json_extract(properties, '$.mark')"
PAGE_QUERY = "json_extract(page, '$.query')"


def stored_marks(db_path: Path, app_id: str, name: str, key: str = MARK_PROPERTY) -> Counter[str]:
    """How many rows each event named `name` has per `key` (an SQL expression; by default the
    `mark` property of `heap.track(name, {mark: ...})`): a logical event stored under two ids
    (a replay that minted a new one) counts twice here, where ids alone would not show it."""
    query = f"SELECT {key} FROM events WHERE app_id = ? AND name = ?"  # noqa: S608 (our own SQL)
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as conn:
        return Counter(str(row[0]) for row in conn.execute(query, (app_id, name)))


def wait_for_marks(
    db_path: Path,
    app_id: str,
    name: str,
    expected: set[str],
    timeout_s: float,
    key: str = MARK_PROPERTY,
) -> Counter[str]:
    """Poll `stored_marks` until every expected mark is there, or time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        stored = stored_marks(db_path, app_id, name, key)
        if expected <= set(stored) or time.monotonic() > deadline:
            return stored
        time.sleep(0.2)


def wait_for_count(
    db_path: Path, app_id: str, count: int, timeout_s: float, event_type: str | None = None
) -> Counter[str]:
    """Poll the stored events until at least `count` distinct ids are there, or time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        stored = stored_counts(db_path, app_id, event_type)
        if len(stored) >= count or time.monotonic() > deadline:
            return stored
        time.sleep(0.1)


@dataclass(frozen=True)
class IngestSeen:
    """One ingest POST the proxy saw: when, what it answered, and the event ids it carried."""

    at: float  # time.monotonic()
    status: int
    event_ids: list[str]


class FaultProxy:
    """A loopback HTTP proxy in front of a real `footfall serve`: it passes every request through
    unchanged, except that POST /api/ingest is answered with a chosen fault instead while
    `faults` holds one (`(status, Retry-After or None)`, used front to back), and is lost on its
    way (read, never passed on, the connection closed unanswered) while `losing` is set; the
    next `observed_to_lose` POST /api/observed never reach it either, answered 502 (a closed
    connection would not do: Chromium sends such a request again on a new one). It notes every
    ingest POST it saw, and counts the fallback's."""

    # Host goes through: a demo page names the server it was asked from, so the tracker on it
    # talks to the proxy.
    HOP_BY_HOP = frozenset(
        {
            "connection",
            "keep-alive",
            "transfer-encoding",
            "accept-encoding",
            "content-length",
        }
    )

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults: list[tuple[int, str | None]] = []
        self.losing = False
        self.observed_to_lose = 0
        self.observed_lost = self.observed_passed = 0
        self.seen: list[IngestSeen] = []
        self._lock = threading.Lock()
        self._client = httpx.Client(base_url=upstream, timeout=60)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet

            def do_GET(self) -> None:
                proxy._handle(self)

            do_POST = do_OPTIONS = do_HEAD = do_GET

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        fault = None
        if handler.command == "POST" and handler.path.startswith("/api/observed"):
            with self._lock:
                if self.observed_to_lose:
                    self.observed_to_lose -= 1
                    self.observed_lost += 1
                    fault = (502, None)
                else:
                    self.observed_passed += 1
        if handler.command == "POST" and handler.path.startswith("/api/ingest"):
            with self._lock:
                if self.losing:
                    self.seen.append(IngestSeen(time.monotonic(), 0, ingest_ids(body)))
                    handler.close_connection = True
                    return
                fault = self.faults.pop(0) if self.faults else None
        if fault is not None:
            status, retry_after = fault
            headers = {"Content-Type": "application/json", "Access-Control-Allow-Origin": "*"}
            if retry_after is not None:
                headers["Retry-After"] = retry_after
            content = b'{"error": "injected fault"}'
        else:
            forwarded = {
                k: v for k, v in handler.headers.items() if k.lower() not in self.HOP_BY_HOP
            }
            try:
                answer = self._client.request(
                    handler.command, handler.path, headers=forwarded, content=body
                )
                status, content = answer.status_code, answer.content
                headers = {
                    k: v
                    for k, v in answer.headers.items()
                    if k.lower() not in self.HOP_BY_HOP | {"content-encoding"}
                }
            except httpx.TransportError:
                status, content, headers = 502, b"", {}
        if handler.command == "POST" and handler.path.startswith("/api/ingest"):
            with self._lock:
                self.seen.append(IngestSeen(time.monotonic(), status, ingest_ids(body)))
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(content)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()


def ingest_ids(body: bytes) -> list[str]:
    """The event ids of an ingest body (gzip-compressed or not)."""
    try:
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        return [str(r.get("event_id")) for r in json.loads(body)["records"]]
    except (ValueError, KeyError, TypeError, OSError):
        return []

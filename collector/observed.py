"""`POST /api/observed`: the pageviews of a page that hid before its tracker handled them
(docs/protocol.md, section 7).

The loader sends, at pagehide, the navigations Python has not handled with the boot information
and the tracker's own cookies; this endpoint runs the tracker itself (`snippet/`, under CPython)
on them, so the events are the ones the browser would have made: same scrubbing, sessions from
`_hp2_ses_props`, UTM properties, the visitor's `_hp2_id`/`_hp2_props`, pageview decisions,
consent. They are stored through the ingest pipeline's own steps, under the navigation's record
id, so when the next page replays the same navigation from its journal it is stored once.
"""

import json
from collections.abc import Callable, Coroutine
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from collector.batch_answer import require_known_app
from collector.clock import now_ms
from collector.context import RequestContexts
from collector.ingest import Batch, Sender, ingest_batch, page_endpoint, parse_batch
from collector.request_body import RequestProblem, error_response, read_json
from collector.settings import Settings
from collector.storage.base import Storage
from snippet.browser import Reply
from snippet.entry import start

MAX_NAVIGATIONS = 1000  # the loader keeps at most this many records for Python


class CollectorBrowser:
    """The tracker's one seam to the browser, for a page that is gone: ops go nowhere, each
    batch the tracker sends is kept (and answered 200), timers run when `drain()` is called,
    the clock stands at the page's first navigation, and there is no retry queue to keep."""

    def __init__(self, now: float) -> None:
        self.bodies: list[str] = []
        self.warnings: list[str] = []
        self._now = now
        self._timers: list[Callable[[], None]] = []

    def post_to_page(self, op: dict[str, object]) -> None:
        """Nothing to apply (the page is gone); warnings are kept for the answer."""
        if op.get("op") == "warn":
            self.warnings.append(str(op.get("message")))

    async def send(self, url: str, body: str) -> Reply:
        self.bodies.append(body)
        return Reply(200)

    async def get(self, url: str) -> str | None:
        return None  # only navigations come here, never a bridge message that would ask

    def now_ms(self) -> float:
        return self._now

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> None:
        self._timers.append(callback)

    def is_online(self) -> bool:
        return True

    def on_online(self, callback: Callable[[], None]) -> None:
        pass  # always online

    def store_put(self, app_id: str, records: list[tuple[str, str]]) -> None:
        pass  # the batch is stored before this request is answered

    def store_delete(self, app_id: str, event_ids: list[str]) -> None:
        pass

    def store_clear(self, app_id: str) -> None:
        pass

    async def store_adopt(self, app_id: str) -> list[str]:
        return []  # no other tab's queue is here

    def drain(self) -> None:
        """Run every timer, and those they arm, until none is left: every batch goes out."""
        while self._timers:
            self._timers.pop(0)()


def run_now(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run one of the tracker's sends to its end: CollectorBrowser.send never waits."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    raise RuntimeError("a tracker coroutine waited on something the collector cannot give")


def observed_message(body: Any) -> tuple[str, str]:
    """The app id and the boot message to replay (navigations only); RequestProblem if unusable."""
    if not isinstance(body, dict) or not isinstance(body.get("boot"), dict):
        raise RequestProblem(400, "body must be a JSON object with boot, cookies and records")
    app_id = body["boot"].get("app_id")
    if not isinstance(app_id, str) or not app_id:
        raise RequestProblem(400, "boot.app_id must be a non-empty string")
    records = body.get("records")
    if not isinstance(records, list):
        raise RequestProblem(400, "records must be an array")
    # Only navigations: the fallback never carries element text, calls or chains.
    navigations = [r for r in records if isinstance(r, dict) and r.get("kind") == "navigate"]
    if not navigations:
        raise RequestProblem(400, "records holds no navigate record")
    if len(navigations) > MAX_NAVIGATIONS:
        raise RequestProblem(413, f"more than {MAX_NAVIGATIONS} navigations in one body")
    message = {"boot": body["boot"], "cookies": body.get("cookies", ""), "records": navigations}
    return app_id, json.dumps(message)


def tracker_batches(message_json: str, first_time_ms: float) -> tuple[list[str], list[str]]:
    """The ingest bodies the tracker makes from a boot message, run to the end, and its
    warnings."""
    browser = CollectorBrowser(first_time_ms)
    start(message_json, browser, run_now)
    browser.drain()
    return browser.bodies, browser.warnings


def _first_time(message_json: str) -> float:
    """The page's first navigation time (never later than now): the tracker's clock, so the
    visitor's session cookie is judged as of when the page was seen."""
    times = [
        r["time"]
        for r in json.loads(message_json)["records"]
        if isinstance(r.get("time"), int | float) and not isinstance(r.get("time"), bool)
    ]
    return float(min([now_ms(), *times]))


def observed_routes(
    storage: Storage, settings: Settings, contexts: RequestContexts
) -> list[BaseRoute]:
    """The fallback endpoint, with the same CORS as /api/ingest."""

    async def observed(request: Request, cors: dict[str, str]) -> Response:
        app_id, message_json = observed_message(await read_json(request, settings.max_ingest_bytes))
        await require_known_app(storage, app_id)
        bodies, warnings = tracker_batches(message_json, _first_time(message_json))
        records = [record for body in bodies for record in parse_batch(json.loads(body)).records]
        if not records and warnings:  # the tracker refused it all: say why
            return error_response(400, "; ".join(warnings), cors)
        sender = Sender.of(request, contexts)  # the visitor's browser sent the fallback
        answer = await ingest_batch(storage, settings, Batch(app_id, records), sender)
        return answer.response(cors)

    return [Route("/api/observed", page_endpoint(observed), methods=["POST", "OPTIONS"])]

"""A fake `Browser` for tests: records ops and sent bodies, a hand-driven clock and timers,
sends that answer at once or wait until the test answers them, `navigator.onLine`, and the
origin's retry queue shared by the tabs of one `FakeOrigin`, as IndexedDB and Web Locks share it."""

import itertools
import json
import secrets
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from snippet.browser import Reply
from snippet.entry import Receiver, start
from snippet.ids import new_numeric_id

START_MS = 1_700_000_000_000.0


class Answer:
    """What a held send awaits: the test sets `status`, then resumes the coroutine."""

    def __init__(self) -> None:
        self.status: int | Reply | None = None

    def __await__(self) -> Generator["Answer", None, int | Reply]:
        while self.status is None:
            yield self
        return self.status


class FakeOrigin:
    """One origin's IndexedDB retry queue, and which tabs hold their Web Lock (are alive)."""

    _tabs = itertools.count(1)

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], tuple[str, int]] = {}  # (app, id) -> (json, tab)
        self.alive: set[int] = set()

    def new_tab(self) -> int:
        tab = next(self._tabs)
        self.alive.add(tab)
        return tab

    def kept(self, app_id: str = "123") -> list[dict[str, Any]]:
        """The records kept for `app_id`, parsed."""
        return [json.loads(text) for (app, _), (text, _) in self.records.items() if app == app_id]


class FakeBrowser:
    def __init__(self, now_ms: float = START_MS, origin: FakeOrigin | None = None) -> None:
        self.ops: list[dict[str, Any]] = []
        self.sent: list[tuple[str, str]] = []
        self.clock_ms = now_ms
        # Answers for the next sends (a status or a Reply); 200 once it runs out.
        self.statuses: list[int | Reply] = []
        self.hold = False  # True: sends wait for answer()
        self.online = True
        self.origin = origin or FakeOrigin()
        self.tab = self.origin.new_tab()
        self._online_callbacks: list[Callable[[], None]] = []
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_seq = 0
        self._parked: list[tuple[Coroutine[Any, Any, None], Answer]] = []
        self.pages: dict[str, str] = {}  # what get() answers per URL (missing: a 404, None)
        self.fetched: list[str] = []

    # -- the Browser protocol --
    def post_to_page(self, op: dict[str, object]) -> None:
        json.dumps(op)  # an op must be JSON-safe, as the real one posts a JSON string
        self.ops.append(op)

    async def send(self, url: str, body: str) -> Reply:
        self.sent.append((url, body))
        if not self.online:
            return Reply(0)  # fetch fails at once without a network
        answer = (await Answer()) if self.hold else (self.statuses.pop(0) if self.statuses else 200)
        return answer if isinstance(answer, Reply) else Reply(answer)

    async def get(self, url: str) -> str | None:
        self.fetched.append(url)
        return self.pages.get(url)

    def now_ms(self) -> float:
        return self.clock_ms

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> None:
        self._timer_seq += 1
        self._timers.append((self.clock_ms + delay_s * 1000, self._timer_seq, callback))

    def is_online(self) -> bool:
        return self.online

    def on_online(self, callback: Callable[[], None]) -> None:
        self._online_callbacks.append(callback)

    def store_put(self, app_id: str, records: list[tuple[str, str]]) -> None:
        for event_id, text in records:
            self.origin.records[(app_id, event_id)] = (text, self.tab)

    def store_delete(self, app_id: str, event_ids: list[str]) -> None:
        for event_id in event_ids:
            self.origin.records.pop((app_id, event_id), None)

    def store_clear(self, app_id: str) -> None:
        for key in [key for key in self.origin.records if key[0] == app_id]:
            del self.origin.records[key]

    async def store_adopt(self, app_id: str) -> list[str]:
        adopted = []
        for (app, event_id), (text, tab) in self.origin.records.items():
            if app == app_id and tab not in self.origin.alive:
                self.origin.records[(app, event_id)] = (text, self.tab)
                adopted.append(text)
        return adopted

    # -- driving it --
    def run_task(self, coroutine: Coroutine[Any, Any, None]) -> None:
        self._step(coroutine)

    def _step(self, coroutine: Coroutine[Any, Any, None]) -> None:
        try:
            awaited = coroutine.send(None)
        except StopIteration:
            return
        assert isinstance(awaited, Answer)
        self._parked.append((coroutine, awaited))

    @property
    def in_flight(self) -> int:
        return len(self._parked)

    def answer(self, status: int | Reply) -> None:
        """Answer the oldest held send."""
        coroutine, answer = self._parked.pop(0)
        answer.status = status
        self._step(coroutine)

    def go_online(self) -> None:
        """The network is back: `online` fires."""
        self.online = True
        for callback in self._online_callbacks:
            callback()

    def close_tab(self) -> None:
        """The page is gone: its worker with it, and its Web Lock released."""
        self.origin.alive.discard(self.tab)
        self._timers = []
        self._parked = []

    def advance(self, seconds: float) -> None:
        """Move the clock, running timers that fall due, in order."""
        until = self.clock_ms + seconds * 1000
        while True:
            due = sorted(t for t in self._timers if t[0] <= until)
            if not due:
                break
            self._timers.remove(due[0])
            self.clock_ms = max(self.clock_ms, due[0][0])
            due[0][2]()
        self.clock_ms = until

    def timer_delays(self) -> list[float]:
        """Seconds from now to each pending timer."""
        return sorted((due - self.clock_ms) / 1000 for due, _, _ in self._timers)

    # -- reading what happened --
    def ops_of(self, op: str) -> list[dict[str, Any]]:
        return [o for o in self.ops if o["op"] == op]

    def warnings(self) -> list[str]:
        return [o["message"] for o in self.ops_of("warn")]

    def cookie_assignments(self) -> list[str]:
        return [c for o in self.ops_of("set_cookies") for c in o["cookies"]]

    def sent_records(self) -> list[dict[str, Any]]:
        return [r for _, body in self.sent for r in json.loads(body)["records"]]

    def beacon_records(self) -> list[dict[str, Any]]:
        """The records the loader's unload beacon holds now, over all its chunks."""
        beacon = self.ops_of("beacon")[-1]
        return [r for body in beacon["chunks"] for r in json.loads(body)["records"]]

    def events(self) -> list[dict[str, Any]]:
        return [r for r in self.sent_records() if r["kind"] == "event"]

    def state(self) -> dict[str, Any]:
        return self.ops_of("state")[-1]


# -- building the loader's messages (as snippet/loader.js makes them: every record has the id
# the loader drew when it observed it, every message a `seq`) --

_seqs = itertools.count(1)


def record_id() -> str:
    """A record id as the loader draws it: 32 lowercase hex characters."""
    return secrets.token_hex(16)


def page(url: str = "https://shop.example.com/", title: str = "", referrer: str = "") -> dict:
    return {"url": url, "title": title, "referrer": referrer}


def navigate(url: str = "https://shop.example.com/", cause: str = "load", **fields: Any) -> dict:
    return {
        "kind": "navigate",
        "cause": cause,
        "page": page(url),
        "time": START_MS,
        "id": record_id(),
        **fields,
    }


def call(
    method: str, *args: object, time: float = START_MS, url: str = "https://shop.example.com/"
) -> dict:
    return {
        "kind": "call",
        "method": method,
        "args": list(args),
        "page": page(url),
        "time": time,
        "id": record_id(),
    }


def el(tag: str, text: str = "", cursor: str = "", **attrs: str) -> dict:
    """A chain element with one text node directly inside it, as the loader describes it (the
    text's marker is the element's own `data-heap-redact-text`, or null); attribute names use _
    for - (data_heap_redact_text)."""
    named = {name.replace("_", "-"): value for name, value in attrs.items()}
    return {
        "tag": tag,
        "attrs": named,
        "text": [[text, named.get("data-heap-redact-text")]] if text else [],
        "cursor": cursor,
    }


def interaction(
    kind: str, *chain: dict, url: str = "https://shop.example.com/", **fields: Any
) -> dict:
    return {
        "kind": kind,
        "page": page(url),
        "chain": list(chain),
        "time": START_MS,
        "id": record_id(),
        **fields,
    }


# What the loader reads of the device (docs/protocol.md, section 1): a desktop Chromium's.
PAGE_CONTEXT = {
    "screen": {"width": 1920, "height": 1080},
    "viewport": {"width": 1280, "height": 720},
    "language": "en-GB",
    "time_zone": "Europe/London",
}


def boot_message(
    records: list[dict],
    *,
    cookies: str = "",
    config: dict | None = None,
    hostname: str = "shop.example.com",
    app_id: str = "123",
    in_iframe: bool = False,
    user_id: str | None = None,
    session_id: str | None = None,
    seq: int | None = None,
    context: dict | None = None,
) -> str:
    """A boot message as the loader sends it: `session_id` is its proposal (drawn when None,
    as the loader always draws or keeps one)."""
    boot_info: dict[str, object] = {
        "app_id": app_id,
        "config": config or {},
        "server": "http://127.0.0.1:8000",
        "hostname": hostname,
        "protocol": "https:",
        "in_iframe": in_iframe,
        "context": PAGE_CONTEXT if context is None else context,
    }
    if user_id is not None:
        boot_info["user_id"] = user_id
    boot_info["session_id"] = new_numeric_id() if session_id is None else session_id
    return json.dumps(
        {
            "boot": boot_info,
            "cookies": cookies,
            "records": records,
            "seq": next(_seqs) if seq is None else seq,
        }
    )


def message(*records: dict, cookies: str = "", seq: int | None = None) -> str:
    return json.dumps(
        {"cookies": cookies, "records": list(records), "seq": next(_seqs) if seq is None else seq}
    )


def boot(browser: FakeBrowser, records: list[dict] | None = None, **options: Any) -> Receiver:
    """Start a tracker on `browser` with the given boot records."""
    return start(boot_message(records or [], **options), browser, browser.run_task)

"""A fake `Browser` for tests: records ops and sent bodies, a hand-driven clock and timers, and
sends that answer at once or wait until the test answers them."""

import itertools
import json
import secrets
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from snippet.entry import Receiver, start

START_MS = 1_700_000_000_000.0


class Answer:
    """What a held send awaits: the test sets `status`, then resumes the coroutine."""

    def __init__(self) -> None:
        self.status: int | None = None

    def __await__(self) -> Generator["Answer", None, int]:
        while self.status is None:
            yield self
        return self.status


class FakeBrowser:
    def __init__(self, now_ms: float = START_MS) -> None:
        self.ops: list[dict[str, Any]] = []
        self.sent: list[tuple[str, str]] = []
        self.clock_ms = now_ms
        self.statuses: list[int] = []  # answers for the next sends; 200 once it runs out
        self.hold = False  # True: sends wait for answer()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_seq = 0
        self._parked: list[tuple[Coroutine[Any, Any, None], Answer]] = []
        self.pages: dict[str, str] = {}  # what get() answers per URL (missing: a 404, None)
        self.fetched: list[str] = []

    # -- the Browser protocol --
    def post_to_page(self, op: dict[str, object]) -> None:
        json.dumps(op)  # an op must be JSON-safe, as the real one posts a JSON string
        self.ops.append(op)

    async def send(self, url: str, body: str) -> int:
        self.sent.append((url, body))
        if self.hold:
            return await Answer()
        return self.statuses.pop(0) if self.statuses else 200

    async def get(self, url: str) -> str | None:
        self.fetched.append(url)
        return self.pages.get(url)

    def now_ms(self) -> float:
        return self.clock_ms

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> None:
        self._timer_seq += 1
        self._timers.append((self.clock_ms + delay_s * 1000, self._timer_seq, callback))

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

    def answer(self, status: int) -> None:
        """Answer the oldest held send."""
        coroutine, answer = self._parked.pop(0)
        answer.status = status
        self._step(coroutine)

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


def boot_message(
    records: list[dict],
    *,
    cookies: str = "",
    config: dict | None = None,
    hostname: str = "shop.example.com",
    app_id: str = "123",
    in_iframe: bool = False,
    user_id: str | None = None,
    seq: int | None = None,
) -> str:
    boot_info: dict[str, object] = {
        "app_id": app_id,
        "config": config or {},
        "server": "http://127.0.0.1:8000",
        "hostname": hostname,
        "protocol": "https:",
        "in_iframe": in_iframe,
    }
    if user_id is not None:
        boot_info["user_id"] = user_id
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

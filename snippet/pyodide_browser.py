"""The real `Browser` inside the Pyodide module worker: the only module that imports `js`."""

import asyncio
import json
from collections.abc import Callable

import js
from pyodide.ffi import create_proxy, to_js

from snippet.browser import Op, Reply


class PyodideBrowser:
    """Ops go to the loader with postMessage; batches go to the collector with fetch; the retry
    queue lives in IndexedDB. The JS halves are worker.mjs's `footfall*` functions."""

    def post_to_page(self, op: Op) -> None:
        """Post one op to the main thread as a JSON string, through worker.mjs, which is told
        the op's name too."""
        js.footfallPostOp(op["op"], json.dumps(op, separators=(",", ":")))

    async def send(self, url: str, body: str) -> Reply:
        """POST through worker.mjs's `footfallSend` (text/plain, no credentials, gzip when
        large, keepalive while it fits); status 0 when the network failed."""
        try:
            answer = await js.footfallSend(url, body)
            retry_after = answer.retryAfter
            return Reply(int(answer.status), str(retry_after) if retry_after else None)
        except Exception:
            return Reply(0)

    async def get(self, url: str) -> str | None:
        """GET without credentials; the body of a 200 answer, None otherwise."""
        try:
            options = to_js({"credentials": "omit"}, dict_converter=js.Object.fromEntries)
            response = await js.fetch(url, options)
            return str(await response.text()) if int(response.status) == 200 else None
        except Exception:
            return None

    def now_ms(self) -> float:
        """Milliseconds since the epoch, from the worker's clock."""
        return float(js.Date.now())

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> None:
        """Run `callback` after `delay_s` seconds on Pyodide's event loop."""
        asyncio.get_event_loop().call_later(delay_s, callback)

    def is_online(self) -> bool:
        """`navigator.onLine` of the worker (read in JS: through a proxy the getter throws)."""
        try:
            return bool(js.footfallIsOnline())
        except Exception:
            return True  # unknown: the backoff's timer retries

    def on_online(self, callback: Callable[[], None]) -> None:
        """Run `callback` on every `online` event of the worker's global scope."""
        js.footfallOnOnline(create_proxy(callback))

    def store_put(self, app_id: str, records: list[tuple[str, str]]) -> None:
        """Keep records in IndexedDB, owned by this tab (worker.mjs `footfallStore`)."""
        js.footfallStore.put(app_id, json.dumps(records))

    def store_delete(self, app_id: str, event_ids: list[str]) -> None:
        """Delete kept records."""
        js.footfallStore.delete(app_id, json.dumps(event_ids))

    def store_clear(self, app_id: str) -> None:
        """Delete every kept record of the app."""
        js.footfallStore.clear(app_id)

    async def store_adopt(self, app_id: str) -> list[str]:
        """The kept records of tabs that are gone, now this tab's."""
        adopted: list[str] = json.loads(await js.footfallStore.adopt(app_id))
        return adopted

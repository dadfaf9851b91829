"""The real `Browser` inside the Pyodide module worker: the only module that imports `js`."""

import asyncio
import json
from collections.abc import Callable

import js
from pyodide.ffi import to_js

from snippet.browser import Op

KEEPALIVE_MAX_BYTES = 60_000


class PyodideBrowser:
    """Ops go to the loader with postMessage; batches go to the collector with fetch."""

    def post_to_page(self, op: Op) -> None:
        """Post one op to the main thread as a JSON string, through worker.mjs, which is told
        the op's name too."""
        js.footfallPostOp(op["op"], json.dumps(op, separators=(",", ":")))

    async def send(self, url: str, body: str) -> int:
        """POST text/plain without credentials (no CORS preflight); 0 when the network failed."""
        try:
            options = to_js(
                {
                    "method": "POST",
                    "headers": {"Content-Type": "text/plain;charset=UTF-8"},
                    "body": body,
                    "credentials": "omit",
                    # Lets the request outlive the page, e.g. after a link click; browsers
                    # refuse keepalive bodies over 64 KB.
                    "keepalive": len(body.encode()) < KEEPALIVE_MAX_BYTES,
                },
                dict_converter=js.Object.fromEntries,
            )
            response = await js.fetch(url, options)
            return int(response.status)
        except Exception:
            return 0

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

"""The one seam between the tracker's logic and the browser (see docs/protocol.md, section 3).

Everything else in `snippet/` is pure Python and talks to the outside only through a `Browser`.
The real one lives in `pyodide_browser.py`; tests pass a fake.
"""

from collections.abc import Callable
from typing import Protocol

from snippet.ops import Op


class Browser(Protocol):
    def post_to_page(self, op: Op) -> None:
        """Send an op (docs/protocol.md, section 2) to the loader on the main thread."""

    async def send(self, url: str, body: str) -> int:
        """POST `body` as text/plain to `url`; the HTTP status, or 0 when the network failed."""

    async def get(self, url: str) -> str | None:
        """GET `url` without credentials; the body of a 200 answer, else None."""

    def now_ms(self) -> float:
        """Milliseconds since the epoch."""

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> None:
        """Run `callback` once, after `delay_s` seconds."""

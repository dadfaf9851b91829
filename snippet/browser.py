"""The one seam between the tracker's logic and the browser (see docs/protocol.md, section 3).

Everything else in `snippet/` is pure Python and talks to the outside only through a `Browser`.
The real one lives in `pyodide_browser.py`; tests pass a fake.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from snippet.ops import Op


@dataclass(frozen=True)
class Reply:
    """The collector's answer to one POST: its HTTP status (0 when the network failed) and its
    `Retry-After` header as sent (None without one)."""

    status: int
    retry_after: str | None = None


class Browser(Protocol):
    def post_to_page(self, op: Op) -> None:
        """Send an op (docs/protocol.md, section 2) to the loader on the main thread."""

    async def send(self, url: str, body: str) -> Reply:
        """POST `body` as text/plain to `url` (gzip-compressed when large); the answer."""

    async def get(self, url: str) -> str | None:
        """GET `url` without credentials; the body of a 200 answer, else None."""

    def now_ms(self) -> float:
        """Milliseconds since the epoch."""

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> None:
        """Run `callback` once, after `delay_s` seconds."""

    def is_online(self) -> bool:
        """False when the browser knows it has no network (`navigator.onLine`)."""

    def on_online(self, callback: Callable[[], None]) -> None:
        """Run `callback` every time the browser comes back online."""

    # The retry queue in this origin's IndexedDB (docs/protocol.md, section 9): Python decides
    # what is kept and when it is deleted; each call is applied in the order it was made.
    def store_put(self, app_id: str, records: list[tuple[str, str]]) -> None:
        """Keep these (event id, record JSON) pairs, owned by this tab."""

    def store_delete(self, app_id: str, event_ids: list[str]) -> None:
        """Forget these records."""

    def store_clear(self, app_id: str) -> None:
        """Forget every record of this app, every tab's (an opt-out)."""

    async def store_adopt(self, app_id: str) -> list[str]:
        """The JSON of every kept record whose tab is gone, now owned by this tab."""

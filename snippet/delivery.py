"""Getting records to the collector: batches, one request at a time, retries, the unload beacon."""

import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from snippet import ops
from snippet.browser import Browser
from snippet.wire import ingest_body, js_json

BATCH_MAX_RECORDS = 50
FLUSH_DELAY_S = 1.0
MAX_TRIES = 8
BACKOFF_MAX_S = 60.0
BEACON_MAX_BYTES = 60_000
# A request body stays under the collector's 5 MiB cap, over which it refuses the whole batch.
BATCH_MAX_BYTES = 4_000_000

RunTask = Callable[[Coroutine[Any, Any, None]], object]


@dataclass(frozen=True)
class Pending:
    """A record waiting for the collector, with its JSON made once."""

    event_id: str
    json: str
    size: int  # bytes of `json` in UTF-8


def backoff_delay(failures: int, rand: float) -> float:
    """Seconds before the next try after `failures` failed ones: min(60, 2**(failures-1)),
    spread by ±25% with `rand` in [0, 1)."""
    base = min(BACKOFF_MAX_S, 2.0 ** (failures - 1))
    return base * (0.75 + 0.5 * rand)


def is_retryable(status: int) -> bool:
    """Network failures, rate limits and server errors are worth another try."""
    return status == 0 or status == 429 or status >= 500


def beacon_records(records: list[Pending], max_bytes: int = BEACON_MAX_BYTES) -> list[str]:
    """The JSON of the oldest records that fit in `max_bytes` together with the envelope; a
    record too big to fit is passed over, so it cannot keep the ones after it out."""
    kept: list[str] = []
    size = 200  # the envelope: app id, sent_at, library
    for pending in records:
        if size + pending.size + 1 > max_bytes:
            continue
        size += pending.size + 1
        kept.append(pending.json)
    return kept


class Delivery:
    """Sends records in order: the first batch at once, then one second after the first pending
    record or at 50 records; retries with backoff; keeps the loader's beacon body current."""

    def __init__(
        self,
        browser: Browser,
        run_task: RunTask,
        *,
        app_id: str,
        url: str,
        warn: Callable[[str], None],
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._browser = browser
        self._run_task = run_task
        self._app_id = app_id
        self.url = url
        self._warn = warn
        self._rand = rand
        self.unsent: list[Pending] = []
        self._in_flight = False
        self._failures = 0
        self._backing_off = False
        self._timer_armed = False
        self._timer_generation = 0
        self._beacon_stale = False

    def add(self, record: dict[str, object]) -> None:
        """Queue one wire record; it goes out with the next batch."""
        text = js_json(record)
        size = len(text.encode())
        if size > BATCH_MAX_BYTES:
            self._warn(f"dropped a record of {size} bytes; a request takes {BATCH_MAX_BYTES}")
            return
        self.unsent.append(Pending(str(record["event_id"]), text, size))
        self._beacon_stale = True  # published by publish_beacon(), once per loader message
        if self._in_flight or self._backing_off:
            return
        if len(self.unsent) >= BATCH_MAX_RECORDS:
            self.flush()
        elif not self._timer_armed:
            self._arm_timer(FLUSH_DELAY_S)

    def flush(self) -> None:
        """Send the oldest batch now, unless a request is already in flight."""
        self.publish_beacon()  # the loader must hold what is about to be in flight
        self._timer_armed = False
        self._timer_generation += 1
        self._backing_off = False
        if self._in_flight or not self.unsent:
            return
        batch = self._next_batch()
        self._in_flight = True
        self._run_task(self._send(batch))

    def _next_batch(self) -> list[Pending]:
        """The oldest records, at most BATCH_MAX_RECORDS of them and BATCH_MAX_BYTES together."""
        batch: list[Pending] = []
        size = 0
        for pending in self.unsent[:BATCH_MAX_RECORDS]:
            if batch and size + pending.size > BATCH_MAX_BYTES:
                break
            batch.append(pending)
            size += pending.size
        return batch

    def drop_all(self) -> None:
        """Forget every unsent record (opt-out)."""
        self.unsent = []
        self._failures = 0
        self._backing_off = False
        self._timer_armed = False
        self._timer_generation += 1
        self._publish_beacon()

    async def _send(self, batch: list[Pending]) -> None:
        status = 0
        try:
            body = ingest_body(self._app_id, self._browser.now_ms(), [p.json for p in batch])
            status = await self._browser.send(self.url, body)
        except Exception as error:  # the worker must never raise into JS
            self._warn(f"sending events failed: {error!r}")
        self._on_answer(batch, status)

    def _on_answer(self, batch: list[Pending], status: int) -> None:
        self._in_flight = False
        if 200 <= status < 300:
            self._forget(batch)
        elif is_retryable(status) and self._failures + 1 < MAX_TRIES:
            self._failures += 1
            self._backing_off = True
            self._arm_timer(backoff_delay(self._failures, self._rand()))
            return
        elif is_retryable(status):
            self._warn(
                f"dropped {len(batch)} events: the collector did not take them after "
                f"{MAX_TRIES} tries (last status {status})"
            )
            self._forget(batch)
        else:
            self._warn(f"dropped {len(batch)} events: the collector refused them ({status})")
            self._forget(batch)
        if len(self.unsent) >= BATCH_MAX_RECORDS:
            self.flush()
        elif self.unsent and not self._timer_armed:
            self._arm_timer(FLUSH_DELAY_S)

    def _forget(self, batch: list[Pending]) -> None:
        sent = {p.event_id for p in batch}
        self.unsent = [p for p in self.unsent if p.event_id not in sent]
        self._failures = 0
        self._publish_beacon()

    def _arm_timer(self, delay_s: float) -> None:
        self._timer_armed = True
        self._timer_generation += 1
        generation = self._timer_generation
        self._browser.call_later(delay_s, lambda: self._on_timer(generation))

    def _on_timer(self, generation: int) -> None:
        if generation == self._timer_generation:
            self.flush()

    def publish_beacon(self) -> None:
        """Post the unload beacon's body if the unsent records changed since it was last posted."""
        if self._beacon_stale:
            self._publish_beacon()

    def _publish_beacon(self) -> None:
        self._beacon_stale = False
        kept = beacon_records(self.unsent)
        body = ingest_body(self._app_id, self._browser.now_ms(), kept) if kept else None
        self._browser.post_to_page(ops.beacon(self.url, body))

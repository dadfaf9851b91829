"""Getting records to the collector: byte-sized batches, a few requests in flight, retries with
capped jittered backoff (and `Retry-After`), waiting while offline, a retry queue persisted in
this origin's IndexedDB, and the unload beacon in chunks (docs/protocol.md, section 9)."""

import json
import random
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from snippet import ops
from snippet.browser import Browser, Reply
from snippet.wire import ingest_body, js_json

FLUSH_DELAY_S = 1.0  # a record waits at most this long for others to share its request
# Measured with bench/bench_burst.py: past a few requests in flight and a few hundred KB per
# request the collector, not the tracker, sets the pace.
MAX_IN_FLIGHT = 3
BATCH_MAX_BYTES = 256_000
BATCH_FULL_BYTES = 32_000  # this much waiting goes out at once, without waiting FLUSH_DELAY_S
# A record over the collector's 5 MiB body cap would be refused with its whole batch.
RECORD_MAX_BYTES = 4_000_000
BACKOFF_MAX_S = 60.0
RETRY_AFTER_MAX_S = 600.0
# While offline, how often navigator.onLine is read again: not every browser fires `online` in
# a worker (Chromium's network emulation does not).
OFFLINE_CHECK_S = 5.0
# Answers from a collector that is up but will not take a record (500, 503, 429) count as tries;
# a network failure does not (the collector is down or the visitor offline: the record waits).
MAX_TRIES = 12
# The persisted queue's bounds: the oldest records go first when it is full.
QUEUE_MAX_RECORDS = 10_000
QUEUE_MAX_BYTES = 8_000_000
QUEUE_MAX_AGE_MS = 7 * 24 * 3600 * 1000
# sendBeacon refuses a body once the bodies in flight pass 64 KiB together (measured in
# Chromium: one 60 KB chunk is taken at pagehide); more chunks serve more lenient browsers.
BEACON_CHUNK_MAX_BYTES = 60_000
BEACON_MAX_CHUNKS = 4
# A beacon's fate is never known: what one took is kept in the persisted queue and sent once
# more this long after (in this page, or by the next boot), when a beacon that arrived is long
# stored; the collector stores each event id once, so one that arrived is not doubled.
BEACON_GRACE_S = 10.0
ENVELOPE_BYTES = 200  # app id, sent_at, library

RunTask = Callable[[Coroutine[Any, Any, None]], object]


@dataclass
class Pending:
    """A record waiting for the collector, with its JSON made once."""

    event_id: str
    json: str
    size: int  # bytes of `json` in UTF-8
    time_ms: float  # the record's own time
    queued_ms: float  # when it joined the queue (the flush timer counts from here)
    tries: int = 0


def backoff_delay(failures: int, rand: float) -> float:
    """Seconds before the next try after `failures` failed ones: min(60, 2**(failures-1)),
    spread by ±25% with `rand` in [0, 1)."""
    base = min(BACKOFF_MAX_S, 2.0 ** (failures - 1))
    return base * (0.75 + 0.5 * rand)


HTTP_DATE = "%a, %d %b %Y %H:%M:%S GMT"  # IMF-fixdate, the form servers must send


def retry_after_seconds(header: str | None, now_ms: float) -> float | None:
    """Seconds a `Retry-After` header asks to wait (delta-seconds or an HTTP date), capped at
    RETRY_AFTER_MAX_S; None when absent or unreadable."""
    if header is None:
        return None
    text = header.strip()
    if text.isdigit():
        seconds = float(text)
    else:
        try:  # not email.utils: it would import socket and more into every boot
            moment = datetime.strptime(text, HTTP_DATE).replace(tzinfo=UTC)
        except ValueError:
            return None
        seconds = moment.timestamp() - now_ms / 1000
    return min(RETRY_AFTER_MAX_S, max(0.0, seconds))


def is_retryable(status: int) -> bool:
    """Network failures, rate limits and server errors are worth another try."""
    return status == 0 or status == 429 or status >= 500


def take_batch(queue: list[Pending], max_bytes: int) -> list[Pending]:
    """The oldest records that fit in `max_bytes` together (at least one)."""
    batch: list[Pending] = []
    size = ENVELOPE_BYTES
    for pending in queue:
        if batch and size + pending.size + 1 > max_bytes:
            break
        batch.append(pending)
        size += pending.size + 1
    return batch


def beacon_chunks(
    records: Iterable[Pending],
    max_bytes: int = BEACON_CHUNK_MAX_BYTES,
    max_chunks: int = BEACON_MAX_CHUNKS,
) -> list[list[Pending]]:
    """The oldest records in chunks of at most `max_bytes` with the envelope; a record too big
    for any chunk is passed over, so it cannot keep the ones after it out."""
    chunks: list[list[Pending]] = []
    size = max_bytes
    for pending in records:
        if ENVELOPE_BYTES + pending.size + 1 > max_bytes:
            continue
        if size + pending.size + 1 > max_bytes:
            if len(chunks) == max_chunks:
                break
            chunks.append([])
            size = ENVELOPE_BYTES
        chunks[-1].append(pending)
        size += pending.size + 1
    return chunks


class Delivery:
    """Sends records in order of age: at once when a full batch waits, else within a second;
    up to MAX_IN_FLIGHT requests at a time; keeps every unacknowledged record in the persisted
    queue and in the loader's beacon until the collector has it."""

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
        self.queued: list[Pending] = []  # not in flight, oldest first
        self._queued_bytes = 0  # kept as records come and go: a burst adds thousands
        self._in_flight: dict[int, list[Pending]] = {}
        self._requests = 0
        self._failures = 0  # consecutive failed requests, for the backoff
        self._paused = False  # backing off, or offline: no new requests until resumed
        self._timer_generation = 0
        self._timer_due_ms: float | None = None
        self._to_store: dict[str, Pending] = {}  # new records, put in the store once per message
        self._persist = False
        self._beaconed: set[str] = set()  # ids a beacon took: resent once, after the grace
        self._resend_later: list[Pending] = []  # those of them waiting for the grace
        self._beacon_stale = False
        browser.on_online(self._on_online)

    # -- what the tracker calls ------------------------------------------------------------

    @property
    def unsent(self) -> list[Pending]:
        """Every record the collector has not acknowledged: in flight first, then queued."""
        return [p for batch in self._in_flight.values() for p in batch] + self.queued

    def add(self, record: dict[str, object]) -> None:
        """Queue one wire record; it goes out with the next batch."""
        text = js_json(record)
        size = len(text.encode())
        if size > RECORD_MAX_BYTES:
            self._warn(f"dropped a record of {size} bytes; a request takes {RECORD_MAX_BYTES}")
            return
        now = self._browser.now_ms()
        time = record.get("time")
        pending = Pending(
            str(record["event_id"]), text, size, float(time) if isinstance(time, int) else now, now
        )
        self.queued.append(pending)
        self._queued_bytes += size
        if self._persist:
            self._to_store[pending.event_id] = pending
        self._bound_queue()
        self._beacon_stale = True  # published by publish_beacon(), once per loader message
        self._pump(force=False)

    def flush(self) -> None:
        """Send what waits now, as far as the requests in flight allow."""
        self.publish_beacon()  # the loader must hold what is about to be in flight
        self._pump(force=True)

    def persist(self, allowed: bool) -> None:
        """Start (or stop) keeping records in the persisted queue; starting adopts the records
        of this site's tabs that are gone. Called as consent allows storing, or forbids it."""
        if allowed and not self._persist:
            self._persist = True
            for pending in self.unsent:
                self._to_store[pending.event_id] = pending
            self._run_task(self._adopt())
        elif not allowed:
            self._persist = False
            self._to_store = {}

    def forget_sent(self, event_ids: Iterable[str]) -> None:
        """Records a beacon took (the loader says so, at once or at the next boot): not sent
        while that beacon may be on its way, kept in the store, and sent once more after
        BEACON_GRACE_S in case it was lost."""
        ids = set(event_ids) - self._beaconed
        if not ids:
            return
        self._beaconed |= ids
        taken = [p for p in self.unsent if p.event_id in ids]
        self._forget(ids)
        self._resend_after_grace(taken)

    def drop_all(self) -> None:
        """Forget every unsent record, here and in the store (opt-out)."""
        self._set_queued([])
        self._in_flight = {}  # their answers, when they come, change nothing
        self._to_store = {}
        self._resend_later = []
        self._failures = 0
        self._paused = False
        self._cancel_timer()
        self._browser.store_clear(self._app_id)
        self._publish_beacon()

    def publish_beacon(self) -> None:
        """Persist the new records and post the beacon's chunks, if they changed since last time
        (once per loader message, so a burst costs one of each per message, not per record)."""
        self._store_new()
        if self._beacon_stale:
            self._publish_beacon()

    # -- sending ---------------------------------------------------------------------------

    def _pump(self, *, force: bool) -> None:
        """Start requests while slots are free: everything queued when `force` or when a full
        batch waits, else what has waited FLUSH_DELAY_S (and a timer for the rest)."""
        while self.queued and not self._paused and len(self._in_flight) < MAX_IN_FLIGHT:
            waited_s = (self._browser.now_ms() - self.queued[0].queued_ms) / 1000
            full = self._queued_bytes >= BATCH_FULL_BYTES
            if not (force or full or waited_s >= FLUSH_DELAY_S):
                break
            batch = take_batch(self.queued, BATCH_MAX_BYTES)
            del self.queued[: len(batch)]
            self._queued_bytes -= sum(p.size for p in batch)
            self._requests += 1
            self._in_flight[self._requests] = batch
            self._store_new()  # in the store before the request can outlive the page
            self._run_task(self._send(self._requests, batch))
        if self.queued and not self._paused and self._timer_due_ms is None:
            waited_s = (self._browser.now_ms() - self.queued[0].queued_ms) / 1000
            self._arm_timer(max(0.0, FLUSH_DELAY_S - waited_s))

    async def _send(self, request: int, batch: list[Pending]) -> None:
        reply = Reply(0)
        try:
            body = ingest_body(self._app_id, self._browser.now_ms(), [p.json for p in batch])
            reply = await self._browser.send(self.url, body)
        except Exception as error:  # the worker must never raise into JS
            self._warn(f"sending events failed: {error!r}")
        self._on_answer(request, reply)

    def _on_answer(self, request: int, reply: Reply) -> None:
        batch = self._in_flight.pop(request, None)
        if batch is None:
            return  # dropped meanwhile (opt-out, or the beacon delivered it)
        status = reply.status
        if 200 <= status < 300:
            self._failures = 0
            self._done(batch)
        elif not is_retryable(status):
            self._warn(f"dropped {len(batch)} events: the collector refused them ({status})")
            self._done(batch)
        else:
            self._retry_later(batch, reply)
            return
        self._pump(force=False)

    def _retry_later(self, batch: list[Pending], reply: Reply) -> None:
        given_up = []
        if reply.status != 0:
            for pending in batch:
                pending.tries += 1
            given_up = [p for p in batch if p.tries >= MAX_TRIES]
        if given_up:
            self._warn(
                f"dropped {len(given_up)} events: the collector did not take them after "
                f"{MAX_TRIES} tries (last status {reply.status})"
            )
            self._done(given_up)
        kept = [p for p in batch if p.tries < MAX_TRIES]
        self._set_queued(sorted(kept + self.queued, key=lambda p: p.queued_ms))
        self._failures += 1
        self._paused = True
        self._cancel_timer()
        self._publish_beacon()
        if reply.status == 0 and not self._browser.is_online():
            self._arm_timer(OFFLINE_CHECK_S)  # or _on_online, whichever comes first
            return
        delay = backoff_delay(self._failures, self._rand())
        asked = retry_after_seconds(reply.retry_after, self._browser.now_ms())
        if asked is not None and reply.status in (429, 503):
            delay = max(delay, asked)
        self._arm_timer(delay)

    def _resend_after_grace(self, records: list[Pending]) -> None:
        if not records:
            return
        if not self._resend_later:
            self._browser.call_later(BEACON_GRACE_S, self._resend_beaconed)
        self._resend_later += records

    def _resend_beaconed(self) -> None:
        """The grace is over: what beacons took goes out once more, as any queued record."""
        known = {p.event_id for p in self.unsent}
        records = [p for p in self._resend_later if p.event_id not in known]
        self._resend_later = []
        if records:
            self._set_queued(sorted(records + self.queued, key=lambda p: p.queued_ms))
            self._bound_queue()
            self._publish_beacon()
            self._pump(force=True)

    def _on_online(self) -> None:
        if self._paused:
            self._failures = 0
            self._resume()

    def _resume(self) -> None:
        self._paused = False
        self._beacon_stale = True
        self._pump(force=True)

    def _done(self, batch: list[Pending]) -> None:
        """The collector has these records (or refused them for good), which are neither queued
        nor in flight any more: delete them from the store and the beacon."""
        self._publish_beacon()
        stored = [p.event_id for p in batch if p.event_id not in self._to_store]
        for pending in batch:
            self._to_store.pop(pending.event_id, None)
        if stored and self._persist:
            self._browser.store_delete(self._app_id, stored)

    def _set_queued(self, queued: list[Pending]) -> None:
        self.queued = queued
        self._queued_bytes = sum(p.size for p in queued)

    def _forget(self, ids: set[str]) -> None:
        self._set_queued([p for p in self.queued if p.event_id not in ids])
        for request, batch in list(self._in_flight.items()):
            self._in_flight[request] = [p for p in batch if p.event_id not in ids]
        self._publish_beacon()

    # -- the persisted queue ---------------------------------------------------------------

    def _store_new(self) -> None:
        if self._to_store and self._persist:
            pairs = [(p.event_id, p.json) for p in self._to_store.values()]
            self._browser.store_put(self._app_id, pairs)
        self._to_store = {}

    async def _adopt(self) -> None:
        """Take on the records of this site's tabs that are gone (their worker died with its
        page before the collector acknowledged them)."""
        try:
            texts = await self._browser.store_adopt(self._app_id)
        except Exception as error:
            self._warn(f"could not read the retry queue: {error!r}")
            return
        known = {p.event_id for p in self.unsent}
        now = self._browser.now_ms()
        adopted: list[Pending] = []
        beaconed: list[Pending] = []
        stale: list[str] = []
        for text in texts:
            try:
                record = json.loads(text)
                event_id, time = str(record["event_id"]), float(record["time"])
            except (ValueError, KeyError, TypeError):
                continue  # not ours to read: the store is only written by us
            if event_id in known:
                continue
            if now - time > QUEUE_MAX_AGE_MS:
                stale.append(event_id)
                continue
            known.add(event_id)
            pending = Pending(event_id, text, len(text.encode()), time, now)
            (beaconed if event_id in self._beaconed else adopted).append(pending)
        self._resend_after_grace(beaconed)
        if stale:
            self._browser.store_delete(self._app_id, stale)
        if adopted:
            adopted.sort(key=lambda p: p.time_ms)
            self._set_queued(adopted + self.queued)
            self._bound_queue()
            self._publish_beacon()
            self._pump(force=True)

    def _bound_queue(self) -> None:
        """Drop the oldest queued records past the queue's count and byte bounds."""
        excess = len(self.queued) + sum(len(b) for b in self._in_flight.values())
        excess -= QUEUE_MAX_RECORDS
        size = self._queued_bytes
        cut = 0
        while cut < len(self.queued) and (excess > 0 or size > QUEUE_MAX_BYTES):
            excess -= 1
            size -= self.queued[cut].size
            cut += 1
        if cut:
            dropped = self.queued[:cut]
            self._set_queued(self.queued[cut:])
            self._warn(
                f"dropped the {len(dropped)} oldest unsent events: the retry queue holds "
                f"{QUEUE_MAX_RECORDS} events and {QUEUE_MAX_BYTES} bytes"
            )
            self._done(dropped)

    # -- timers and the beacon -------------------------------------------------------------

    def _arm_timer(self, delay_s: float) -> None:
        self._timer_generation += 1
        generation = self._timer_generation
        self._timer_due_ms = self._browser.now_ms() + delay_s * 1000
        self._browser.call_later(delay_s, lambda: self._on_timer(generation))

    def _cancel_timer(self) -> None:
        self._timer_generation += 1
        self._timer_due_ms = None

    def _on_timer(self, generation: int) -> None:
        if generation != self._timer_generation:
            return
        self._timer_due_ms = None
        if self._paused and self._failures and not self._browser.is_online():
            self._arm_timer(OFFLINE_CHECK_S)  # no request can go out yet
        elif self._paused:
            self._resume()
        else:
            self._pump(force=False)

    def _publish_beacon(self) -> None:
        """Post the beacon's chunks: none while the collector fails or the browser is offline,
        since a beacon's fate is never known and the next boot would take it as delivered;
        then the persisted queue carries everything to the next boot instead."""
        self._beacon_stale = False
        chunks = [] if self._paused else beacon_chunks(self.unsent)
        now = self._browser.now_ms()
        self._browser.post_to_page(
            ops.beacon(
                self.url,
                [ingest_body(self._app_id, now, [p.json for p in c]) for c in chunks],
                [[p.event_id for p in c] for c in chunks],
            )
        )

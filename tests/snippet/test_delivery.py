"""Delivery: byte-sized batches, requests in flight, retries with backoff and Retry-After,
offline, the persisted retry queue shared by tabs, and the unload beacon's chunks."""

import json
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from snippet.browser import Reply
from snippet.delivery import (
    BATCH_FULL_BYTES,
    BATCH_MAX_BYTES,
    BEACON_CHUNK_MAX_BYTES,
    BEACON_GRACE_S,
    BEACON_MAX_CHUNKS,
    MAX_IN_FLIGHT,
    MAX_TRIES,
    OFFLINE_CHECK_S,
    QUEUE_MAX_AGE_MS,
    QUEUE_MAX_RECORDS,
    RECORD_MAX_BYTES,
    RETRY_AFTER_MAX_S,
    Delivery,
    Pending,
    backoff_delay,
    beacon_chunks,
    is_retryable,
    retry_after_seconds,
    take_batch,
)
from snippet.wire import ingest_body
from tests.snippet.fake_browser import START_MS, FakeBrowser, FakeOrigin

URL = "http://127.0.0.1:8000/api/ingest"


def make(
    browser: FakeBrowser, rand: float = 0.5, persist: bool = True
) -> tuple[Delivery, list[str]]:
    warnings: list[str] = []
    delivery = Delivery(
        browser, browser.run_task, app_id="123", url=URL, warn=warnings.append, rand=lambda: rand
    )
    delivery.persist(persist)
    return delivery, warnings


def record(n: int, **fields: object) -> dict[str, object]:
    return {"kind": "event", "event_id": f"{n:032x}", "time": int(START_MS), **fields}


def sent_ids(browser: FakeBrowser) -> list[list[str]]:
    return [[r["event_id"][-3:] for r in json.loads(body)["records"]] for _, body in browser.sent]


def kept_ids(browser: FakeBrowser) -> list[str]:
    return sorted(r["event_id"][-3:] for r in browser.origin.kept())


def advance_until_sent(browser: FakeBrowser, step_s: float = 0.01) -> float:
    """Seconds until the next send happens."""
    before, waited = len(browser.sent), 0.0
    while len(browser.sent) == before and waited < 700:
        browser.advance(step_s)
        waited += step_s
    return round(waited, 2)


# -- pure rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failures", "rand", "delay"),
    [
        (1, 0.5, 1.0),
        (2, 0.5, 2.0),
        (3, 0.5, 4.0),
        (6, 0.5, 32.0),
        (7, 0.5, 60.0),  # capped
        (20, 0.5, 60.0),
        (1, 0.0, 0.75),  # -25%
        (7, 0.999999, 60.0 * 1.25 - 0.00006),  # just under +25%
    ],
)
def test_backoff(failures: int, rand: float, delay: float) -> None:
    assert backoff_delay(failures, rand) == pytest.approx(delay, abs=1e-4)


@pytest.mark.parametrize(
    ("status", "retry"),
    [(0, True), (429, True), (500, True), (503, True), (400, False), (404, False), (413, False)],
)
def test_which_answers_are_retried(status: int, retry: bool) -> None:
    assert is_retryable(status) is retry


def http_date(seconds_from_start: float) -> str:
    moment = datetime.fromtimestamp(START_MS / 1000 + seconds_from_start, UTC)
    return format_datetime(moment, usegmt=True)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("99999", RETRY_AFTER_MAX_S),  # capped
        (http_date(30), 30.0),
        (http_date(-30), 0.0),  # a date in the past: at once
        ("Sunday, 06-Nov-94 08:49:37 GMT", None),  # obsolete forms: the backoff decides
        ("soon", None),
        ("-5", None),
        ("1.5", None),  # delta-seconds are whole
        ("", None),
    ],
)
def test_retry_after_header(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header, START_MS) == seconds


def pending(n: int, size: int) -> Pending:
    text = json.dumps("x" * (size - 2))
    return Pending(f"{n:032x}", text, len(text), START_MS, START_MS + n)


def test_beacon_chunks_hold_the_oldest_records_each_under_the_cap() -> None:
    records = [pending(n, 1000) for n in range(200)]
    chunks = beacon_chunks(records)
    assert len(chunks) == 4 and [p for c in chunks for p in c] == records
    for chunk in chunks:
        body = ingest_body("123", START_MS, [p.json for p in chunk])
        assert len(body.encode()) <= BEACON_CHUNK_MAX_BYTES
    many = beacon_chunks([pending(n, 1000) for n in range(1000)])
    assert len(many) == BEACON_MAX_CHUNKS and many[0][0].event_id == f"{0:032x}"


def test_a_record_too_big_for_a_beacon_chunk_does_not_keep_the_later_ones_out() -> None:
    small = [pending(n, 10) for n in range(3)]
    huge = pending(99, BEACON_CHUNK_MAX_BYTES)
    assert beacon_chunks([small[0], huge, small[1], small[2]]) == [small]


# -- batching and requests in flight ---------------------------------------------------------


def test_a_record_waits_a_second_unless_a_full_batch_waits() -> None:
    browser = FakeBrowser()
    delivery, _ = make(browser)
    delivery.add(record(1))
    assert browser.sent == [] and browser.timer_delays() == [1.0]
    browser.advance(0.5)
    delivery.add(record(2))
    browser.advance(0.49)
    assert browser.sent == []
    browser.advance(0.01)
    assert sent_ids(browser) == [["001", "002"]]
    big = "x" * (BATCH_FULL_BYTES // 4)
    for n in range(3, 8):
        delivery.add(record(n, blob=big))
    assert sent_ids(browser)[1] == ["003", "004", "005", "006"]  # full: sent at once


def test_flush_sends_at_once() -> None:
    browser = FakeBrowser()
    delivery, _ = make(browser)
    delivery.add(record(1))
    delivery.flush()
    assert sent_ids(browser) == [["001"]] and delivery.unsent == []


def test_batches_stay_under_the_byte_cap_and_an_oversized_record_is_dropped() -> None:
    browser = FakeBrowser()
    delivery, warnings = make(browser)
    delivery.add({**record(1), "blob": "x" * RECORD_MAX_BYTES})
    [warning] = warnings
    assert warning.startswith("dropped a record of 400") and f"takes {RECORD_MAX_BYTES}" in warning
    third = [pending(n, BATCH_MAX_BYTES // 3) for n in range(2, 6)]
    assert take_batch(third, BATCH_MAX_BYTES) == third[:2]
    assert take_batch([pending(9, BATCH_MAX_BYTES + 1)], BATCH_MAX_BYTES) != []  # one at least
    browser.hold = True
    for n in range(2, 30):
        delivery.add({**record(n), "blob": "x" * (BATCH_MAX_BYTES // 7)})
    while browser.in_flight:
        browser.answer(200)
    assert [len(batch) for batch in sent_ids(browser)] == [1, 1, 1, 6, 6, 6, 6, 1]
    assert all(len(body.encode()) <= BATCH_MAX_BYTES for _, body in browser.sent)


def test_a_burst_keeps_a_few_requests_in_flight_and_sends_everything_once() -> None:
    browser = FakeBrowser()
    browser.hold = True
    delivery, _ = make(browser)
    blob = "x" * 1000
    for n in range(2000):
        delivery.add(record(n, blob=blob))
    assert browser.in_flight == MAX_IN_FLIGHT
    while browser.in_flight:
        browser.answer(200)
    ids = [i for batch in sent_ids(browser) for i in batch]
    assert len(ids) == 2000 == len(set(ids))
    assert max(len(batch) for batch in sent_ids(browser)) > 200  # batches by bytes, not 50s
    assert delivery.unsent == [] and browser.origin.kept() == []


# -- retries ---------------------------------------------------------------------------------


def test_retry_with_backoff_keeps_event_ids_and_order() -> None:
    browser = FakeBrowser()
    delivery, warnings = make(browser)
    browser.statuses = [503, 0, 429, 200]
    delivery.add(record(1))
    delivery.flush()
    delivery.add(record(2))  # waits for the backoff: no early send
    assert [advance_until_sent(browser) for _ in range(3)] == [1.0, 2.0, 4.0]
    assert sent_ids(browser) == [["001"], ["001", "002"], ["001", "002"], ["001", "002"]]
    assert delivery.unsent == [] and warnings == []


@pytest.mark.parametrize(("status", "honoured"), [(429, True), (503, True), (500, False)])
def test_retry_after_is_honoured_on_429_and_503(status: int, honoured: bool) -> None:
    browser = FakeBrowser()
    delivery, _ = make(browser)
    browser.statuses = [Reply(status, "30")]
    delivery.add(record(1))
    delivery.flush()
    assert advance_until_sent(browser) == (30.0 if honoured else 1.0)
    assert delivery.unsent == []


@pytest.mark.parametrize("online_fires", [True, False])
def test_offline_sends_nothing_until_back_online(online_fires: bool) -> None:
    # Chromium's network emulation changes navigator.onLine in a worker but fires no `online`.
    browser = FakeBrowser()
    delivery, _ = make(browser)
    browser.online = False
    delivery.add(record(1))
    delivery.flush()
    browser.advance(3600)
    assert len(browser.sent) == 1 and len(delivery.unsent) == 1
    delivery.add(record(2))
    if online_fires:
        browser.go_online()
    else:
        browser.online = True
        browser.advance(OFFLINE_CHECK_S)
    assert sent_ids(browser)[-1] == ["001", "002"] and delivery.unsent == []


def test_a_collector_that_keeps_failing_drops_records_after_max_tries() -> None:
    browser = FakeBrowser()
    delivery, warnings = make(browser)
    browser.statuses = [500] * MAX_TRIES
    delivery.add(record(1))
    delivery.flush()
    browser.advance(3600)
    assert len(browser.sent) == MAX_TRIES and delivery.unsent == []
    assert warnings == [
        f"dropped 1 events: the collector did not take them after {MAX_TRIES} tries "
        "(last status 500)"
    ]
    assert browser.origin.kept() == []


def test_a_collector_that_is_down_never_costs_records() -> None:
    browser = FakeBrowser()
    delivery, warnings = make(browser)
    browser.statuses = [0] * 50
    delivery.add(record(1))
    delivery.flush()
    browser.advance(50 * 75)
    assert len(browser.sent) > MAX_TRIES and warnings == []
    assert delivery.unsent == [] and browser.origin.kept() == []  # the 51st try went through


def test_a_refused_batch_is_dropped_with_a_warning() -> None:
    browser = FakeBrowser()
    delivery, warnings = make(browser)
    browser.statuses = [400]
    delivery.add(record(1))
    delivery.flush()
    assert delivery.unsent == [] and browser.origin.kept() == []
    assert warnings == ["dropped 1 events: the collector refused them (400)"]


def test_a_send_that_raises_counts_as_a_network_failure() -> None:
    browser = FakeBrowser()
    delivery, warnings = make(browser)

    async def broken(url: str, body: str) -> Reply:
        raise RuntimeError("boom")

    browser.send = broken  # type: ignore[method-assign]
    delivery.add(record(1))
    delivery.flush()
    assert warnings == ["sending events failed: RuntimeError('boom')"]
    assert len(delivery.unsent) == 1
    browser.send = FakeBrowser.send.__get__(browser)  # type: ignore[method-assign]
    assert advance_until_sent(browser) == 1.0 and delivery.unsent == []


# -- the beacon ------------------------------------------------------------------------------


def test_the_beacon_holds_every_unacknowledged_record_in_flight_or_queued() -> None:
    browser = FakeBrowser()
    browser.hold = True
    delivery, _ = make(browser)
    delivery.add(record(1))
    delivery.add(record(2))
    assert browser.ops_of("beacon") == []  # posted once per loader message, not per record
    delivery.publish_beacon()
    delivery.publish_beacon()
    assert len(browser.ops_of("beacon")) == 1
    beacon = browser.ops_of("beacon")[-1]
    assert beacon["url"] == URL
    assert beacon["chunk_ids"] == [[f"{1:032x}", f"{2:032x}"]]
    delivery.flush()
    delivery.add(record(3))
    delivery.publish_beacon()
    assert [r["event_id"][-3:] for r in browser.beacon_records()] == ["001", "002", "003"]
    browser.answer(200)
    assert [r["event_id"][-3:] for r in browser.beacon_records()] == ["003"]


def test_what_a_beacon_took_is_kept_and_sent_once_more_only_after_the_grace() -> None:
    browser = FakeBrowser()
    browser.hold = True
    delivery, _ = make(browser)
    for n in (1, 2, 3):
        delivery.add(record(n))
    delivery.flush()  # 1, 2, 3 in flight
    delivery.add(record(4))
    delivery.publish_beacon()
    delivery.forget_sent([f"{n:032x}" for n in (1, 2, 4)])
    assert kept_ids(browser) == ["001", "002", "003", "004"]  # the beacon may be lost
    assert [r["event_id"][-3:] for r in browser.beacon_records()] == ["003"]
    browser.answer(503)  # the request in flight failed: only 3 is retried
    browser.hold = False
    browser.advance(BEACON_GRACE_S - 1)
    assert sent_ids(browser)[-1] == ["003"] and delivery.unsent == []
    browser.advance(1)  # the grace is over: what the beacon took goes out once more
    assert sent_ids(browser)[-1] == ["001", "002", "004"]
    delivery.forget_sent([f"{n:032x}" for n in (1, 2)])  # a second beacon of them: no third try
    browser.advance(BEACON_GRACE_S * 2)
    assert len(browser.sent) == 3 and kept_ids(browser) == []


# -- the persisted queue ---------------------------------------------------------------------


def test_records_are_kept_once_per_message_until_acknowledged() -> None:
    browser = FakeBrowser()
    browser.hold = True
    delivery, _ = make(browser)
    delivery.add(record(1))
    delivery.add(record(2))
    assert kept_ids(browser) == []  # written once per loader message
    delivery.publish_beacon()
    assert kept_ids(browser) == ["001", "002"]
    delivery.flush()
    browser.answer(200)
    assert kept_ids(browser) == []


def test_a_record_in_flight_is_kept_before_its_request_starts() -> None:
    browser = FakeBrowser()
    browser.hold = True
    delivery, _ = make(browser)
    delivery.add(record(1))
    delivery.flush()
    assert browser.in_flight == 1 and kept_ids(browser) == ["001"]


def test_nothing_is_kept_without_persist() -> None:
    browser = FakeBrowser()
    browser.hold = True
    delivery, _ = make(browser, persist=False)
    delivery.add(record(1))
    delivery.publish_beacon()
    assert browser.origin.kept() == []
    delivery.persist(True)  # consent given: what waits is kept from now on
    delivery.publish_beacon()
    assert kept_ids(browser) == ["001"]


def tab_gone_with(origin: FakeOrigin, *numbers: int) -> None:
    """A tab that kept these records, one of them in flight, and went away unanswered."""
    tab = FakeBrowser(origin=origin)
    tab.hold = True
    delivery, _ = make(tab)
    for n in numbers:
        delivery.add(record(n))
    delivery.flush()
    tab.close_tab()


def test_the_next_boot_takes_over_a_gone_tabs_queue_and_sends_it() -> None:
    origin = FakeOrigin()
    tab_gone_with(origin, 1, 2)
    second = FakeBrowser(origin=origin)
    make(second)
    assert sent_ids(second) == [["001", "002"]]
    assert origin.kept() == []


def test_a_live_tabs_queue_is_left_alone_and_two_boots_never_share_one() -> None:
    origin = FakeOrigin()
    gone, alive = FakeBrowser(origin=origin), FakeBrowser(origin=origin)
    for browser, n in ((gone, 1), (alive, 2)):
        browser.hold = True
        delivery, _ = make(browser)
        delivery.add(record(n))
        delivery.publish_beacon()
    gone.close_tab()
    third, fourth = FakeBrowser(origin=origin), FakeBrowser(origin=origin)
    third.hold = fourth.hold = True
    make(third)
    make(fourth)
    third.advance(2)
    fourth.advance(2)
    assert sent_ids(third) == [["001"]] and fourth.sent == []
    assert sent_ids(alive) == []  # its own request still to come; nobody took it


def test_a_record_a_beacon_took_is_taken_over_and_sent_after_the_grace() -> None:
    origin = FakeOrigin()
    tab_gone_with(origin, 1, 2)
    second = FakeBrowser(origin=origin)
    delivery = Delivery(second, second.run_task, app_id="123", url=URL, warn=print)
    delivery.forget_sent([f"{1:032x}"])  # the boot message says the beacon carried it
    delivery.persist(True)
    assert sent_ids(second) == [["002"]] and kept_ids(second) == ["001"]
    assert advance_until_sent(second) == BEACON_GRACE_S  # lost in transit, it is not lost
    assert sent_ids(second)[-1] == ["001"] and origin.kept() == []


def test_records_older_than_the_age_limit_are_deleted_not_sent() -> None:
    origin = FakeOrigin()
    tab_gone_with(origin, 1)
    later = FakeBrowser(now_ms=START_MS + QUEUE_MAX_AGE_MS + 1, origin=origin)
    make(later)
    assert later.sent == [] and origin.kept() == []


def test_the_queue_drops_its_oldest_records_past_its_bounds() -> None:
    browser = FakeBrowser()
    browser.online = False
    delivery, warnings = make(browser)
    for n in range(QUEUE_MAX_RECORDS + 5):
        delivery.add(record(n))
    delivery.publish_beacon()
    assert len(delivery.unsent) == QUEUE_MAX_RECORDS
    assert len(browser.origin.kept()) == QUEUE_MAX_RECORDS
    assert delivery.unsent[0].event_id == f"{5:032x}"
    assert len(warnings) == 5 and "retry queue holds" in warnings[0]


def test_drop_all_forgets_records_everywhere_and_cancels_timers() -> None:
    browser = FakeBrowser()
    delivery, _ = make(browser)
    delivery.add(record(1))
    delivery.publish_beacon()
    delivery.drop_all()
    browser.advance(10)
    assert browser.sent == [] and browser.ops_of("beacon")[-1]["chunks"] == []
    assert browser.origin.kept() == []


def test_no_beacon_while_the_collector_fails_so_the_next_boot_sends_from_the_queue() -> None:
    # A beacon's fate is never known: sent into a failing collector it would be lost, since the
    # next boot takes what a beacon carried as delivered.
    browser = FakeBrowser()
    delivery, _ = make(browser)
    browser.statuses = [503, 503]
    delivery.add(record(1))
    delivery.flush()
    delivery.add(record(2))
    delivery.publish_beacon()
    assert browser.ops_of("beacon")[-1]["chunks"] == [] and kept_ids(browser) == ["001", "002"]
    browser.advance(1.5)  # the retry fails again
    delivery.add(record(3))
    delivery.publish_beacon()
    assert browser.ops_of("beacon")[-1]["chunks"] == []
    browser.hold = True
    browser.advance(3)  # the next retry is in flight: the beacon may carry it again
    delivery.add(record(4))
    delivery.publish_beacon()
    assert [r["event_id"][-3:] for r in browser.beacon_records()] == ["001", "002", "003", "004"]

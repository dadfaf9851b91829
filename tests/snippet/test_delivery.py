"""Delivery: batching, one request in flight, retries with backoff, the unload beacon."""

import json

import pytest

from snippet.delivery import (
    BATCH_MAX_BYTES,
    BATCH_MAX_RECORDS,
    BEACON_MAX_BYTES,
    MAX_TRIES,
    Delivery,
    Pending,
    backoff_delay,
    beacon_records,
    is_retryable,
)
from snippet.wire import ingest_body
from tests.snippet.fake_browser import FakeBrowser

URL = "http://127.0.0.1:8000/api/ingest"


def make(browser: FakeBrowser, rand: float = 0.5) -> tuple[Delivery, list[str]]:
    warnings: list[str] = []
    delivery = Delivery(
        browser, browser.run_task, app_id="123", url=URL, warn=warnings.append, rand=lambda: rand
    )
    return delivery, warnings


def record(n: int) -> dict[str, object]:
    return {"kind": "event", "event_id": f"{n:032x}", "name": f"e{n}"}


def sent_ids(browser: FakeBrowser) -> list[list[str]]:
    return [[r["event_id"][-3:] for r in json.loads(body)["records"]] for _, body in browser.sent]


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


def test_beacon_keeps_the_oldest_records_that_fit() -> None:
    records = [Pending(f"{n:032x}", f'"{n:0998}"', 1000) for n in range(100)]
    kept = beacon_records(records)
    assert 50 < len(kept) < 60 and kept == [p.json for p in records[: len(kept)]]
    assert len(ingest_body("123", 1.7e12, kept).encode()) <= BEACON_MAX_BYTES


def test_a_record_too_big_for_the_beacon_does_not_keep_the_later_ones_out() -> None:
    small = [Pending(f"{n:032x}", f'"{n}"', 3) for n in range(3)]
    huge = Pending("f" * 32, '"' + "x" * BEACON_MAX_BYTES + '"', BEACON_MAX_BYTES + 2)
    kept = beacon_records([small[0], huge, small[1], small[2]])
    assert kept == [p.json for p in small]


def test_flush_after_one_second_or_at_fifty() -> None:
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
    for n in range(3, 3 + BATCH_MAX_RECORDS):
        delivery.add(record(n))
    assert len(browser.sent) == 2 and len(sent_ids(browser)[1]) == BATCH_MAX_RECORDS


def test_batches_stay_under_the_collectors_body_cap() -> None:
    # Over its cap the collector answers 413 and the whole batch would be lost.
    browser = FakeBrowser()
    delivery, warnings = make(browser)
    delivery.add({**record(1), "blob": "x" * BATCH_MAX_BYTES})  # fits no request: dropped
    for n in (2, 3, 4):
        delivery.add({**record(n), "blob": "x" * (BATCH_MAX_BYTES // 3)})
    delivery.add(record(5))
    browser.advance(10)
    assert sent_ids(browser) == [["002", "003"], ["004", "005"]]
    assert all(len(body.encode()) < BATCH_MAX_BYTES + 1000 for _, body in browser.sent)
    assert [w for w in warnings if "dropped a record of" in w]


def test_one_request_in_flight_and_the_rest_follow_in_order() -> None:
    browser = FakeBrowser()
    browser.hold = True
    delivery, _ = make(browser)
    for n in range(BATCH_MAX_RECORDS + 5):
        delivery.add(record(n))
    browser.advance(5)
    assert browser.in_flight == 1 and len(browser.sent) == 1
    browser.answer(200)
    assert browser.sent == browser.sent[:1]  # the 5 left wait a second
    browser.advance(1)
    assert [len(batch) for batch in sent_ids(browser)] == [BATCH_MAX_RECORDS, 5]
    browser.answer(200)
    assert delivery.unsent == []


def advance_until_sent(browser: FakeBrowser, step_s: float = 0.01) -> float:
    """Seconds until the next send happens."""
    before, waited = len(browser.sent), 0.0
    while len(browser.sent) == before and waited < 600:
        browser.advance(step_s)
        waited += step_s
    return round(waited, 2)


def test_retry_with_backoff_keeps_event_ids_and_order() -> None:
    browser = FakeBrowser()
    delivery, warnings = make(browser)
    browser.statuses = [503, 0, 429, 200]
    delivery.add(record(1))
    delivery.flush()
    delivery.add(record(2))  # waits for the backoff: no early flush
    assert [advance_until_sent(browser) for _ in range(3)] == [1.0, 2.0, 4.0]
    assert sent_ids(browser) == [["001"], ["001", "002"], ["001", "002"], ["001", "002"]]
    assert delivery.unsent == [] and warnings == []


def test_gives_up_after_eight_tries_with_a_warning() -> None:
    browser = FakeBrowser()
    delivery, warnings = make(browser)
    browser.statuses = [500] * MAX_TRIES
    delivery.add(record(1))
    delivery.flush()
    browser.advance(600)
    assert len(browser.sent) == MAX_TRIES
    assert delivery.unsent == []
    assert warnings == [
        "dropped 1 events: the collector did not take them after 8 tries (last status 500)"
    ]
    delivery.add(record(2))
    browser.advance(1)
    assert sent_ids(browser)[-1] == ["002"]


def test_a_refused_batch_is_dropped_with_a_warning() -> None:
    browser = FakeBrowser()
    delivery, warnings = make(browser)
    browser.statuses = [400]
    delivery.add(record(1))
    delivery.flush()
    assert delivery.unsent == [] and warnings == [
        "dropped 1 events: the collector refused them (400)"
    ]


def test_beacon_always_holds_every_unsent_record() -> None:
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
    assert [r["event_id"][-3:] for r in json.loads(beacon["body"])["records"]] == ["001", "002"]
    delivery.flush()
    in_flight_beacon = browser.ops_of("beacon")[-1]
    assert len(json.loads(in_flight_beacon["body"])["records"]) == 2  # not acknowledged yet
    browser.answer(200)
    assert browser.ops_of("beacon")[-1]["body"] is None


def test_drop_all_forgets_records_and_cancels_timers() -> None:
    browser = FakeBrowser()
    delivery, _ = make(browser)
    delivery.add(record(1))
    delivery.drop_all()
    browser.advance(10)
    assert browser.sent == [] and browser.ops_of("beacon")[-1]["body"] is None


def test_a_send_that_raises_counts_as_a_network_failure() -> None:
    browser = FakeBrowser()
    delivery, warnings = make(browser)

    async def broken(url: str, body: str) -> int:
        raise RuntimeError("boom")

    browser.send = broken  # type: ignore[method-assign]
    delivery.add(record(1))
    delivery.flush()
    assert warnings == ["sending events failed: RuntimeError('boom')"]
    assert len(delivery.unsent) == 1
    browser.send = FakeBrowser.send.__get__(browser)  # type: ignore[method-assign]
    assert advance_until_sent(browser) == 1.0 and delivery.unsent == []

"""Event times: a time ahead of the collector's clock by more than a small skew is the sender's
clock being wrong (stored as the receive time); a web event older than the window, or any time
that is no time at all, is refused. Units on collector/clock.py, then over real HTTP."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from collector.clock import (
    EARLIEST_MS,
    MAX_CLOCK_SKEW_MS,
    WEB_MAX_AGE_MS,
    TimeRefused,
    event_time,
)
from tests.collector.wire import batch, event
from tests.live_server import LiveServer, run_cli, start_server

NOW = 1_780_000_000_000
DAY_MS = 86_400_000


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        (NOW, NOW),
        (NOW - 1, NOW - 1),
        (NOW + 1234.9, NOW + 1234),  # fractions of a millisecond are dropped
        (NOW + MAX_CLOCK_SKEW_MS, NOW + MAX_CLOCK_SKEW_MS),  # a clock a little fast: kept
        (NOW + MAX_CLOCK_SKEW_MS + 1, NOW),  # further ahead: the receive time
        (4_102_444_799_999, NOW),  # 2099
        (10**15, NOW),
        (10**400, NOW),
        (NOW - WEB_MAX_AGE_MS, NOW - WEB_MAX_AGE_MS),
    ],
)
def test_web_times_within_the_window_are_kept_and_future_ones_clamped(
    sent: float, stored: int
) -> None:
    assert event_time(sent, NOW, WEB_MAX_AGE_MS) == stored


@pytest.mark.parametrize(
    ("sent", "says"),
    [
        (0.5, "before"),
        (0, "before"),
        (-1, "before"),
        (1_000_000_000_000, "before"),  # 2001: not a recent visit
        (NOW - WEB_MAX_AGE_MS - 1, "before"),
        ("1700000000000", "time must be milliseconds"),
        (True, "time must be milliseconds"),
        (None, "time must be milliseconds"),
        (float("nan"), "time must be milliseconds"),
        (float("inf"), "time must be milliseconds"),
    ],
)
def test_web_times_outside_the_window_are_refused(sent: object, says: str) -> None:
    with pytest.raises(TimeRefused, match=says):
        event_time(sent, NOW, WEB_MAX_AGE_MS)


def test_server_times_may_backfill_further() -> None:
    old = NOW - 2 * 365 * DAY_MS
    assert event_time(old, NOW, None) == old
    with pytest.raises(TimeRefused, match="before"):
        event_time(EARLIEST_MS - 1, NOW, None)
    assert event_time(NOW + DAY_MS, NOW, None) == NOW


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with start_server(tmp_path_factory.mktemp("clock"), "--demo") as live:
        yield live


def stored_times(server: LiveServer) -> dict[str, int]:
    return {
        row["event_id"]: int(
            datetime.fromisoformat(row["time"].replace("Z", "+00:00")).timestamp() * 1000
        )
        for row in run_cli("events", "--db", str(server.db_path), "--app", "demo")
    }


def test_ingest_clamps_the_future_and_refuses_the_distant_past(server: LiveServer) -> None:
    records = [
        event("1501", time=4_000_000_000_000),  # 2096
        event("1502", time=0.5),
        event("1503", time=86_400_000),  # 1970-01-02
    ]
    before = datetime.now(UTC).timestamp() * 1000
    answer = httpx.post(server.url + "/api/ingest", content=json.dumps(batch("demo", *records)))
    after = datetime.now(UTC).timestamp() * 1000
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1
    assert [r["index"] for r in answer.json()["rejected"]] == [1, 2]
    assert all("before" in r["error"] for r in answer.json()["rejected"])
    times = stored_times(server)
    assert before - 1 <= times[records[0]["event_id"]] <= after + 1
    assert records[1]["event_id"] not in times


def test_track_clamps_a_future_timestamp(server: LiveServer) -> None:
    body = {
        "app_id": "demo",
        "identity": "clock@example.com",
        "event": "Future",
        "idempotency_key": "future-1",
        "timestamp": "2099-01-01T00:00:00Z",
    }
    before = datetime.now(UTC)
    answer = httpx.post(server.url + "/api/track", json=body)
    assert answer.status_code == 200, answer.text
    [row] = [
        row
        for row in run_cli("events", "--db", str(server.db_path), "--app", "demo")
        if row["name"] == "Future"
    ]
    stored = datetime.fromisoformat(row["time"].replace("Z", "+00:00"))
    assert abs((stored - before).total_seconds()) < 60

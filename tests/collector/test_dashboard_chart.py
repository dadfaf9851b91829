"""Counts over time: windows of buckets and the bars the SVG chart draws."""

from datetime import UTC, datetime

import pytest

from collector.dashboard.chart import (
    DAY_MS,
    HEIGHT,
    HOUR_MS,
    WIDTH,
    Window,
    bar_chart,
    window_for,
)


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("range_name", "now", "start", "bucket_ms", "buckets"),
    [
        ("24h", "2024-05-10T13:45:00", "2024-05-09T14:00:00", HOUR_MS, 24),
        ("7d", "2024-05-10T13:45:00", "2024-05-04T00:00:00", DAY_MS, 7),
        ("30d", "2024-05-10T00:00:00", "2024-04-11T00:00:00", DAY_MS, 30),
    ],
)
def test_window_for_ends_with_the_bucket_holding_now(
    range_name: str, now: str, start: str, bucket_ms: int, buckets: int
) -> None:
    window = window_for(range_name, ms(now))
    assert window == Window(ms(start), bucket_ms, buckets)
    assert window.index(ms(now)) == buckets - 1


@pytest.mark.parametrize(
    ("time", "index"),
    [
        ("2024-05-03T23:59:59.999", None),
        ("2024-05-04T00:00:00", 0),
        ("2024-05-04T23:59:59", 0),
        ("2024-05-05T00:00:00", 1),
        ("2024-05-10T23:59:59.999", 6),
        ("2024-05-11T00:00:00", None),
    ],
)
def test_window_index(time: str, index: int | None) -> None:
    assert Window(ms("2024-05-04T00:00:00"), DAY_MS, 7).index(ms(time)) == index


def test_labels_are_hours_or_days_in_utc() -> None:
    assert Window(ms("2024-05-04T22:00:00"), HOUR_MS, 3).label(2) == "00:00"
    assert Window(ms("2024-05-04T00:00:00"), DAY_MS, 3).label(2) == "May 06"


def test_bars_scale_to_the_largest_count_and_say_their_count() -> None:
    window = Window(ms("2024-05-04T00:00:00"), DAY_MS, 4)
    chart = bar_chart(window, [0, 5, 10, 2])
    heights = [bar.height for bar in chart.bars]
    assert heights[0] == 0
    assert heights[2] == max(heights) > 0
    assert heights[1] == pytest.approx(heights[2] / 2)
    assert [bar.title for bar in chart.bars] == [
        "May 04: 0",
        "May 05: 5",
        "May 06: 10",
        "May 07: 2",
    ]
    assert (chart.y_max, chart.total) == (10, 17)
    for bar in chart.bars:
        assert bar.x >= 0 and bar.x + bar.width <= WIDTH
        assert bar.y >= 0 and bar.y + bar.height <= HEIGHT
    assert [bar.x for bar in chart.bars] == sorted(bar.x for bar in chart.bars)


def test_an_empty_window_draws_flat_bars_and_a_few_labels() -> None:
    window = Window(ms("2024-05-01T00:00:00"), DAY_MS, 30)
    chart = bar_chart(window, [0] * 30)
    assert all(bar.height == 0 for bar in chart.bars)
    assert chart.total == 0 and chart.y_max == 1
    assert 2 <= len(chart.labels) <= 8
    assert chart.labels[0].text == "May 01"

"""Sliding-window limits, driven by a clock the test moves."""

import math

import pytest

from collector.ratelimit import RateLimiter, retry_after_header, take_all


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # (seconds to advance, units asked) -> None when allowed, else the wait in seconds
        ([(0, 10), (0, 1)], [None, 60.0]),
        ([(0, 6), (10, 4), (0, 1)], [None, None, 50.0]),
        ([(0, 6), (10, 4), (50, 1)], [None, None, None]),  # the first 6 left the window
        ([(0, 6), (10, 4), (50, 7)], [None, None, 10.0]),  # needs the 4 to leave too
        ([(0, 11)], [math.inf]),
        ([(0, 10), (59.9, 1), (0.1, 1)], [None, pytest.approx(0.1), None]),
    ],
)
def test_window(steps: list[tuple[float, int]], expected: list[float | None]) -> None:
    clock = Clock()
    limiter = RateLimiter(10, 60, clock)
    waits = []
    for advance, units in steps:
        clock.now += advance
        wait = limiter.wait_for({"k": units})
        if wait is None:
            limiter.spend({"k": units})
        waits.append(wait)
    assert waits == expected


def test_keys_are_independent_and_idle_keys_are_forgotten() -> None:
    clock = Clock()
    limiter = RateLimiter(1, 30, clock)
    limiter.spend({"a": 1})
    assert limiter.wait_for({"a": 1}) == 30
    assert limiter.wait_for({"b": 1}) is None
    clock.now += 31
    assert limiter.wait_for({"a": 1}) is None
    assert limiter._logs == {}  # noqa: SLF001 - memory is what this checks


def test_keys_never_asked_about_again_are_forgotten_too() -> None:
    clock = Clock()
    limiter = RateLimiter(1, 30, clock)
    for visitor in range(100):
        limiter.spend({f"visitor {visitor}": 1})
    clock.now += 31
    assert limiter.wait_for({"someone else": 1}) is None
    assert limiter._logs == {}  # noqa: SLF001 - memory is what this checks


def test_take_all_spends_nothing_when_one_limit_refuses() -> None:
    clock = Clock()
    per_identity, per_app = RateLimiter(5, 60, clock), RateLimiter(6, 60, clock)
    assert take_all([(per_identity, {"ann": 5}), (per_app, {"app": 5})]) is None
    refused = take_all([(per_identity, {"bob": 2}), (per_app, {"app": 2})])
    assert refused is not None and refused[0] is per_app
    assert per_identity.wait_for({"bob": 5}) is None  # bob's 2 were not spent


@pytest.mark.parametrize(("wait", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2"), (59.5, "60")])
def test_retry_after_header(wait: float, header: str) -> None:
    assert retry_after_header(wait) == {"Retry-After": header}

"""Heap's request limits as sliding windows: at most `limit` units in any `window_s` seconds."""

import math
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence

Costs = Mapping[Hashable, int]


class RateLimiter:
    """A sliding-window log per key with one entry per request, so bulk calls stay cheap."""

    def __init__(
        self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        # key -> (at, units) per request, oldest first
        self._logs: dict[Hashable, deque[tuple[float, int]]] = {}
        self._used: dict[Hashable, int] = {}
        self._swept_at = -math.inf

    def wait_for(self, costs: Costs) -> float | None:
        """Seconds until every key has room for its cost (inf if never); None if it has now."""
        now = self._clock()
        self._sweep(now)
        waits = [self._wait(key, cost, now) for key, cost in costs.items()]
        known = [wait for wait in waits if wait is not None]
        return max(known) if known else None

    def spend(self, costs: Costs) -> None:
        """Record each key's cost as used now."""
        now = self._clock()
        for key, cost in costs.items():
            self._logs.setdefault(key, deque()).append((now, cost))
            self._used[key] = self._used.get(key, 0) + cost

    def _wait(self, key: Hashable, cost: int, now: float) -> float | None:
        if cost > self.limit:
            return math.inf
        log = self._expire(key, now)
        excess = self._used.get(key, 0) + cost - self.limit
        if excess <= 0:
            return None
        for at, units in log:  # the oldest entries leave the window first
            excess -= units
            if excess <= 0:
                return at + self.window_s - now
        raise AssertionError("unreachable: the log holds every used unit")

    def _sweep(self, now: float) -> None:
        """Once a window, forget every idle key, also those never asked about again (each
        identity ever seen would otherwise stay in memory for the life of the process)."""
        if now - self._swept_at < self.window_s:
            return
        self._swept_at = now
        for key in list(self._logs):
            self._expire(key, now)

    def _expire(self, key: Hashable, now: float) -> deque[tuple[float, int]]:
        log = self._logs.get(key)
        if log is None:
            return deque()
        while log and log[0][0] <= now - self.window_s:
            self._used[key] -= log.popleft()[1]
        if not log:  # forget idle keys so memory follows recent traffic only
            del self._logs[key], self._used[key]
        return log


def take_all(charges: Sequence[tuple[RateLimiter, Costs]]) -> tuple[RateLimiter, float] | None:
    """Spend every charge if all fit; else spend none and say which limit and how long to wait."""
    for limiter, costs in charges:
        wait = limiter.wait_for(costs)
        if wait is not None:
            return limiter, wait
    for limiter, costs in charges:
        limiter.spend(costs)
    return None


def retry_after_header(wait_s: float) -> dict[str, str]:
    """The Retry-After header for a wait, in whole seconds (at least 1)."""
    return {"Retry-After": str(max(1, math.ceil(wait_s)))}

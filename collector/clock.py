"""Time as the collector stores it: integer milliseconds since the epoch, UTC."""

import time

LATEST_MS = 4_102_444_800_000  # 2100-01-01: a later "time" is garbage, not clock skew


def now_ms() -> int:
    """Milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def time_problem(value: object) -> str | None:
    """Why `value` is not a plausible event time in epoch milliseconds, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "time must be milliseconds since the epoch (a number)"
    if not 0 < value < LATEST_MS:
        return f"time {value} is not between 1970 and 2100 in milliseconds"
    return None

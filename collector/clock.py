"""Time as the collector stores it: integer milliseconds since the epoch, UTC; and which sent
event times it takes (PostHog's rule for the future, a window for the past)."""

import math
import time

DAY_MS = 86_400_000
# A time this far ahead of the collector's clock is a sender's clock running a little fast and is
# kept; further ahead it is wrong, and the event is stored at the time it was received.
MAX_CLOCK_SKEW_MS = 15 * 60_000
# The tracker resends what it could not deliver (its journal, its retry queue) on a later visit;
# a web event older than this is refused.
WEB_MAX_AGE_MS = 30 * DAY_MS
# Heap's server-side APIs may backfill history, back to 2000; earlier, a time is garbage.
EARLIEST_MS = 946_684_800_000  # 2000-01-01
_NUMBER_TYPES = (int, float)  # a tuple: an `int | float` union would be built at every call


class TimeRefused(ValueError):
    """A sent event time the collector does not take; the message says why."""


def now_ms() -> int:
    """Milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def event_time(value: object, received_ms: int, max_age_ms: int | None) -> int:
    """The time to store for an event sent with `value` (epoch ms) and received at `received_ms`:
    `value` itself, or `received_ms` when `value` is more than MAX_CLOCK_SKEW_MS ahead of it;
    TimeRefused when it is no number, older than `max_age_ms` (None: no limit) or than 2000."""
    if isinstance(value, bool) or not isinstance(value, _NUMBER_TYPES):
        raise TimeRefused("time must be milliseconds since the epoch (a number)")
    if isinstance(value, float) and not math.isfinite(value):
        raise TimeRefused(f"time must be milliseconds since the epoch, got {value}")
    if value > received_ms + MAX_CLOCK_SKEW_MS:
        return received_ms
    oldest, window_days = EARLIEST_MS, None
    if max_age_ms is not None and received_ms - max_age_ms > EARLIEST_MS:
        oldest, window_days = received_ms - max_age_ms, max_age_ms // DAY_MS
    if value < oldest:
        window = "2000" if window_days is None else f"{window_days} days ago"
        raise TimeRefused(
            f"time {value} is before {_iso(oldest)}; events from before {window} are not taken"
        )
    return int(value)


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))

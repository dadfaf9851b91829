"""Sessions: 30 minutes without activity start a new one."""

import pytest

from snippet.pageview import PageParts
from snippet.session import (
    SESSION_TIMEOUT_MS,
    Session,
    SessionClock,
    session_expired,
    session_properties,
)

MINUTE = 60_000


@pytest.mark.parametrize(
    ("idle_ms", "expired"),
    [
        (0, False),
        (29 * MINUTE, False),
        (SESSION_TIMEOUT_MS - 1, False),
        (SESSION_TIMEOUT_MS, True),
        (5 * 60 * MINUTE, True),
        (-MINUTE, False),  # a record stamped before the last activity
    ],
)
def test_session_expiry(idle_ms: float, expired: bool) -> None:
    assert session_expired(1_000_000.0, 1_000_000.0 + idle_ms) is expired


def test_activity_keeps_a_session_and_a_lapse_starts_one_on_the_current_page() -> None:
    first, later = PageParts(url="https://s.example/a"), PageParts(url="https://s.example/b")
    clock = SessionClock()
    assert clock.touch(0, first) is True
    session_id = clock.session.session_id if clock.session else ""
    assert clock.touch(29 * MINUTE, later) is False
    assert clock.touch(58 * MINUTE, later) is False  # 29 minutes after the last activity
    assert clock.session is not None and clock.session.session_id == session_id
    assert clock.session.landing == first
    assert clock.touch(88 * MINUTE, later) is True
    assert clock.session.session_id != session_id and clock.session.landing == later


def test_an_older_record_does_not_move_last_activity_back() -> None:
    clock = SessionClock(Session("1" * 16, 10 * MINUTE, PageParts()))
    clock.touch(5 * MINUTE, PageParts())
    assert clock.session is not None and clock.session.last_activity_ms == 10 * MINUTE


def test_session_properties_keep_landing_page_referrer_and_campaign() -> None:
    landing = PageParts(
        url="https://s.example/?utm_source=news&utm_campaign=spring&x=1",
        query="?utm_source=news&utm_campaign=spring&x=1",
        referrer="https://search.example/",
    )
    assert session_properties(landing) == {
        "landing_page": "https://s.example/?utm_source=news&utm_campaign=spring&x=1",
        "initial_referrer": "https://search.example/",
        "utm_source": "news",
        "utm_campaign": "spring",
    }

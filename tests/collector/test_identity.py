"""Heap's identity rules as pure decisions (collector/identity.py); the cases of seed 002 applied
by every backend are in tests/storage/test_identity.py."""

import pytest

from collector.identity import (
    IdentifyAction,
    KnownUser,
    decide_identify,
    identify_month,
    merged_span,
)
from tests.storage.operations import T0

ANON, KATE, JACK = KnownUser("1", None), KnownUser("2", "kate"), KnownUser("3", "jack")


@pytest.mark.parametrize(
    ("identity", "subject", "holder", "action"),
    [
        ("kate", None, None, IdentifyAction.CREATE_IDENTIFIED),
        ("kate", None, KATE, IdentifyAction.JOIN_HOLDER),
        ("kate", KATE, KATE, IdentifyAction.NOTHING),
        ("jack", KATE, JACK, IdentifyAction.REFUSE),
        ("bob", KATE, None, IdentifyAction.REFUSE),
        ("bob", ANON, None, IdentifyAction.CLAIM),
        ("kate", ANON, KATE, IdentifyAction.MERGE_INTO_HOLDER),
        ("undefined", ANON, None, IdentifyAction.REFUSE),
        ("", None, None, IdentifyAction.REFUSE),
        ("x" * 255, ANON, None, IdentifyAction.REFUSE),
    ],
)
def test_decide_identify(
    identity: str, subject: KnownUser | None, holder: KnownUser | None, action: IdentifyAction
) -> None:
    decision = decide_identify(identity, subject, holder)
    assert decision.action is action
    assert (decision.message is not None) == (action is IdentifyAction.REFUSE)


@pytest.mark.parametrize(
    ("subject", "holder", "user_ids_this_month", "action"),
    [
        (None, None, None, IdentifyAction.CREATE_IDENTIFIED),  # the web tracker: no cap
        (ANON, KATE, None, IdentifyAction.MERGE_INTO_HOLDER),
        (None, None, 9, IdentifyAction.CREATE_IDENTIFIED),
        (None, KATE, 9, IdentifyAction.JOIN_HOLDER),
        (ANON, KATE, 9, IdentifyAction.MERGE_INTO_HOLDER),
        (ANON, None, 9, IdentifyAction.CLAIM),
        (None, None, 10, IdentifyAction.REFUSE),  # the 11th user id is ignored
        (None, KATE, 10, IdentifyAction.REFUSE),
        (ANON, KATE, 10, IdentifyAction.REFUSE),
        (ANON, None, 11, IdentifyAction.REFUSE),
        (KATE, KATE, 10, IdentifyAction.NOTHING),  # one of the 10 again: no new user id
    ],
)
def test_server_identify_monthly_limit(
    subject: KnownUser | None,
    holder: KnownUser | None,
    user_ids_this_month: int | None,
    action: IdentifyAction,
) -> None:
    decision = decide_identify("kate", subject, holder, user_ids_this_month=user_ids_this_month)
    assert decision.action is action
    if action is IdentifyAction.REFUSE:
        assert decision.warning_kind == "identify_monthly_limit"
        assert decision.message is not None and "at most 10 a month" in decision.message


@pytest.mark.parametrize(
    ("ms", "month"),
    [
        (T0, "2023-11"),
        (1_704_067_199_999, "2023-12"),  # the last millisecond of 2023, UTC
        (1_704_067_200_000, "2024-01"),
    ],
)
def test_identify_month_is_the_utc_calendar_month(ms: int, month: str) -> None:
    assert identify_month(ms) == month


@pytest.mark.parametrize(
    ("times", "span"),
    [((None, None), (None, None)), ((5, None, 3), (3, 5)), ((None, 7), (7, 7))],
)
def test_merged_span(times: tuple[int | None, ...], span: tuple[int | None, int | None]) -> None:
    assert merged_span(*times) == span

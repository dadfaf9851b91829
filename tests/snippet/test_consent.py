"""Consent (beyond Heap): what a page may store and send."""

import pytest

from snippet.consent import Choice, Consent, consent_cookie_value, read_consent_cookie


@pytest.mark.parametrize(
    ("raw", "choice"),
    [("1", "in"), ("0", "out"), (" 1 ", "in"), ("", None), (None, None), ("yes", None)],
)
def test_reading_the_consent_cookie(raw: str | None, choice: Choice) -> None:
    assert read_consent_cookie(raw) == choice


@pytest.mark.parametrize(("choice", "value"), [("in", "1"), ("out", "0")])
def test_writing_the_consent_cookie(choice: Choice, value: str) -> None:
    assert choice is not None and consent_cookie_value(choice) == value


@pytest.mark.parametrize(
    ("require", "choice", "tracking", "awaiting", "opted_out"),
    [
        (False, None, True, False, False),  # Heap's default: track
        (False, "in", True, False, False),
        (False, "out", False, False, True),
        (True, None, False, True, False),  # nothing stored or sent until optIn
        (True, "in", True, False, False),
        (True, "out", False, False, True),
    ],
)
def test_what_consent_allows(
    require: bool, choice: Choice, tracking: bool, awaiting: bool, opted_out: bool
) -> None:
    consent = Consent(require_consent=require, choice=choice)
    assert (consent.allows_tracking, consent.awaiting, consent.opted_out) == (
        tracking,
        awaiting,
        opted_out,
    )

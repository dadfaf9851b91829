"""Heap-style ids."""

import pytest

from snippet.ids import adopt_numeric_id, new_event_id, new_numeric_id


def test_numeric_ids_are_15_or_16_digits_below_2_to_the_53() -> None:
    ids = [new_numeric_id() for _ in range(2000)]
    assert all(i.isdigit() and len(i) in (15, 16) and int(i) < 2**53 for i in ids)
    assert len(set(ids)) == len(ids)


def test_event_ids_are_32_lowercase_hex() -> None:
    ids = [new_event_id() for _ in range(200)]
    assert all(len(i) == 32 and set(i) <= set("0123456789abcdef") for i in ids)
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    ("stored", "adopted"),
    [
        ("7035907387929425", "7035907387929425"),  # trackerVersion 4.0: a string
        (7035907387929425, "7035907387929425"),  # trackerVersion 3.0: a number
        (7035907387929425.0, "7035907387929425"),
        (" 3312313741047499 ", "3312313741047499"),
        ("0123", "123"),  # leading zeros name the same user
        ("00000000000000000123", "123"),  # longer than 16 digits only through its zeros
        (2**53, None),  # past what a JavaScript number holds exactly
        ("-5", None),
        ("12a", None),
        ("", None),
        ("١٢٣", None),  # non-ASCII digits
        (True, None),
        (None, None),
        (1.5, None),
        ({"id": 1}, None),
    ],
)
def test_adopting_stored_ids(stored: object, adopted: str | None) -> None:
    assert adopt_numeric_id(stored) == adopted

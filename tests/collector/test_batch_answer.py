"""The answer shared by ingest and the server-side APIs, and what it counts."""

from collector.batch_answer import (
    DROPPED_BOTS_HEADER,
    BatchAnswer,
    DropReason,
    RecordProblem,
    check_each,
)
from collector.storage.base import DUPLICATE, STORED, Outcome


def check_even(value: int) -> int:
    if value % 2:
        raise RecordProblem(f"{value} is odd")
    return value // 2


def test_checked_records_keep_their_index_and_the_rest_are_rejected_as_invalid() -> None:
    answer = BatchAnswer()
    assert check_each([4, 3, 8, 5], check_even, answer) == [(0, 2), (2, 4)]
    assert [(r.index, r.reason, r.error) for r in answer.rejected] == [
        (1, DropReason.INVALID, "3 is odd"),
        (3, DropReason.INVALID, "5 is odd"),
    ]


def test_storage_outcomes_are_counted_and_refusals_rejected_in_index_order() -> None:
    answer = BatchAnswer()
    check_each([1, 2, 4, 6], check_even, answer)
    answer.count_outcomes([1, 2, 3], [STORED, Outcome("refused", "identity 'guest'"), DUPLICATE])
    assert answer.as_json() == {
        "accepted": 1,
        "duplicates": 1,
        "rejected": [{"index": 0, "error": "1 is odd"}, {"index": 2, "error": "identity 'guest'"}],
    }
    assert answer.dropped == {DropReason.INVALID: 1, DropReason.REFUSED: 1, DropReason.DUPLICATE: 1}
    assert not answer.nothing_usable()


def test_nothing_usable_only_when_every_record_was_rejected() -> None:
    rejected = BatchAnswer()
    check_each([1, 3], check_even, rejected)
    assert rejected.nothing_usable()
    assert rejected.first_rejection("record") == "no record is usable; record 0: 1 is odd"
    assert rejected.response(error="x").status_code == 400
    repeated = BatchAnswer()
    repeated.count_outcomes([0], [DUPLICATE])
    assert not repeated.nothing_usable()  # a retry of what is stored is no error
    assert not BatchAnswer().nothing_usable()


def test_bot_drops_are_counted_in_a_header_not_in_the_body() -> None:
    answer = BatchAnswer()
    answer.drop(DropReason.BOT, 3)
    response = answer.response({"Vary": "Origin"})
    assert response.headers[DROPPED_BOTS_HEADER] == "3" and response.headers["vary"] == "Origin"
    assert response.body == b'{"accepted":0,"duplicates":0,"rejected":[]}'
    assert not answer.nothing_usable()
    assert DROPPED_BOTS_HEADER not in BatchAnswer().response().headers

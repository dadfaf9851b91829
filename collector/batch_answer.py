"""What became of each record of a batch, and the one answer that says so.

Shared by the ingest pipeline (`collector/ingest.py`) and Heap's server-side APIs
(`collector/server_api.py`): `{"accepted": N, "duplicates": D, "rejected": [{"index": i, "error":
"..."}]}` (docs/protocol.md section 4), plus the `X-Footfall-Dropped-Bots` header when a bot's
records were answered but not stored. The steps every such endpoint takes are here too:
require a known app, check each record, then store the usable ones in one commit.
"""

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

from starlette.responses import JSONResponse

from collector.request_body import RequestProblem, nesting_problem
from collector.storage.base import Operation, Outcome, Storage

T = TypeVar("T")
DROPPED_BOTS_HEADER = "X-Footfall-Dropped-Bots"
REJECTIONS_LISTED = 100  # an answer lists the first rejections and counts the rest


class DropReason(Enum):
    """Why a record of a batch was not stored."""

    BOT = "the User-Agent is a crawler's or a monitor's"
    INVALID = "the record breaks the protocol or Heap's limits"
    DUPLICATE = "a record with its id is stored already"
    REFUSED = "storage refused it (say an identity that would merge every visitor)"


class RecordProblem(Exception):
    """One record (or server-side API item) that cannot be used; the rest of its batch goes on."""


@dataclass(frozen=True)
class Rejection:
    """A record that is not stored for a reason its sender should fix or know: said in `error`."""

    index: int
    reason: DropReason
    error: str


@dataclass
class BatchAnswer:
    """Counts of what became of a batch's records, and each rejected one's index and error."""

    accepted: int = 0
    dropped: Counter[DropReason] = field(default_factory=Counter)
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return self.dropped[DropReason.DUPLICATE]

    def drop(self, reason: DropReason, count: int = 1) -> None:
        """Count `count` records not stored for `reason`, with nothing to tell the sender."""
        self.dropped[reason] += count

    def reject(self, index: int, reason: DropReason, error: str) -> None:
        """Count record `index` as not stored, and tell the sender why."""
        self.dropped[reason] += 1
        self.rejected.append(Rejection(index, reason, error))

    def count_outcomes(self, indexes: Sequence[int], outcomes: Sequence[Outcome]) -> None:
        """Count storage's outcome for each written record (`indexes[i]` got `outcomes[i]`)."""
        for index, outcome in zip(indexes, outcomes, strict=True):
            if outcome.status == "stored":
                self.accepted += 1
            elif outcome.status == "duplicate":
                self.drop(DropReason.DUPLICATE)
            else:
                self.reject(index, DropReason.REFUSED, str(outcome.message))

    def nothing_usable(self) -> bool:
        """Whether every record was rejected (none stored, none a repeat, none a bot's)."""
        rejected = len(self.rejected)
        return not self.accepted and rejected > 0 and sum(self.dropped.values()) == rejected

    def first_rejection(self, noun: str) -> str:
        """The error of the first rejected record, saying which one it was."""
        first = min(self.rejected, key=lambda rejection: rejection.index)
        return f"no {noun} is usable; {noun} {first.index}: {first.error}"

    def as_json(self) -> dict[str, object]:
        """The counts and the first REJECTIONS_LISTED rejections; `rejected_count` says how many
        there were when that is more."""
        rejected = sorted(self.rejected, key=lambda rejection: rejection.index)
        answer: dict[str, object] = {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [
                {"index": r.index, "error": r.error} for r in rejected[:REJECTIONS_LISTED]
            ],
        }
        if len(rejected) > REJECTIONS_LISTED:
            answer["rejected_count"] = len(rejected)
        return answer

    def response(
        self, headers: dict[str, str] | None = None, *, error: str | None = None
    ) -> JSONResponse:
        """The answer: 200 with the counts, or 400 with `error` first when given."""
        headers = dict(headers or {})
        if self.dropped[DropReason.BOT]:
            headers[DROPPED_BOTS_HEADER] = str(self.dropped[DropReason.BOT])
        if error is None:
            return JSONResponse(self.as_json(), headers=headers)
        return JSONResponse({"error": error, **self.as_json()}, 400, headers=headers)


async def require_known_app(storage: Storage, app_id: str) -> None:
    """Only known apps are answered: RequestProblem (404) for any other."""
    if await storage.find_app(app_id) is None:
        raise RequestProblem(404, f"unknown app_id {app_id!r}")


def check_each(
    records: Sequence[Any], check: Callable[[Any], T], answer: BatchAnswer, *, flat: bool = False
) -> list[tuple[int, T]]:
    """What `check` makes of each record, with the record's index; a record nested too deeply
    to check, or one `check` raises RecordProblem for, is rejected as invalid. `flat`: the
    records are known to nest a few levels at most, so nesting is not looked at."""
    checked: list[tuple[int, T]] = []
    for index, record in enumerate(records):
        try:
            too_deep = None if flat else nesting_problem(record)
            if too_deep is not None:
                raise RecordProblem(too_deep)
            checked.append((index, check(record)))
        except RecordProblem as problem:
            answer.reject(index, DropReason.INVALID, str(problem))
    return checked


async def store(
    storage: Storage,
    app_id: str,
    operations: Sequence[tuple[int, Operation]],
    answer: BatchAnswer,
) -> None:
    """Write the checked operations (with their records' indexes) in one commit and count what
    became of each; StorageError when the write failed (answer 503: retry)."""
    if not operations:
        return
    outcomes = await storage.write(app_id, [operation for _, operation in operations])
    answer.count_outcomes([index for index, _ in operations], outcomes)

"""The condition both backends skip most non-candidates with (`EventReader.candidate_groups`,
`newest_candidates`): tests on the raw event columns, before any JSON is parsed.

One builder for both dialects: a backend gives how it binds a value and how it tests that a
column holds a text (SQLite's `instr`, ClickHouse's `position`). The column expressions (`type`,
`page`, `target`, `lower(target)`) read alike in both.
"""

import re
from collections.abc import Callable, Sequence

from collector.storage.base import CandidateFilter

# What the stored JSON encoding (stored_json.dumps) writes other than as itself: such a text
# cannot be looked for in the raw column.
_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f\x7f]')


def candidates_where(
    filters: Sequence[CandidateFilter], bind: Callable[[object], str], contains: str
) -> str:
    """A condition that holds for every event passing one of the filters. `bind(value)` binds
    a value and gives its placeholder, in the order the condition reads; `contains` is the
    dialect's test that `{column}` holds `{text}` (a placeholder)."""
    alternatives = []
    for candidate_filter in filters:
        where = []
        if candidate_filter.event_type:
            where.append(f"type = {bind(candidate_filter.event_type)}")
        if candidate_filter.needs_target:
            where.append("target IS NOT NULL")
        for column, text in _raw_substrings(candidate_filter):
            where.append(contains.format(column=column, text=bind(text)))
        alternatives.append(" AND ".join(where) or "1")
    return "((" + (") OR (".join(alternatives) or "0") + "))"


def _raw_substrings(candidate_filter: CandidateFilter) -> list[tuple[str, str]]:
    """(column expression, text): the texts the filter needs that must appear as they are in
    the raw JSON column."""
    needed = [
        *(("page", text) for text in candidate_filter.url_contains),
        *(("target", text) for text in candidate_filter.text_contains),
        *(("lower(target)", text) for text in candidate_filter.lower_hierarchy_contains),
    ]
    # A text stored in JSON reads the same in the raw column unless JSON had to escape it.
    return [(column, text) for column, text in needed if not _JSON_ESCAPED.search(text)]

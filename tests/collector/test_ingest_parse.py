"""Ingest bodies read two ways agree: the tracker's shape straight from bytes with msgspec
(`parse_body`'s fast path) and any JSON as `parse_json` reads it. Generated bodies (hypothesis,
derandomized) with JSON texts that parsers are known to read differently spliced in."""

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.batch_answer import BatchAnswer
from collector.context import NO_REQUEST_CONTEXT
from collector.ingest import Batch, parse_batch, parse_body, validate
from collector.request_body import MAX_NESTING, RequestProblem, parse_json
from tests.collector.wire import VALID_RECORDS, batch, event, identify, json_values, user_properties

EXAMPLES = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
SPLICE = "@@splice@@"
# JSON texts read otherwise by one parser or another, or refused by some.
TRICKY_JSON = [
    '"\\ud800"',  # a lone surrogate: json mends it, orjson and msgspec refuse it
    '"a\\udc00b"',
    '"\\ud83d\\ude00"',  # a pair: one character
    '"\\u0000"',
    '"caf\\u00e9 \u00e9 \u2028"',
    "12345678901234567890",  # past 64 bits
    "-9223372036854775809",
    "9007199254740993",
    "123456789012345678",
    "-0",
    "-0.0",
    "1.0",
    "1E2",
    "1e400",
    "1e-400",
    "NaN",
    "Infinity",
    "true",
    "null",
    "[]",
    "{}",
    '{"a": {"b": {"c": 1}}}',
    '{"a": {"b": 1}}',
    '{"a": 1, "a": {"b": 2}}',  # a duplicate key
    '{"a": 1, "a": 2}',
    "[1, [2, [3]]]",
    "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1),
]


@st.composite
def records(draw: st.DrawFn) -> Any:
    """A valid record, often with a field, a nested field or a new key set to any value, or to
    a tricky JSON text."""
    record: dict[str, Any] = copy.deepcopy(draw(VALID_RECORDS))  # its context is shared
    for _ in range(draw(st.integers(0, 2))):
        holder = record
        nested = [key for key, value in record.items() if isinstance(value, dict)]
        if nested and draw(st.booleans()):
            holder = record[draw(st.sampled_from(nested))]
        key = draw(st.sampled_from([*holder, "extra"]))
        holder[key] = draw(st.just(SPLICE) | json_values)
    return record


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """JSON text of a batch, with tricky texts where SPLICE was put, and maybe a BOM."""
    body = batch("demo", *draw(st.lists(records() | json_values, max_size=5)))
    if draw(st.booleans()):
        body[draw(st.sampled_from(["app_id", "records", "sent_at", "extra"]))] = draw(
            st.just(SPLICE) | json_values
        )
    text = json.dumps(body, ensure_ascii=draw(st.booleans()))
    while f'"{SPLICE}"' in text:
        text = text.replace(f'"{SPLICE}"', draw(st.sampled_from(TRICKY_JSON)), 1)
    prefix = draw(st.sampled_from(["", " ", "\ufeff"]))
    return (prefix + text).encode("utf-8", "surrogatepass")


def read_as_any_json(body: bytes) -> Batch:
    return parse_batch(parse_json(body))


def outcome(read: Any, body: bytes) -> tuple[str, str, str]:
    """What a way of reading makes of the body, strictly (repr tells 1, 1.0 and True apart):
    the batch's app and records, and what validating them accepts and rejects; or the error."""
    try:
        parsed = read(body)
    except RequestProblem as problem:
        return "refused", str(problem.status), problem.message
    answer = BatchAnswer()
    operations = validate(parsed.records, answer, NO_REQUEST_CONTEXT, flat=parsed.flat)
    return repr((parsed.app_id, parsed.records)), repr(operations), repr(answer.as_json())


@EXAMPLES
@given(bodies())
def test_the_fast_path_reads_every_body_as_parse_json_does(body: bytes) -> None:
    assert outcome(parse_body, body) == outcome(read_as_any_json, body)


def test_the_trackers_batches_take_the_fast_path() -> None:
    click = event("701", "click", properties={"plan": "Pro", "n": 2})
    records = [event("700"), click, identify("700", "a@example.com"), user_properties("700", {})]
    parsed = parse_body(json.dumps(batch("demo", *records)).encode())
    assert parsed.flat
    assert parsed.records == records
    assert "context" in click and isinstance(click["context"]["screen"], dict)


@pytest.mark.parametrize(
    "value",
    [
        "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1),
        '{"a": {"b": {"c": 1}}}',
        "12345678901234567890",
        '"\\ud800"',
    ],
)
def test_other_bodies_are_read_as_any_json(value: str) -> None:
    text = json.dumps(batch("demo", event("700", properties={"p": "@"}), event("701")))
    parsed = parse_body(text.replace('"@"', value).encode())
    assert not parsed.flat
    assert parsed == read_as_any_json(text.replace('"@"', value).encode())

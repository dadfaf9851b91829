"""The wire format: record builders, the ingest body, and JSON written as JavaScript writes it."""

import json
import math
import shutil
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippet.wire import (
    EVENT_TYPES,
    PAGE_FIELDS,
    account_properties_record,
    event_record,
    identify_record,
    ingest_body,
    js_json,
    js_number,
    user_properties_record,
)


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0.1, "0.1"),
        (100.0, "100"),
        (1e16, "10000000000000000"),
        (1.5e-5, "0.000015"),
        (1e-7, "1e-7"),
        (-2.5e30, "-2.5e+30"),
        (5e-324, "5e-324"),
        (-0.0, "0"),
        (float("nan"), "null"),
    ],
)
def test_numbers_are_written_like_javascript(number: float, text: str) -> None:
    assert js_number(number) == text


# JavaScript puts array-index keys ("1") first in any object; the tracker's keys are names.
keys = st.text().filter(lambda key: not (key.isascii() and key.isdigit()))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats()
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children),
    max_leaves=10,
)


def finite(value: object) -> object:
    """`value` with NaN and infinities as None: JSON.parse cannot read them, and JSON.stringify
    writes them as null, as js_json must."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite(item) for item in value]
    return value


# The same list of strings as Node's `-e` program below writes, from the JSON text on its stdin.
STRINGIFY_EACH = "(text) => JSON.stringify(JSON.parse(text).map((v) => JSON.stringify(v)))"
IN_PYODIDE = sys.platform == "emscripten"  # tests/pyodide runs this suite there too
NODE = None if IN_PYODIDE else shutil.which("node")


def stringify_in_javascript(values: list[object]) -> list[str]:
    """JSON.stringify of each value, by a JavaScript engine: Pyodide's own, or Node's (values
    cross as Python's JSON, which JSON.parse reads)."""
    text = json.dumps(finite(values))
    if IN_PYODIDE:
        import js  # type: ignore[import-not-found]  # only inside Pyodide

        answer: list[str] = json.loads(js.eval(STRINGIFY_EACH)(text))
        return answer
    assert NODE is not None
    script = f"process.stdout.write(({STRINGIFY_EACH})(require('fs').readFileSync(0, 'utf8')))"
    run = subprocess.run([NODE, "-e", script], input=text.encode(), capture_output=True, check=True)
    answer = json.loads(run.stdout)
    return answer


@pytest.mark.skipif(not (IN_PYODIDE or NODE), reason="needs a JavaScript engine (Node)")
@settings(max_examples=10, deadline=None)
@given(st.lists(json_values, min_size=20, max_size=40))
def test_js_json_writes_what_json_stringify_writes(values: list[object]) -> None:
    assert [js_json(value) for value in values] == stringify_in_javascript(values)


def test_the_ingest_body_wraps_records_already_in_json() -> None:
    body = json.loads(ingest_body("123", 1700000000000.5, ['{"a":1}', '{"b":2}']))
    assert body == {
        "app_id": "123",
        "sent_at": 1700000000000,
        "library": "footfall-web/0.1.0",
        "records": [{"a": 1}, {"b": 2}],
    }
    assert json.loads(ingest_body("123", 0, []))["records"] == []


def test_records_carry_the_fields_of_protocol_section_4() -> None:
    page = dict.fromkeys(PAGE_FIELDS, "")
    event = event_record(
        event_id="e" * 32,
        event_type="custom",
        name="Bought",
        time=1700000000000.9,
        user_id="1",
        session_id="2",
        pageview_id="3",
        properties={"n": 1},
        page=page,
        target=None,
        session={"landing_page": "", "initial_referrer": ""},
        context={"screen": None, "viewport": None, "language": "de-CH", "time_zone": None},
    )
    assert event["kind"] == "event" and event["time"] == 1700000000000
    assert event["type"] in EVENT_TYPES
    assert set(event) == {
        "kind", "event_id", "type", "name", "time", "user_id", "session_id", "pageview_id",
        "properties", "page", "target", "session", "context",
    }  # fmt: skip
    identify = identify_record(event_id="f" * 32, time=5.5, user_id="1", identity="a@b.c")
    assert identify == {
        "kind": "identify", "event_id": "f" * 32, "time": 5, "user_id": "1", "identity": "a@b.c"
    }  # fmt: skip
    props = user_properties_record(event_id="0" * 32, time=7, user_id="1", properties={"p": "x"})
    assert props == {
        "kind": "user_properties", "event_id": "0" * 32, "time": 7, "user_id": "1",
        "properties": {"p": "x"},
    }  # fmt: skip
    account = account_properties_record(event_id="0" * 32, time=7, user_id="1", properties={})
    assert account == {
        "kind": "account_properties", "event_id": "0" * 32, "time": 7, "user_id": "1",
        "properties": {},
    }  # fmt: skip

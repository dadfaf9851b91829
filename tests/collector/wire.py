"""Protocol records (docs/protocol.md, section 4) for the collector's tests, made with the
tracker's own builders (`snippet/wire.py`) so that the tests send what the tracker sends."""

import time
import uuid
from typing import Any

from hypothesis import strategies as st

from snippet.wire import AUTOCAPTURED_TYPES, event_record, identify_record, user_properties_record
from tests.snippet.fake_browser import PAGE_CONTEXT

NOW_MS = int(time.time() * 1000)


def page(path: str = "/") -> dict[str, str]:
    return {
        "url": f"https://shop.example.com{path}",
        "domain": "shop.example.com",
        "path": path,
        "query": "",
        "hash": "",
        "title": "Shop",
        "referrer": "",
    }


def event(user_id: str, type_: str = "pageview", name: str | None = None, **fields: Any) -> dict:
    """An event record as the tracker builds it (`snippet.wire`); `fields` add or override."""
    target = None
    if type_ in AUTOCAPTURED_TYPES:
        target = {
            "tag": "a",
            "id": "buy",
            "class": "btn primary",
            "text": "Buy",
            "href": "/cart",
            "hierarchy": "@div;#root;|@a;#buy;.btn;.primary;[href=/cart];|",
        }
    record = event_record(
        event_id=uuid.uuid4().hex,
        event_type=type_,
        name=name or type_,
        time=NOW_MS,
        user_id=user_id,
        session_id="3312313741047499",
        pageview_id="3533035492830499",
        properties={},
        page=page(),
        target=target,
        session={"landing_page": page()["url"], "initial_referrer": "", "utm_source": "news"},
        context=PAGE_CONTEXT,
    )
    return record | fields


def identify(user_id: str, identity: Any, **fields: Any) -> dict:
    record = identify_record(
        event_id=uuid.uuid4().hex, time=NOW_MS, user_id=user_id, identity=identity
    )
    return record | fields


def user_properties(user_id: str, properties: Any, **fields: Any) -> dict:
    record = user_properties_record(
        event_id=uuid.uuid4().hex, time=NOW_MS, user_id=user_id, properties=properties
    )
    return record | fields


def batch(app_id: str, *records: dict) -> dict:
    return {"app_id": app_id, "sent_at": NOW_MS, "library": "test/0", "records": list(records)}


# Any JSON value, nested a little (hypothesis), for throwing at endpoints.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


# One valid record of each kind, made anew for each draw (hypothesis).
VALID_RECORDS = st.sampled_from(
    [
        lambda: event("700"),
        lambda: event("701", "click", properties={"a": 1}),
        lambda: event("702", "custom", name="Buy"),
        lambda: identify("703", "fuzz@example.com"),
        lambda: user_properties("704", {"plan": "Pro"}),
    ]
).map(lambda make: make())

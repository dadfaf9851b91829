"""Filters on exported rows and the nearest-events table (footfall_pytest/matching.py)."""

import re

from footfall_pytest.matching import (
    EVENT_SHORTCUTS,
    MISSING,
    field_value,
    filter_paths,
    nearest_events_table,
    select,
    unknown_paths,
)


def event(kind: str, name: str, text: str | None, path: str, at: str, **properties: object) -> dict:
    target = None if text is None else {"tag": "button", "text": text}
    return {
        "type": kind,
        "name": name,
        "target": target,
        "page": {"path": path},
        "properties": properties,
        "time": f"2026-12-01T18:{at}Z",
    }


EVENTS = [
    event("pageview", "pageview", None, "/", "00:00.000"),
    event("click", "click", "Add to cart", "/", "00:01.250"),
    event("custom", "Purchase", None, "/cart", "00:02.500", plan="Pro", **{"Base.appName": "Shop"}),
    event("click", "click", "Checkout now", "/cart", "00:03.750"),
]


def test_paths_take_shortcuts_and_double_underscores() -> None:
    paths = filter_paths({"type": "click", "text": "Buy", "page__path": "/"}, EVENT_SHORTCUTS)
    assert paths == {"type": "click", "target.text": "Buy", "page.path": "/"}
    assert filter_paths({"text": "x"}, {}) == {"text": "x"}  # users have no shortcuts


def test_field_values_follow_dotted_paths_and_keys_holding_dots() -> None:
    purchase = EVENTS[2]
    assert field_value(purchase, "properties.plan") == "Pro"
    assert field_value(purchase, "properties.Base.appName") == "Shop"
    assert field_value(purchase, "target.text") is MISSING  # target is null
    assert field_value(purchase, "page.nope") is MISSING


def test_values_match_by_equality_pattern_or_function() -> None:
    assert select(EVENTS, {"type": "click", "target.text": "Add to cart"}) == [EVENTS[1]]
    assert select(EVENTS, {"target.text": re.compile("^Check")}) == [EVENTS[3]]
    assert select(EVENTS, {"page.path": lambda path: path.startswith("/c")}) == EVENTS[2:]
    assert select(EVENTS, {"properties.plan": "Free"}) == []
    assert select(EVENTS, {}) == EVENTS


def test_misspelt_fields_are_named() -> None:
    assert unknown_paths(EVENTS, {"type": "click", "targt.text": "Buy"}) == ["targt.text"]


def test_the_table_puts_the_best_matches_first_latest_first_among_equals() -> None:
    table = nearest_events_table(EVENTS, {"type": "click", "target.text": "Buy"}).splitlines()
    assert re.match(r" +matched +type +name +target\.text +page\.path +time$", table[0])
    assert re.match(r" +1/2 +click +click +Checkout now +/cart +18:00:03\.750$", table[1])
    assert re.match(r" +1/2 +click +click +Add to cart +/ +18:00:01\.250$", table[2])
    assert re.match(r" +0/2 +custom +Purchase +/cart +18:00:02\.500$", table[3])
    assert len(table) == 5


def test_the_table_cuts_long_text_and_counts_what_it_leaves_out() -> None:
    many = [event("click", "click", "x" * 200, "/", f"00:{n:02d}.000") for n in range(20)]
    table = nearest_events_table(many, {"type": "click"}).splitlines()
    assert len(table) == 1 + 8 + 1 and table[-1].strip() == "... and 12 more"
    assert "x" * 27 + "…" in table[1] and "x" * 29 not in table[1]

"""Defined events: the create form's rules, matching a stored event, and retroactive counting."""

import pytest

from collector.dashboard.chart import HOUR_MS, Window
from collector.dashboard.definitions import (
    Definition,
    StoredEvent,
    count_matches,
    count_matches_by_bucket,
    definition_from_form,
    matcher_for,
    stored_event,
)

BUY_TARGET: dict[str, object] = {
    "tag": "button",
    "id": "buy",
    "class": "btn primary",
    "text": " Buy now ",
    "href": "",
    "hierarchy": "@div;#root;|@form;#checkout;|@button;#buy;.btn;.primary;[type=submit];|",
}
CART_URL = "https://shop.example.com/cart?step=2"


def click(
    target: dict[str, object] | None = BUY_TARGET, url: str = CART_URL, time: int = 0
) -> StoredEvent:
    return stored_event("click", url, target, time)


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({"name": "Buy", "selector": "#buy"}, Definition("Buy", selector="#buy")),
        (
            {
                "name": " Buy ",
                "event_type": "click",
                "selector": " form #buy ",
                "url_contains": "/cart",
            },
            Definition("Buy", event_type="click", selector="form #buy", url_contains="/cart"),
        ),
        (
            {"name": "Cart views", "event_type": "pageview", "url_contains": "/cart"},
            Definition("Cart views", event_type="pageview", url_contains="/cart"),
        ),
        (
            {"name": "Buy text", "target_text": "Buy now"},
            Definition("Buy text", target_text="Buy now"),
        ),
        (
            {"name": "Submits", "event_type": "submit", "selector": "", "target_text": ""},
            Definition("Submits", event_type="submit"),
        ),
    ],
)
def test_accepted_forms(form: dict[str, str], expected: Definition) -> None:
    assert definition_from_form(form) == (expected, [])


@pytest.mark.parametrize(
    ("form", "problem"),
    [
        ({"selector": "#buy"}, "name must not be empty"),
        ({"name": "x" * 256, "selector": "#buy"}, "name is 256 characters; the limit is 255"),
        (
            {"name": "Nothing"},
            "give at least one of: type, CSS selector, target text, URL contains",
        ),
        (
            {"name": "T", "event_type": "custom"},
            "type must be one of click, change, submit, pageview",
        ),
        ({"name": "P", "event_type": "pageview", "selector": "#buy"}, "a pageview has no target"),
        ({"name": "P", "event_type": "pageview", "target_text": "Buy"}, "a pageview has no target"),
        ({"name": "S", "selector": "a:hover"}, "CSS selector: the pseudo-class ':hover'"),
        ({"name": "S", "selector": "a, b"}, "CSS selector: a list of selectors"),
        ({"name": "U", "url_contains": "u" * 1025}, "URL contains is 1025 characters"),
        ({"name": "X", "target_text": "t" * 1025}, "target text is 1025 characters"),
    ],
)
def test_refused_forms_say_why(form: dict[str, str], problem: str) -> None:
    definition, problems = definition_from_form(form)
    assert definition is None
    assert any(problem in line for line in problems), problems


def test_a_form_with_several_problems_reports_each() -> None:
    _, problems = definition_from_form({"event_type": "pageview", "selector": "a:hover"})
    assert len(problems) == 3


@pytest.mark.parametrize(
    ("definition", "event", "matches"),
    [
        (Definition("d", event_type="click"), click(), True),
        (Definition("d", event_type="submit"), click(), False),
        (Definition("d", selector="#checkout button"), click(), True),
        (Definition("d", selector="#checkout > a"), click(), False),
        (Definition("d", target_text="Buy now"), click(), True),  # stored text is trimmed
        (Definition("d", target_text="buy now"), click(), False),  # case matters, as in Heap
        (Definition("d", target_text="Buy"), click(), False),  # equality, not a prefix
        (Definition("d", url_contains="/cart"), click(), True),
        (Definition("d", url_contains="/checkout"), click(), False),
        (Definition("d", "click", "button.primary", "Buy now", "step=2"), click(), True),
        (Definition("d", "click", "button.primary", "Buy now", "step=3"), click(), False),
        # events without a target never match a selector or a target text
        (Definition("d", selector="button"), click(target=None), False),
        (Definition("d", target_text="Buy now"), click(target=None), False),
        (Definition("d", url_contains="/cart"), stored_event("pageview", CART_URL, None, 0), True),
        (Definition("d", url_contains="/cart"), stored_event("custom", None, None, 0), False),
        # a stored target without a hierarchy is matched on its own tag, id and class
        (
            Definition("d", selector="a#buy.btn"),
            click(target={"tag": "A", "id": "buy", "class": "btn primary"}),
            True,
        ),
        (Definition("d", selector="a#buy.btn"), click(target={"tag": "a", "id": "sell"}), False),
        # malformed target fields are ignored, not fatal
        (Definition("d", selector="a"), click(target={"hierarchy": 7, "tag": None}), False),
    ],
)
def test_matcher(definition: Definition, event: StoredEvent, matches: bool) -> None:
    assert matcher_for(definition).matches(event) is matches


def test_count_matches_counts_each_definition_over_all_events() -> None:
    events = [
        click(),
        click(url="https://shop.example.com/"),
        stored_event("pageview", CART_URL, None, 0),
        stored_event("click", CART_URL, {"hierarchy": "@div;|@a;.nav;|"}, 0),
    ]
    matchers = {
        "buy": matcher_for(Definition("Buy", selector="#buy")),
        "cart": matcher_for(Definition("Cart", url_contains="/cart")),
        "clicks": matcher_for(Definition("Clicks", event_type="click")),
        "none": matcher_for(Definition("None", selector="#nowhere")),
    }
    assert count_matches(matchers, events) == {"buy": 2, "cart": 3, "clicks": 3, "none": 0}


def test_count_matches_by_bucket_ignores_events_outside_the_window() -> None:
    window = Window(start_ms=10 * HOUR_MS, bucket_ms=HOUR_MS, buckets=3)
    times = [9 * HOUR_MS, 10 * HOUR_MS, 10 * HOUR_MS + 5, 12 * HOUR_MS + 1, 13 * HOUR_MS]
    events = [click(time=t) for t in times] + [click(target=None, time=11 * HOUR_MS)]
    matcher = matcher_for(Definition("Buy", selector="#buy"))
    assert count_matches_by_bucket(matcher, events, window) == [2, 0, 1]

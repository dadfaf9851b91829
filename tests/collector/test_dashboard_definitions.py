"""Defined events: the create form's rules, matching a stored event, and retroactive counting."""

from collections.abc import AsyncIterator

import pytest

from collector.dashboard.definitions import (
    Definition,
    EventGroup,
    MatchableEvent,
    count_matches,
    count_over_time,
    definition_from_form,
    matchable_event,
    matcher_for,
    newest_matches,
)
from collector.storage.base import Candidate
from tests.run_async import run_async

BUY = "@div;#root;|@form;#checkout;|@button;#buy;.btn;.primary;[type=submit];|"
CART_URL = "https://shop.example.com/cart?step=2"


def click(
    hierarchy: str | None = BUY, text: str | None = " Buy now ", url: str = CART_URL
) -> MatchableEvent:
    return matchable_event("click", url, hierarchy, text)


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
        (  # stored URLs may be longer than a target's text (docs/protocol.md section 4)
            {"name": "Long URL", "url_contains": "u" * 2048},
            Definition("Long URL", url_contains="u" * 2048),
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
        ({"name": "U", "url_contains": "u" * 8193}, "URL contains is 8193 characters"),
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
        (Definition("d", selector="button"), click(None, None), False),
        (Definition("d", selector="*"), click(None, "Buy now"), False),
        (Definition("d", target_text="Buy now"), click(None, None), False),
        (
            Definition("d", url_contains="/cart"),
            matchable_event("pageview", CART_URL, None, None),
            True,
        ),
        (Definition("d", url_contains="/cart"), matchable_event("custom", None, None, None), False),
        (Definition("d", selector="*"), click(""), False),
    ],
)
def test_matcher(definition: Definition, event: MatchableEvent, matches: bool) -> None:
    assert matcher_for(definition).matches(event) is matches


def test_count_matches_counts_each_definition_over_all_groups() -> None:
    groups = [
        EventGroup(click(), None, 3),
        EventGroup(click(url="https://shop.example.com/"), None, 1),
        EventGroup(matchable_event("pageview", CART_URL, None, None), None, 5),
        EventGroup(click("@div;|@a;.nav;|"), None, 2),
    ]
    matchers = {
        "buy": matcher_for(Definition("Buy", selector="#buy")),
        "cart": matcher_for(Definition("Cart", url_contains="/cart")),
        "clicks": matcher_for(Definition("Clicks", event_type="click")),
        "none": matcher_for(Definition("None", selector="#nowhere")),
    }
    assert count_matches(matchers, groups) == {"buy": 4, "cart": 10, "clicks": 6, "none": 0}


def test_count_over_time_counts_in_all_and_per_bucket() -> None:
    groups = [
        EventGroup(click(), None, 4),  # outside the window: only in the total
        EventGroup(click(), 0, 2),
        EventGroup(click(), 2, 1),
        EventGroup(click(None, None), 1, 7),
    ]
    matcher = matcher_for(Definition("Buy", selector="#buy"))
    assert count_over_time(matcher, groups, 3) == (7, [2, 0, 1])


def test_newest_matches_keeps_the_first_matches_in_order_and_reads_no_further() -> None:
    buy = Candidate("click", CART_URL, BUY, " Buy now ")
    candidates = [("a", buy), ("miss", Candidate("click", CART_URL, None, None))]
    candidates += [("b", buy), ("c", buy), ("d", buy)]
    read: list[str] = []

    async def stream() -> AsyncIterator[tuple[str, Candidate]]:
        for event_id, candidate in candidates:
            read.append(event_id)
            yield event_id, candidate

    matcher = matcher_for(Definition("Buy", selector="#buy"))
    assert run_async(newest_matches(matcher, stream(), 2)) == ["a", "b"]
    assert read == ["a", "miss", "b"]
    assert run_async(newest_matches(matcher, stream(), 10)) == ["a", "b", "c", "d"]

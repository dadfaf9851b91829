"""Defined events' candidates: storage's prefilter may skip events, never a match."""

from collections.abc import Sequence

import pytest

from collector.dashboard.chart import Window
from collector.dashboard.definitions import (
    Definition,
    candidate_filter,
    count_matches,
    count_over_time,
    event_groups,
    matchable_event,
    matcher_for,
)
from collector.run_sync import collected
from collector.storage.base import CandidateGroup, NewEvent, Storage
from tests.run_async import run_async
from tests.storage.conftest import write

BUY = "@div;#root;|@form;#checkout;|@button;#buy;.btn;.Primary;[type=submit];|"
TARGETS: dict[str, object] = {
    "buy": {"tag": "button", "id": "buy", "text": " Buy now ", "hierarchy": BUY},
    "buy_icon": {"tag": "span", "text": "", "hierarchy": BUY + "@span;.icon;|"},
    "upper": {"tag": "A", "text": "Help", "hierarchy": "@DIV;#Root;|@NAV;|@A;.Nav;[HREF=/help];|"},
    "no_hierarchy": {"tag": "button", "id": "buy", "class": "btn Primary", "text": "Buy now"},
    "quoted": {"text": 'Say "hi" \\ bye', "hierarchy": '@a;[title=say "hi"];[data-x=a\\b];|'},
    "unicode": {"tag": "a", "text": "Ärger", "hierarchy": "@div;#Ärger;|@a;.größe;|"},
    "none": None,
}
PAGES: dict[str, object] = {
    "cart": {"url": "https://shop.example.com/cart?step=2"},
    "home": {"url": "https://shop.example.com/"},
    "no_url": {},
}
EVENT_IDS = [
    f"{type_}-{page}-{target}"
    for type_ in ("pageview", "click", "submit")
    for page in PAGES
    for target in TARGETS
]
TIMES = {event_id: 1000 * (index % 4) for index, event_id in enumerate(EVENT_IDS)}
DEFINITIONS = [
    Definition("all clicks", event_type="click"),
    Definition("buy", selector="#buy"),
    Definition("buy in form", event_type="click", selector="form#checkout > button.btn.Primary"),
    Definition("primary lower", selector=".primary"),
    Definition("tag case", selector="nav > a.Nav[href=/help]"),
    Definition("div root", selector="DIV#Root"),
    Definition("typed", selector="[type=submit]"),
    Definition("has type", selector="button[type]"),
    Definition("unicode id", selector="#Ärger .größe"),
    Definition("text", target_text="Buy now"),
    Definition("text case", target_text="buy now"),
    Definition("cart", url_contains="/cart"),
    Definition("cart clicks on buy", event_type="click", selector="#buy", url_contains="step=2"),
    Definition("pageviews", event_type="pageview"),
    Definition("anything", selector="*"),
]


@pytest.fixture
def shop(storage: Storage) -> Storage:
    """Every combination of type, page and target, in two apps (another app's events are never
    candidates)."""
    for app_id in ("shop", "blog"):
        events = []
        for type_ in ("pageview", "click", "submit"):
            for page_name, page in PAGES.items():
                for target_name, target in TARGETS.items():
                    event_id = f"{type_}-{page_name}-{target_name}"
                    events.append(
                        NewEvent(
                            event_id=event_id,
                            type=type_,
                            name="n",
                            time=TIMES[event_id],
                            source="web",
                            user_id="u",
                            session_id="s",
                            pageview_id="p",
                            page=page,
                            target=target,
                        )  # fmt: skip
                    )
        assert set(write(storage, app_id, *events)) == {"stored"}
    return storage


def candidates(storage: Storage, definition: Definition) -> list[tuple[str, object]]:
    return collected(storage.newest_candidates("shop", candidate_filter(definition)))


def groups(
    storage: Storage, definitions: Sequence[Definition], window: Window | None = None
) -> list[CandidateGroup]:
    filters = [candidate_filter(definition) for definition in definitions]
    return run_async(storage.candidate_groups("shop", filters, window))


def matched_ids(storage: Storage, definition: Definition, scanned: Definition) -> set[str]:
    matcher = matcher_for(definition)
    return {
        event_id
        for event_id, candidate in candidates(storage, scanned)
        if matcher.matches(
            matchable_event(candidate.type, candidate.url, candidate.hierarchy, candidate.text)
        )
    }


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda d: d.name)
def test_the_prefilter_keeps_every_match(shop: Storage, definition: Definition) -> None:
    everything = Definition("everything")  # no criterion: SQL keeps every event
    assert matched_ids(shop, definition, definition) == matched_ids(shop, definition, everything)


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        (Definition("buy", selector="#buy"), {"buy", "buy_icon"}),
        (Definition("quoted", selector='a[title=\'say "hi"\'][data-x="a\\b"]'), {"quoted"}),
        (Definition("quoted text", target_text='Say "hi" \\ bye'), {"quoted"}),
        (Definition("tag case", selector="nav > a.Nav[href=/help]"), {"upper"}),
        (Definition("unicode", selector="#Ärger .größe"), {"unicode"}),
        (Definition("text", target_text="Buy now"), {"buy", "no_hierarchy"}),
    ],
)
def test_matches_by_target(shop: Storage, definition: Definition, expected: set[str]) -> None:
    found = matched_ids(shop, definition, definition)
    assert {event_id.rsplit("-", 1)[1] for event_id in found} == expected
    assert len(found) == len(expected) * len(PAGES) * 3  # every type and page


def test_the_prefilter_skips_most_events_for_a_selective_definition(
    shop: Storage,
) -> None:
    total = len(candidates(shop, Definition("everything")))
    selective = candidates(shop, Definition("d", selector="#buy"))
    assert total == 3 * len(PAGES) * len(TARGETS)
    # only buy and buy_icon, of each type and page
    assert len(selective) == 2 * 3 * len(PAGES)


def test_newest_candidates_come_newest_first(shop: Storage) -> None:
    found = [event_id for event_id, _ in candidates(shop, Definition("x"))]
    assert found == sorted(found, key=lambda event_id: (TIMES[event_id], event_id), reverse=True)


def test_one_scan_for_all_definitions_counts_like_one_scan_each(shop: Storage) -> None:
    matchers = {definition.name: matcher_for(definition) for definition in DEFINITIONS}
    together = count_matches(matchers, event_groups(groups(shop, DEFINITIONS)))
    one_by_one = {
        definition.name: len(matched_ids(shop, definition, definition))
        for definition in DEFINITIONS
    }
    assert together == one_by_one
    assert together["pageviews"] == len(PAGES) * len(TARGETS)
    assert together["anything"] > 0


@pytest.mark.parametrize("definition", DEFINITIONS[:4], ids=lambda d: d.name)
def test_groups_split_by_bucket_of_the_window(shop: Storage, definition: Definition) -> None:
    window = Window(start_ms=1000, bucket_ms=1000, buckets=2)  # holds times 1000 to 2999
    matched = matched_ids(shop, definition, definition)
    expected = [sum(1 for e in matched if TIMES[e] // 1000 == b + 1) for b in range(2)]
    found = event_groups(groups(shop, [definition], window))
    total, per_bucket = count_over_time(matcher_for(definition), found, window.buckets)
    assert (total, per_bucket) == (len(matched), expected)
    assert 0 < sum(per_bucket) < total or total == 0


def test_no_definitions_no_candidates(shop: Storage) -> None:
    assert groups(shop, []) == []

"""The SQL prefilter of defined events: it may skip events, never a match (real SQLite file)."""

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.dashboard import queries
from collector.dashboard.chart import Window
from collector.dashboard.definitions import (
    Definition,
    count_matches,
    count_over_time,
    matcher_for,
)
from collector.storage.sqlite import SQLiteStorage

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
] + ["broken"]
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


def encode(value: object) -> str:
    """JSON as the storage writes it (collector/storage/sqlite.py)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """Every combination of type, page and target, plus rows whose JSON is not JSON."""
    path = tmp_path / "footfall.sqlite3"
    SQLiteStorage(path).close()  # the storage's own schema
    writer = sqlite3.connect(path)
    rows = []
    for type_ in ("pageview", "click", "submit"):
        for page_name, page in PAGES.items():
            for target_name, target in TARGETS.items():
                event_id = f"{type_}-{page_name}-{target_name}"
                stored_target = encode(target) if target else None
                rows.append((event_id, type_, TIMES[event_id], encode(page), stored_target))
    rows.append(("broken", "click", TIMES["broken"], "{not json", "{not json"))
    for app_id in ("shop", "blog"):  # another app's events are never candidates
        writer.executemany(
            f"""
            INSERT INTO events (app_id, event_id, user_id, sent_user_id, session_id, pageview_id,
                                type, name, time, received_at, properties, page, target, source)
            VALUES ('{app_id}', ?, 'u', 'u', 's', 'p', ?, 'n', ?, 1, '{{}}', ?, ?, 'web')
            """,
            rows,
        )
    writer.commit()
    writer.close()
    reader = queries.connect(path)
    yield reader
    reader.close()


def matched_ids(conn: sqlite3.Connection, definition: Definition, scanned: Definition) -> set[str]:
    matcher = matcher_for(definition)
    candidates = queries.newest_candidates(conn, "shop", scanned)
    return {event_id for event_id, event in candidates if matcher.matches(event)}


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda d: d.name)
def test_the_prefilter_keeps_every_match(conn: sqlite3.Connection, definition: Definition) -> None:
    everything = Definition("everything")  # no criterion: SQL keeps every event
    assert matched_ids(conn, definition, definition) == matched_ids(conn, definition, everything)


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
def test_matches_by_target(
    conn: sqlite3.Connection, definition: Definition, expected: set[str]
) -> None:
    found = matched_ids(conn, definition, definition)
    assert {event_id.rsplit("-", 1)[1] for event_id in found} == expected
    assert len(found) == len(expected) * len(PAGES) * 3  # every type and page


def test_the_prefilter_skips_most_events_for_a_selective_definition(
    conn: sqlite3.Connection,
) -> None:
    total = len(list(queries.newest_candidates(conn, "shop", Definition("everything"))))
    candidates = list(queries.newest_candidates(conn, "shop", Definition("d", selector="#buy")))
    assert total == 3 * len(PAGES) * len(TARGETS) + 1
    # only buy and buy_icon, of each type and page
    assert len(candidates) == 2 * 3 * len(PAGES)


def test_newest_candidates_come_newest_first(conn: sqlite3.Connection) -> None:
    found = [event_id for event_id, _ in queries.newest_candidates(conn, "shop", Definition("x"))]
    assert found == sorted(found, key=lambda event_id: (TIMES[event_id], event_id), reverse=True)


def test_one_scan_for_all_definitions_counts_like_one_scan_each(conn: sqlite3.Connection) -> None:
    matchers = {definition.name: matcher_for(definition) for definition in DEFINITIONS}
    together = count_matches(matchers, queries.candidate_groups(conn, "shop", DEFINITIONS))
    one_by_one = {
        definition.name: len(matched_ids(conn, definition, definition))
        for definition in DEFINITIONS
    }
    assert together == one_by_one
    assert together["pageviews"] == len(PAGES) * len(TARGETS)
    assert together["anything"] > 0


@pytest.mark.parametrize("definition", DEFINITIONS[:4], ids=lambda d: d.name)
def test_groups_split_by_bucket_of_the_window(
    conn: sqlite3.Connection, definition: Definition
) -> None:
    window = Window(start_ms=1000, bucket_ms=1000, buckets=2)  # holds times 1000 to 2999
    matched = matched_ids(conn, definition, definition)
    expected = [sum(1 for e in matched if TIMES[e] // 1000 == b + 1) for b in range(2)]
    groups = queries.candidate_groups(conn, "shop", [definition], window)
    total, per_bucket = count_over_time(matcher_for(definition), groups, window.buckets)
    assert (total, per_bucket) == (len(matched), expected)
    assert 0 < sum(per_bucket) < total or total == 0


def test_no_definitions_no_candidates(conn: sqlite3.Connection) -> None:
    assert list(queries.candidate_groups(conn, "shop", [])) == []

"""Record ids and acks (docs/protocol.md, section 1): the id the loader drew when it observed a
record is the event id of the wire record made from it, a navigation's id fixes its pageview and
session ids, every message is acknowledged, and a first visit's user id drawn by the loader is
kept. Together they make a journal replay, a retry and the collector's fallback one event."""

import json

import pytest

from snippet.cookies import encode_cookie_value
from snippet.ids import derived_numeric_id
from tests.snippet.fake_browser import (
    START_MS,
    FakeBrowser,
    boot,
    call,
    el,
    interaction,
    message,
    navigate,
    page,
)

PROPOSED_SESSION = "5120000000000001"  # a session id the loader drew (new_numeric_id's form)


def every_record_kind() -> list[dict]:
    return [
        navigate("https://shop.example.com/cart"),
        interaction("click", el("button", "Buy", id="buy")),
        interaction("change", el("input", id="q")),
        interaction("submit", el("form", id="search")),
        call("track", "Purchase", {"dollars": 50}),
        call("identify", "alice@example.com"),
        call("addUserProperties", {"plan": "Pro"}),
    ]


def test_each_wire_record_carries_the_id_of_the_record_it_was_made_from() -> None:
    browser = FakeBrowser()
    records = every_record_kind()
    boot(browser, records)
    browser.advance(2)
    made = {
        record["event_id"]: record.get("type", record["kind"]) for record in browser.sent_records()
    }
    observed = {record["id"]: record.get("method", record["kind"]) for record in records}
    assert {observed[event_id]: kind for event_id, kind in made.items()} == {
        "navigate": "pageview",
        "click": "click",
        "change": "change",
        "submit": "submit",
        "track": "custom",
        "identify": "identify",
        "addUserProperties": "user_properties",
    }


def test_a_record_without_an_id_or_with_a_bad_one_gets_a_fresh_event_id() -> None:
    browser = FakeBrowser()
    bad_ids = [None, "", "ABCDEF" * 6, "0" * 31, "0" * 33, "g" * 32, 12345]
    records = []
    for bad in bad_ids:
        record = call("track", "Thing")
        record["id"] = bad
        records.append(record)
    boot(browser, [navigate(), *records])
    browser.advance(2)
    ids = [event["event_id"] for event in browser.events() if event["type"] == "custom"]
    assert len(ids) == len(bad_ids) == len(set(ids))
    assert all(len(event_id) == 32 and event_id not in bad_ids for event_id in ids)
    assert browser.warnings() == []


def test_records_the_tracker_makes_on_its_own_mint_their_own_ids() -> None:
    identified = encode_cookie_value(
        {"userId": "7035907387929425", "pageviewId": "1", "sessionId": "", "identity": "bob"}
    )
    browser = FakeBrowser()
    load = navigate()
    boot(browser, [load], cookies=f"_hp2_id.123={identified}")
    browser.advance(2)
    identify, pageview = browser.sent_records()
    assert identify["kind"] == "identify" and identify["identity"] == "bob"
    assert identify["event_id"] != load["id"] and pageview["event_id"] == load["id"]


def test_every_message_is_acknowledged_with_its_seq_even_when_a_record_is_bad() -> None:
    browser = FakeBrowser()
    receiver = boot(browser, [navigate()], seq=1)
    receiver.receive(message(call("track", "Ok"), seq=2))
    receiver.receive(message({"kind": "no such kind"}, call("track", "After"), seq=3))
    assert browser.ops_of("handled") == [
        {"op": "handled", "seq": 1},
        {"op": "handled", "seq": 2},
        {"op": "handled", "seq": 3},
    ]
    browser.advance(2)
    assert [e["name"] for e in browser.events()] == ["pageview", "Ok", "After"]


def test_a_message_with_an_unusable_seq_is_refused_with_a_warning() -> None:
    browser = FakeBrowser()
    receiver = boot(browser, [navigate()])
    for bad in ["2", 2.5, True, [2]]:
        receiver.receive(json.dumps({"cookies": "", "records": [], "seq": bad}))
    assert len([w for w in browser.warnings() if "'seq' must be a whole number" in w]) == 4


def test_the_same_navigation_handled_twice_makes_the_same_event() -> None:
    # The collector's fallback handles a page's navigation at pagehide; the next page's tracker
    # handles it again from the journal. Both must make one event: same ids throughout.
    load = navigate("https://shop.example.com/landing?utm_source=ad")
    first, second = FakeBrowser(), FakeBrowser(now_ms=START_MS + 60_000)
    # The next page's loader proposes again the session id the first page proposed (_ff_sid).
    ids = {"user_id": "123456789012345", "session_id": PROPOSED_SESSION}
    boot(first, [load], **ids)
    boot(second, [load, interaction("click", el("a", "Go", href="/next"))], **ids)
    first.advance(2)
    second.advance(2)
    (fallback,) = first.events()
    replayed, click = second.events()
    assert fallback == replayed
    assert fallback["pageview_id"] == derived_numeric_id("pageview", load["id"])
    assert fallback["session_id"] == PROPOSED_SESSION
    assert (click["pageview_id"], click["session_id"], click["user_id"]) == (
        fallback["pageview_id"],
        fallback["session_id"],
        "123456789012345",
    )


def test_a_live_session_in_the_cookie_is_kept_over_the_proposed_one() -> None:
    ids = encode_cookie_value(
        {"userId": "7035907387929425", "pageviewId": "1", "sessionId": "3312313741047499"}
    )
    props = encode_cookie_value(
        {"ts": START_MS - 60_000, "d": "shop.example.com", "h": "/", "q": "", "g": "", "r": ""}
    )
    browser = FakeBrowser()
    cookies = f"_hp2_id.123={ids}; _hp2_ses_props.123={props}"
    boot(browser, [navigate()], cookies=cookies, session_id=PROPOSED_SESSION)
    browser.advance(2)
    (pageview,) = browser.events()
    assert (pageview["user_id"], pageview["session_id"]) == ("7035907387929425", "3312313741047499")


def test_a_first_visit_keeps_the_user_id_the_loader_drew() -> None:
    browser = FakeBrowser()
    boot(browser, [navigate()], user_id="4503599627370495")
    assert browser.state()["user_id"] == "4503599627370495"
    browser.advance(2)
    assert browser.events()[0]["user_id"] == "4503599627370495"


def test_a_usable_id_cookie_wins_over_the_loaders_user_id() -> None:
    ids = encode_cookie_value({"userId": "7035907387929425", "pageviewId": "1", "sessionId": ""})
    browser = FakeBrowser()
    boot(browser, [navigate()], user_id="4503599627370495", cookies=f"_hp2_id.123={ids}")
    assert browser.state()["user_id"] == "7035907387929425"


def test_a_first_visit_starts_its_session_with_the_loaders_proposal() -> None:
    # heap.getSessionId() answered the proposal before Python booted: Python's session is it.
    browser = FakeBrowser()
    receiver = boot(browser, [navigate()], session_id=PROPOSED_SESSION)
    assert browser.state()["session_id"] == PROPOSED_SESSION
    receiver.receive(message(interaction("click", el("button", "Buy"), time=START_MS + 1000)))
    browser.advance(2)
    assert [event["session_id"] for event in browser.events()] == [PROPOSED_SESSION] * 2


def test_an_expired_session_cookie_gives_way_to_the_proposal() -> None:
    ids = encode_cookie_value(
        {"userId": "7035907387929425", "pageviewId": "1", "sessionId": "3312313741047499"}
    )
    props = encode_cookie_value(
        {"ts": START_MS - 31 * 60_000, "d": "shop.example.com", "h": "/", "q": "", "g": "", "r": ""}
    )
    browser = FakeBrowser()
    cookies = f"_hp2_id.123={ids}; _hp2_ses_props.123={props}"
    boot(browser, [navigate()], cookies=cookies, session_id=PROPOSED_SESSION)
    browser.advance(2)
    (pageview,) = browser.events()
    assert (pageview["user_id"], pageview["session_id"]) == ("7035907387929425", PROPOSED_SESSION)


def test_the_proposal_is_used_for_the_boot_session_only() -> None:
    # 31 idle minutes later on the same page: a new session, the tracker's own.
    browser = FakeBrowser()
    receiver = boot(browser, [navigate()], session_id=PROPOSED_SESSION)
    later = START_MS + 31 * 60_000
    receiver.receive(message(interaction("click", el("button", "Buy"), time=later)))
    browser.advance(2)
    first, second = (event["session_id"] for event in browser.events())
    assert first == PROPOSED_SESSION
    assert second not in ("", PROPOSED_SESSION)


def test_a_call_before_the_navigation_and_the_fallback_agree_on_the_session() -> None:
    # The stub's queued heap.track comes before the load; the collector's fallback sees only
    # the navigation (docs/protocol.md, section 7). Both start the session the loader proposed.
    load = navigate()
    in_browser, fallback = FakeBrowser(), FakeBrowser()
    boot(in_browser, [call("track", "Signup"), load], session_id=PROPOSED_SESSION)
    boot(fallback, [load], session_id=PROPOSED_SESSION)
    in_browser.advance(2)
    fallback.advance(2)
    sessions = {event["session_id"] for event in in_browser.events() + fallback.events()}
    assert sessions == {PROPOSED_SESSION}


BAD_PROPOSALS = [
    "",
    "12345678901234",  # 14 digits
    "0123456789012345",  # a leading zero: not new_numeric_id's form
    str(2**53),
    str(2**53 + 12345),
    "99999999999999999",
    " 123456789012345",
    "123456789012345 ",
    "12345678901234٥",  # an Arabic-Indic digit
    "１２３４５６７８９０１２３４５",  # full-width digits
    "-123456789012345",
    "1.23456789012345",
    "1e15",
]


@pytest.mark.parametrize("proposed", BAD_PROPOSALS)
def test_a_user_id_proposal_not_of_the_generated_form_is_replaced(proposed: str) -> None:
    browser = FakeBrowser()
    boot(browser, [navigate()], user_id=proposed)
    user_id = browser.state()["user_id"]
    assert user_id != proposed.strip()
    assert user_id.isdigit() and 10**14 <= int(user_id) < 2**53


@pytest.mark.parametrize("proposed", [*BAD_PROPOSALS, "4503599627370495"])
def test_a_session_id_proposal_not_of_the_generated_form_is_replaced(proposed: str) -> None:
    browser = FakeBrowser()
    boot(browser, [navigate()], session_id=proposed)
    session_id = browser.state()["session_id"]
    if proposed == "4503599627370495":  # the control: a well-formed proposal is kept
        assert session_id == proposed
    else:
        assert session_id != proposed.strip()
        assert session_id.isdigit() and 10**14 <= int(session_id) < 2**53


def test_journaled_records_keep_their_time_page_and_id_and_come_first() -> None:
    # The boot message of the next page: the last page's unhandled records (from the journal),
    # then this page's own.
    earlier = START_MS - 5 * 60_000
    old_load = navigate("https://shop.example.com/landing", time=earlier)
    old_track = call("track", "Signup", time=earlier + 900, url="https://shop.example.com/landing")
    old_click = interaction("click", el("a", "Next", href="/next"), time=earlier + 1000)
    old_click["page"] = page("https://shop.example.com/landing")
    this_load = navigate("https://shop.example.com/next")
    browser = FakeBrowser()
    boot(browser, [old_load, old_track, old_click, this_load])
    browser.advance(2)
    events = browser.events()
    assert [(e["name"], e["time"], e["page"]["path"]) for e in events] == [
        ("pageview", int(earlier), "/landing"),
        ("Signup", int(earlier + 900), "/landing"),
        ("click", int(earlier + 1000), "/landing"),
        ("pageview", int(START_MS), "/next"),
    ]
    assert [e["event_id"] for e in events] == [
        r["id"] for r in (old_load, old_track, old_click, this_load)
    ]
    assert len({e["session_id"] for e in events}) == 1
    assert events[2]["pageview_id"] == events[0]["pageview_id"] != events[3]["pageview_id"]


def test_a_journaled_track_whose_page_was_handled_earlier_carries_its_own_page() -> None:
    browser = FakeBrowser()
    track = call("track", "Late", time=START_MS - 1000, url="https://shop.example.com/old")
    boot(browser, [track, navigate("https://shop.example.com/new")])
    browser.advance(2)
    late = next(e for e in browser.events() if e["name"] == "Late")
    assert late["page"]["path"] == "/old"


@pytest.mark.parametrize(
    ("previous", "url", "pageview"),
    [
        ("https://shop.example.com/a", "https://shop.example.com/a?sort=price", False),
        ("https://shop.example.com/a", "https://shop.example.com/a#reviews", True),
        ("https://shop.example.com/a", "https://shop.example.com/b", True),
    ],
)
def test_a_history_change_first_seen_from_a_journal_is_judged_against_the_url_before_it(
    previous: str, url: str, pageview: bool
) -> None:
    # The page that made it was handled earlier; only its navigation is left to replay.
    change = navigate(url, cause="replaceState", time=START_MS - 1000, **{"from": previous})
    browser = FakeBrowser()
    boot(browser, [change, navigate("https://shop.example.com/next")])
    browser.advance(2)
    paths = [e["page"]["url"] for e in browser.events()]
    assert paths == ([url] if pageview else []) + ["https://shop.example.com/next"]

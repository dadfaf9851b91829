"""What the page did before Python started is handled strictly in the order it happened."""

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from snippet.replay import replay
from tests.snippet.fake_browser import (
    START_MS,
    FakeBrowser,
    boot,
    call,
    el,
    interaction,
    message,
    navigate,
)

SHOP = "https://shop.example.com"


def sent_after_boot(records: list[dict[str, Any]]) -> FakeBrowser:
    """Boot with `records` buffered, as the loader hands them over, and send everything."""
    browser = FakeBrowser()
    boot(browser, records)
    browser.advance(600)
    return browser


def sent_one_by_one(records: list[dict[str, Any]]) -> FakeBrowser:
    """Boot with nothing buffered, then get each record in a message of its own."""
    browser = FakeBrowser()
    receiver = boot(browser, [])
    for record in records:
        receiver.receive(message(record))
    browser.advance(600)
    return browser


def test_replay_hands_over_every_record_in_its_order() -> None:
    records: list[object] = [navigate(), call("track", "A"), "junk", call("identify", "x")]
    handled: list[object] = []
    replay(records, handled.append)
    assert handled == records


def test_a_track_before_reset_identity_stays_with_the_user_who_logged_out() -> None:
    browser = sent_after_boot(
        [
            call("identify", "alice"),
            navigate(),
            call("track", "Logout"),
            call("resetIdentity"),
            call("track", "Anonymous again"),
        ]
    )
    identify, _pageview, logout, after = browser.sent_records()
    assert identify["kind"] == "identify" and identify["identity"] == "alice"
    assert logout["name"] == "Logout" and logout["user_id"] == identify["user_id"]
    assert after["user_id"] != identify["user_id"]
    assert after["session_id"] != logout["session_id"]  # resetIdentity starts a new session


def test_a_track_queued_before_add_event_properties_does_not_get_them() -> None:
    browser = sent_after_boot(
        [
            call("track", "Before"),
            call("addEventProperties", {"Plan": "Pro"}),
            navigate(),
            call("track", "After"),
            call("removeEventProperty", "Plan"),
            call("track", "Removed"),
        ]
    )
    assert [(e["name"], e["properties"]) for e in browser.events()] == [
        ("Before", {}),
        ("pageview", {"Plan": "Pro"}),
        ("After", {"Plan": "Pro"}),
        ("Removed", {}),
    ]


def test_calls_after_an_early_opt_out_are_not_heard_until_an_opt_in() -> None:
    browser = sent_after_boot(
        [
            call("track", "Before"),
            call("optOut"),
            navigate(),
            call("track", "Out"),
            call("optIn"),
            call("track", "Back"),
        ]
    )
    assert [e["name"] for e in browser.events()] == ["Back"]


# -- generated: any interleaving of calls and captures -------------------------------------

names = st.sampled_from(["Buy", "Logout", "Viewed"])
keys = st.sampled_from(["Plan", "Campaign"])
calls = st.one_of(
    st.tuples(st.just("track"), names).map(lambda a: call(*a)),
    st.tuples(st.just("track"), names, st.dictionaries(keys, st.integers(0, 3))).map(
        lambda a: call(*a)
    ),
    st.sampled_from(["alice", "bob"]).map(lambda who: call("identify", who)),
    st.just(call("resetIdentity")),
    st.dictionaries(keys, st.integers(0, 3), min_size=1).map(
        lambda props: call("addEventProperties", props)
    ),
    keys.map(lambda key: call("removeEventProperty", key)),
    st.just(call("clearEventProperties")),
    st.dictionaries(keys, st.text(max_size=3), min_size=1).map(
        lambda props: call("addUserProperties", props)
    ),
    # Not optOut: it drops what is not sent yet, and what is sent by then depends on delivery's
    # timing, not on the order (the example test above covers it).
    st.just(call("optIn")),
    st.just(call("track", "")),  # refused, with a warning
)
captures = st.one_of(
    st.sampled_from(["/", "/cart", "/cart#pay"]).map(
        lambda path: navigate(f"{SHOP}{path}", cause="pushState")
    ),
    st.just(interaction("click", el("button", "Go", id="go"))),
)


@st.composite
def page_lives(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Calls queued in the stub, the page load, then calls and captures interleaved, a second
    apart (less than a session's 30 minutes in all)."""
    queued = draw(st.lists(calls, max_size=4))
    later = draw(st.lists(st.one_of(calls, captures), max_size=12))
    records = [*queued, navigate(f"{SHOP}/"), *later]
    return [{**record, "time": START_MS + 1000 * i} for i, record in enumerate(records)]


def normalized(browser: FakeBrowser) -> tuple[list[dict[str, Any]], list[str]]:
    """The wire records with each random id replaced by the order of its first appearance, and
    the warnings: what two runs with different random ids must agree on."""
    seen: dict[str, str] = {}
    records = []
    for record in browser.sent_records():
        out = dict(record)
        for key in ("event_id", "user_id", "session_id", "pageview_id"):
            if key in out:
                out[key] = seen.setdefault(f"{key}:{out[key]}", f"{key}#{len(seen)}")
        records.append(out)
    return records, browser.warnings()


@settings(max_examples=60, deadline=None)
@given(page_lives())
def test_replaying_at_boot_equals_handling_each_record_as_it_comes(
    records: list[dict[str, Any]],
) -> None:
    assert normalized(sent_after_boot(records)) == normalized(sent_one_by_one(records))

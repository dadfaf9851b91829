"""Airkit's analytics actions: Analytics Identify → heap.identify, Analytics Send Event →
heap.track with the `{event, properties}` object as Airkit builds it (seeds 000, 001)."""

from itertools import product

import pytest

from snippet.api import check_track
from snippet.validate import EVENT_NAME_MAX, EVENT_VALUE_MAX
from tests.snippet.fake_browser import FakeBrowser, boot, call, message, navigate

MISSING = object()
BAD_EVENTS = [MISSING, None, 1, 2.5, True, [], ["Booked"], {"name": "Booked"}]
BAD_PROPERTIES = [[], ["a"], "slot=Tue", 1, True]
EXTRA_KEYS = ["name", "Event", "props", "userId", "event ", ""]


def airkit_object(event: object, properties: object = MISSING, **extra: object) -> dict:
    sent: dict[str, object] = {} if event is MISSING else {"event": event}
    if properties is not MISSING:
        sent["properties"] = properties
    return {**sent, **extra}


def bad_objects() -> list[dict]:
    """Every kind of bad Send Event object: bad events, bad properties, extra keys, mixed."""
    made = [airkit_object(event, {"slot": "Tue"}) for event in BAD_EVENTS]
    made += [airkit_object("Booked", properties) for properties in BAD_PROPERTIES]
    made += [airkit_object("Booked", {}, **{key: 1}) for key in EXTRA_KEYS]
    made += [
        airkit_object(event, properties, extra="x")
        for event, properties in product(BAD_EVENTS[:3], BAD_PROPERTIES[:2])
    ]
    return made


def test_the_object_tracks_like_name_and_properties() -> None:
    checked = check_track([{"event": "Booked", "properties": {"slot": "Tue", "n": 2}}])
    assert (checked.ok, checked.value, checked.properties) == (
        True,
        "Booked",
        {"slot": "Tue", "n": 2},
    )
    assert checked.problems == []


@pytest.mark.parametrize("properties", [MISSING, None, {}])
def test_an_object_without_properties_tracks_the_event_alone(properties: object) -> None:
    checked = check_track([airkit_object("Booked", properties)])
    assert (checked.ok, checked.value, checked.properties) == (True, "Booked", {})


@pytest.mark.parametrize("sent", bad_objects(), ids=repr)
def test_a_bad_object_is_one_clear_problem_and_nothing_tracked(sent: dict) -> None:
    checked = check_track([sent])
    assert not checked.ok
    [problem] = checked.problems
    assert problem.startswith("ignored an {event, properties} object: ")
    assert "track('Name', {...})" in problem


def test_the_object_passed_with_a_second_argument_is_refused() -> None:
    checked = check_track([{"event": "Booked"}, {"slot": "Tue"}])
    assert not checked.ok and "alone" in checked.problems[0]


def test_heaps_limits_apply_to_the_object() -> None:
    too_long = check_track([{"event": "x" * (EVENT_NAME_MAX + 1)}])
    assert not too_long.ok and f"limit is {EVENT_NAME_MAX}" in too_long.problems[0]
    assert not check_track([{"event": "click"}]).ok  # reserved for autocaptured events
    long_value = check_track(
        [{"event": "Booked", "properties": {"ok": 1, "v": "x" * (EVENT_VALUE_MAX + 1)}}]
    )
    assert long_value.ok and long_value.properties == {"ok": 1}
    assert long_value.problems == ["property 'v' is longer than 1023 characters"]


def test_send_event_and_identify_reach_the_wire_with_one_warning_for_a_bad_object() -> None:
    browser = FakeBrowser()
    receiver = boot(browser, [navigate()], config={"preset": "airkit"})
    receiver.receive(
        message(
            call("identify", "alice@example.com"),
            call("track", {"event": "Appointment booked", "properties": {"slot": "Tue 10:00"}}),
            call("track", {"event": "Appointment booked", "extra": 1}),
        )
    )
    browser.advance(60)
    sent = browser.sent_records()
    assert [r.get("identity") for r in sent if r["kind"] == "identify"] == ["alice@example.com"]
    [booked] = [e for e in browser.events() if e.get("name") == "Appointment booked"]
    assert booked["properties"]["slot"] == "Tue 10:00"
    assert [w for w in browser.warnings() if "{event, properties}" in w] == [
        "heap.track: ignored an {event, properties} object: unexpected keys 'extra' "
        "(send {event: 'Name', properties: {...}}, or track('Name', {...}))"
    ]

"""The device context the loader reads (screen, viewport, language, time zone) on every event."""

from typing import Any

import pytest

from snippet.validate import clean_page_context
from tests.snippet.fake_browser import PAGE_CONTEXT, FakeBrowser, boot, call, message, navigate

UNKNOWN: dict[str, Any] = dict.fromkeys(("screen", "viewport", "language", "time_zone"))


def test_every_event_carries_the_boot_messages_device_context() -> None:
    browser = FakeBrowser()
    receiver = boot(browser, [navigate()])
    receiver.receive(message(call("track", "Bought", {"n": 1})))
    browser.advance(10)
    events = browser.events()
    assert [e["type"] for e in events] == ["pageview", "custom"]
    assert all(e["context"] == PAGE_CONTEXT for e in events)


def test_a_loader_that_sent_no_context_gives_unknown_fields() -> None:
    browser = FakeBrowser()
    boot(browser, [navigate()], context={})
    browser.advance(10)
    assert browser.events()[0]["context"] == UNKNOWN


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        (PAGE_CONTEXT, PAGE_CONTEXT),
        (None, UNKNOWN),
        ("1920x1080", UNKNOWN),
        (
            {"screen": {"width": 390, "height": 844}},
            {**UNKNOWN, "screen": {"width": 390, "height": 844}},
        ),
        ({"screen": {"width": 390.5, "height": 844}}, UNKNOWN),  # not whole pixels
        ({"screen": {"width": True, "height": 844}}, UNKNOWN),
        ({"viewport": {"width": -1, "height": 10}}, UNKNOWN),
        ({"viewport": {"width": 10**6, "height": 10}}, UNKNOWN),
        ({"viewport": {"width": 10}}, UNKNOWN),
        ({"viewport": [10, 10]}, UNKNOWN),
        ({"language": " de-CH "}, {**UNKNOWN, "language": "de-CH"}),
        ({"language": ""}, UNKNOWN),
        ({"language": "x" * 36}, UNKNOWN),
        ({"language": 7}, UNKNOWN),
        (
            {"time_zone": "America/Argentina/ComodRivadavia"},
            {**UNKNOWN, "time_zone": "America/Argentina/ComodRivadavia"},
        ),
        ({"time_zone": "x" * 65}, UNKNOWN),
        ({"time_zone": None, "other": "dropped"}, UNKNOWN),
    ],
)
def test_a_malformed_field_is_dropped_and_the_others_kept(sent: object, kept: dict) -> None:
    assert clean_page_context(sent) == kept

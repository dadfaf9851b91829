"""The postMessage bridge: only allowed origins change anything; the message shapes; the reply."""

import json

import pytest

from snippet.bridge import BRIDGE_ACTIONS, allowed_origins, bridge_call, normalized_origin
from tests.snippet.fake_browser import FakeBrowser, boot, call, message, navigate, record_id

HOST = "https://partner.example"
BRIDGE_URL = "http://127.0.0.1:8000/api/apps/123/bridge"


def bridge(data: object, origin: str = HOST) -> dict:
    """A bridge record as the loader makes it from a marked `message` event."""
    return {"kind": "bridge", "origin": origin, "data": data, "time": 1.7e12, "id": record_id()}


def marked(action: str, **fields: object) -> dict:
    return {"footfall": "bridge", "action": action, **fields}


def started(**config: object) -> tuple[FakeBrowser, object]:
    browser = FakeBrowser()
    receiver = boot(browser, [navigate()], config=config)
    return browser, receiver


def test_identify_properties_and_track_from_an_allowed_origin() -> None:
    browser, receiver = started(bridgeOrigins=[HOST + "/"])
    receiver.receive(
        message(
            bridge(marked("identify", identity="alice@example.com")),
            bridge(marked("addUserProperties", properties={"plan": "gold"})),
            bridge(marked("track", event="Embed opened", properties={"from": "host"})),
            bridge(marked("track", event="Embed closed")),
        )
    )
    browser.advance(60)
    sent = browser.sent_records()
    assert [r["identity"] for r in sent if r["kind"] == "identify"] == ["alice@example.com"]
    assert [r["properties"] for r in sent if r["kind"] == "user_properties"] == [{"plan": "gold"}]
    custom = [(e["name"], e["properties"]) for e in browser.events() if e["type"] == "custom"]
    assert custom == [("Embed opened", {"from": "host"}), ("Embed closed", {})]
    assert browser.fetched == []  # the config allowed it: no need to ask the collector
    assert browser.warnings() == []


def test_get_user_id_answers_the_allowed_origin_only() -> None:
    browser, receiver = started(bridgeOrigins=[HOST])
    receiver.receive(message(bridge(marked("getUserId"))))
    [reply] = browser.ops_of("bridge_reply")
    assert reply == {"op": "bridge_reply", "origin": HOST, "user_id": browser.state()["user_id"]}


@pytest.mark.parametrize("consent", [[], ["optOut"]])
def test_get_user_id_answers_nothing_without_consent(consent: list[str]) -> None:
    browser = FakeBrowser()
    config = {"bridgeOrigins": [HOST], "requireConsent": True}
    receiver = boot(browser, [navigate(), *[call(m) for m in consent]], config=config)
    receiver.receive(message(bridge(marked("getUserId"))))
    assert browser.ops_of("bridge_reply") == []
    receiver.receive(message(call("optIn"), bridge(marked("getUserId"))))
    assert len(browser.ops_of("bridge_reply")) == 1


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://partner.example",
        "https://partner.example:8443",
        "null",
        "https://sub.partner.example",
    ],
)
def test_another_origin_changes_nothing_and_is_reported(origin: str) -> None:
    browser, receiver = started(bridgeOrigins=[HOST])
    browser.pages[BRIDGE_URL] = json.dumps({"allowOrigins": ["https://other.example"]})
    before = len(browser.ops)
    receiver.receive(
        message(
            bridge(marked("identify", identity="mallory@example.com"), origin),
            bridge(marked("getUserId"), origin),
            bridge(marked("track", event="Forged"), origin),
        )
    )
    browser.advance(60)
    assert browser.fetched == [BRIDGE_URL]
    assert not [r for r in browser.sent_records() if r["kind"] != "event" or r["type"] == "custom"]
    assert browser.ops_of("bridge_reply") == []
    assert browser.state()["identity"] is None
    warnings = set(browser.warnings())
    assert warnings == {
        f"ignored a bridge message from {origin}: not an origin this app allows (add it with "
        f"`footfall apps update 123 --allow-origin {origin}` or to heap.load's bridgeOrigins)"
    }
    assert len(browser.ops) > before


def test_the_collectors_list_allows_and_is_asked_once() -> None:
    browser, receiver = started()
    browser.pages[BRIDGE_URL] = json.dumps({"allowOrigins": [HOST]})
    receiver.receive(
        message(
            bridge(marked("identify", identity="bob@example.com")),
            bridge(marked("getUserId")),
        )
    )
    receiver.receive(message(bridge(marked("track", event="Later"))))
    browser.advance(60)
    assert browser.fetched == [BRIDGE_URL]
    assert browser.state()["identity"] == "bob@example.com"
    assert len(browser.ops_of("bridge_reply")) == 1
    assert [e["name"] for e in browser.events() if e["type"] == "custom"] == ["Later"]


def test_an_unreachable_collector_allows_nothing_and_says_so() -> None:
    browser, receiver = started()
    receiver.receive(message(bridge(marked("identify", identity="bob@example.com"))))
    assert browser.state()["identity"] is None
    assert any("unusable; using none" in w for w in browser.warnings())


def bad_messages() -> list[object]:
    made: list[object] = [None, "identify", 1, [], {"action": "identify", "identity": "a"}]
    made += [
        {"footfall": marker, "action": "track", "event": "E"} for marker in [1, "Bridge", None]
    ]
    made += [marked(action) for action in ["", "Identify", "resetIdentity", "optOut", "userId"]]
    made += [
        marked(action, **{key: 1 for key in keys}, extra=1)
        for action, keys in BRIDGE_ACTIONS.items()
    ]
    made += [marked(action) for action in ("identify", "addUserProperties", "track")]
    return made


@pytest.mark.parametrize("data", bad_messages(), ids=repr)
def test_a_bad_message_is_one_problem(data: object) -> None:
    assert isinstance(bridge_call(data), str)


@pytest.mark.parametrize("data", bad_messages(), ids=repr)
def test_a_bad_message_from_an_allowed_origin_changes_nothing(data: object) -> None:
    browser, receiver = started(bridgeOrigins=[HOST])
    receiver.receive(message(bridge(data)))
    browser.advance(60)
    assert [
        r for r in browser.sent_records() if r["kind"] != "event" or r["type"] == "custom"
    ] == []
    [warning] = browser.warnings()
    assert warning.startswith(f"ignored a bridge message from {HOST}: ")


def test_a_bad_value_goes_through_the_calls_own_checks() -> None:
    browser, receiver = started(bridgeOrigins=[HOST])
    receiver.receive(message(bridge(marked("identify", identity="anonymous"))))
    assert browser.state()["identity"] is None
    assert [w for w in browser.warnings() if w.startswith("heap.identify")]


@pytest.mark.parametrize(
    ("entry", "origin"),
    [
        ("https://Partner.Example", "https://partner.example"),
        ("https://partner.example:443/", "https://partner.example"),
        ("http://localhost:8000", "http://localhost:8000"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_origins_are_normalized_as_browsers_give_them(entry: str, origin: str) -> None:
    assert normalized_origin(entry) == origin


@pytest.mark.parametrize(
    "entry",
    [
        "*",
        "https://*.example",
        "partner.example",
        "https://a.example/path",
        "ftp://a.example",
        "https://a.example?q",
        "",
        1,
        None,
        "https://u@a.example",
    ],
)
def test_not_an_origin_is_refused(entry: object) -> None:
    origins, problems = allowed_origins(["https://ok.example", entry])
    assert origins == {"https://ok.example"} and len(problems) == 1


def test_star_in_the_config_allows_nothing_and_warns() -> None:
    browser, receiver = started(bridgeOrigins=["*"])
    assert any("'*' is not an origin" in w for w in browser.warnings())
    receiver.receive(message(bridge(marked("identify", identity="x@example.com"))))
    assert browser.state()["identity"] is None

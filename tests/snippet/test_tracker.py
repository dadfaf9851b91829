"""The tracker end to end against a fake browser: identity (seed 002), the web API (seed 003),
sessions, pageviews, cookies, event properties, consent and delivery together."""

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from snippet.cookies import encode_cookie_value
from snippet.entry import Receiver
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

MINUTE = 60_000
HEAP_ID = encode_cookie_value(
    {
        "userId": "7035907387929425",
        "pageviewId": "3533035492830499",
        "sessionId": "3312313741047499",
        "identity": None,
        "trackerVersion": "4.0",
    }
)


def ses_props(ts: float) -> str:
    return encode_cookie_value(
        {"ts": ts, "d": "shop.example.com", "h": "/landing", "q": "", "g": "", "t": "L", "r": ""}
    )


def started(
    records: list[dict[str, Any]] | None = None, **options: Any
) -> tuple[FakeBrowser, Receiver]:
    browser = FakeBrowser()
    receiver = boot(browser, records or [navigate()], **options)
    receiver.receive(message({"kind": "cookie_domain", "domain": "example.com"}))
    return browser, receiver


def cookies(browser: FakeBrowser) -> dict[str, str]:
    """The page's cookie jar after applying every set_cookies op (values decoded)."""
    jar: dict[str, str] = {}
    for assignment in browser.cookie_assignments():
        name, value = assignment.split(";")[0].split("=", 1)
        if "expires=Thu, 01 Jan 1970" in assignment:
            jar.pop(name, None)
        else:
            jar[name] = unquote(value)
    return jar


def id_cookie(browser: FakeBrowser) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(cookies(browser)["_hp2_id.123"])
    return value


def flushed(browser: FakeBrowser) -> list[dict[str, Any]]:
    browser.advance(1)
    return browser.sent_records()


# -- adopting Heap's cookies -----------------------------------------------------------------


def test_a_first_visit_mints_ids_and_reports_them() -> None:
    browser, _ = started()
    event = browser.events()[0]
    assert browser.state() == {
        "op": "state",
        "user_id": event["user_id"],
        "identity": None,
        "session_id": event["session_id"],
        "opted_out": False,
    }
    assert id_cookie(browser)["userId"] == event["user_id"]


@pytest.mark.parametrize(
    ("id_cookie_value", "user_id"),
    [
        (HEAP_ID, "7035907387929425"),
        (  # trackerVersion 3.0 stored a number
            encode_cookie_value(
                {
                    "userId": 7035907387929425,
                    "pageviewId": 1,
                    "sessionId": 2,
                    "identity": None,
                    "trackerVersion": "3.0",
                }
            ),
            "7035907387929425",
        ),
    ],
)
def test_a_visitor_with_heaps_cookie_keeps_the_user_id(id_cookie_value: str, user_id: str) -> None:
    browser, _ = started(cookies=f"other=1; _hp2_id.123={id_cookie_value}")
    assert browser.events()[0]["user_id"] == user_id
    assert id_cookie(browser)["userId"] == user_id
    assert id_cookie(browser)["trackerVersion"] == "4.0"


@pytest.mark.parametrize(
    ("idle_minutes", "same_session"), [(0, True), (29, True), (30, False), (600, False)]
)
def test_a_live_heap_session_is_continued(idle_minutes: int, same_session: bool) -> None:
    jar = f"_hp2_id.123={HEAP_ID}; _hp2_ses_props.123={ses_props(START_MS - idle_minutes * MINUTE)}"
    browser, _ = started(cookies=jar)
    pageview = browser.events()[0]
    assert (pageview["session_id"] == "3312313741047499") is same_session
    if same_session:
        assert pageview["session"]["landing_page"] == "https://shop.example.com/landing"
    else:
        assert pageview["session"]["landing_page"] == "https://shop.example.com/"
    assert pageview["pageview_id"] != "3533035492830499"  # the load is a new pageview


def test_an_identified_heap_cookie_keeps_the_identity() -> None:
    identified = encode_cookie_value(
        {
            "userId": "7035907387929425",
            "pageviewId": "1",
            "sessionId": "2",
            "identity": "kate",
            "trackerVersion": "4.0",
            "identityField": None,
            "isIdentified": 1,
        }
    )
    browser, _ = started(cookies=f"_hp2_id.123={identified}")
    assert browser.state()["identity"] == "kate"
    assert id_cookie(browser)["isIdentified"] == 1
    # The collector may never have seen it (Heap's): a new session tells it once.
    identifies = [
        (r["user_id"], r["identity"]) for r in flushed(browser) if r["kind"] == "identify"
    ]
    assert identifies == [("7035907387929425", "kate")]


def test_a_continued_session_does_not_repeat_the_cookies_identity() -> None:
    identified = encode_cookie_value({**json.loads(unquote(HEAP_ID)), "identity": "kate"})
    jar = f"_hp2_id.123={identified}; _hp2_ses_props.123={ses_props(START_MS - MINUTE)}"
    browser, _ = started(cookies=jar)
    assert browser.state()["identity"] == "kate"
    assert [r["kind"] for r in flushed(browser)] == ["event"]


# -- seed 002: identity ------------------------------------------------------------------------


def test_anonymous_to_identity_keeps_the_user_and_sends_identify() -> None:
    browser, receiver = started()
    user_id = browser.events()[0]["user_id"]
    receiver.receive(message(call("identify", "12345")))
    identify = [r for r in flushed(browser) if r["kind"] == "identify"]
    assert [(r["user_id"], r["identity"]) for r in identify] == [(user_id, "12345")]
    assert browser.state()["identity"] == "12345"
    assert id_cookie(browser)["identity"] == "12345" and id_cookie(browser)["isIdentified"] == 1


def test_the_same_identity_again_is_a_no_op() -> None:
    browser, receiver = started([navigate(), call("identify", "kate")])
    receiver.receive(message(call("identify", "kate")))
    assert [r["kind"] for r in flushed(browser)].count("identify") == 1


def test_an_identity_adopted_from_heaps_cookie_is_told_to_the_collector_once() -> None:
    # After a switch from Heap, the collector has never heard of the cookie's identity.
    identified = encode_cookie_value(
        {**json.loads(unquote(HEAP_ID)), "identity": "alice", "identityField": None}
    )
    browser, receiver = started(
        [navigate(), call("identify", "alice")], cookies=f"_hp2_id.123={identified}"
    )
    receiver.receive(message(call("identify", "alice"), call("track", "After")))
    records = flushed(browser)
    identifies = [(r["user_id"], r["identity"]) for r in records if r["kind"] == "identify"]
    assert identifies == [("7035907387929425", "alice")]
    assert {r["user_id"] for r in records} == {"7035907387929425"}
    assert browser.state()["identity"] == "alice"


@pytest.mark.parametrize("name", ["_hp2_id.123", "_hp2_ses_props.123", "_hp2_props.123"])
def test_a_cookie_nested_past_the_json_parsers_limit_is_ignored(name: str) -> None:
    jar = {"_hp2_id.123": HEAP_ID, name: "%5B" * 3000}  # ses_props is read with an id only
    browser, _ = started(cookies="; ".join(f"{key}={value}" for key, value in jar.items()))
    assert [e["type"] for e in flushed(browser)] == ["pageview"]


def test_identified_to_a_different_identity_is_a_new_user_and_session() -> None:
    browser, receiver = started([navigate(), call("identify", "kate")])
    kate = browser.state()
    receiver.receive(message(call("identify", "jack"), call("track", "After")))
    jack = browser.state()
    assert jack["user_id"] != kate["user_id"] and jack["session_id"] != kate["session_id"]
    records = flushed(browser)
    identifies = [(r["user_id"], r["identity"]) for r in records if r["kind"] == "identify"]
    assert identifies == [(kate["user_id"], "kate"), (jack["user_id"], "jack")]
    after = [r for r in records if r.get("name") == "After"][0]
    assert (after["user_id"], after["session_id"]) == (jack["user_id"], jack["session_id"])


def test_reset_identity_from_identified_starts_a_new_anonymous_user_and_session() -> None:
    browser, receiver = started([navigate(), call("identify", "kate")])
    kate = browser.state()
    receiver.receive(message(call("resetIdentity")))
    after = browser.state()
    assert after["identity"] is None
    assert after["user_id"] != kate["user_id"] and after["session_id"] != kate["session_id"]
    assert id_cookie(browser)["identity"] is None and "isIdentified" not in id_cookie(browser)


def test_reset_identity_when_anonymous_has_no_effect() -> None:
    browser, receiver = started()
    before = browser.state()
    receiver.receive(message(call("resetIdentity")))
    assert browser.state() == before


@pytest.mark.parametrize("identity", ["guest", "undefined", "", "[object Object]", 0, None])
def test_refused_identities_warn_and_change_nothing(identity: object) -> None:
    browser, receiver = started()
    before = browser.state()
    receiver.receive(message(call("identify", identity)))
    assert browser.state() == before
    assert len(browser.warnings()) == 1 and browser.warnings()[0].startswith("heap.identify: ")
    assert "identify" not in [r["kind"] for r in flushed(browser)]


def test_user_properties_keep_the_good_and_warn_about_the_bad() -> None:
    browser, receiver = started()
    receiver.receive(message(call("addUserProperties", {"plan": "Pro", "user_id": "x"})))
    [record] = [r for r in flushed(browser) if r["kind"] == "user_properties"]
    assert record["properties"] == {"plan": "Pro"}
    assert record["user_id"] == browser.state()["user_id"] and len(record["event_id"]) == 32
    assert browser.warnings() == [
        "heap.addUserProperties: kept the rest; dropped: 'user_id' cannot be used as a property key"
    ]


# -- event properties --------------------------------------------------------------------------


def test_event_properties_ride_on_every_event_and_track_overrides_them() -> None:
    browser, receiver = started(
        [
            call("addEventProperties", {"Logged In": True, "Plan": "Free"}),  # queued in the stub
            navigate(),
            interaction("click", el("button", "Go")),
            call("track", "Buy", {"Plan": "Pro"}),
        ]
    )
    assert [e["properties"] for e in browser.events()] == [
        {"Logged In": True, "Plan": "Free"},
        {"Logged In": True, "Plan": "Free"},
        {"Logged In": True, "Plan": "Pro"},
    ]
    assert json.loads(cookies(browser)["_hp2_props.123"]) == {"Logged In": True, "Plan": "Free"}


@pytest.mark.parametrize(
    ("calls", "props"),
    [
        (
            [call("addEventProperties", {"a": 1}), call("setEventProperties", {"b": 2})],
            {"a": 1, "b": 2},
        ),
        (
            [call("addEventProperties", {"a": 1, "b": 2}), call("removeEventProperty", "a")],
            {"b": 2},
        ),
        ([call("addEventProperties", {"a": 1, "b": 2}), call("unsetEventProperty", "b")], {"a": 1}),
        ([call("addEventProperties", {"a": 1}), call("clearEventProperties")], {}),
        ([call("addEventProperties", {"a": 1}), call("addEventProperties", {"a": 2})], {"a": 2}),
        ([call("removeEventProperty", "missing")], {}),
    ],
)
def test_event_property_calls(calls: list[dict[str, Any]], props: dict[str, object]) -> None:
    browser, receiver = started()
    receiver.receive(message(*calls, call("track", "Probe")))
    assert flushed(browser)[-1]["properties"] == props
    assert json.loads(cookies(browser)["_hp2_props.123"]) == props


def test_event_properties_persist_from_the_cookie() -> None:
    stored = encode_cookie_value({"Logged In": True})
    browser, _ = started(cookies=f"_hp2_props.123={stored}")
    assert browser.events()[0]["properties"] == {"Logged In": True}


def test_autocaptured_events_get_event_properties_scrubbed() -> None:
    browser, receiver = started(
        [call("addEventProperties", {"note": "card 4111 1111 1111 1111"}), navigate()]
    )
    receiver.receive(message(call("track", "Custom")))
    pageview, custom = [e for e in flushed(browser) if e["kind"] == "event"]
    assert pageview["properties"] == {"note": "card "}
    assert custom["properties"] == {"note": "card 4111 1111 1111 1111"}


def test_the_cookie_budget_refuses_the_call_that_would_break_it() -> None:
    browser, receiver = started()
    receiver.receive(message(call("addEventProperties", {"a": "x" * 1000, "b": "y" * 1000})))
    receiver.receive(message(call("addEventProperties", {"c": "z" * 1000, "d": "w" * 1000})))
    assert browser.warnings()[-1].startswith(
        "heap.addEventProperties: refused; the cookies would take "
    )
    receiver.receive(message(call("track", "Probe")))
    assert set(flushed(browser)[-1]["properties"]) == {"a", "b"}
    assert sum(len(f"{n}={v}") for n, v in cookies(browser).items()) < 4000


def test_bad_event_properties_warn_and_keep_the_good() -> None:
    browser, receiver = started()
    receiver.receive(message(call("addEventProperties", {"ok": 1, "bad": float("inf")})))
    receiver.receive(message(call("track", "Probe")))
    assert flushed(browser)[-1]["properties"] == {"ok": 1}
    assert browser.warnings() == [
        "heap.addEventProperties: kept the rest; dropped: "
        "property 'bad' is inf; numbers must be finite"
    ]


# -- call order, pageviews, sessions ---------------------------------------------------------


def test_after_boot_calls_run_strictly_in_order() -> None:
    browser, receiver = started()
    receiver.receive(
        message(
            call("track", "Before"), call("addEventProperties", {"x": 1}), call("track", "After")
        )
    )
    assert [e["properties"] for e in flushed(browser)[1:]] == [{}, {"x": 1}]


def test_pageviews_on_path_or_hash_change_each_with_a_new_pageview_id() -> None:
    browser, receiver = started([navigate("https://shop.example.com/a")])
    receiver.receive(
        message(
            navigate("https://shop.example.com/a?sort=1", cause="replaceState"),
            navigate("https://shop.example.com/b", cause="pushState"),
            navigate("https://shop.example.com/b#reviews", cause="hashchange"),
            navigate("https://shop.example.com/b#reviews", cause="popstate"),
            interaction(
                "click", el("a", "Yoyo", href="/yoyo"), url="https://shop.example.com/b#reviews"
            ),
        )
    )
    events = flushed(browser)
    assert [(e["type"], e["page"]["path"], e["page"]["hash"]) for e in events] == [
        ("pageview", "/a", ""),
        ("pageview", "/b", ""),
        ("pageview", "/b", "#reviews"),
        ("click", "/b", "#reviews"),
    ]
    assert len({e["pageview_id"] for e in events[:3]}) == 3
    assert events[3]["pageview_id"] == events[2]["pageview_id"]
    assert id_cookie(browser)["pageviewId"] == events[2]["pageview_id"]


def test_utm_parameters_are_pageview_properties_and_kept_for_the_session() -> None:
    landing = "https://shop.example.com/?utm_source=news&utm_campaign=spring"
    browser, receiver = started(
        [
            dict(
                navigate(landing),
                page={"url": landing, "title": "Home", "referrer": "https://search.example/"},
            )
        ]
    )
    receiver.receive(
        message(navigate("https://shop.example.com/cart", cause="pushState"), call("track", "Buy"))
    )
    pageview, second, buy = flushed(browser)
    assert pageview["properties"] == {"utm_source": "news", "utm_campaign": "spring"}
    assert second["properties"] == {}
    expected_session = {
        "landing_page": landing,
        "initial_referrer": "https://search.example/",
        "utm_source": "news",
        "utm_campaign": "spring",
    }
    assert pageview["session"] == second["session"] == buy["session"] == expected_session
    assert buy["page"]["path"] == "/cart"
    assert (
        json.loads(cookies(browser)["_hp2_ses_props.123"])["q"]
        == "?utm_source=news&utm_campaign=spring"
    )


def test_thirty_idle_minutes_start_a_new_session_with_fresh_session_props() -> None:
    browser, receiver = started([navigate("https://shop.example.com/a")])
    first = browser.events()[0]["session_id"]
    browser.advance(29 * 60)
    receiver.receive(message(call("track", "Still", time=browser.clock_ms)))
    browser.advance(30 * 60)
    now = browser.clock_ms
    later = navigate("https://shop.example.com/b", cause="pushState", time=now)
    receiver.receive(message(later))
    still, new = flushed(browser)[1:]
    assert still["session_id"] == first and new["session_id"] != first
    assert new["session"]["landing_page"] == "https://shop.example.com/b"
    props = json.loads(cookies(browser)["_hp2_ses_props.123"])
    assert (props["h"], props["ts"]) == ("/b", int(now))
    assert id_cookie(browser)["sessionId"] == new["session_id"]


# -- autocapture through the tracker ---------------------------------------------------------


def test_disable_text_capture_and_heap_ignore() -> None:
    browser, receiver = started(config={"disableTextCapture": True})
    receiver.receive(
        message(
            interaction("click", el("button", "Secret", id="b")),
            interaction("click", el("button", "Ignored"), el("div", heap_ignore="true")),
            interaction("change", el("input", type="password", id="pw")),
            interaction("submit", el("form", id="checkout")),
        )
    )
    events = flushed(browser)[1:]
    assert [
        (e["type"], e["target"]["tag"], e["target"]["id"], e["target"]["text"]) for e in events
    ] == [
        ("click", "button", "b", ""),
        ("change", "input", "", ""),
        ("submit", "form", "checkout", ""),
    ]


# -- cookies ---------------------------------------------------------------------------------


def test_secure_cookie_gives_secure_samesite_none() -> None:
    browser, _ = started(config={"secureCookie": True})
    assert browser.cookie_assignments()
    assert all(c.endswith("; Secure; SameSite=None") for c in browser.cookie_assignments())


def test_secure_cookies_in_an_iframe_are_partitioned_and_probed_so() -> None:
    browser = FakeBrowser()
    receiver = boot(browser, [navigate()], config={"secureCookie": True}, in_iframe=True)
    [probe] = browser.ops_of("probe_cookie_domain")
    assert probe["attributes"] == "Secure; SameSite=None; Partitioned"
    receiver.receive(message({"kind": "cookie_domain", "domain": "example.com"}))
    assert browser.cookie_assignments()
    assert all(
        c.endswith("; Secure; SameSite=None; Partitioned") for c in browser.cookie_assignments()
    )


def test_localhost_gets_host_only_cookies_without_a_probe() -> None:
    browser = FakeBrowser()
    boot(browser, [navigate("http://localhost:8000/")], hostname="localhost")
    assert browser.ops_of("probe_cookie_domain") == []
    assert browser.cookie_assignments() and all(
        "domain=" not in c for c in browser.cookie_assignments()
    )


def test_expiries_are_thirteen_months_less_a_day_and_thirty_minutes() -> None:
    browser, _ = started()
    expires = {
        c.split("=", 1)[0]: c.split("expires=")[1].split(";")[0]
        for c in browser.cookie_assignments()
    }
    assert expires == {
        "_hp2_id.123": "Fri, 13 Dec 2024 22:13:20 GMT",
        "_hp2_props.123": "Fri, 13 Dec 2024 22:13:20 GMT",
        "_hp2_ses_props.123": "Tue, 14 Nov 2023 22:43:20 GMT",
    }


# -- consent ---------------------------------------------------------------------------------


def test_require_consent_stores_and_sends_nothing_until_opt_in() -> None:
    browser = FakeBrowser()
    receiver = boot(browser, [navigate(), call("track", "Early")], config={"requireConsent": True})
    browser.advance(5)
    assert browser.sent == [] and browser.cookie_assignments() == []
    assert browser.ops_of("probe_cookie_domain") == []
    receiver.receive(message(call("optIn")))
    receiver.receive(message({"kind": "cookie_domain", "domain": "example.com"}))
    assert [e["name"] for e in flushed(browser)] == ["pageview", "Early"]
    assert cookies(browser)["_ff_consent.123"] == "1" and "_hp2_id.123" in cookies(browser)


def test_opt_out_clears_cookies_drops_pending_and_stops_capture() -> None:
    browser, receiver = started()
    browser.hold = True
    receiver.receive(message(call("track", "Pending")))
    receiver.receive(message(call("optOut"), call("track", "After"), navigate(cause="load")))
    browser.advance(10)
    assert browser.state()["opted_out"] is True
    assert cookies(browser) == {"_ff_consent.123": "0"}
    expired = [c for c in browser.cookie_assignments() if "1970" in c]
    assert {c.split("=")[0] for c in expired} == {
        "_hp2_id.123",
        "_hp2_ses_props.123",
        "_hp2_props.123",
    }
    assert {"domain=example.com" in c for c in expired} == {True, False}  # host-only too
    assert browser.ops_of("beacon")[-1]["chunks"] == []
    assert browser.origin.kept() == []  # nor in the retry queue
    assert "After" not in [r.get("name") for r in browser.sent_records()]


def test_a_remembered_opt_out_sends_nothing_on_later_pages() -> None:
    browser = FakeBrowser()
    receiver = boot(browser, [navigate(), call("track", "X")], cookies="_ff_consent.123=0")
    receiver.receive(message(interaction("click", el("button", "B"))))
    browser.advance(10)
    assert browser.sent == [] and browser.state()["opted_out"] is True


def test_opting_in_again_after_an_opt_out_is_a_fresh_visitor() -> None:
    browser, receiver = started()
    old_user = browser.state()["user_id"]
    receiver.receive(message(call("optOut"), call("optIn"), call("track", "Back")))
    back = flushed(browser)[-1]
    assert back["name"] == "Back" and back["user_id"] != old_user
    assert cookies(browser)["_ff_consent.123"] == "1"


@pytest.mark.parametrize(
    ("stop", "start"), [("stopTracking", "startTracking"), ("optOut", "optIn")]
)
def test_heaps_current_tracking_calls_are_consent(stop: str, start: str) -> None:
    browser = FakeBrowser()
    receiver = boot(browser, [navigate(), call("track", "Early")], config={"requireConsent": True})
    receiver.receive(message(call(start)))
    receiver.receive(message({"kind": "cookie_domain", "domain": "example.com"}))
    assert [e["name"] for e in flushed(browser)] == ["pageview", "Early"]
    receiver.receive(message(call(stop), call("track", "Stopped")))
    assert browser.state()["opted_out"] is True
    assert cookies(browser) == {"_ff_consent.123": "0"}
    receiver.receive(message(call(start), call("track", "Again")))
    assert [e["name"] for e in flushed(browser)][-1] == "Again"
    assert "Stopped" not in [r.get("name") for r in browser.sent_records()]


# -- delivery through the tracker ------------------------------------------------------------


def test_hide_flushes_at_once() -> None:
    browser, receiver = started()
    receiver.receive(message(call("track", "Last")))
    assert len(browser.sent) == 1
    receiver.receive(message({"kind": "hide", "page": {"url": "https://shop.example.com/"}}))
    assert len(browser.sent) == 2


def test_tracking_server_config_picks_the_collector() -> None:
    browser, _ = started(config={"trackingServer": "https://collect.example/"})
    assert browser.sent[0][0] == "https://collect.example/api/ingest"


def test_ingest_server_is_heaps_current_name_for_the_tracking_server() -> None:
    browser, _ = started(config={"ingestServer": "https://collect.example"})
    assert browser.sent[0][0] == "https://collect.example/api/ingest"


# -- Heap's current snippet: pageview properties, trackPageview, page-code hooks -------------


def test_pageview_properties_ride_on_the_pageview_and_its_events_until_the_next() -> None:
    browser, receiver = started(
        [call("addPageviewProperties", {"Section": "Shop", "Gone": 1}), navigate()]
    )
    receiver.receive(
        message(
            call("removePageviewProperty", "Gone"),
            call("addPageviewProperties", {"Tab": "Toys"}),
            interaction("click", el("button", "Buy")),
            call("track", "Custom", {"Tab": "Own"}),
            navigate("https://shop.example.com/next", cause="pushState"),
            call("track", "On the next page"),
        )
    )
    events = [e for e in flushed(browser) if e["kind"] == "event"]
    assert [(e["name"], e["properties"]) for e in events] == [
        ("pageview", {"Section": "Shop", "Gone": 1}),
        ("click", {"Section": "Shop", "Tab": "Toys"}),
        ("Custom", {"Section": "Shop", "Tab": "Own"}),  # the call's own properties win
        ("pageview", {}),
        ("On the next page", {}),
    ]
    assert (
        "_hp2_props.123" in cookies(browser) and "Section" not in cookies(browser)["_hp2_props.123"]
    )


def test_account_properties_are_sent_with_user_property_limits() -> None:
    browser, receiver = started()
    receiver.receive(
        message(
            call("addAccountProperties", {"Tier": "Gold", "Seats": 5, "Long": "v" * 300}),
            call("addAccountProperties", "not an object"),
        )
    )
    sent = [r for r in flushed(browser) if r["kind"] == "account_properties"]
    assert [(r["user_id"], r["properties"]) for r in sent] == [
        (browser.state()["user_id"], {"Tier": "Gold", "Seats": 5})
    ]
    assert sum("heap.addAccountProperties" in w for w in browser.warnings()) == 2


def test_clear_pageview_properties_keeps_event_properties() -> None:
    browser, receiver = started()
    receiver.receive(
        message(
            call("addEventProperties", {"Plan": "Pro"}),
            call("addPageviewProperties", {"Section": "Shop"}),
            call("clearPageviewProperties"),
            call("track", "After"),
        )
    )
    assert flushed(browser)[-1]["properties"] == {"Plan": "Pro"}


def test_track_pageview_starts_a_pageview_with_its_properties() -> None:
    browser, receiver = started()
    first = browser.events()[0]
    receiver.receive(
        message(
            call("addPageviewProperties", {"Old": 1}),
            call("trackPageview", {"Step": "2"}),
            call("track", "Then"),
            call("trackPageview"),
            call("trackPageview", "not an object"),
        )
    )
    events = [e for e in flushed(browser) if e["kind"] == "event"]
    manual, then, bare = events[1], events[2], events[3]
    assert manual["type"] == "pageview" and manual["properties"] == {"Step": "2"}
    assert manual["pageview_id"] != first["pageview_id"]
    assert then["pageview_id"] == manual["pageview_id"] and then["properties"] == {"Step": "2"}
    assert bare["type"] == "pageview" and bare["properties"] == {}
    assert len(events) == 5  # a bad argument still counts the pageview, with a warning
    assert any("heap.trackPageview" in warning for warning in browser.warnings())


@pytest.mark.parametrize("method", ["addAdapter", "addTransformer", "addTransformerFn"])
def test_page_code_hooks_are_accepted_with_one_warning(method: str) -> None:
    browser, receiver = started()
    receiver.receive(message(call(method, "name", None), call(method, None), call("track", "Kept")))
    warnings = browser.warnings()
    assert len(warnings) == 2 and len(set(warnings)) == 1  # one text: the loader shows it once
    assert warnings[0].startswith(f"heap.{method} is accepted and has no effect")
    assert flushed(browser)[-1]["name"] == "Kept"


def test_a_new_session_is_told_to_the_page() -> None:
    browser, receiver = started()
    first = browser.state()["session_id"]
    receiver.receive(message(call("track", "Later", time=START_MS + 31 * MINUTE)))
    assert browser.state()["session_id"] not in (None, first)


def test_unknown_methods_warn() -> None:
    browser, receiver = started()
    receiver.receive(message(call("teleport")))
    assert browser.warnings() == ["heap.teleport is not a method this tracker knows"]


def loader_methods() -> list[str]:
    """The heap.* methods loader.js defines (its METHODS list)."""
    loader = (Path(__file__).resolve().parents[2] / "snippet" / "loader.js").read_text()
    found = re.search(r"var METHODS = \[(.*?)\];", loader, re.DOTALL)
    assert found is not None
    return re.findall(r'"(\w+)"', found.group(1))


@pytest.mark.parametrize("method", loader_methods())
def test_every_method_the_loader_defines_is_one_the_tracker_knows(method: str) -> None:
    browser, receiver = started()
    receiver.receive(message(call(method)))
    assert not any("is not a method" in warning for warning in browser.warnings())


# -- other tabs of the same site share the cookies -------------------------------------------


def document_cookie(browser: FakeBrowser, **overrides: str) -> str:
    """document.cookie after every set_cookies op so far, with other tabs' writes on top."""
    jar: dict[str, str] = {}
    for assignment in browser.cookie_assignments():
        name, value = assignment.split(";")[0].split("=", 1)
        jar[name] = value
    jar.update(overrides)
    return "; ".join(f"{name}={value}" for name, value in jar.items())


def other_tab_id(user_id: str, session_id: str, identity: str | None = None) -> str:
    value: dict[str, object] = {
        "userId": user_id,
        "pageviewId": "1" * 16,
        "sessionId": session_id,
        "identity": identity,
        "trackerVersion": "4.0",
    }
    if identity is not None:
        value |= {"identityField": None, "isIdentified": 1}
    return encode_cookie_value(value)


def test_an_identity_set_in_another_tab_is_taken_on() -> None:
    browser, receiver = started()
    session_id = browser.state()["session_id"]
    jar = document_cookie(browser, **{"_hp2_id.123": other_tab_id("5" * 16, session_id, "kate")})
    receiver.receive(message(call("track", "Here"), cookies=jar))
    assert (browser.state()["user_id"], browser.state()["identity"]) == ("5" * 16, "kate")
    here = flushed(browser)[-1]
    assert (here["user_id"], here["session_id"]) == ("5" * 16, session_id)
    assert id_cookie(browser)["identity"] == "kate"  # this tab does not write its old user back


def test_this_tabs_own_older_cookie_does_not_undo_a_newer_change() -> None:
    browser, receiver = started()
    before_identify = document_cookie(browser)
    receiver.receive(message(call("identify", "kate"), cookies=before_identify))
    receiver.receive(message(call("track", "Later"), cookies=document_cookie(browser)))
    # a message sent before the loader applied the identify's cookie write
    receiver.receive(message(call("track", "Raced"), cookies=before_identify))
    assert browser.state()["identity"] == "kate"
    user_ids = {r["user_id"] for r in flushed(browser)}
    assert len(user_ids) == 1


def test_activity_in_another_tab_keeps_the_shared_session_alive() -> None:
    browser, receiver = started()
    first = browser.state()["session_id"]
    browser.advance(40 * 60)
    other_tab_activity = encode_cookie_value(
        {
            "ts": browser.clock_ms - MINUTE,
            "d": "shop.example.com",
            "h": "/",
            "q": "",
            "g": "",
            "t": "",
            "r": "",
        }
    )
    jar = document_cookie(browser, **{"_hp2_ses_props.123": other_tab_activity})
    receiver.receive(message(call("track", "Back", time=browser.clock_ms), cookies=jar))
    assert flushed(browser)[-1]["session_id"] == first


def test_a_session_started_in_another_tab_is_joined() -> None:
    browser, receiver = started()
    user_id = browser.state()["user_id"]
    browser.advance(40 * 60)
    other = {
        "_hp2_id.123": other_tab_id(user_id, "6" * 16),
        "_hp2_ses_props.123": encode_cookie_value(
            {
                "ts": browser.clock_ms,
                "d": "shop.example.com",
                "h": "/x",
                "q": "",
                "g": "",
                "t": "",
                "r": "",
            }
        ),
    }
    receiver.receive(
        message(
            call("track", "Back", time=browser.clock_ms), cookies=document_cookie(browser, **other)
        )
    )
    back = flushed(browser)[-1]
    assert back["session_id"] == "6" * 16
    assert back["session"]["landing_page"] == "https://shop.example.com/x"


def test_event_properties_and_opt_out_from_another_tab_apply_here() -> None:
    browser, receiver = started()
    props = encode_cookie_value({"Logged In": True})
    receiver.receive(
        message(call("track", "A"), cookies=document_cookie(browser, **{"_hp2_props.123": props}))
    )
    assert flushed(browser)[-1]["properties"] == {"Logged In": True}
    receiver.receive(
        message(call("track", "B"), cookies=document_cookie(browser, **{"_ff_consent.123": "0"}))
    )
    browser.advance(5)
    assert browser.state()["opted_out"] is True
    assert "B" not in [r.get("name") for r in browser.sent_records()]


def test_one_beacon_per_message_holding_every_unsent_record() -> None:
    browser, receiver = started()
    beacons_before = len(browser.ops_of("beacon"))
    receiver.receive(message(call("track", "A"), call("track", "B"), call("track", "C")))
    beacons = browser.ops_of("beacon")[beacons_before:]
    assert len(beacons) == 1
    assert [r["name"] for r in browser.beacon_records()] == ["A", "B", "C"]
    assert beacons[0]["url"] == "http://127.0.0.1:8000/api/ingest"


def test_a_cookie_domain_that_was_not_offered_falls_back_to_host_only() -> None:
    browser = FakeBrowser()
    receiver = boot(browser, [navigate()])
    receiver.receive(message({"kind": "cookie_domain", "domain": "evil.example"}))
    assert browser.warnings() == [
        "cookie domain 'evil.example' was not a candidate; using host-only cookies"
    ]
    assert browser.cookie_assignments()
    assert all("domain=" not in c for c in browser.cookie_assignments())


def test_custom_events_after_opting_in_again_carry_the_current_page() -> None:
    browser, receiver = started()
    receiver.receive(message(call("optOut")))
    receiver.receive(message(navigate("https://shop.example.com/later", cause="pushState")))
    receiver.receive(message(call("optIn"), call("track", "Here")))
    here = flushed(browser)[-1]
    assert here["page"]["path"] == "/later"
    assert [e["name"] for e in browser.events()].count("pageview") == 1


# Seed 002, case by case, as the browser sees it (the collector does the merging).
SEED_002_CASES = [
    # (case, calls before, the call, same user_id, identify sent with, new session)
    ("anonymous to new identity", [], call("identify", "12345"), True, "12345", False),
    ("anonymous to existing identity", [], call("identify", "kate"), True, "kate", False),
    (
        "identified user to new identity",
        [call("identify", "kate")],
        call("identify", "jack"),
        False,
        "jack",
        True,
    ),
    (
        "identified user to existing identity",
        [call("identify", "jack")],
        call("identify", "kate"),
        False,
        "kate",
        True,
    ),
    (
        "same identity again",
        [call("identify", "kate")],
        call("identify", "kate"),
        True,
        None,
        False,
    ),
    (
        "resetIdentity when identified",
        [call("identify", "kate")],
        call("resetIdentity"),
        False,
        None,
        True,
    ),
    ("resetIdentity when anonymous", [], call("resetIdentity"), True, None, False),
    ("non-unique identity refused", [], call("identify", "guest"), True, None, False),
]


@pytest.mark.parametrize(
    ("case", "before", "the_call", "same_user", "identify_with", "new_session"),
    SEED_002_CASES,
    ids=[case[0] for case in SEED_002_CASES],
)
def test_seed_002_identity_cases(
    case: str,
    before: list[dict[str, Any]],
    the_call: dict[str, Any],
    same_user: bool,
    identify_with: str | None,
    new_session: bool,
) -> None:
    browser, receiver = started([navigate(), *before])
    old = browser.state()
    sent_before = len(flushed(browser))
    receiver.receive(message(the_call, call("track", "After")))
    new = browser.state()
    records = flushed(browser)[sent_before:]
    assert (new["user_id"] == old["user_id"]) is same_user
    assert (new["session_id"] != old["session_id"]) is new_session
    identifies = [(r["user_id"], r["identity"]) for r in records if r["kind"] == "identify"]
    assert identifies == ([] if identify_with is None else [(new["user_id"], identify_with)])
    after = records[-1]
    assert (after["name"], after["user_id"], after["session_id"]) == (
        "After",
        new["user_id"],
        new["session_id"],
    )


@pytest.mark.parametrize(
    ("kind", "sent_at_once"), [("click", True), ("submit", True), ("change", False)]
)
def test_clicks_and_submits_go_out_at_once_as_they_may_leave_the_page(
    kind: str, sent_at_once: bool
) -> None:
    browser, receiver = started()
    browser.advance(5)  # the boot batch is out and answered
    before = len(browser.sent)
    target = {"click": el("button", id="b"), "submit": el("form"), "change": el("select")}[kind]
    receiver.receive(message(interaction(kind, target)))
    assert (len(browser.sent) > before) is sent_at_once
    browser.advance(1)
    assert [e["type"] for e in browser.events()][-1] == kind

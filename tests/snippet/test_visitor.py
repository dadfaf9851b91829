"""The visitor's persisted state: read from our cookies (or Heap's) at boot, taken on from other
tabs, and the cookie values and expiries written back."""

import json
from urllib.parse import unquote

import pytest

from snippet.consent import Consent
from snippet.cookie_writer import CookieWriter
from snippet.cookies import CookieNames, encode_cookie_value
from snippet.pageview import PageParts
from snippet.session import SESSION_TIMEOUT_MS, Session, SessionClock
from snippet.visitor import Visitor, VisitorCookies
from tests.snippet.fake_browser import START_MS, FakeBrowser

NAMES = CookieNames("123")
MINUTE = 60_000
USER, PAGEVIEW, SESSION = "7035907387929425", "3533035492830499", "3312313741047499"


def id_cookie(user_id: str = USER, identity: str | None = None, session_id: str = SESSION) -> str:
    value = {
        "userId": user_id,
        "pageviewId": PAGEVIEW,
        "sessionId": session_id,
        "identity": identity,
        "trackerVersion": "4.0",
    }
    return encode_cookie_value(value)


def ses_props(ts: float) -> str:
    return encode_cookie_value(
        {"ts": ts, "d": "shop.example.com", "h": "/landing", "q": "", "g": "", "t": "L", "r": ""}
    )


def make(*, require_consent: bool = False) -> tuple[FakeBrowser, VisitorCookies, Visitor]:
    browser = FakeBrowser()
    writer = CookieWriter(
        browser, hostname="localhost", probe_name=NAMES.probe, attributes="SameSite=Lax"
    )
    persisted = VisitorCookies(NAMES, writer, protocol="https:", now_ms=browser.now_ms)
    return browser, persisted, Visitor(Consent(require_consent=require_consent))


def written(browser: FakeBrowser) -> dict[str, str]:
    return {
        c.split("=", 1)[0]: unquote(c.split(";")[0].split("=", 1)[1])
        for c in browser.cookie_assignments()
    }


def test_a_first_visit_has_fresh_ids_and_no_session() -> None:
    _, persisted, visitor = make()
    assert persisted.adopt_at_boot(visitor, {}) == []
    assert visitor.user_id.isdigit() and visitor.identity is None
    assert visitor.clock.session is None and visitor.event_props == {}


def test_heaps_cookies_give_the_user_identity_live_session_and_event_properties() -> None:
    _, persisted, visitor = make()
    jar = {
        NAMES.id: id_cookie(identity="kate"),
        NAMES.session_props: ses_props(START_MS - 29 * MINUTE),
        NAMES.event_props: encode_cookie_value({"Plan": "Pro"}),
    }
    assert persisted.adopt_at_boot(visitor, jar) == []
    assert (visitor.user_id, visitor.identity, visitor.pageview_id) == (USER, "kate", PAGEVIEW)
    session = visitor.clock.session
    assert session is not None and session.session_id == SESSION
    assert session.landing.url == "https://shop.example.com/landing"
    assert visitor.event_props == {"Plan": "Pro"}


def test_a_lapsed_session_is_not_continued_but_the_user_is() -> None:
    _, persisted, visitor = make()
    jar = {NAMES.id: id_cookie(), NAMES.session_props: ses_props(START_MS - 30 * MINUTE)}
    persisted.adopt_at_boot(visitor, jar)
    assert visitor.user_id == USER and visitor.clock.session is None
    assert visitor.pageview_id != PAGEVIEW


def test_unusable_stored_event_properties_are_reported_and_the_good_kept() -> None:
    _, persisted, visitor = make()
    props = encode_cookie_value({"ok": 1, "bad": "x" * 2000})
    problems = persisted.adopt_at_boot(visitor, {NAMES.event_props: props})
    assert visitor.event_props == {"ok": 1}
    assert problems == [
        "ignored unusable stored event properties: property 'bad' is longer than 1023 characters"
    ]


def test_a_remembered_opt_out_adopts_nothing_else() -> None:
    _, persisted, visitor = make()
    jar = {NAMES.consent: "0", NAMES.id: id_cookie(identity="kate")}
    persisted.adopt_at_boot(visitor, jar)
    assert visitor.consent.opted_out and visitor.user_id != USER and visitor.identity is None
    assert persisted.values(visitor) == {NAMES.consent: "0"}


@pytest.mark.parametrize(
    ("require_consent", "choice", "names"),
    [
        (False, None, {NAMES.id, NAMES.session_props, NAMES.event_props}),
        (True, None, set()),
        (True, "in", {NAMES.consent, NAMES.id, NAMES.session_props, NAMES.event_props}),
        (False, "out", {NAMES.consent}),
    ],
)
def test_which_cookies_the_page_holds(
    require_consent: bool, choice: str | None, names: set[str]
) -> None:
    _, persisted, visitor = make(require_consent=require_consent)
    visitor.consent.choice = choice  # type: ignore[assignment]
    visitor.clock = SessionClock(Session(SESSION, START_MS, PageParts()))
    assert set(persisted.values(visitor)) == names


def test_values_size_a_change_without_making_it() -> None:
    _, persisted, visitor = make()
    sized = persisted.values(visitor, event_props={"a": 1})
    assert json.loads(unquote(sized[NAMES.event_props])) == {"a": 1}
    assert visitor.event_props == {}


def test_expiries_thirty_minutes_past_activity_and_thirteen_months() -> None:
    _, persisted, visitor = make()
    visitor.clock = SessionClock(Session(SESSION, START_MS + 5 * MINUTE, PageParts()))
    assert persisted.expiry(visitor, NAMES.session_props) == START_MS + 5 * MINUTE + (
        SESSION_TIMEOUT_MS
    )
    assert 394 < (persisted.expiry(visitor, NAMES.id) - START_MS) / (24 * 60 * MINUTE) < 396


def test_sync_writes_only_what_changed() -> None:
    browser, persisted, visitor = make()
    persisted.sync(visitor)
    assert set(written(browser)) == {NAMES.id, NAMES.event_props}  # no session yet
    browser.ops.clear()
    persisted.sync(visitor)
    assert browser.cookie_assignments() == []
    visitor.event_props = {"Plan": "Pro"}
    persisted.sync(visitor)
    assert written(browser) == {NAMES.event_props: '{"Plan":"Pro"}'}


def test_another_tabs_identity_is_taken_on_and_reported() -> None:
    _, persisted, visitor = make()
    persisted.adopt_at_boot(visitor, {})
    jar = {NAMES.id: id_cookie(identity="kate"), NAMES.session_props: ses_props(START_MS)}
    changed = persisted.changed_elsewhere(jar)
    assert set(changed) == {NAMES.id, NAMES.session_props}
    assert persisted.adopt_from_other_tabs(visitor, jar, changed) is True
    assert (visitor.user_id, visitor.identity) == (USER, "kate")
    session = visitor.clock.session
    assert session is not None and session.session_id == SESSION  # joined its session
    assert persisted.adopt_from_other_tabs(visitor, jar, changed) is False  # nothing new


def test_another_tabs_activity_alone_keeps_this_session_alive_but_never_switches_it() -> None:
    _, persisted, visitor = make()
    persisted.adopt_at_boot(visitor, {NAMES.id: id_cookie(), NAMES.session_props: ses_props(0)})
    visitor.clock = SessionClock(Session(SESSION, START_MS, PageParts()))
    later = {NAMES.id: id_cookie(), NAMES.session_props: ses_props(START_MS + 10 * MINUTE)}
    assert persisted.adopt_from_other_tabs(visitor, later, persisted.changed_elsewhere(later)) is (
        False
    )
    session = visitor.clock.session
    assert session is not None and session.last_activity_ms == START_MS + 10 * MINUTE
    # Activity stored for another session id, with this tab's own _hp2_id unchanged: ignored.
    other = {NAMES.id: id_cookie(), NAMES.session_props: ses_props(START_MS + 20 * MINUTE)}
    visitor.clock = SessionClock(Session("1" * 16, START_MS, PageParts()))
    persisted.adopt_from_other_tabs(visitor, other, persisted.changed_elsewhere(other))
    session = visitor.clock.session
    assert session is not None and session.session_id == "1" * 16


def test_this_tabs_own_writes_are_not_another_tabs() -> None:
    browser, persisted, visitor = make()
    persisted.adopt_at_boot(visitor, {})
    persisted.sync(visitor)
    jar = {
        c.split("=", 1)[0]: c.split(";")[0].split("=", 1)[1] for c in browser.cookie_assignments()
    }
    assert persisted.changed_elsewhere(jar) == {}
    jar = {**jar, NAMES.event_props: encode_cookie_value({"From": "tab 2"})}
    assert persisted.changed_elsewhere(jar) == {NAMES.event_props: jar[NAMES.event_props]}
    persisted.adopt_from_other_tabs(visitor, jar, {NAMES.event_props: jar[NAMES.event_props]})
    assert visitor.event_props == {"From": "tab 2"}

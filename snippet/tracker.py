"""The orchestrator: the loader's records in; events, cookies, ops and batches out."""

from snippet import api
from snippet.autocapture import describe_target
from snippet.browser import Browser
from snippet.consent import Consent, consent_cookie_value, read_consent_cookie
from snippet.cookie_writer import CookieWriter
from snippet.cookies import (
    COOKIE_BUDGET_BYTES,
    CookieNames,
    IdCookie,
    cookie_attributes,
    encode_cookie_value,
    id_cookie_value,
    jar_size,
    parse_document_cookie,
    read_event_props,
    read_id_cookie,
    read_session_props,
    session_expiry,
    session_props_value,
    thirteen_months_less_a_day,
)
from snippet.delivery import Delivery, RunTask
from snippet.ids import new_event_id, new_numeric_id
from snippet.inbound import (
    BadInput,
    Boot,
    Message,
    record_call,
    record_chain,
    record_kind,
    record_page,
    record_text,
    record_time,
)
from snippet.pageview import PageParts, page_parts, starts_pageview, utm_properties
from snippet.redact import scrub_sensitive_numbers
from snippet.session import Session, SessionClock, session_expired, session_properties
from snippet.validate import Scalar, clean_properties
from snippet.wire import (
    AUTOCAPTURED_TYPES,
    CUSTOM,
    PAGEVIEW,
    Target,
    event_record,
    identify_record,
    user_properties_record,
)

LEAVING_KINDS = frozenset({"click", "submit"})  # interactions that often navigate away
HELD_MAX_RECORDS = 1000  # records kept in memory while consent is pending


class Tracker:
    """One page's tracker: identity, session, pageview, event properties, consent, delivery."""

    def __init__(self, browser: Browser, boot: Boot, run_task: RunTask) -> None:
        self.browser = browser
        self.boot = boot
        self.names = CookieNames(boot.app_id)
        config = boot.config
        self.secure_cookie = bool(config.get("secureCookie"))
        self.disable_text_capture = bool(config.get("disableTextCapture"))
        self.consent = Consent(require_consent=bool(config.get("requireConsent")))
        self.user_id = new_numeric_id()
        self.identity: str | None = None
        self._identity_sent: str | None = None  # the identity this page told the collector
        self.pageview_id = new_numeric_id()
        self.clock = SessionClock()
        self.page: PageParts | None = None
        self.event_props: dict[str, Scalar] = {}
        self.cookies = CookieWriter(
            browser,
            hostname=boot.hostname,
            probe_name=self.names.probe,
            attributes=cookie_attributes(secure=self.secure_cookie, in_iframe=boot.in_iframe),
        )
        self._held: list[dict[str, object]] = []
        self._posted_may_store: bool | None = None
        self.delivery = Delivery(
            browser, run_task, app_id=boot.app_id, url=self._ingest_url(), warn=self.warn
        )

    # -- the loader's messages ---------------------------------------------------------------

    def start(self, message: Message) -> None:
        """Boot: adopt cookies, replay the early records (setup calls first), send, report."""
        jar = parse_document_cookie(message.cookies)
        self.cookies.saw(jar)
        self._adopt_cookies(jar)
        # A new session of a visitor the cookie calls identified, maybe by Heap, whose
        # identities the collector never saw: tell it once, even if the page never does.
        new_session = self.clock.session is None
        if self.identity is not None and new_session and api.check_identify([self.identity]).ok:
            self._send_identify(self.browser.now_ms())
        if self._cookie_values():
            self.cookies.probe_domain()  # ask early: the answer arrives while records replay
        for record in api.replay_order(message.records):
            self.handle(record)
        self._sync_cookies()
        self.delivery.flush()
        self.delivery.publish_beacon()
        self._post_state()
        self._post_storage()
        self.browser.post_to_page({"op": "ready"})

    def receive(self, message: Message) -> None:
        """Handle a later message's records strictly in order."""
        self._adopt_other_tabs(parse_document_cookie(message.cookies))
        for record in message.records:
            self.handle(record)
        self._sync_cookies()
        if any(isinstance(r, dict) and r.get("kind") in LEAVING_KINDS for r in message.records):
            self.delivery.flush()  # a link click or a submit may unload the page: send now
        self.delivery.publish_beacon()

    def handle(self, record: object) -> None:
        """Handle one record; a bad one is reported and skipped, never raised."""
        try:
            kind = record_kind(record)
            assert isinstance(record, dict)
            time = record_time(record, self.browser.now_ms())
            if kind == "call":
                self._on_call(*record_call(record), time)
            elif kind == "cookie_domain":
                problem = self.cookies.set_domain(record_text(record, "domain"))
                if problem:
                    self.warn(problem)
            elif kind == "navigate":
                page = page_parts(record_page(record))
                self._on_navigate(page, record_text(record, "cause"), time)
            elif self.consent.opted_out:
                return  # an opted-out page captures nothing
            elif kind in AUTOCAPTURED_TYPES:
                self._on_interaction(kind, record, time)
            elif kind == "hide":
                self.delivery.flush()
        except BadInput as error:
            self.warn(f"ignored a record: {error}")
        except Exception as error:  # a bug must cost one record, not the page's tracking
            self.warn(f"internal error on a record: {error!r}")

    def warn(self, message: str) -> None:
        """Tell the page's console (the loader prefixes "[footfall] ")."""
        self.browser.post_to_page({"op": "warn", "message": message})

    # -- records -----------------------------------------------------------------------------

    def _on_navigate(self, page: PageParts, cause: str, time: float) -> None:
        is_pageview = starts_pageview(cause, self.page, page)
        self.page = page  # kept while opted out too, for custom events after an opt-in
        if is_pageview and not self.consent.opted_out:
            self.pageview_id = new_numeric_id()
            properties = {**self._autocaptured_properties(), **utm_properties(page.query)}
            self._emit_event(PAGEVIEW, PAGEVIEW, time, page, properties, None)

    def _on_interaction(self, kind: str, record: dict[str, object], time: float) -> None:
        target = describe_target(
            kind, record_chain(record), disable_text_capture=self.disable_text_capture
        )
        if target is not None:
            page = page_parts(record_page(record))
            self._emit_event(kind, kind, time, page, self._autocaptured_properties(), target)

    def _autocaptured_properties(self) -> dict[str, Scalar]:
        return {
            key: scrub_sensitive_numbers(value) if isinstance(value, str) else value
            for key, value in self.event_props.items()
        }

    def _emit_event(
        self,
        event_type: str,
        name: str,
        time: float,
        page: PageParts,
        properties: dict[str, Scalar],
        target: Target | None,
    ) -> None:
        self.clock.touch(time, page)
        session = self._session()
        self._deliver(
            event_record(
                event_id=new_event_id(),
                event_type=event_type,
                name=name,
                time=time,
                user_id=self.user_id,
                session_id=session.session_id,
                pageview_id=self.pageview_id,
                properties=properties,
                page=page.as_wire(),
                target=target,
                session=session_properties(session.landing),
            )
        )

    def _deliver(self, record: dict[str, object]) -> None:
        if self.consent.opted_out:
            return
        if self.consent.awaiting:
            self._held = [*self._held, record][-HELD_MAX_RECORDS:]
        else:
            self.delivery.add(record)

    def _session(self) -> Session:
        assert self.clock.session is not None, "touch() starts a session"
        return self.clock.session

    # -- heap.* calls ------------------------------------------------------------------------

    def _on_call(self, method: str, args: list[object], time: float) -> None:
        if method not in api.METHODS:
            self.warn(f"heap.{method} is not a method this tracker knows")
            return
        if method == "optIn":
            self._opt_in()
            return
        if method == "optOut":
            self._opt_out()
            return
        if self.consent.opted_out:
            return
        handler = getattr(self, f"_call_{api.METHOD_ALIASES.get(method, method)}")
        handler(method, args, time)

    def _call_track(self, method: str, args: list[object], time: float) -> None:
        checked = api.check_track(args)
        self._warn_problems(method, checked)
        if checked.ok:
            properties = {**self.event_props, **checked.properties}
            page = self.page or PageParts()
            self._emit_event(CUSTOM, checked.value, time, page, properties, None)

    def _call_identify(self, method: str, args: list[object], time: float) -> None:
        checked = api.check_identify(args)
        self._warn_problems(method, checked)
        if not checked.ok:
            return
        change = api.identify_change(self.identity, checked.value)
        if change == "same" and self._identity_sent == checked.value:
            return
        # The same identity is still told once per page when it came from a cookie: Heap's own
        # (after a switch to Footfall) or one whose identify never reached the collector.
        if change == "switch":  # seed 002: identified → different identity is a new user
            self._become_new_user(time)
        self.identity = checked.value
        self._send_identify(time)
        self._post_state()

    def _send_identify(self, time: float) -> None:
        self._identity_sent = self.identity
        self._deliver(
            identify_record(
                event_id=new_event_id(), time=time, user_id=self.user_id, identity=self.identity
            )
        )

    def _call_resetIdentity(self, method: str, args: list[object], time: float) -> None:
        if self.identity is None:
            return  # Heap: no effect on an anonymous user
        self._become_new_user(time)
        self._post_state()

    def _call_addUserProperties(self, method: str, args: list[object], time: float) -> None:
        checked = api.check_properties(args, user=True)
        self._warn_problems(method, checked)
        if checked.ok:
            self._deliver(
                user_properties_record(
                    event_id=new_event_id(),
                    time=time,
                    user_id=self.user_id,
                    properties=checked.properties,
                )
            )

    def _call_addEventProperties(self, method: str, args: list[object], time: float) -> None:
        checked = api.check_properties(args)
        self._warn_problems(method, checked)
        if not checked.ok:
            return
        merged = {**self.event_props, **checked.properties}
        size = jar_size(self._cookie_values(event_props=merged))
        if size > COOKIE_BUDGET_BYTES:
            self.warn(
                f"heap.{method}: refused; the cookies would take {size} bytes, over the "
                f"{COOKIE_BUDGET_BYTES}-byte budget (clearEventProperties first, or store less)"
            )
            return
        self.event_props = merged

    def _call_removeEventProperty(self, method: str, args: list[object], time: float) -> None:
        checked = api.check_property_name(args)
        self._warn_problems(method, checked)
        if checked.ok:
            self.event_props.pop(checked.value, None)

    def _call_clearEventProperties(self, method: str, args: list[object], time: float) -> None:
        self.event_props = {}

    def _warn_problems(self, method: str, checked: api.Checked) -> None:
        if checked.problems:
            dropped = "" if not checked.ok else "kept the rest; dropped: "
            self.warn(f"heap.{method}: {dropped}{'; '.join(checked.problems)}")

    def _become_new_user(self, time: float) -> None:
        self.user_id = new_numeric_id()
        self.identity = None
        self.clock.restart(time, self.page or PageParts())

    # -- consent -----------------------------------------------------------------------------

    def _opt_in(self) -> None:
        was_out = self.consent.opted_out
        self.consent.choice = "in"
        if was_out:  # a fresh, anonymous visitor: the opt-out forgot the old one
            self.user_id, self.identity = new_numeric_id(), None
            self.clock = SessionClock()
        for record in self._held:
            self.delivery.add(record)
        self._held = []
        self._post_state()
        self._post_storage()

    def _opt_out(self) -> None:
        self.consent.choice = "out"
        self._held = []
        self.delivery.drop_all()
        self.event_props = {}
        self.cookies.expire(self.names.tracking())
        self._post_state()
        self._post_storage()

    # -- cookies -----------------------------------------------------------------------------

    def _adopt_cookies(self, jar: dict[str, str]) -> None:
        self.consent.choice = read_consent_cookie(jar.get(self.names.consent))
        if self.consent.opted_out:
            return
        ids = read_id_cookie(jar.get(self.names.id))
        if ids is not None:
            self._adopt_ids(ids, jar)
        stored = clean_properties(read_event_props(jar.get(self.names.event_props)))
        self.event_props = stored.properties
        if stored.problems:
            self.warn(f"ignored unusable stored event properties: {'; '.join(stored.problems)}")

    def _adopt_ids(self, ids: IdCookie, jar: dict[str, str]) -> None:
        self.user_id, self.identity = ids.user_id, ids.identity
        stored = read_session_props(jar.get(self.names.session_props), self.boot.protocol)
        if stored is None or not ids.session_id:
            return
        last_activity_ms, landing = stored
        if not session_expired(last_activity_ms, self.browser.now_ms()):
            self.clock = SessionClock(Session(ids.session_id, last_activity_ms, landing))
            self.pageview_id = ids.pageview_id or self.pageview_id

    def _adopt_other_tabs(self, jar: dict[str, str]) -> None:
        """Take on what another tab of this site wrote since the last message (identity,
        session activity, event properties, consent), so tabs do not overwrite each other."""
        changed = self.cookies.changed_elsewhere(jar, self._watched())
        if not changed:
            return
        consent = read_consent_cookie(changed.get(self.names.consent))
        if consent == "out" and not self.consent.opted_out:
            self._opt_out()
        elif consent == "in" and not self.consent.allows_tracking:
            self._opt_in()
        if self.consent.opted_out:
            return
        ids = read_id_cookie(jar.get(self.names.id))
        stored = read_session_props(jar.get(self.names.session_props), self.boot.protocol)
        foreign_ids = self.names.id in changed
        if ids is not None and foreign_ids:
            self._adopt_other_tabs_user(ids)
        if (
            ids is not None
            and stored is not None
            and (foreign_ids or self.names.session_props in changed)
        ):
            # Only another tab's _hp2_id may move this tab to another session; its activity alone
            # only keeps the shared session alive.
            self._adopt_other_tabs_session(ids.session_id, *stored, may_switch=foreign_ids)
        if self.names.event_props in changed:
            stored_props = read_event_props(changed[self.names.event_props])
            self.event_props = clean_properties(stored_props).properties

    def _adopt_other_tabs_user(self, ids: IdCookie) -> None:
        if (ids.user_id, ids.identity) != (self.user_id, self.identity):
            self.user_id, self.identity = ids.user_id, ids.identity
            self._post_state()

    def _adopt_other_tabs_session(
        self, session_id: str, last_activity_ms: float, landing: PageParts, *, may_switch: bool
    ) -> None:
        current = self.clock.session
        if current is not None and current.session_id == session_id:
            current.last_activity_ms = max(current.last_activity_ms, last_activity_ms)
        elif (
            may_switch
            and session_id
            and not session_expired(last_activity_ms, self.browser.now_ms())
        ):
            self.clock = SessionClock(Session(session_id, last_activity_ms, landing))

    def _watched(self) -> tuple[str, ...]:
        return (*self.names.tracking(), self.names.consent)

    def _cookie_values(self, event_props: dict[str, Scalar] | None = None) -> dict[str, str]:
        """Name → value of every cookie this page should hold now."""
        values: dict[str, str] = {}
        if self.consent.choice is not None:
            values[self.names.consent] = consent_cookie_value(self.consent.choice)
        if not self.consent.allows_tracking:
            return values
        session = self.clock.session
        ids = IdCookie(
            self.user_id, self.pageview_id, session.session_id if session else "", self.identity
        )
        values[self.names.id] = encode_cookie_value(id_cookie_value(ids))
        if session is not None:
            values[self.names.session_props] = encode_cookie_value(
                session_props_value(session.last_activity_ms, session.landing)
            )
        props = self.event_props if event_props is None else event_props
        values[self.names.event_props] = encode_cookie_value(props)
        return values

    def _cookie_expiry(self, name: str) -> float:
        now = self.browser.now_ms()
        if name == self.names.session_props and self.clock.session is not None:
            return session_expiry(max(now, self.clock.session.last_activity_ms))
        return thirteen_months_less_a_day(now)

    def _sync_cookies(self) -> None:
        """Write the cookies whose values changed (held until the cookie domain is known)."""
        self.cookies.write(self._cookie_values(), self._cookie_expiry)

    # -- reporting ---------------------------------------------------------------------------

    def _post_state(self) -> None:
        session = self.clock.session
        self.browser.post_to_page(
            {
                "op": "state",
                "user_id": self.user_id,
                "identity": self.identity,
                "session_id": session.session_id if session else None,
                "opted_out": self.consent.opted_out,
            }
        )

    def _post_storage(self) -> None:
        """Tell the worker whether the page may keep things of ours beyond cookies (the boot
        snapshot), at boot and whenever consent changes it."""
        may_store = self.consent.allows_tracking
        if may_store != self._posted_may_store:
            self._posted_may_store = may_store
            self.browser.post_to_page({"op": "storage", "may_store": may_store})

    def _ingest_url(self) -> str:
        server = self.boot.config.get("trackingServer")
        if not isinstance(server, str) or not server.strip():
            if server is not None:
                self.warn("config.trackingServer must be a URL string; using the loader's server")
            server = self.boot.server
        return f"{server.strip().rstrip('/')}/api/ingest"

"""The orchestrator: the loader's records in; events, cookies, ops and batches out."""

import json
from collections.abc import Callable
from urllib.parse import quote

from snippet import api, ops
from snippet.autocapture import describe_target
from snippet.bridge import (
    BRIDGE_HELD_MAX,
    allowed_origins,
    bridge_call,
)
from snippet.browser import Browser
from snippet.consent import Consent, read_consent_cookie
from snippet.cookie_writer import CookieWriter
from snippet.cookies import (
    COOKIE_BUDGET_BYTES,
    CookieNames,
    cookie_attributes,
    jar_size,
    parse_document_cookie,
)
from snippet.delivery import Delivery, RunTask
from snippet.ids import derived_numeric_id, new_event_id, new_numeric_id
from snippet.inbound import (
    BadInput,
    Boot,
    Message,
    record_call,
    record_chain,
    record_id,
    record_kind,
    record_page,
    record_text,
    record_time,
)
from snippet.pageview import PageParts, page_parts, starts_pageview, utm_properties
from snippet.presets import apply_preset
from snippet.redact import scrub_sensitive_numbers
from snippet.replay import replay
from snippet.session import Session, SessionClock, session_properties
from snippet.validate import Scalar
from snippet.visitor import Visitor, VisitorCookies
from snippet.wire import (
    AUTOCAPTURED_TYPES,
    CUSTOM,
    PAGEVIEW,
    Target,
    account_properties_record,
    event_record,
    identify_record,
    user_properties_record,
)

LEAVING_KINDS = frozenset({"click", "submit"})  # interactions that often navigate away
HELD_MAX_RECORDS = 1000  # records kept in memory while consent is pending

# Consent calls, which an opted-out page still hears: ours, and Heap's current snippet's names.
CONSENT_METHODS = frozenset({"optIn", "optOut", "startTracking", "stopTracking"})
# Heap's hooks for page code run on each event; Footfall's events are made in Python, in a
# worker, where the page's functions cannot go.
PAGE_CODE_HOOKS = frozenset({"addAdapter", "addTransformer", "addTransformerFn"})
CallHandler = Callable[[str, list[object], float], None]  # (method, args, time)


class Tracker:
    """One page's tracker: identity, session, pageview, event properties, consent, delivery."""

    def __init__(self, browser: Browser, boot: Boot, run_task: RunTask) -> None:
        self.browser = browser
        self.boot = boot
        self.names = CookieNames(boot.app_id)
        config, preset_problem = apply_preset(boot.config)
        self.config = config
        self.secure_cookie = bool(config.get("secureCookie"))
        self.disable_text_capture = bool(config.get("disableTextCapture"))
        self.visitor = Visitor(Consent(require_consent=bool(config.get("requireConsent"))))
        if boot.user_id:  # a first visit's id, drawn by the loader; an _hp2_id cookie wins
            self.visitor.user_id = boot.user_id
        # The record being handled: its id (given to the one wire record made from it) and,
        # for a call, the page it was made on.
        self._observed_id: str | None = None
        self._observed_page: PageParts | None = None
        self._proposed_session_id = boot.session_id  # for a session started at boot only
        self._identity_sent: str | None = None  # the identity this page told the collector
        self.page: PageParts | None = None
        # addPageviewProperties: on the current pageview and its events. Those added before the
        # page's first pageview go on it; a new pageview starts with none.
        self.pageview_props: dict[str, Scalar] = {}
        self._pageview_started = False
        self._posted_session_id: str | None = None
        self.cookies = CookieWriter(
            browser,
            hostname=boot.hostname,
            probe_name=self.names.probe,
            attributes=cookie_attributes(secure=self.secure_cookie, in_iframe=boot.in_iframe),
        )
        self.persisted = VisitorCookies(
            self.names, self.cookies, protocol=boot.protocol, now_ms=browser.now_ms
        )
        # heap.<method> → its handler; the names are the loader's METHODS (docs/protocol.md 1).
        self._call_handlers: dict[str, CallHandler] = {
            "track": self._call_track,
            "identify": self._call_identify,
            "resetIdentity": self._call_reset_identity,
            "addUserProperties": self._call_add_user_properties,
            "addAccountProperties": self._call_add_account_properties,
            "addEventProperties": self._call_add_event_properties,
            "setEventProperties": self._call_add_event_properties,  # Heap's older name
            "removeEventProperty": self._call_remove_event_property,
            "unsetEventProperty": self._call_remove_event_property,  # Heap's older name
            "clearEventProperties": self._call_clear_event_properties,
            "optIn": self._call_opt_in,
            "optOut": self._call_opt_out,
            "startTracking": self._call_opt_in,  # Heap's current snippet: consent by its names
            "stopTracking": self._call_opt_out,
            "addPageviewProperties": self._call_add_pageview_properties,
            "removePageviewProperty": self._call_remove_pageview_property,
            "clearPageviewProperties": self._call_clear_pageview_properties,
            "trackPageview": self._call_track_pageview,
            **dict.fromkeys(PAGE_CODE_HOOKS, self._call_page_code_hook),
        }
        self._held: list[dict[str, object]] = []
        self._posted_may_store: bool | None = None
        self.run_task = run_task
        self.server = self._server_url()
        self.delivery = Delivery(
            browser, run_task, app_id=boot.app_id, url=f"{self.server}/api/ingest", warn=self.warn
        )
        if preset_problem:
            self.warn(preset_problem)
        # Bridge origins: heap.load's `bridgeOrigins` now; the collector's list (footfall apps
        # update --allow-origin) asked for at the first message from another origin.
        self.bridge_origins, problems = allowed_origins(config.get("bridgeOrigins"))
        for problem in problems:
            self.warn(problem)
        self._collector_origins: frozenset[str] | None = None  # None: not known yet
        self._bridge_held: list[dict[str, object]] = []  # waiting for the collector's list

    # -- the loader's messages ---------------------------------------------------------------

    def start(self, message: Message) -> None:
        """Boot: adopt cookies, replay the early records in order, send, report."""
        visitor = self.visitor
        jar = parse_document_cookie(message.cookies)
        for problem in self.persisted.adopt_at_boot(visitor, jar):
            self.warn(problem)
        if visitor.consent.opted_out:
            self.delivery.drop_all()  # an opt-out keeps nothing of ours, not even elsewhere
        self.delivery.forget_sent(message.beacon_sent)
        self.delivery.persist(visitor.consent.allows_tracking)
        # A new session of a visitor the cookie calls identified, maybe by Heap, whose
        # identities the collector never saw: tell it once, even if the page never does.
        new_session = visitor.clock.session is None
        identity = visitor.identity
        if identity is not None and new_session and api.check_identify([identity]).ok:
            self._send_identify(self.browser.now_ms())
        if self.persisted.values(visitor):
            self.cookies.probe_domain()  # ask early: the answer arrives while records replay
        replay(message.records, self.handle)
        self._proposed_session_id = None  # a later session is this tracker's own
        self.persisted.sync(visitor)
        self.delivery.flush()
        self.delivery.publish_beacon()
        self._post_state()
        self._post_storage()
        self.browser.post_to_page(ops.ready())

    def receive(self, message: Message) -> None:
        """Handle a later message's records strictly in order."""
        self._adopt_other_tabs(parse_document_cookie(message.cookies))
        self.delivery.forget_sent(message.beacon_sent)
        for record in message.records:
            self.handle(record)
        self.persisted.sync(self.visitor)
        if any(isinstance(r, dict) and r.get("kind") in LEAVING_KINDS for r in message.records):
            self.delivery.flush()  # a link click or a submit may unload the page: send now
        self.delivery.publish_beacon()

    def handle(self, record: object) -> None:
        """Handle one record; a bad one is reported and skipped, never raised."""
        try:
            kind = record_kind(record)
            assert isinstance(record, dict)
            time = record_time(record, self.browser.now_ms())
            self._observed_id = record_id(record)
            self._observed_page = None
            if kind == "call":
                if "page" in record:
                    self._observed_page = page_parts(record_page(record))
                self._on_call(*record_call(record), time)
            elif kind == "bridge":
                self._on_bridge(record, time)
            elif kind == "cookie_domain":
                problem = self.cookies.set_domain(record_text(record, "domain"))
                if problem:
                    self.warn(problem)
            elif kind == "navigate":
                page = page_parts(record_page(record))
                if self.page is None and isinstance(record.get("from"), str):
                    # A journaled history change whose page this tracker never saw: compare
                    # with the URL the loader saw before it.
                    self.page = page_parts(
                        {"url": str(record["from"]), "title": "", "referrer": ""}
                    )
                self._on_navigate(page, record_text(record, "cause"), time)
            elif self.visitor.consent.opted_out:
                return  # an opted-out page captures nothing
            elif kind in AUTOCAPTURED_TYPES:
                self._on_interaction(kind, record, time)
            elif kind == "hide":
                self.delivery.flush()
        except BadInput as error:
            self.warn(f"ignored a record: {error}")
        except Exception as error:  # a bug must cost one record, not the page's tracking
            self.warn(f"internal error on a record: {error!r}")
        finally:
            self._observed_id = None

    def _event_id(self) -> str:
        """The handled record's id for the first wire record made from it, else a new one."""
        event_id, self._observed_id = self._observed_id, None
        return event_id or new_event_id()

    def warn(self, message: str) -> None:
        """Tell the page's console (the loader prefixes "[footfall] ")."""
        self.browser.post_to_page(ops.warn(message))

    # -- records -----------------------------------------------------------------------------

    def _on_navigate(self, page: PageParts, cause: str, time: float) -> None:
        is_pageview = starts_pageview(cause, self.page, page)
        self.page = page  # kept while opted out too, for custom events after an opt-in
        if is_pageview and not self.visitor.consent.opted_out:
            self._emit_pageview(page, time)

    def _emit_pageview(
        self, page: PageParts, time: float, pageview_props: dict[str, Scalar] | None = None
    ) -> None:
        """A new pageview of `page`, with `pageview_props` as its first pageview properties."""
        observed = self._observed_id
        self.visitor.pageview_id = (
            derived_numeric_id("pageview", observed) if observed else new_numeric_id()
        )
        if self._pageview_started:
            self.pageview_props = {}
        self._pageview_started = True
        self.pageview_props = {**self.pageview_props, **(pageview_props or {})}
        properties = {**self._autocaptured_properties(), **utm_properties(page.query)}
        self._emit_event(PAGEVIEW, PAGEVIEW, time, page, properties, None)

    def _on_interaction(self, kind: str, record: dict[str, object], time: float) -> None:
        target = describe_target(
            kind, record_chain(record), disable_text_capture=self.disable_text_capture
        )
        if target is not None:
            page = page_parts(record_page(record))
            self._emit_event(kind, kind, time, page, self._autocaptured_properties(), target)

    def _current_properties(self) -> dict[str, Scalar]:
        """The event and pageview properties every event of this pageview carries."""
        return {**self.visitor.event_props, **self.pageview_props}

    def _autocaptured_properties(self) -> dict[str, Scalar]:
        return {
            key: scrub_sensitive_numbers(value) if isinstance(value, str) else value
            for key, value in self._current_properties().items()
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
        observed = self._observed_id
        derived = derived_numeric_id("session", observed) if observed else None
        if self.visitor.clock.touch(time, page, self._proposed_session_id or derived):
            self._proposed_session_id = None
        session = self._session()
        if self._posted_session_id not in (None, session.session_id):
            self._post_state()  # a new session after 30 idle minutes: heap.getSessionId()
        self._deliver(
            event_record(
                event_id=self._event_id(),
                event_type=event_type,
                name=name,
                time=time,
                user_id=self.visitor.user_id,
                session_id=session.session_id,
                pageview_id=self.visitor.pageview_id,
                properties=properties,
                page=page.as_wire(),
                target=target,
                session=session_properties(session.landing),
                context=self.boot.context,
            )
        )

    def _deliver(self, record: dict[str, object]) -> None:
        if self.visitor.consent.opted_out:
            return
        if self.visitor.consent.awaiting:
            self._held = [*self._held, record][-HELD_MAX_RECORDS:]
        else:
            self.delivery.add(record)

    def _session(self) -> Session:
        session = self.visitor.clock.session
        assert session is not None, "touch() starts a session"
        return session

    # -- heap.* calls ------------------------------------------------------------------------

    def _on_call(self, method: str, args: list[object], time: float) -> None:
        handler = self._call_handlers.get(method)
        if handler is None:
            self.warn(f"heap.{method} is not a method this tracker knows")
        elif method in CONSENT_METHODS or not self.visitor.consent.opted_out:
            handler(method, args, time)  # an opted-out page hears only consent calls

    def _call_track(self, method: str, args: list[object], time: float) -> None:
        checked = api.check_track(args)
        self._warn_problems(method, checked)
        if checked.ok:
            properties = {**self._current_properties(), **checked.properties}
            page = self.page or self._observed_page or PageParts()  # journaled: no page yet
            self._emit_event(CUSTOM, checked.value, time, page, properties, None)

    def _call_identify(self, method: str, args: list[object], time: float) -> None:
        checked = api.check_identify(args)
        self._warn_problems(method, checked)
        if not checked.ok:
            return
        change = api.identify_change(self.visitor.identity, checked.value)
        if change == "same" and self._identity_sent == checked.value:
            return
        # The same identity is still told once per page when it came from a cookie: Heap's own
        # (after a switch to Footfall) or one whose identify never reached the collector.
        if change == "switch":  # seed 002: identified → different identity is a new user
            self._become_new_user(time)
        self.visitor.identity = checked.value
        self._send_identify(time)
        self._post_state()

    def _send_identify(self, time: float) -> None:
        visitor = self.visitor
        self._identity_sent = visitor.identity
        self._deliver(
            identify_record(
                event_id=self._event_id(),
                time=time,
                user_id=visitor.user_id,
                identity=visitor.identity,
            )
        )

    def _call_reset_identity(self, method: str, args: list[object], time: float) -> None:
        if self.visitor.identity is None:
            return  # Heap: no effect on an anonymous user
        self._become_new_user(time)
        self._post_state()

    def _call_add_user_properties(self, method: str, args: list[object], time: float) -> None:
        self._send_properties(method, args, time, user_properties_record)

    def _call_add_account_properties(self, method: str, args: list[object], time: float) -> None:
        self._send_properties(method, args, time, account_properties_record)

    def _send_properties(
        self,
        method: str,
        args: list[object],
        time: float,
        make_record: Callable[..., dict[str, object]],
    ) -> None:
        """Properties for the collector to keep on the user (or its account), with Heap's
        user-property limits."""
        checked = api.check_properties(args, user=True)
        self._warn_problems(method, checked)
        if checked.ok:
            self._deliver(
                make_record(
                    event_id=self._event_id(),
                    time=time,
                    user_id=self.visitor.user_id,
                    properties=checked.properties,
                )
            )

    def _call_add_event_properties(self, method: str, args: list[object], time: float) -> None:
        checked = api.check_properties(args)
        self._warn_problems(method, checked)
        if not checked.ok:
            return
        merged = {**self.visitor.event_props, **checked.properties}
        size = jar_size(self.persisted.values(self.visitor, event_props=merged))
        if size > COOKIE_BUDGET_BYTES:
            self.warn(
                f"heap.{method}: refused; the cookies would take {size} bytes, over the "
                f"{COOKIE_BUDGET_BYTES}-byte budget (clearEventProperties first, or store less)"
            )
            return
        self.visitor.event_props = merged

    def _call_remove_event_property(self, method: str, args: list[object], time: float) -> None:
        checked = api.check_property_name(args)
        self._warn_problems(method, checked)
        if checked.ok:
            self.visitor.event_props.pop(checked.value, None)

    def _call_clear_event_properties(self, method: str, args: list[object], time: float) -> None:
        self.visitor.event_props = {}

    def _call_add_pageview_properties(self, method: str, args: list[object], time: float) -> None:
        checked = api.check_properties(args)
        self._warn_problems(method, checked)
        if checked.ok:
            self.pageview_props = {**self.pageview_props, **checked.properties}

    def _call_remove_pageview_property(self, method: str, args: list[object], time: float) -> None:
        checked = api.check_property_name(args)
        self._warn_problems(method, checked)
        if checked.ok:
            self.pageview_props.pop(checked.value, None)

    def _call_clear_pageview_properties(self, method: str, args: list[object], time: float) -> None:
        self.pageview_props = {}

    def _call_track_pageview(self, method: str, args: list[object], time: float) -> None:
        """trackPageview(properties?): a new pageview of the current page, now; `properties`
        are its pageview properties."""
        checked = api.check_properties(args) if args and args[0] is not None else api.Checked()
        self._warn_problems(method, checked)
        page = self.page or self._observed_page or PageParts()
        self._emit_pageview(page, time, checked.properties)

    def _call_page_code_hook(self, method: str, args: list[object], time: float) -> None:
        self.warn(
            f"heap.{method} is accepted and has no effect: Footfall makes its events in a worker, "
            "where the page's functions cannot run (set properties with addEventProperties or "
            "addPageviewProperties instead)"
        )

    def _call_opt_in(self, method: str, args: list[object], time: float) -> None:
        self._opt_in()

    def _call_opt_out(self, method: str, args: list[object], time: float) -> None:
        self._opt_out()

    def _warn_problems(self, method: str, checked: api.Checked) -> None:
        if checked.problems:
            dropped = "" if not checked.ok else "kept the rest; dropped: "
            self.warn(f"heap.{method}: {dropped}{'; '.join(checked.problems)}")

    def _become_new_user(self, time: float) -> None:
        self.visitor.become_anonymous()
        self.visitor.clock.restart(time, self.page or PageParts())

    # -- the postMessage bridge (snippet/bridge.py) -----------------------------------------

    def _on_bridge(self, record: dict[str, object], time: float) -> None:
        origin = record_text(record, "origin")
        collector = self._collector_origins
        if origin in self.bridge_origins or (collector is not None and origin in collector):
            self._bridge_message(origin, record.get("data"), time)
        elif collector is None:
            self._bridge_held = [*self._bridge_held, record][-BRIDGE_HELD_MAX:]
            if len(self._bridge_held) == 1:  # the first: ask (the answer handles them all)
                self.run_task(self._ask_collector_origins())
        else:
            self.warn(
                f"ignored a bridge message from {origin}: not an origin this app allows (add it "
                f"with `footfall apps update {self.boot.app_id} --allow-origin {origin}` or to "
                "heap.load's bridgeOrigins)"
            )

    def _bridge_message(self, origin: str, data: object, time: float) -> None:
        call = bridge_call(data)
        if isinstance(call, str):
            self.warn(f"ignored a bridge message from {origin}: {call}")
        elif call.method == "getUserId":
            if self.visitor.consent.allows_tracking:  # no id leaves before consent, or after
                self.browser.post_to_page(ops.bridge_reply(origin, self.visitor.user_id))
        else:
            self._on_call(call.method, call.args, time)

    async def _ask_collector_origins(self) -> None:
        """GET the app's bridge origins from the collector, then handle the held messages."""
        url = f"{self.server}/api/apps/{quote(self.boot.app_id, safe='')}/bridge"
        answer = await self.browser.get(url)
        try:
            listed = json.loads(answer).get("allowOrigins") if answer is not None else []
        except (ValueError, AttributeError):
            listed = None
        origins, problems = allowed_origins(listed)
        if answer is None or problems or listed is None:
            self.warn(f"the collector's bridge origins at {url} were unusable; using none")
        self._collector_origins = origins
        held, self._bridge_held = self._bridge_held, []
        for record in held:
            self.handle(record)
        self.persisted.sync(self.visitor)
        self.delivery.publish_beacon()

    # -- consent -----------------------------------------------------------------------------

    def _opt_in(self) -> None:
        visitor = self.visitor
        was_out = visitor.consent.opted_out
        visitor.consent.choice = "in"
        if was_out:  # a fresh, anonymous visitor: the opt-out forgot the old one
            visitor.become_anonymous()
            visitor.clock = SessionClock()
        for record in self._held:
            self.delivery.add(record)
        self._held = []
        self._post_state()
        self._post_storage()

    def _opt_out(self) -> None:
        self.visitor.consent.choice = "out"
        self._held = []
        self.delivery.drop_all()
        self.visitor.event_props = {}
        self.cookies.expire(self.names.tracking())
        self._post_state()
        self._post_storage()

    # -- other tabs -------------------------------------------------------------------------

    def _adopt_other_tabs(self, jar: dict[str, str]) -> None:
        """Take on what another tab of this site wrote since the last message: consent first
        (it may forget the visitor), then identity, session activity and event properties."""
        changed = self.persisted.changed_elsewhere(jar)
        if not changed:
            return
        consent = read_consent_cookie(changed.get(self.names.consent))
        if consent == "out" and not self.visitor.consent.opted_out:
            self._opt_out()
        elif consent == "in" and not self.visitor.consent.allows_tracking:
            self._opt_in()
        if self.visitor.consent.opted_out:
            return
        if self.persisted.adopt_from_other_tabs(self.visitor, jar, changed):
            self._post_state()

    # -- reporting ---------------------------------------------------------------------------

    def _post_state(self) -> None:
        visitor = self.visitor
        session = visitor.clock.session
        self._posted_session_id = session.session_id if session else None
        self.browser.post_to_page(
            ops.state(
                user_id=visitor.user_id,
                identity=visitor.identity,
                session_id=session.session_id if session else None,
                opted_out=visitor.consent.opted_out,
            )
        )

    def _post_storage(self) -> None:
        """Tell the worker whether the page may keep things of ours beyond cookies (the boot
        snapshot, the retry queue), at boot and whenever consent changes it."""
        may_store = self.visitor.consent.allows_tracking
        self.delivery.persist(may_store)
        if may_store != self._posted_may_store:
            self._posted_may_store = may_store
            self.browser.post_to_page(ops.storage(may_store))

    def _server_url(self) -> str:
        key = "trackingServer" if "trackingServer" in self.config else "ingestServer"
        server = self.config.get(key)  # Heap's classic name, then its current one
        if not isinstance(server, str) or not server.strip():
            if server is not None:
                self.warn(f"config.{key} must be a URL string; using the loader's server")
            server = self.boot.server
        return server.strip().rstrip("/")

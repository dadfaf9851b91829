"""The visitor's persisted state: who they are, their session and event properties, and their
consent, as our cookies keep it from page to page; read at boot, taken on from other tabs of the
site, and written back when it changes."""

from collections.abc import Callable
from dataclasses import dataclass, field

from snippet.consent import Consent, consent_cookie_value, read_consent_cookie
from snippet.cookie_writer import CookieWriter
from snippet.cookies import (
    CookieNames,
    IdCookie,
    encode_cookie_value,
    id_cookie_value,
    read_event_props,
    read_id_cookie,
    read_session_props,
    session_expiry,
    session_props_value,
    thirteen_months_less_a_day,
)
from snippet.ids import new_numeric_id
from snippet.pageview import PageParts
from snippet.session import Session, SessionClock, session_expired
from snippet.validate import Scalar, clean_properties


@dataclass
class Visitor:
    """What follows the visitor from page to page and tab to tab."""

    consent: Consent
    user_id: str = field(default_factory=new_numeric_id)
    identity: str | None = None
    pageview_id: str = field(default_factory=new_numeric_id)
    clock: SessionClock = field(default_factory=SessionClock)
    event_props: dict[str, Scalar] = field(default_factory=dict)

    def become_anonymous(self) -> None:
        """A new anonymous user (a reset, a switch of identity, an opt-in after an opt-out)."""
        self.user_id = new_numeric_id()
        self.identity = None


class VisitorCookies:
    """Reads a `Visitor` from the page's cookies and writes it back through a `CookieWriter`."""

    def __init__(
        self,
        names: CookieNames,
        writer: CookieWriter,
        *,
        protocol: str,
        now_ms: Callable[[], float],
    ) -> None:
        self.names = names
        self._writer = writer
        self._protocol = protocol  # the page's, to rebuild the landing URL of a stored session
        self._now_ms = now_ms

    def adopt_at_boot(self, visitor: Visitor, jar: dict[str, str]) -> list[str]:
        """Take on the consent, ids, live session and event properties the cookies hold (ours or
        Heap's); the problems found in them, to warn about."""
        self._writer.saw(jar)
        visitor.consent.choice = read_consent_cookie(jar.get(self.names.consent))
        if visitor.consent.opted_out:
            return []
        ids = read_id_cookie(jar.get(self.names.id))
        if ids is not None:
            visitor.user_id, visitor.identity = ids.user_id, ids.identity
            stored = read_session_props(jar.get(self.names.session_props), self._protocol)
            if stored is not None and ids.session_id:
                last_activity_ms, landing = stored
                if not session_expired(last_activity_ms, self._now_ms()):
                    visitor.clock = SessionClock(Session(ids.session_id, last_activity_ms, landing))
                    visitor.pageview_id = ids.pageview_id or visitor.pageview_id
        stored_props = clean_properties(read_event_props(jar.get(self.names.event_props)))
        visitor.event_props = stored_props.properties
        if stored_props.problems:
            return [f"ignored unusable stored event properties: {'; '.join(stored_props.problems)}"]
        return []

    def changed_elsewhere(self, jar: dict[str, str]) -> dict[str, str]:
        """Our cookies that another tab of the site wrote since the last look."""
        return self._writer.changed_elsewhere(jar, (*self.names.tracking(), self.names.consent))

    def adopt_from_other_tabs(
        self, visitor: Visitor, jar: dict[str, str], changed: dict[str, str]
    ) -> bool:
        """Take on the identity, session activity and event properties another tab wrote
        (`changed`, from `changed_elsewhere`), so tabs do not overwrite each other; True when
        the user changed. Consent changes are the caller's: they come first."""
        ids = read_id_cookie(jar.get(self.names.id))
        stored = read_session_props(jar.get(self.names.session_props), self._protocol)
        foreign_ids = self.names.id in changed
        user_changed = False
        if ids is not None and foreign_ids:
            user_changed = (ids.user_id, ids.identity) != (visitor.user_id, visitor.identity)
            visitor.user_id, visitor.identity = ids.user_id, ids.identity
        if (
            ids is not None
            and stored is not None
            and (foreign_ids or self.names.session_props in changed)
        ):
            # Only another tab's _hp2_id may move this tab to another session; its activity alone
            # only keeps the shared session alive.
            self._adopt_session(visitor, ids.session_id, *stored, may_switch=foreign_ids)
        if self.names.event_props in changed:
            stored_props = read_event_props(changed[self.names.event_props])
            visitor.event_props = clean_properties(stored_props).properties
        return user_changed

    def _adopt_session(
        self,
        visitor: Visitor,
        session_id: str,
        last_activity_ms: float,
        landing: PageParts,
        *,
        may_switch: bool,
    ) -> None:
        current = visitor.clock.session
        if current is not None and current.session_id == session_id:
            current.last_activity_ms = max(current.last_activity_ms, last_activity_ms)
        elif may_switch and session_id and not session_expired(last_activity_ms, self._now_ms()):
            visitor.clock = SessionClock(Session(session_id, last_activity_ms, landing))

    def values(
        self, visitor: Visitor, event_props: dict[str, Scalar] | None = None
    ) -> dict[str, str]:
        """Name → value of every cookie the page should hold for `visitor` now (with
        `event_props` in place of the visitor's, to size a change before making it)."""
        values: dict[str, str] = {}
        consent = visitor.consent
        if consent.choice is not None:
            values[self.names.consent] = consent_cookie_value(consent.choice)
        if not consent.allows_tracking:
            return values
        session = visitor.clock.session
        ids = IdCookie(
            visitor.user_id,
            visitor.pageview_id,
            session.session_id if session else "",
            visitor.identity,
        )
        values[self.names.id] = encode_cookie_value(id_cookie_value(ids))
        if session is not None:
            values[self.names.session_props] = encode_cookie_value(
                session_props_value(session.last_activity_ms, session.landing)
            )
        props = visitor.event_props if event_props is None else event_props
        values[self.names.event_props] = encode_cookie_value(props)
        return values

    def expiry(self, visitor: Visitor, name: str) -> float:
        """When cookie `name` should expire: the session's 30 minutes past its last activity,
        Heap's 13 months less a day for the others."""
        now = self._now_ms()
        session = visitor.clock.session
        if name == self.names.session_props and session is not None:
            return session_expiry(max(now, session.last_activity_ms))
        return thirteen_months_less_a_day(now)

    def sync(self, visitor: Visitor) -> None:
        """Write the cookies whose values changed (held until the cookie domain is known)."""
        self._writer.write(self.values(visitor), lambda name: self.expiry(visitor, name))

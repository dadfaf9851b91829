"""Sessions: a new one after 30 minutes without activity, remembering its landing page."""

from dataclasses import dataclass

from snippet.ids import new_numeric_id
from snippet.pageview import PageParts, utm_properties

SESSION_TIMEOUT_MS = 30 * 60 * 1000


@dataclass
class Session:
    """The live session: its id, its last activity and the page it began on."""

    session_id: str
    last_activity_ms: float
    landing: PageParts


def session_expired(last_activity_ms: float, now_ms: float) -> bool:
    """Whether 30 minutes or more passed since the last activity."""
    return now_ms - last_activity_ms >= SESSION_TIMEOUT_MS


def session_properties(landing: PageParts) -> dict[str, str]:
    """The wire `session` object: landing page, initial referrer and the landing UTM campaign."""
    return {
        "landing_page": landing.url,
        "initial_referrer": landing.referrer,
        **utm_properties(landing.query),
    }


class SessionClock:
    """Keeps the current session alive on activity and starts a new one when it lapsed."""

    def __init__(self, session: Session | None = None) -> None:
        self.session = session

    def touch(self, now_ms: float, page: PageParts, new_id: str | None = None) -> bool:
        """Note activity at `now_ms` on `page`; True when this started a new session (with the
        id `new_id` when given, else a random one)."""
        if self.session is None or session_expired(self.session.last_activity_ms, now_ms):
            self.restart(now_ms, page, new_id)
            return True
        self.session.last_activity_ms = max(self.session.last_activity_ms, now_ms)
        return False

    def restart(self, now_ms: float, page: PageParts, new_id: str | None = None) -> Session:
        """Begin a new session now, landing on `page`."""
        self.session = Session(new_id or new_numeric_id(), now_ms, page)
        return self.session

"""Heap's cookies: names, values (encodeURIComponent of JSON.stringify), attributes, domains."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

from snippet.ids import adopt_numeric_id
from snippet.pageview import PageParts
from snippet.redact import scrub_sensitive_numbers
from snippet.session import SESSION_TIMEOUT_MS
from snippet.wire import js_json

TRACKER_VERSION = "4.0"
COOKIE_BUDGET_BYTES = 4000  # Heap's 4 KB per domain, with room for the attributes
# `_hp2_ses_props` at most: a long landing URL or title must neither pass a browser's 4 KB per
# cookie (the write would be dropped and the session lost) nor crowd out event properties.
SESSION_PROPS_MAX_BYTES = 1024
_SESSION_PROPS_CUT_ORDER = ("t", "r", "g", "q", "h")  # the query holds the landing UTM: late
_EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT"
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class CookieNames:
    """The names of our cookies for one app."""

    app_id: str

    @property
    def id(self) -> str:
        return f"_hp2_id.{self.app_id}"

    @property
    def session_props(self) -> str:
        return f"_hp2_ses_props.{self.app_id}"

    @property
    def event_props(self) -> str:
        return f"_hp2_props.{self.app_id}"

    @property
    def consent(self) -> str:
        return f"_ff_consent.{self.app_id}"

    @property
    def probe(self) -> str:
        return f"_hp2_hld.{self.app_id}"

    def tracking(self) -> tuple[str, str, str]:
        """The three cookies Heap keeps, which opting out clears."""
        return (self.id, self.session_props, self.event_props)


@dataclass(frozen=True)
class IdCookie:
    """The contents of `_hp2_id.<appId>`."""

    user_id: str
    pageview_id: str
    session_id: str
    identity: str | None = None


def encode_cookie_value(value: object) -> str:
    """encodeURIComponent(JSON.stringify(value))."""
    return quote(js_json(value), safe="!'()*~")


def decode_cookie_value(text: str | None) -> object:
    """The JSON a cookie value holds, or None when it holds none."""
    if not text:
        return None
    try:
        return json.loads(unquote(text))
    except (ValueError, RecursionError):  # "[[[[…" thousands deep passes the parser's limit
        return None


def parse_document_cookie(document_cookie: str) -> dict[str, str]:
    """Name → raw value from a `document.cookie` string; the first of a repeated name wins."""
    jar: dict[str, str] = {}
    for pair in document_cookie.split(";"):
        name, sep, value = pair.strip().partition("=")
        if sep and name and name not in jar:
            jar[name] = value.strip()
    return jar


def id_cookie_value(ids: IdCookie) -> dict[str, object]:
    """`_hp2_id` as Heap writes it; identified users add identity, identityField, isIdentified."""
    value: dict[str, object] = {
        "userId": ids.user_id,
        "pageviewId": ids.pageview_id,
        "sessionId": ids.session_id,
        "identity": ids.identity,
        "trackerVersion": TRACKER_VERSION,
    }
    if ids.identity is not None:
        value["identityField"] = None
        value["isIdentified"] = 1
    return value


def read_id_cookie(raw: str | None) -> IdCookie | None:
    """Adopt a `_hp2_id` cookie (ours or Heap's, trackerVersion 3.0 or 4.0), or None."""
    value = decode_cookie_value(raw)
    if not isinstance(value, dict):
        return None
    user_id = adopt_numeric_id(value.get("userId"))
    if user_id is None:
        return None
    identity = value.get("identity")
    return IdCookie(
        user_id=user_id,
        pageview_id=adopt_numeric_id(value.get("pageviewId")) or "",
        session_id=adopt_numeric_id(value.get("sessionId")) or "",
        identity=identity if isinstance(identity, str) and identity else None,
    )


def session_props_value(last_activity_ms: float, landing: PageParts) -> dict[str, object]:
    """`_hp2_ses_props`: last activity and the landing page's domain, path, query, hash, title,
    referrer; title first, then referrer, hash, query and path are cut to fit
    SESSION_PROPS_MAX_BYTES once encoded."""
    value: dict[str, object] = {
        "ts": int(last_activity_ms),
        "d": landing.domain,
        "h": landing.path,
        "q": landing.query,
        "g": landing.hash,
        "t": landing.title,
        "r": landing.referrer,
    }
    for key in _SESSION_PROPS_CUT_ORDER:
        excess = len(encode_cookie_value(value)) - SESSION_PROPS_MAX_BYTES
        if excess <= 0:
            break
        text = str(value[key])
        value[key] = text[: max(0, len(text) - excess)]  # a character encodes to 1 byte or more
    return value


def read_session_props(raw: str | None, protocol: str) -> tuple[float, PageParts] | None:
    """Last activity and landing page from `_hp2_ses_props` (card/SSN-like numbers scrubbed, as
    Heap's own cookie may hold them), or None when unusable."""
    value = decode_cookie_value(raw)
    if not isinstance(value, dict):
        return None
    ts = value.get("ts")
    if not isinstance(ts, int | float) or isinstance(ts, bool):
        return None

    def part(key: str) -> str:
        item = value.get(key)
        return scrub_sensitive_numbers(item) if isinstance(item, str) else ""

    domain, path, query, fragment = part("d"), part("h"), part("q"), part("g")
    url = f"{protocol}//{domain}{path}{query}{fragment}" if domain else ""
    landing = PageParts(url, domain, path, query, fragment, part("t"), part("r"))
    return float(ts), landing


def read_event_props(raw: str | None) -> dict[str, object]:
    """The `_hp2_props` map, or {} when absent or unreadable."""
    value = decode_cookie_value(raw)
    return value if isinstance(value, dict) else {}


def domain_candidates(hostname: str) -> list[str]:
    """Domains to probe, highest first ("co.uk", "example.co.uk", ...); [] for IP addresses and
    single-label hosts, which get host-only cookies."""
    host = hostname.strip().lower().rstrip(".")
    labels = host.split(".")
    if ":" in host or host.startswith("[") or len(labels) < 2:
        return []
    if len(labels) == 4 and all(label.isdigit() for label in labels):
        return []
    return [".".join(labels[-count:]) for count in range(2, len(labels) + 1)]


def thirteen_months_less_a_day(now_ms: float) -> float:
    """Heap's expiry for `_hp2_id` and `_hp2_props`, in ms since the epoch."""
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    year, month_index = divmod(now.month - 1 + 13, 12)
    year += now.year
    month = month_index + 1
    day = min(now.day, _days_in_month(year, month))
    later = now.replace(year=year, month=month, day=day) - timedelta(days=1)
    return later.timestamp() * 1000


def session_expiry(now_ms: float) -> float:
    """`_hp2_ses_props` lives 30 minutes past the last activity."""
    return now_ms + SESSION_TIMEOUT_MS


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def http_date(ms: float) -> str:
    """An `expires=` date: "Wed, 21 Oct 2015 07:28:00 GMT"."""
    t = datetime.fromtimestamp(ms / 1000, UTC)
    return (
        f"{_DAYS[t.weekday()]}, {t.day:02d} {_MONTHS[t.month - 1]} {t.year} "
        f"{t.hour:02d}:{t.minute:02d}:{t.second:02d} GMT"
    )


def cookie_attributes(*, secure: bool, in_iframe: bool = False) -> str:
    """The attributes after path and domain: secureCookie gives `Secure; SameSite=None`, plus
    `Partitioned` inside an iframe, where browsers now keep only partitioned cookies for a
    cross-site frame; otherwise `SameSite=Lax`."""
    if not secure:
        return "SameSite=Lax"
    return "Secure; SameSite=None; Partitioned" if in_iframe else "Secure; SameSite=None"


def cookie_assignment(
    name: str, value: str, *, domain: str, expires_ms: float | None, attributes: str
) -> str:
    """A `document.cookie = ...` string; `expires_ms=None` deletes the cookie."""
    parts = [f"{name}={value}", "path=/"]
    if domain:
        parts.append(f"domain={domain}")
    parts.append(f"expires={_EXPIRED if expires_ms is None else http_date(expires_ms)}")
    parts.append(attributes)
    return "; ".join(parts)


def jar_size(values: dict[str, str]) -> int:
    """Bytes the cookies take in every request: "name=value" pairs joined by "; "."""
    return sum(len(f"{name}={value}".encode()) + 2 for name, value in values.items())

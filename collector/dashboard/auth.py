"""The admin login's plumbing: sessions kept in the database (so logging out ends them), the
Starlette AuthenticationBackend that reads them, the throttle on password guesses, CSRF tokens.

The session cookie is a random token; the database keeps only its SHA-256, with a tag of the
password it was started with (changing the password ends every session). Guesses are throttled
per browser: a browser that has logged in before carries a signed device cookie and has its own
allowance, so a guesser, who has none, cannot lock the owner out (OWASP's "device cookies").
"""

import hashlib
import hmac
import secrets
from collections.abc import Hashable

from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
from starlette.datastructures import FormData
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, Response

from collector.clock import now_ms
from collector.ratelimit import RateLimiter
from collector.storage.base import Storage

ADMIN = "admin"  # the one scope a dashboard session grants
SESSION_COOKIE = "footfall_session"
CSRF_COOKIE = "footfall_csrf"
DEVICE_COOKIE = "footfall_device"
SESSION_TTL_MS = 12 * 3_600_000
DEVICE_TTL_S = 400 * 86_400  # the longest a browser keeps a cookie
FAILED_LOGINS_PER_MINUTE = 10  # per browser, and for all browsers never logged in together
_UNKNOWN_BROWSERS = "browsers that never logged in"


class AdminSessions:
    """The sessions, the device cookies and the guess throttle of one dashboard."""

    def __init__(self, storage: Storage, password: str | None) -> None:
        self.storage = storage
        self.password = password
        self._failed_logins = RateLimiter(FAILED_LOGINS_PER_MINUTE, 60)

    async def start(self) -> str:
        """A new session's cookie value; it lasts SESSION_TTL_MS unless ended."""
        token = secrets.token_urlsafe(32)
        tag = await self._password_tag()
        now = now_ms()
        await self.storage.start_admin_session(_session_key(token), tag, now + SESSION_TTL_MS, now)
        return token

    async def is_live(self, token: str) -> bool:
        """Whether the cookie value names a session that has not ended."""
        if not self.password or not token:
            return False
        tag = await self._password_tag()
        now = now_ms()
        return await self.storage.admin_session_is_live(_session_key(token), tag, now)

    async def end(self, token: str) -> None:
        """End the session, wherever its cookie was copied to."""
        await self.storage.end_admin_session(_session_key(token))

    async def guess_wait(self, request: Request) -> float | None:
        """Seconds this browser must wait before its next password, or None."""
        return self._failed_logins.wait_for({await self._guesser(request): 1})

    async def count_wrong_guess(self, request: Request) -> None:
        """Charge a wrong password to the browser that sent it."""
        self._failed_logins.spend({await self._guesser(request): 1})

    async def new_device_cookie(self) -> str:
        """A signed cookie value that marks a browser as one that logged in."""
        device = secrets.token_urlsafe(16)
        return f"{device}.{_sign(await self.storage.installation_secret(), f'device|{device}')}"

    async def _guesser(self, request: Request) -> Hashable:
        """Whose allowance a password spends: the known browser's, else the unknown ones'."""
        device, _, signature = request.cookies.get(DEVICE_COOKIE, "").partition(".")
        expected = _sign(await self.storage.installation_secret(), f"device|{device}")
        return ("device", device) if device and _same(signature, expected) else _UNKNOWN_BROWSERS

    async def _password_tag(self) -> str:
        return _sign(
            await self.storage.installation_secret(),
            f"password|{_digest(self.password or '').hex()}",
        )


class AdminBackend(AuthenticationBackend):
    """Starlette's authentication for the dashboard: a live session cookie grants ADMIN."""

    def __init__(self, sessions: AdminSessions) -> None:
        self.sessions = sessions

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser] | None:
        token = conn.cookies.get(SESSION_COOKIE, "")
        if await self.sessions.is_live(token):
            return AuthCredentials([ADMIN]), SimpleUser(ADMIN)
        return None


def password_matches(given: str, expected: str) -> bool:
    """Whether `given` is the admin password, compared in constant time."""
    return hmac.compare_digest(_digest(given), _digest(expected))


async def checked_form(request: Request, storage: Storage) -> FormData | Response:
    """The posted form, or a 403 when its CSRF token does not match the browser's cookie."""
    form = await request.form()
    token = form.get("csrf_token")
    nonce = request.cookies.get(CSRF_COOKIE)
    secret = await storage.installation_secret()
    if not csrf_is_valid(secret, nonce, token if isinstance(token, str) else None):
        message = "This form has expired or did not come from this dashboard; reload the page."
        return PlainTextResponse(message, 403)
    return form


def new_csrf_nonce() -> str:
    """A random value for the CSRF cookie, set once per browser."""
    return secrets.token_urlsafe(24)


def csrf_token(secret: bytes, nonce: str) -> str:
    """The token a form must carry when the browser holds the CSRF cookie `nonce`.

    A page on another site can make the browser send our cookie but cannot read it, so it cannot
    put the matching token in its form.
    """
    return _sign(secret, f"csrf|{nonce}")


def csrf_is_valid(secret: bytes, nonce: str | None, token: str | None) -> bool:
    """Whether a posted form's token matches the browser's CSRF cookie."""
    if not nonce or not token:
        return False
    return _same(token, csrf_token(secret, nonce))


def _session_key(token: str) -> str:
    """What the database keeps of a session cookie: a copy of the file holds no live cookie."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _same(given: str, expected: str) -> bool:
    """Constant-time equality that also takes non-ASCII input (a forged cookie or form field),
    which compare_digest refuses for str with a TypeError."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def _sign(secret: bytes, message: str) -> str:
    return hmac.new(secret, message.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()

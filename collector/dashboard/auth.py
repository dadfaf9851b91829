"""The admin login: password check, signed session cookie, CSRF tokens for the dashboard's forms.

Signatures are HMAC-SHA256 with a secret kept in the database (`dashboard_secret`), so sessions
survive a restart. The session also signs a digest of the password: changing it logs everyone out.
"""

import hashlib
import hmac
import secrets

SESSION_COOKIE = "footfall_session"
CSRF_COOKIE = "footfall_csrf"
SESSION_TTL_MS = 12 * 3_600_000


def password_matches(given: str, expected: str) -> bool:
    """Whether `given` is the admin password, compared in constant time."""
    return hmac.compare_digest(_digest(given), _digest(expected))


def new_session(secret: bytes, password: str, now_ms: int) -> str:
    """A session cookie value that stays valid for SESSION_TTL_MS."""
    expires = now_ms + SESSION_TTL_MS
    return f"{expires}.{_sign(secret, f'session|{expires}|{_digest(password).hex()}')}"


def session_is_valid(value: str | None, secret: bytes, password: str, now_ms: int) -> bool:
    """Whether a session cookie was signed by us for this password and has not expired."""
    expires, _, signature = (value or "").partition(".")
    if not (expires.isascii() and expires.isdigit() and len(expires) <= 18):
        return False  # "²" is a digit to isdigit but not to int(); 5000 digits are too many
    if int(expires) <= now_ms:
        return False
    expected = _sign(secret, f"session|{expires}|{_digest(password).hex()}")
    return _same(signature, expected)


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


def _same(given: str, expected: str) -> bool:
    """Constant-time equality that also takes non-ASCII input (a forged cookie or form field),
    which compare_digest refuses for str with a TypeError."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def _sign(secret: bytes, message: str) -> str:
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()

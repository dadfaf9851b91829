"""The admin login's signatures: sessions expire, follow the password, and cannot be forged."""

from collections.abc import Callable

import pytest

from collector.dashboard import auth

SECRET = b"s" * 32
NOW = 1_700_000_000_000


def test_a_fresh_session_is_valid_until_it_expires() -> None:
    session = auth.new_session(SECRET, "pw", NOW)
    assert auth.session_is_valid(session, SECRET, "pw", NOW)
    assert auth.session_is_valid(session, SECRET, "pw", NOW + auth.SESSION_TTL_MS - 1)
    assert not auth.session_is_valid(session, SECRET, "pw", NOW + auth.SESSION_TTL_MS)


@pytest.mark.parametrize(
    ("tamper", "secret", "password"),
    [
        (lambda s: s, b"t" * 32, "pw"),  # another database's secret
        (lambda s: s, SECRET, "new password"),  # the password changed: everyone logs in again
        (lambda s: str(int(s.split(".")[0]) + 10**9) + "." + s.split(".")[1], SECRET, "pw"),
        (lambda s: s[:-1] + ("0" if s[-1] != "0" else "1"), SECRET, "pw"),
        (lambda s: s.split(".")[0], SECRET, "pw"),
        (lambda s: "", SECRET, "pw"),
        (lambda s: "abc.def", SECRET, "pw"),
        (lambda s: s.split(".")[0] + ".\u00e9" * 64, SECRET, "pw"),  # a cookie is latin-1 text
        (lambda s: "\u00b2." + s.split(".")[1], SECRET, "pw"),  # "²".isdigit() is True
        (lambda s: "9" * 5000 + "." + s.split(".")[1], SECRET, "pw"),  # past int()'s digit limit
    ],
)
def test_sessions_that_were_not_issued_for_this_secret_and_password_fail(
    tamper: Callable[[str], str], secret: bytes, password: str
) -> None:
    session = auth.new_session(SECRET, "pw", NOW)
    assert not auth.session_is_valid(tamper(session), secret, password, NOW)


def test_no_cookie_is_no_session() -> None:
    assert not auth.session_is_valid(None, SECRET, "pw", NOW)


@pytest.mark.parametrize(
    ("given", "expected", "matches"),
    [("pw", "pw", True), ("PW", "pw", False), ("pw ", "pw", False), ("", "pw", False)],
)
def test_password_matches(given: str, expected: str, matches: bool) -> None:
    assert auth.password_matches(given, expected) is matches


def test_csrf_token_belongs_to_one_cookie_and_one_secret() -> None:
    nonce = auth.new_csrf_nonce()
    token = auth.csrf_token(SECRET, nonce)
    assert auth.csrf_is_valid(SECRET, nonce, token)
    assert not auth.csrf_is_valid(SECRET, auth.new_csrf_nonce(), token)
    assert not auth.csrf_is_valid(b"t" * 32, nonce, token)
    assert not auth.csrf_is_valid(SECRET, nonce, None)
    assert not auth.csrf_is_valid(SECRET, None, token)
    assert not auth.csrf_is_valid(SECRET, nonce, nonce)
    assert not auth.csrf_is_valid(SECRET, nonce, "\u00e9" * 64)

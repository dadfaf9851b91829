"""The admin login's plumbing: server-side sessions (on a real SQLite file), passwords, CSRF."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from collector.dashboard import auth
from collector.storage.sqlite import SQLiteStorage
from tests.run_async import run_async

SECRET = b"s" * 32
SessionsOn = Callable[[Path, str], auth.AdminSessions]


@pytest.fixture
def sessions_on() -> Iterator[SessionsOn]:
    """The admin sessions of a dashboard on the storage of a SQLite file, as `footfall serve`
    opens it (each opening its own, as after a restart); all closed after the test."""
    opened: list[SQLiteStorage] = []

    def sessions(db_path: Path, password: str) -> auth.AdminSessions:
        opened.append(SQLiteStorage(db_path))
        return auth.AdminSessions(opened[-1], password)

    yield sessions
    for storage in opened:
        run_async(storage.close())


def test_a_session_lives_until_it_is_ended(tmp_path: Path, sessions_on: SessionsOn) -> None:
    async def scenario() -> None:
        sessions = sessions_on(tmp_path / "db.sqlite3", "pw")
        token = await sessions.start()
        other = await sessions.start()
        assert await sessions.is_live(token) and await sessions.is_live(other)
        await sessions.end(token)
        assert not await sessions.is_live(token)
        assert await sessions.is_live(other)  # ending one session leaves the others

    run_async(scenario())


def test_the_database_keeps_no_session_cookie(tmp_path: Path, sessions_on: SessionsOn) -> None:
    async def scenario() -> str:
        return await sessions_on(tmp_path / "db.sqlite3", "pw").start()

    token = run_async(scenario())
    assert token.encode() not in (tmp_path / "db.sqlite3").read_bytes() + b"".join(
        path.read_bytes() for path in tmp_path.glob("db.sqlite3-*")
    )


@pytest.mark.parametrize("forged", ["", "abc", "\u00e9" * 64, "9" * 5000, "\ud800", "x" * 43])
def test_a_cookie_that_names_no_session_is_none(
    tmp_path: Path, sessions_on: SessionsOn, forged: str
) -> None:
    async def scenario() -> bool:
        sessions = sessions_on(tmp_path / "db.sqlite3", "pw")
        await sessions.start()
        return await sessions.is_live(forged)

    assert not run_async(scenario())


def test_changing_the_password_ends_every_session(tmp_path: Path, sessions_on: SessionsOn) -> None:
    async def scenario() -> tuple[bool, bool]:
        token = await sessions_on(tmp_path / "db.sqlite3", "pw").start()
        after_restart = sessions_on(tmp_path / "db.sqlite3", "pw")
        new_password = sessions_on(tmp_path / "db.sqlite3", "new password")
        return await after_restart.is_live(token), await new_password.is_live(token)

    assert run_async(scenario()) == (True, False)


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

"""The SQLite writer's group commit: many requests share one commit, and each is answered only by
the commit that holds its records (collector/storage/sqlite.py)."""

import asyncio
import dataclasses
import json
import resource
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

from collector.run_sync import collected
from collector.storage.base import NewEvent, StorageError
from collector.storage.sqlite import SQLiteStorage, _Writer
from tests.run_async import run_async

APP = "7"
T0 = 1_700_000_000_000


TARGET = {"tag": "a", "id": "", "class": "", "text": "Buy", "href": "/cart", "hierarchy": "@a;|"}


def click(n: int) -> NewEvent:
    return NewEvent(
        event_id=f"{n:032x}", type="click", name="click", time=T0 + n, source="web",
        user_id=str(1000 + n % 7), session_id="1", pageview_id="1", target=TARGET,
    )  # fmt: skip


def committed_ids(path: Path) -> set[int]:
    """Event ids (as numbers) that a new connection sees: the committed ones."""
    with closing(sqlite3.connect(path)) as conn:
        return {int(row[0], 16) for row in conn.execute("SELECT event_id FROM events")}


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[SQLiteStorage]:
    store = SQLiteStorage(tmp_path / "writer.sqlite3")
    yield store
    run_async(store.close())


@contextmanager
def no_file_may_grow() -> Iterator[None]:
    """Within the block every file write of this process fails, as on a full disk (Python
    ignores the SIGXFSZ that comes with it)."""
    before = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, before[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, before)


def insert_click(n: int) -> Callable[[sqlite3.Connection], int]:
    """A writer job that stores one row of the events table."""

    def job(conn: sqlite3.Connection) -> int:
        conn.execute(
            "INSERT INTO events (app_id, event_id, user_id, sent_user_id, type, name, time,"
            " received_at, properties, source) VALUES (?, ?, '1', '1', 'click', 'click', ?, ?,"
            " '{}', 'web')",
            (APP, f"{n:032x}", T0 + n, T0 + n),
        )
        return n

    return job


def hold_the_writer(writer: _Writer) -> threading.Event:
    """Keep the writer busy in a job that writes nothing until the event returned is set: jobs
    submitted meanwhile queue up, and the writer commits them together."""
    entered, release = threading.Event(), threading.Event()

    def hold(conn: sqlite3.Connection) -> None:
        entered.set()
        release.wait(timeout=30)

    writer.submit(hold)
    assert entered.wait(timeout=30)
    return release


def test_each_request_is_answered_only_once_its_records_are_committed(
    storage: SQLiteStorage,
) -> None:
    seen_when_answered: dict[int, bool] = {}

    async def one_request(n: int) -> None:
        outcomes = await storage.write(APP, [click(n), click(10_000 + n)])
        assert [outcome.status for outcome in outcomes] == ["stored", "stored"]
        # Another connection sees only committed rows: both must be there already.
        seen_when_answered[n] = {n, 10_000 + n} <= committed_ids(storage.path)

    async def many_at_once() -> None:
        await asyncio.gather(*(one_request(n) for n in range(200)))

    # A thread of its own: pytest-playwright keeps an event loop running in the main thread.
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, many_at_once()).result()
    assert len(seen_when_answered) == 200 and all(seen_when_answered.values())


@pytest.mark.skipif(sys.platform != "linux", reason="needs Linux's RLIMIT_FSIZE")
def test_a_failed_commit_fails_exactly_the_requests_in_it(tmp_path: Path) -> None:
    run_async(SQLiteStorage(tmp_path / "writer.sqlite3").close())  # the schema
    writer = _Writer(tmp_path / "writer.sqlite3")
    try:
        assert writer.submit(insert_click(1)).result() == 1
        release = hold_the_writer(writer)
        batch: list[Future[Any]] = [writer.submit(insert_click(n)) for n in (2, 3, 4)]
        with no_file_may_grow():
            release.set()
            for future in batch:
                with pytest.raises(StorageError, match="could not commit"):
                    future.result(timeout=30)
        after = [writer.submit(insert_click(n)) for n in (5, 6)]
        assert [future.result(timeout=30) for future in after] == [5, 6]
    finally:
        writer.close()
    assert committed_ids(tmp_path / "writer.sqlite3") == {1, 5, 6}


def test_a_failing_request_does_not_sink_the_others_in_its_commit(tmp_path: Path) -> None:
    run_async(SQLiteStorage(tmp_path / "writer.sqlite3").close())
    writer = _Writer(tmp_path / "writer.sqlite3")
    try:
        release = hold_the_writer(writer)
        stored = [writer.submit(insert_click(n)) for n in (1, 2)]
        repeated = writer.submit(insert_click(1))  # the primary key refuses it
        also_stored = writer.submit(insert_click(3))
        release.set()
        assert [future.result(timeout=30) for future in stored] == [1, 2]
        with pytest.raises(sqlite3.IntegrityError):
            repeated.result(timeout=30)
        assert also_stored.result(timeout=30) == 3
    finally:
        writer.close()
    assert committed_ids(tmp_path / "writer.sqlite3") == {1, 2, 3}


def test_each_event_keeps_its_own_page_target_session_and_properties(
    storage: SQLiteStorage,
) -> None:
    # The JSON text of equal neighbours is made once: unequal ones must still get their own,
    # and so must properties that are equal in Python but not in JSON (1 == True == 1.0).
    shared = {"plan": "Pro", "n": 1}
    properties = [shared, shared, {"plan": "Pro", "n": True}, {"plan": "Pro", "n": 1.0}]
    pages = [
        {"url": u, "path": "/"} for u in ("https://a/", "https://a/", "https://b/", "https://a/")
    ]
    targets = [TARGET, {**TARGET, "text": "Pay"}, {**TARGET, "text": "Pay"}, TARGET]
    sessions = [{"landing_page": "https://a/"}, None, None, {"landing_page": "https://b/"}]
    events = [
        dataclasses.replace(click(n), page=page, target=target, session=session, properties=props)
        for n, (page, target, session, props) in enumerate(
            zip(pages, targets, sessions, properties, strict=True)
        )
    ]
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, storage.write(APP, events)).result()
    stored = {int(e.event_id, 16): (e.page, e.target) for e in collected(storage.events(APP))}
    assert stored == {n: (pages[n], targets[n]) for n in range(4)}
    with closing(sqlite3.connect(storage.path)) as conn:
        rows = conn.execute("SELECT session, properties FROM events ORDER BY event_id").fetchall()
    assert [None if text is None else json.loads(text) for text, _ in rows] == sessions
    assert [text for _, text in rows] == [json.dumps(p, separators=(",", ":")) for p in properties]

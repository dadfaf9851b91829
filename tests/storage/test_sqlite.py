"""What only the SQLite backend has: its file's columns, its schema versions, its WAL."""

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from collector.dashboard.definitions import Definition, candidate_filter
from collector.run_sync import collected
from collector.storage.base import deletion_log_hash
from collector.storage.sqlite import SQLiteStorage, connect
from collector.storage.sqlite_schema import BASE_SCHEMA, MIGRATIONS
from tests.run_async import run_async
from tests.storage.conftest import stored_events, stored_users, write
from tests.storage.operations import APP, T0, identify, pageview, set_props


@pytest.fixture
def sqlite_storage(tmp_path: Path) -> Iterator[SQLiteStorage]:
    store = SQLiteStorage(tmp_path / "footfall.sqlite3")
    yield store
    run_async(store.close())


def test_a_merge_keeps_the_user_id_each_event_was_stored_with(
    sqlite_storage: SQLiteStorage,
) -> None:
    write(sqlite_storage, APP, pageview("11", 1), identify("11", "kate", 2), pageview("22", 3))
    write(sqlite_storage, APP, identify("22", "kate", 4))
    with closing(sqlite3.connect(sqlite_storage.path)) as conn:
        stored = conn.execute("SELECT user_id, sent_user_id FROM events ORDER BY time").fetchall()
    assert stored == [("11", "11"), ("22", "22")]  # no event rewritten by the merge
    assert [event.user_id for event in stored_events(sqlite_storage, APP)] == ["11", "11"]


def test_rows_whose_json_is_broken_are_read_as_absent(sqlite_storage: SQLiteStorage) -> None:
    write(sqlite_storage, APP, pageview("11", 1, page={"url": "https://a.example/"}))
    with closing(sqlite3.connect(sqlite_storage.path)) as conn, conn:
        conn.execute("UPDATE events SET page = '{not json', target = '{not json'")
    everything = candidate_filter(Definition("everything"))
    [(_, candidate)] = collected(sqlite_storage.newest_candidates(APP, everything))
    assert (candidate.url, candidate.hierarchy, candidate.text) == (None, None, None)
    [row] = run_async(sqlite_storage.recent_events(APP))
    assert (row.page, row.target) == ({}, {})  # empty, not an error


def test_a_file_from_before_schema_versions_is_migrated_with_nothing_lost(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old_secret = b"k" * 32
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.executescript(BASE_SCHEMA)
        conn.executescript(
            "CREATE TABLE dashboard_secret (id INTEGER PRIMARY KEY CHECK (id = 1),"
            " secret BLOB NOT NULL);"
        )
        conn.execute("INSERT INTO dashboard_secret VALUES (1, ?)", (old_secret,))
        conn.executemany(
            "INSERT INTO users (app_id, user_id, identity, properties, first_seen, last_seen,"
            " merged_into) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (APP, "11", "kate", '{"plan":"Pro"}', T0, T0 + 5, None),
                (APP, "22", None, "{}", T0 + 2, T0 + 3, "11"),
            ],
        )
        conn.executemany(  # before aliases, a merge moved the events to the canonical user
            "INSERT INTO events (app_id, event_id, user_id, sent_user_id, type, name, time,"
            " received_at, properties, source) VALUES (?, ?, '11', ?, 'custom', 'n', ?, 0, '{}',"
            " 'web')",
            [(APP, "e1", "11", T0), (APP, "e2", "22", T0 + 2)],
        )
        conn.execute(
            "INSERT INTO deletion_requests VALUES ('d1', ?, ?, 'complete', 1, 2)",
            (APP, json.dumps([{"identity": "gone@example.com"}])),
        )
    store = SQLiteStorage(path)
    try:
        [kate] = stored_users(store, APP)
        assert (kate.user_id, kate.identity, kate.merged_user_ids) == ("11", "kate", ["22"])
        assert [event.user_id for event in stored_events(store, APP)] == ["11", "11"]
        assert run_async(store.installation_secret()) == old_secret  # sessions stay signed
        write(store, APP, pageview("22", 9))  # the merged id still resolves
        assert [event.user_id for event in stored_events(store, APP)][-1] == "11"
    finally:
        run_async(store.close())
    with closing(sqlite3.connect(path)) as conn:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        log = conn.execute("SELECT users, user_hashes FROM deletion_requests").fetchone()
    assert version == len(MIGRATIONS)
    expected_hash = deletion_log_hash(old_secret, APP, {"identity": "gone@example.com"})
    assert log == ("[]", json.dumps([expected_hash]))  # the log forgot whom it deleted


def test_a_deletion_is_complete_only_once_no_reader_holds_the_old_pages(
    sqlite_storage: SQLiteStorage,
) -> None:
    secret_value = "kate-9f2c61d0a4@example.com"
    write(sqlite_storage, APP, pageview("11", 1), identify("11", secret_value, 2))
    write(sqlite_storage, APP, set_props("11", 3, note=secret_value))
    reader = sqlite3.connect(sqlite_storage.path, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT COUNT(*) FROM users").fetchone() == (1,)  # a snapshot held
    request_id = run_async(sqlite_storage.request_deletion(APP, [{"user_id": "11"}]))
    done = threading.Event()

    def run_deletion() -> None:
        run_async(sqlite_storage.run_deletion(request_id))
        done.set()

    deleting = threading.Thread(target=run_deletion)
    deleting.start()
    try:
        time.sleep(1)  # long enough for many checkpoint tries while the snapshot is held
        assert not done.is_set()
        status = run_async(sqlite_storage.find_deletion(APP, request_id))
        assert status is not None and status.status == "pending"
    finally:
        reader.execute("COMMIT")
        reader.close()
        deleting.join(timeout=30)
    assert done.is_set()
    assert run_async(sqlite_storage.remaining_bytes([secret_value.encode()])) == set()


def test_every_connection_overwrites_deleted_content(sqlite_storage: SQLiteStorage) -> None:
    # secure_delete is set explicitly, whatever the SQLite build's default.
    for read_only in (False, True):
        with closing(connect(sqlite_storage.path, read_only=read_only)) as conn:
            assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1


def test_a_file_from_before_keeps_no_old_value_in_its_free_space(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    marker = "old-plan-5d1e7c93b2"
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA secure_delete=OFF")  # as a build whose default is off wrote it
        conn.executescript(BASE_SCHEMA)
        conn.executemany(
            "INSERT INTO users (app_id, user_id, properties) VALUES (?, ?, ?)",
            [(APP, "11", "{}"), (APP, "22", json.dumps({"plan": marker}))],
        )
        conn.execute("DELETE FROM users WHERE user_id = '22'")  # its text stays, unreferenced
    assert marker.encode() in path.read_bytes()
    store = SQLiteStorage(path)
    try:
        assert run_async(store.remaining_bytes([marker.encode()])) == set()
        [user] = stored_users(store, APP)
        assert (user.user_id, user.properties) == ("11", {})
    finally:
        run_async(store.close())

"""The `footfall` command line as a shell uses it: its output piped into another program."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from collector.cli import EXIT_READER_GONE
from collector.storage.base import Operation
from collector.storage.sqlite import SQLiteStorage
from tests.live_server import REPO_ROOT, cli, run_cli
from tests.run_async import run_async
from tests.storage.conftest import write
from tests.storage.operations import APP, identify, pageview, set_props

ROWS = 2000  # far more output than a pipe holds, so the CLI is still writing when `head` leaves


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "cli.sqlite3"
    storage = SQLiteStorage(path)
    padding = "x" * 200
    operations: list[Operation] = []
    for n in range(ROWS):
        user_id = str(1000 + n)
        operations.append(pageview(user_id, n, properties={"note": padding}))
        operations.append(set_props(user_id, n, note=padding))
    try:
        write(storage, APP, *operations)
    finally:
        run_async(storage.close())
    return path


@pytest.mark.parametrize("command", ["events", "users"])
def test_a_reader_that_stops_early_ends_the_export_quietly(db: Path, command: str) -> None:
    """`footfall events | head -1`: the CLI ends without a traceback when its reader leaves."""
    export = subprocess.Popen(
        [sys.executable, "-m", "collector.cli", command, "--db", str(db)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert export.stdout is not None and export.stderr is not None
    first_line = export.stdout.readline()
    export.stdout.close()  # what `head -1` does after its first line
    stderr = export.stderr.read().decode()
    assert export.wait(timeout=60) == EXIT_READER_GONE, stderr
    assert first_line.startswith(b"{")
    assert stderr == ""


@pytest.mark.parametrize("command", ["events", "users"])
def test_a_reader_that_reads_everything_gets_every_line(db: Path, command: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "collector.cli", command, "--db", str(db)],
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (0, b"")
    assert len(done.stdout.splitlines()) == ROWS


def test_users_export_lists_canonical_users_with_merged_ids(tmp_path: Path) -> None:
    store = SQLiteStorage(tmp_path / "export.sqlite3")
    try:
        write(store, APP, pageview("11", 1), identify("11", "kate", 2), pageview("22", 3))
        write(store, APP, identify("22", "kate", 4), set_props("11", 5, plan="Pro"))
    finally:
        run_async(store.close())
    rows = run_cli("users", "--db", str(tmp_path / "export.sqlite3"))
    assert rows == [
        {
            "user_id": "11",
            "identity": "kate",
            "properties": {"plan": "Pro"},
            "merged_user_ids": ["22"],
            "first_seen": "2023-11-14T22:13:20.001Z",
            "last_seen": "2023-11-14T22:13:20.005Z",
            "initial_properties": {},  # its events came with no session or context
            "account_properties": {},
        }
    ]
    events = run_cli("events", "--db", str(tmp_path / "export.sqlite3"), "--app", APP)
    assert [(e["user_id"], e["identity"]) for e in events] == [("11", "kate"), ("11", "kate")]
    assert json.loads(json.dumps(events))[0]["time"] == "2023-11-14T22:13:20.001Z"


@pytest.mark.parametrize("command", [["apps", "create", "--name", "Shop"], ["events"], ["users"]])
def test_footfall_db_names_the_storage_when_no_db_is_given(
    tmp_path: Path, command: list[str]
) -> None:
    db = tmp_path / "from-env.sqlite3"
    run_cli("apps", "create", "--name", "Shop", "--app-id", "shop", "--db", str(db))
    done = cli(*command, env={"FOOTFALL_DB": str(db)})
    assert done.returncode == 0, done.stderr
    if command[0] == "apps":
        assert len(run_cli("events", "--db", str(db))) == 0  # the same file, now two apps
    done = cli(*command, "--db", str(tmp_path / "missing.sqlite3"), env={"FOOTFALL_DB": str(db)})
    assert (done.returncode == 0) is (command[0] == "apps")  # --db wins; exports need a file


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--db", "clickhouse://127.0.0.1:9/x"], {}, "give --state postgresql://"),
        (["--db", "clickhouse://127.0.0.1:9/x", "--state", "x.sqlite3"], {}, "--state post"),
        (["--db", "mysql://127.0.0.1/x"], {}, "give a SQLite file path"),
        (["--state", "postgresql://u@127.0.0.1/x"], {}, "SQLite keeps everything in one file"),
        ([], {"FOOTFALL_STATE": "postgresql://u@127.0.0.1/x"}, "only for --db clickhouse"),
    ],
)
def test_storage_options_that_do_not_fit_are_a_clear_error(
    tmp_path: Path, args: list[str], env: dict[str, str], says: str
) -> None:
    env = {"FOOTFALL_DB": str(tmp_path / "x.sqlite3"), **env}
    done = cli("apps", "create", "--name", "Shop", *args, env=env)
    assert done.returncode == 1
    assert says in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x.sqlite3").exists()


@pytest.mark.parametrize("command", [["events"], ["users"], ["apps", "create", "--name", "S"]])
def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path, command: list[str]) -> None:
    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("shopping list\n" * 100)
    done = cli(*command, "--db", str(not_a_database))
    assert done.returncode == 1
    assert f"footfall: storage {not_a_database}" in done.stderr and "not a database" in done.stderr
    assert "Traceback" not in done.stderr
    assert not_a_database.read_text() == "shopping list\n" * 100  # left as it was

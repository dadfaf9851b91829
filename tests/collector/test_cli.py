"""The `footfall` command line as a shell uses it: its output piped into another program."""

import subprocess
import sys
from pathlib import Path

import pytest

from collector.cli import EXIT_READER_GONE
from collector.storage.base import Operation
from collector.storage.sqlite import SQLiteStorage
from tests.collector.test_identity import pageview, run, set_props
from tests.live_server import REPO_ROOT
from tests.run_async import run_async

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
        run(storage, *operations)
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

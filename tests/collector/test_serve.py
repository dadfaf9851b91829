"""`footfall serve` when things are missing or failing: no tracker bundle, a disk that takes no
more bytes. Over real HTTP against the real server and SQLite file."""

import os
import resource
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from collector.request_body import STORAGE_RETRY_AFTER_S
from collector.server import startup_line
from collector.settings import Settings
from tests.collector.wire import batch, event
from tests.live_server import LiveServer, run_cli, server_processes, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("serve")
    with start_server(tmp, "--bundle-dir", str(tmp / "never-built")) as live:
        yield live


@pytest.fixture(scope="module")
def app_id(server: LiveServer) -> str:
    [created] = run_cli("apps", "create", "--name", "Serve", "--db", str(server.db_path))
    return str(created["app_id"])


def exported_ids(server: LiveServer, app_id: str) -> list[str]:
    return [e["event_id"] for e in run_cli("events", "--db", str(server.db_path), "--app", app_id)]


def test_the_start_up_line_says_to_build_the_missing_bundle(server: LiveServer) -> None:
    [line] = [
        line
        for line in server.log_path.read_text().splitlines()
        if line.startswith("footfall listening on")
    ]
    assert server.url in line
    assert "no tracker bundle in" in line and "never-built" in line
    assert "run `python build.py`" in line


@pytest.mark.parametrize(("built", "says_build"), [(True, False), (False, True)])
def test_startup_line(tmp_path: Path, built: bool, says_build: bool) -> None:
    if built:
        (tmp_path / "manifest.json").write_text("{}")
    line = startup_line(Settings(bundle_dir=tmp_path, port=8123))
    assert line.startswith("footfall listening on http://127.0.0.1:8123 (db footfall.sqlite3)")
    assert ("python build.py" in line) is says_build


def test_without_a_bundle_the_apis_still_serve(server: LiveServer, app_id: str) -> None:
    loader = httpx.get(server.url + f"/js/heap-{app_id}.js")
    assert loader.status_code == 503
    assert "python build.py" in loader.json()["error"]
    pageview = event("7001")
    assert httpx.post(server.url + "/api/ingest", json=batch(app_id, pageview)).status_code == 200
    track = {"app_id": app_id, "identity": "sam", "event": "Signup"}
    assert httpx.post(server.url + "/api/track", json=track).status_code == 200
    assert pageview["event_id"] in exported_ids(server, app_id)


@contextmanager
def no_file_may_grow(pids: list[int]) -> Iterator[None]:
    """Within the block, every write of these processes fails (a file-size limit of 0), the way
    writes fail on a full disk; their own limits come back afterwards."""
    before = {pid: resource.prlimit(pid, resource.RLIMIT_FSIZE) for pid in pids}
    for pid, (_, hard) in before.items():
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (0, hard))
    try:
        yield
    finally:
        for pid, limits in before.items():
            resource.prlimit(pid, resource.RLIMIT_FSIZE, limits)


@pytest.mark.skipif(sys.platform != "linux", reason="needs /proc and prlimit")
def test_a_storage_failure_answers_503_and_the_server_recovers(
    server: LiveServer, app_id: str
) -> None:
    before = event("7101")
    assert httpx.post(server.url + "/api/ingest", json=batch(app_id, before)).status_code == 200
    processes = server_processes(server.process.pid)
    assert len(processes) >= 2, "expected granian's worker process"
    lost = event("7102")
    origin = {"origin": "https://shop.example.com"}
    with no_file_may_grow(processes):
        refused = httpx.post(server.url + "/api/ingest", json=batch(app_id, lost), headers=origin)
        track = {"app_id": app_id, "identity": "sam", "event": "Upgrade"}
        refused_track = httpx.post(server.url + "/api/track", json=track)
        health = httpx.get(server.url + "/api/health")
    assert refused.status_code == 503
    assert "could not commit" in refused.json()["error"]
    assert "retry later" in refused.json()["error"]
    assert refused.headers["access-control-allow-origin"] == origin["origin"]  # readable by JS
    assert refused.headers["retry-after"] == str(STORAGE_RETRY_AFTER_S)  # the tracker waits
    assert refused_track.status_code == 503 and "retry later" in refused_track.json()["error"]
    assert refused_track.headers["retry-after"] == str(STORAGE_RETRY_AFTER_S)
    assert health.status_code == 200
    # The client's retry (same event id) is stored once the disk takes writes again.
    retried = httpx.post(server.url + "/api/ingest", json=batch(app_id, lost, event("7103")))
    assert retried.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    stored = exported_ids(server, app_id)
    assert before["event_id"] in stored and stored.count(lost["event_id"]) == 1


@pytest.mark.skipif(sys.platform != "linux", reason="needs /proc")
def test_a_killed_worker_is_replaced_and_the_server_keeps_serving(tmp_path: Path) -> None:
    with start_server(tmp_path, "--demo") as live:
        stored = event("7201")
        assert httpx.post(live.url + "/api/ingest", json=batch("demo", stored)).status_code == 200
        worker = live.worker_pid()
        os.kill(worker, signal.SIGKILL)  # what the kernel's out-of-memory killer does
        deadline = time.monotonic() + 20
        answered = False
        while not answered and time.monotonic() < deadline:
            assert live.process.poll() is None, live.log_path.read_text()
            try:
                answered = httpx.get(live.url + "/api/health", timeout=1).status_code == 200
            except httpx.TransportError:
                time.sleep(0.1)
        assert answered, live.log_path.read_text()
        assert live.worker_pid() != worker
        after = event("7202")
        assert httpx.post(live.url + "/api/ingest", json=batch("demo", after)).status_code == 200
        ids = [e["event_id"] for e in run_cli("events", "--db", str(live.db_path))]
        assert stored["event_id"] in ids and after["event_id"] in ids

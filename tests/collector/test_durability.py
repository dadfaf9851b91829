"""An event is acknowledged only after its commit: a collector SIGKILLed in the middle of a burst
of concurrent POSTs keeps every event it answered 200 for, and SIGTERM answers the requests it
holds before it stops. A real `footfall serve`, real HTTP, the real SQLite file, restarted."""

import http.client
import json
import signal
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.collector.wire import batch, event
from tests.live_server import LiveServer, kill_server, run_cli, start_server

BURST_THREADS = 6
BATCH_RECORDS = 50


def new_app(server: LiveServer) -> str:
    [created] = run_cli("apps", "create", "--name", "Durable", "--db", str(server.db_path))
    return str(created["app_id"])


def stored_ids(db_path: Path, app_id: str) -> set[str]:
    return {e["event_id"] for e in run_cli("events", "--db", str(db_path), "--app", app_id)}


class Burst:
    """Threads posting batches of new events as fast as the server answers, until stopped;
    which event ids were acknowledged (200), and how many requests failed in transit."""

    def __init__(self, url: str, app_id: str) -> None:
        self.url, self.app_id = url + "/api/ingest", app_id
        self.acknowledged: set[str] = set()
        self.failed_requests = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._post) for _ in range(BURST_THREADS)]

    def _post(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                records = [event(str(7000 + n), "click") for n in range(BATCH_RECORDS)]
                try:
                    answer = client.post(self.url, json=batch(self.app_id, *records))
                except httpx.TransportError:
                    with self._lock:
                        self.failed_requests += 1
                    time.sleep(0.01)
                    continue
                if answer.status_code == 200:
                    with self._lock:
                        self.acknowledged.update(r["event_id"] for r in records)

    def __enter__(self) -> "Burst":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def wait_for(self, acknowledged: int, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.acknowledged) < acknowledged and time.monotonic() < deadline:
            time.sleep(0.01)


def test_sigkill_mid_burst_loses_no_acknowledged_event(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    app_id = new_app(server)
    with Burst(server.url, app_id) as burst:
        burst.wait_for(1000)
        kill_server(server)  # every process of it, while requests are in flight
        acknowledged = set(burst.acknowledged)
        time.sleep(0.2)  # requests made after the kill fail in transit
    assert len(acknowledged) >= 1000 and burst.failed_requests > 0
    with start_server(tmp_path) as restarted:
        stored = stored_ids(restarted.db_path, app_id)
    assert acknowledged - stored == set()


def test_sigterm_answers_the_requests_it_holds_then_stops(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    app_id = new_app(server)
    address = urlsplit(server.url)
    held: list[tuple[http.client.HTTPConnection, list[str]]] = []
    for _ in range(BURST_THREADS):
        records = [event(str(7100 + n), "click") for n in range(500)]
        connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=30)
        body = json.dumps(batch(app_id, *records))
        connection.request("POST", "/api/ingest", body, {"Content-Type": "text/plain"})
        held.append((connection, [r["event_id"] for r in records]))
    time.sleep(0.1)  # every request is on the server's side before it is told to stop
    server.process.send_signal(signal.SIGTERM)
    answers = [(connection.getresponse(), ids) for connection, ids in held]
    assert [answer.status for answer, _ in answers] == [200] * BURST_THREADS
    assert all(json.loads(answer.read())["accepted"] == 500 for answer, _ in answers)
    assert server.process.wait(timeout=15) == 0
    try:
        httpx.get(server.url + "/api/health", timeout=1)
        raise AssertionError("the server still answers after SIGTERM")
    except httpx.TransportError:
        pass
    with start_server(tmp_path) as restarted:
        stored = stored_ids(restarted.db_path, app_id)
    assert {i for _, ids in answers for i in ids} <= stored


def test_the_same_event_id_is_stored_once_per_app(tmp_path: Path) -> None:
    with start_server(tmp_path) as server:
        first, second = new_app(server), new_app(server)
        shared = event("7200", "click", event_id=uuid.uuid4().hex)
        for app_id in (first, second, first):
            answer = httpx.post(server.url + "/api/ingest", json=batch(app_id, shared))
            assert answer.status_code == 200
        assert answer.json() == {"accepted": 0, "duplicates": 1, "rejected": []}
        for app_id in (first, second):
            exported = run_cli("events", "--db", str(server.db_path), "--app", app_id)
            assert [e["event_id"] for e in exported] == [shared["event_id"]]

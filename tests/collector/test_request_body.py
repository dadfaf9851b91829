"""Hostile request bodies against the real `footfall serve`: deep nesting, broken chunking, gzip
bombs of records, oversized forms. Each must get a clear 4xx and cost nothing else."""

import gzip
import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from collector.batch_answer import REJECTIONS_LISTED
from collector.request_body import MAX_NESTING, MAX_RECORDS
from tests.collector.wire import batch, event
from tests.live_server import LiveServer, run_cli, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with start_server(tmp_path_factory.mktemp("bodies"), "--demo") as live:
        yield live


def stored_ids(server: LiveServer) -> set[str]:
    return {e["event_id"] for e in run_cli("events", "--db", str(server.db_path), "--app", "demo")}


def nested(kind: str, depth: int) -> str:
    """JSON text of a list or object nested `depth` levels."""
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def with_property(record: dict, value_json: str) -> str:
    """The record as JSON with property `p` set to the raw JSON `value_json`."""
    return json.dumps({**record, "properties": {"p": "@"}}).replace('"@"', value_json)


DEPTHS = [MAX_NESTING + 1, 952, 5000]


@pytest.mark.parametrize("kind", ["list", "object"])
@pytest.mark.parametrize("depth", DEPTHS)
def test_a_deeply_nested_record_is_refused_alone(server: LiveServer, kind: str, depth: int) -> None:
    good, deep = event("1201"), event("1202")
    shallow = event("1203", properties={"p": json.loads(nested(kind, 3))})
    records = [json.dumps(good), with_property(deep, nested(kind, depth)), json.dumps(shallow)]
    body = f'{{"app_id":"demo","records":[{",".join(records)}]}}'
    answer = httpx.post(server.url + "/api/ingest", content=body)
    assert answer.status_code == 200, answer.text
    [rejected] = answer.json()["rejected"]
    assert rejected["index"] == 1
    assert f"nested more than {MAX_NESTING} levels" in rejected["error"]
    assert answer.json()["accepted"] == 2
    assert good["event_id"] in stored_ids(server)


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("path", ["/api/track", "/api/add_user_properties"])
def test_a_deeply_nested_server_api_item_is_refused_alone(
    server: LiveServer, path: str, depth: int
) -> None:
    items_key = "events" if path == "/api/track" else "users"
    fields = {"event": "Deep"} if items_key == "events" else {}
    good = {"identity": "deep@example.com", "properties": {"plan": "Pro"}, **fields}
    deep = json.dumps({**good, "properties": {"p": "@"}}).replace('"@"', nested("list", depth))
    single = httpx.post(server.url + path, content=f'{{"app_id":"demo",{deep[1:]}')
    assert single.status_code == 400, single.text
    assert f"nested more than {MAX_NESTING} levels" in single.json()["error"]
    bulk = f'{{"app_id":"demo","{items_key}":[{json.dumps(good)},{deep}]}}'
    answer = httpx.post(server.url + path, content=bulk)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1
    [rejected] = answer.json()["rejected"]
    assert rejected["index"] == 1 and "nested more than" in rejected["error"]


def raw_request(server: LiveServer, request: bytes) -> bytes:
    """Send bytes as they are (httpx would fix what is broken); the server's whole answer."""
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


@pytest.mark.parametrize("path", ["/api/ingest", "/api/track", "/dashboard/login"])
@pytest.mark.parametrize("chunk_size", [b"zz", b"-1", b"1;;;" + b"x" * 9000])
def test_a_malformed_chunk_size_is_a_400(server: LiveServer, path: str, chunk_size: bytes) -> None:
    answer = raw_request(
        server,
        b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        + chunk_size
        + b"\r\nabc\r\n0\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:300]
    assert b"chunked encoding is malformed" in answer


def test_a_gzip_bomb_of_records_is_refused_whole(server: LiveServer) -> None:
    zeros = json.dumps({"app_id": "demo", "records": [0] * 2_500_000}, separators=(",", ":"))
    body = gzip.compress(zeros.encode(), 9)
    assert len(body) < 10_000
    answer = httpx.post(server.url + "/api/ingest", content=body, timeout=60)
    assert answer.status_code == 413
    expected = f"records has 2500000 items; at most {MAX_RECORDS} per request: send smaller batches"
    assert answer.json() == {"error": expected}


def test_a_rejection_answer_lists_the_first_few_and_counts_the_rest(server: LiveServer) -> None:
    good = event("1301")
    records = [good] + [0] * (MAX_RECORDS - 1)
    answer = httpx.post(server.url + "/api/ingest", json=batch("demo", *records), timeout=60)
    assert answer.status_code == 200
    payload = answer.json()
    assert payload["accepted"] == 1
    assert payload["rejected_count"] == MAX_RECORDS - 1
    assert [r["index"] for r in payload["rejected"]] == list(range(1, REJECTIONS_LISTED + 1))
    assert len(answer.content) < 20_000
    assert good["event_id"] in stored_ids(server)


def peak_memory_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    [line] = [line for line in status.splitlines() if line.startswith("VmHWM:")]
    return int(line.split()[1])


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_memory_per_request_stays_proportional_to_its_bytes(server: LiveServer) -> None:
    worker = server.worker_pid()
    httpx.post(server.url + "/api/ingest", json=batch("demo", event("1401")))
    before = peak_memory_kib(worker)
    statuses = []
    for records in ([0] * 2_500_000, [{}] * 1_000_000, [[]] * 1_500_000):
        text = json.dumps({"app_id": "demo", "records": records}, separators=(",", ":"))
        body = gzip.compress(text.encode(), 9)
        answer = httpx.post(server.url + "/api/ingest", content=body, timeout=60)
        statuses.append(answer.status_code)
    grown_mib = (peak_memory_kib(worker) - before) / 1024
    # A 5 MiB body may cost a few times its size while parsed, never hundreds of megabytes.
    assert grown_mib < 150, f"the worker grew by {grown_mib:.0f} MiB"
    assert statuses == [413, 413, 413]


def test_an_oversized_form_is_refused_before_it_is_read(server: LiveServer) -> None:
    fields = {f"field{n}": "x" * 1_000_000 for n in range(3)}
    answer = httpx.post(server.url + "/dashboard/login", data=fields)
    assert answer.status_code == 413
    assert "limit" in answer.text
    chunked = httpx.post(
        server.url + "/dashboard/login",
        content=iter([b"password=" + b"x" * 40_000] * 5),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert chunked.status_code == 413

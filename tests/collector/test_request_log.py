"""`footfall serve --request-log FILE`: every request's body as it arrived, refused ones too."""

import base64
import gzip
import json
from pathlib import Path

import httpx

from tests.live_server import start_server


def test_every_request_is_logged_with_its_body_as_sent(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    gzipped = gzip.compress(b'{"app_id": "demo", "records": []}')
    with start_server(tmp_path, "--demo", "--request-log", str(log)) as server:
        httpx.post(server.url + "/api/ingest", content=gzipped)
        unknown = httpx.post(server.url + "/no/such/route?token=abc", content=b"never read")
        too_big = httpx.post(
            server.url + "/api/ingest", content=b"x" * (6 * 1024 * 1024)
        )  # over the ingest cap: refused before the body is read whole
    assert unknown.status_code in (404, 405) and too_big.status_code == 413
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    bodies = {(entry["method"], entry["path"]): entry for entry in logged}
    health = bodies[("GET", "/api/health")]
    assert base64.b64decode(health["body"]) == b""
    assert base64.b64decode(bodies[("POST", "/no/such/route")]["body"]) == b"never read"
    assert bodies[("POST", "/no/such/route")]["query"] == "token=abc"
    ingests = [entry for entry in logged if entry["path"] == "/api/ingest"]
    assert [len(base64.b64decode(entry["body"])) for entry in ingests] == [
        len(gzipped),
        6 * 1024 * 1024,
    ]
    assert base64.b64decode(ingests[0]["body"]) == gzipped
    assert all(entry["time"] >= health["time"] for entry in ingests)

"""Which ASGI server should run `footfall serve`: the collector's ingest under uvicorn and granian.

Each server runs the real app (SQLite in a temp dir, one worker) on loopback. A second process
fires a bounded number of ingest POSTs (5 records each) over keep-alive connections and reports
requests/s and latency percentiles. Prints figures; asserts nothing.

    python bench/bench_servers.py [--requests 4000] [--concurrency 32] [--rounds 3]
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collector.app import create_app  # noqa: E402
from collector.settings import Settings  # noqa: E402
from tests.live_server import free_port  # noqa: E402


def bench_app() -> object:
    """The app on the database named by FOOTFALL_BENCH_DB (a factory, for either server)."""
    return create_app(Settings(db=os.environ["FOOTFALL_BENCH_DB"], demo=True))


def server_command(server: str, port: int) -> list[str]:
    if server == "uvicorn":
        return [sys.executable, "-m", "uvicorn", "--factory", "--host", "127.0.0.1",
                "--port", str(port), "--log-level", "warning", "--no-access-log",
                "bench.bench_servers:bench_app"]  # fmt: skip
    return [sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--workers", "1",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-ws",
            "bench.bench_servers:bench_app"]  # fmt: skip


def ingest_request(port: int) -> bytes:
    now = int(time.time() * 1000)
    records = [
        {"kind": "event", "event_id": uuid.uuid4().hex, "type": "pageview", "name": "pageview",
         "time": now, "user_id": "7035907387929425", "session_id": "1", "pageview_id": "2",
         "properties": {"plan": "Pro"},
         "page": {"url": "https://shop.example.com/", "path": "/", "title": "Shop"},
         "target": None}
        for _ in range(5)
    ]  # fmt: skip
    body = json.dumps({"app_id": "demo", "records": records}).encode()
    head = (
        f"POST /api/ingest HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def one_connection(
    port: int, budget: list[int], deadline: float, latencies: list[float], errors: list[str]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while budget[0] > 0 and time.monotonic() < deadline:
            budget[0] -= 1
            request = ingest_request(port)
            started = time.perf_counter()
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if b" 200 " not in status_line:
                errors.append(status_line.decode().strip())
    finally:
        writer.close()


async def load(port: int, requests: int, concurrency: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    errors: list[str] = []
    budget = [requests]
    started = time.monotonic()
    await asyncio.gather(
        *(
            one_connection(port, budget, started + seconds, latencies, errors)
            for _ in range(concurrency)
        )
    )
    elapsed = time.monotonic() - started
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "requests_per_s": len(latencies) / elapsed,
        "p50_ms": cuts[49] * 1000,
        "p99_ms": cuts[98] * 1000,
    }


def measure(server: str, requests: int, concurrency: int, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        db, port = Path(tmp) / "bench.sqlite3", free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "FOOTFALL_BENCH_DB": str(db)}
        process = subprocess.Popen(
            server_command(server, port), cwd=ROOT, env=env, stdout=subprocess.DEVNULL
        )
        try:
            wait_until_up(port)
            client = subprocess.run(
                [sys.executable, __file__, "--client", str(port), "--requests", str(requests),
                 "--concurrency", str(concurrency), "--seconds", str(seconds)],
                capture_output=True, text=True, check=True, timeout=seconds + 60,
            )  # fmt: skip
            return dict(json.loads(client.stdout))
        finally:
            process.terminate()
            process.wait(timeout=30)


def wait_until_up(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--servers", default="uvicorn,granian")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--client", type=int, help=argparse.SUPPRESS)  # the load process
    args = parser.parse_args()
    if args.client:
        figures = asyncio.run(load(args.client, args.requests, args.concurrency, args.seconds))
        print(json.dumps(figures))
        return
    print(f"{args.requests} ingest POSTs (5 records each), {args.concurrency} connections, "
          f"{os.cpu_count()} cores, {args.rounds} alternating rounds; median round:")  # fmt: skip
    servers = args.servers.split(",")
    rounds: dict[str, list[dict[str, float]]] = {server: [] for server in servers}
    for _ in range(args.rounds):  # alternate, so background load hits both alike
        for server in servers:
            rounds[server].append(measure(server, args.requests, args.concurrency, args.seconds))
    for server, runs in rounds.items():
        figures = sorted(runs, key=lambda run: run["requests_per_s"])[len(runs) // 2]
        print(
            f"{server:8} {figures['requests_per_s']:7.0f} req/s  "
            f"p50 {figures['p50_ms']:6.1f} ms  p99 {figures['p99_ms']:6.1f} ms  "
            f"({figures['requests']:.0f} requests, {figures['errors']:.0f} errors; all rounds: "
            + ", ".join(f"{run['requests_per_s']:.0f}" for run in runs)
            + " req/s)"
        )


if __name__ == "__main__":
    main()

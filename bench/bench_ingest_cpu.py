"""CPU per ingested event of the collector's own pipeline, replayed in-process: a figure that
moves far less with a shared machine's load than bench_ingest.py's events/s.

1. Records the request bodies that bench/ingest_load.lua sends (wrk, a few seconds, against a real
   `footfall serve --request-log` on a temporary SQLite file).
2. Replays them through the collector's ASGI app (every middleware, the ingest endpoint, the
   SQLite writer thread) on uvloop, into a fresh database each round, `--concurrency` requests at
   a time as wrk's connections send them, and prints CPU time (user + system, all threads of
   this process) and wall time per stored event. Only granian's share is left out.
3. With `--profile`, runs one more round under cProfile and prints where the time goes.

    python bench/bench_ingest_cpu.py [--record-seconds 3] [--rounds 5] [--concurrency 16]
        [--batch 50] [--profile]
"""

import argparse
import asyncio
import base64
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_ingest import APP_ID, USER_AGENT, load_average, run_load  # noqa: E402
from collector.app import create_app  # noqa: E402
from collector.server import collect_garbage_less  # noqa: E402
from collector.settings import Settings  # noqa: E402
from tests.live_server import run_cli, start_server  # noqa: E402

INGEST_PATH = "/api/ingest"
WRITER_THREAD = "footfall-writer"  # collector/storage/sqlite.py names it


def record_bodies(directory: Path, seconds: int, batch: int) -> list[bytes]:
    """The ingest bodies wrk sent to a real server in `seconds`."""
    db_path = directory / "recorded.sqlite3"
    log_path = directory / "requests.jsonl"
    run_cli("apps", "create", "--name", "bench", "--app-id", APP_ID, "--db", str(db_path))
    with start_server(directory, "--db", str(db_path), "--request-log", str(log_path)) as server:
        run_load(server.url, seconds, connections=4, threads=1, batch=batch)
    bodies = []
    for line in log_path.read_text().splitlines():
        request = json.loads(line)
        if request["method"] == "POST" and request["path"] == INGEST_PATH:
            bodies.append(base64.b64decode(request["body"]))
    return bodies


async def replay(app: Any, bodies: list[bytes], concurrency: int) -> int:
    """Send each body to the ASGI app, `concurrency` at a time; the events it accepted."""
    pending = iter(bodies)
    accepted = 0

    async def connection() -> None:
        nonlocal accepted
        for body in pending:
            stored = await post(app, body)  # not `accepted += await ...`: that reads it first
            accepted += stored

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return accepted


async def post(app: Any, body: bytes) -> int:
    """One POST as granian hands it to the app; the answer's accepted count."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": INGEST_PATH,
        "raw_path": INGEST_PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"text/plain;charset=UTF-8"),
            (b"user-agent", USER_AGENT.encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    answer: list[bytes] = []
    status = 0

    async def receive() -> dict[str, Any]:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            answer.append(message.get("body", b""))

    await app(scope, receive, send)
    if status != 200:
        raise RuntimeError(f"ingest answered {status}: {b''.join(answer)[:300]!r}")
    return int(json.loads(b"".join(answer))["accepted"])


def writer_cpu_seconds() -> float:
    """CPU time (user + system) of this process's SQLite writer threads so far."""
    total = 0.0
    for thread in threading.enumerate():
        if thread.name != WRITER_THREAD:
            continue
        try:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
        except FileNotFoundError:  # it ended meanwhile
            continue
        fields = stat.rpartition(")")[2].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def one_round(
    directory: Path, bodies: list[bytes], concurrency: int, profile: cProfile.Profile | None
) -> tuple[int, float, float, float]:
    """Replay every body into a fresh database: (events stored, CPU seconds, the writer
    thread's share of them, wall seconds)."""
    db_path = directory / f"replay-{time.monotonic_ns()}.sqlite3"
    app = create_app(Settings(db=str(db_path)))
    async with app.router.lifespan_context(app):
        await app.state.storage.create_app("bench", APP_ID)
        cpu, writer, wall = time.process_time(), writer_cpu_seconds(), time.perf_counter()
        if profile is not None:
            profile.enable()
        accepted = await replay(app, bodies, concurrency)
        if profile is not None:
            profile.disable()
        writer = writer_cpu_seconds() - writer
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if accepted != sum(body.count(b'"kind":"event"') for body in bodies):
        raise RuntimeError(f"only {accepted:,} events were accepted")
    return accepted, cpu, writer, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record-seconds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch", type=int, default=50, help="click records per request")
    parser.add_argument("--profile", action="store_true", help="one more round under cProfile")
    parser.add_argument(
        "--bodies",
        type=Path,
        help="replay the bodies in this file (one base64 line each), recording them into it"
        " first when it does not exist: A/B comparisons replay the same requests",
    )
    args = parser.parse_args()
    print(f"before: {load_average()}")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        if args.bodies is not None and args.bodies.exists():
            bodies = [base64.b64decode(line) for line in args.bodies.read_text().splitlines()]
        else:
            bodies = record_bodies(directory, args.record_seconds, args.batch)
            if args.bodies is not None:
                args.bodies.write_text("".join(base64.b64encode(b).decode() + "\n" for b in bodies))
        runner = uvloop.new_event_loop
        collect_garbage_less()  # as the server's worker does
        figures = []
        for _ in range(args.rounds):
            with asyncio.Runner(loop_factory=runner) as loop:
                figures.append(loop.run(one_round(directory, bodies, args.concurrency, None)))
        events = figures[0][0]
        cpu_us = [cpu * 1e6 / events for _, cpu, _, _ in figures]
        writer_us = [writer * 1e6 / events for _, _, writer, _ in figures]
        wall_us = [wall * 1e6 / events for *_, wall in figures]
        print(
            f"replayed {len(bodies):,} requests ({events:,} events) x {args.rounds} rounds,"
            f" {args.concurrency} at a time"
        )
        print(
            f"CPU:  median {statistics.median(cpu_us):.1f} µs an event"
            f"  (min {min(cpu_us):.1f}, max {max(cpu_us):.1f});"
            f" the writer thread's share {statistics.median(writer_us):.1f} µs"
        )
        print(
            f"wall: median {statistics.median(wall_us):.1f} µs an event"
            f"  ({1e6 / statistics.median(wall_us):,.0f} events/s in one process)"
        )
        if args.profile:
            profile = cProfile.Profile()
            with asyncio.Runner(loop_factory=runner) as loop:
                loop.run(one_round(directory, bodies, args.concurrency, profile))
            stats = pstats.Stats(profile)
            stats.sort_stats("tottime").print_stats(30)
    print(f"after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

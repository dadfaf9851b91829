"""The scale-out pair beside SQLite under the same traffic: two `footfall serve` processes sharing
one ClickHouse and one PostgreSQL, then one `footfall serve` on a SQLite file. Prints events/s
and latency for each; asserts nothing but that no event was lost or doubled.

1. Starts a private ClickHouse and PostgreSQL (tests/services.py) on loopback, creates the app
   through the CLI on the pair, and starts two `footfall serve` on it.
2. Runs two `wrk` processes at once (bench/ingest_load.lua, as bench/bench_ingest.py does), one
   per collector, each with half the connections: batches of click records, every event id
   unique, the same visitors reaching both collectors; then the connections go quiet until
   every request is answered.
3. Counts the events in ClickHouse (`FINAL`) against the acknowledged ones.
4. The same load, all connections on one `footfall serve` on a SQLite file.

All of it shares this machine's cores (the servers, the collectors and wrk), so compare the
rows of one run with each other, and the CPU per event more than events/s.

    python bench/bench_scaleout.py [--seconds 15] [--connections 16] [--batch 50]
"""

import argparse
import contextlib
import os
import shutil
import sqlite3
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_ingest import APP_ID, cpu_seconds, load_average, run_load  # noqa: E402
from tests.live_server import run_cli, start_server  # noqa: E402
from tests.services import running_clickhouse, running_postgres  # noqa: E402


def combined(loads: list[dict]) -> dict:
    """Several wrk runs' figures as one: counts added, the busiest span, the worst latencies
    (a p99 of the whole is at most the worst of the parts' p99s)."""
    total = {key: sum(load[key] for load in loads) for key in ("accepted", "ok", "failed",
             "socket_errors", "duplicates", "rejected", "sent", "answered")}  # fmt: skip
    total["busy_ms"] = max(load["busy_ms"] for load in loads)
    for key in ("p50_ms", "p99_ms", "max_ms"):
        total[key] = max(load[key] for load in loads)
    return total


def report(label: str, load: dict, cpu_s: float, stored: int) -> list[str]:
    """Print one row of figures; the problems seen (lost, doubled or failed)."""
    rate = load["accepted"] / (load["busy_ms"] / 1000) if load["busy_ms"] else 0.0
    cpu = f"{cpu_s * 1e6 / load['accepted']:.0f} µs CPU an event" if load["accepted"] else ""
    print(f"{label:44} {rate:8,.0f} events/s  p50 {load['p50_ms']:6.1f} ms"
          f"  p99 {load['p99_ms']:7.1f} ms  {cpu}")  # fmt: skip
    problems = [f"{load[key]:,} {key}" for key in ("failed", "socket_errors", "rejected")
                if load[key]]  # fmt: skip
    if load["answered"] != load["sent"]:
        problems.append(f"{load['sent'] - load['answered']:,} requests never answered")
    if stored != load["accepted"]:
        problems.append(f"{label}: {stored:,} events stored, {load['accepted']:,} acknowledged")
    return problems


def process_cpu(pids: list[int]) -> float:
    """CPU seconds used so far by these processes and their descendants."""
    return sum(cpu_seconds(pid) for pid in pids)


def scaleout_run(args: argparse.Namespace, directory: Path) -> list[str]:
    with running_clickhouse() as clickhouse, running_postgres() as postgres:
        db = clickhouse.database_url(clickhouse.create_database())
        state = postgres.database_url(postgres.create_database())
        pair = ("--db", db, "--state", state)
        run_cli("apps", "create", "--name", "bench", "--app-id", APP_ID, *pair)
        with contextlib.ExitStack() as servers:
            collectors = [servers.enter_context(start_server(directory, *pair)) for _ in range(2)]
            parts = {
                "collectors": [c.process.pid for c in collectors],
                "ClickHouse": [clickhouse.process.pid],
                "PostgreSQL": [postgres.process.pid],
            }
            cpu_before = {name: process_cpu(pids) for name, pids in parts.items()}
            per_collector = max(1, args.connections // len(collectors))
            with ThreadPoolExecutor(len(collectors)) as pool:
                loads = list(
                    pool.map(
                        lambda c: run_load(
                            c.url, args.seconds, per_collector, args.threads, args.batch
                        ),
                        collectors,
                    )
                )
            cpu = {name: process_cpu(pids) - cpu_before[name] for name, pids in parts.items()}
        stored = clickhouse.client().execute(
            f"SELECT count() FROM {db.rsplit('/', 1)[1]}.events FINAL"
        )[0][0]
    load = combined(loads)
    problems = report("2 collectors, ClickHouse + PostgreSQL", load, sum(cpu.values()), stored)
    if load["accepted"]:
        split = ", ".join(f"{name} {seconds * 1e6 / load['accepted']:.0f}"
                          for name, seconds in cpu.items())  # fmt: skip
        print(f"{'':44} CPU µs an event: {split}")
    return problems


def sqlite_run(args: argparse.Namespace, directory: Path) -> list[str]:
    db_path = directory / "footfall.sqlite3"
    run_cli("apps", "create", "--name", "bench", "--app-id", APP_ID, "--db", str(db_path))
    with start_server(directory, "--db", str(db_path)) as server:
        pids = [server.process.pid]
        cpu_before = process_cpu(pids)
        load = run_load(server.url, args.seconds, args.connections, args.threads, args.batch)
        cpu = process_cpu(pids) - cpu_before
    with closing(sqlite3.connect(db_path)) as conn:
        stored = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    return report("1 collector, SQLite", load, cpu, stored)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15, help="how long wrk sends")
    parser.add_argument("--connections", type=int, default=16, help="in all, split per server")
    parser.add_argument("--threads", type=int, default=1, help="wrk's threads per wrk")
    parser.add_argument("--batch", type=int, default=50, help="click records per request")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench_scaleout: wrk is missing; install it with `apt-get install wrk`")
        return 2
    print(f"before: {load_average()}")
    print(f"wrk: {args.connections} connections in all, batches of {args.batch} clicks,"
          f" {args.seconds} s of sending, {os.cpu_count()} cores shared by everything")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        problems = scaleout_run(args, Path(tmp))
        problems += sqlite_run(args, Path(tmp))
    print(f"after: {load_average()}")
    print("CPU an event: the collectors' and, for the pair, ClickHouse's and PostgreSQL's")
    if problems:
        print("PROBLEMS: " + "; ".join(problems))
        return 1
    print("stored = acknowledged on both (none lost, none doubled)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

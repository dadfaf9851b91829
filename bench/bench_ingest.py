"""How many events per second `footfall serve` stores on SQLite, beside raw SQLite inserts of the
same rows in the same run. Prints figures; asserts nothing but that no event was lost or doubled.

1. Starts a real `footfall serve` on a temporary SQLite file on loopback, with one app.
2. Runs `wrk` (Debian's: `apt-get install wrk`) as a second process with bench/ingest_load.lua:
   16 connections POST batches of 50 click records, as the tracker sends them, every event id
   unique, for a fixed time; then the connections go quiet until every request is answered.
3. Stops the server (SIGTERM) and checks that the events table holds exactly the acknowledged
   events.
4. Inserts the same rows with raw `sqlite3` into a fresh file (same schema and indexes, same WAL
   journal and synchronous setting): `executemany` in one transaction per chunk, for a few chunk
   sizes; the best one is raw SQLite's figure.

    python bench/bench_ingest.py [--seconds 15] [--connections 16] [--batch 50]
"""

import argparse
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collector.storage.sqlite import connect  # noqa: E402
from collector.storage.sqlite_schema import migrate  # noqa: E402
from tests.live_server import run_cli, start_server  # noqa: E402

LOAD_SCRIPT = ROOT / "bench" / "ingest_load.lua"
APP_ID = "bench"
# The visitors' browser, as the tracker's requests carry it (the collector reads it per request).
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/131.0.0.0 Safari/537.36"
)
QUIET_SECONDS = 5  # after sending stops: every request in flight is answered within this
RAW_CHUNKS = (1_000, 10_000, None)  # rows per transaction; None: all rows in one


def run_load(url: str, seconds: int, connections: int, threads: int, batch: int) -> dict:
    """Run wrk against `url`; the figures its script printed."""
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds + QUIET_SECONDS}s",
        "--timeout", f"{QUIET_SECONDS}s", "-s", str(LOAD_SCRIPT), url,
        "--", APP_ID, secrets.token_hex(4), str(seconds), str(batch), USER_AGENT,
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + QUIET_SECONDS + 60
    )
    for line in done.stdout.splitlines():
        if line.startswith("ingest-load "):
            return dict(json.loads(line.removeprefix("ingest-load ")))
    output = (done.stdout + done.stderr).strip()
    raise RuntimeError(f"wrk printed no figures (exit {done.returncode}): {output}")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by process `pid` and its descendants."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_seconds(int(child))
    except FileNotFoundError:  # it ended meanwhile
        pass
    return total


def stored_rows(db_path: Path) -> list[tuple[object, ...]]:
    """Every row of the events table, in the order it was inserted."""
    with closing(sqlite3.connect(db_path)) as conn:
        return conn.execute("SELECT * FROM events ORDER BY rowid").fetchall()


def raw_insert_rate(rows: list[tuple[object, ...]], directory: Path) -> tuple[float, str]:
    """Raw SQLite's best rows/s for `rows`, and the chunking that gave it."""
    placeholders = ", ".join("?" * len(rows[0]))
    best: tuple[float, str] = (0.0, "")
    for chunk in RAW_CHUNKS:
        path = directory / f"raw-{chunk}.sqlite3"
        with closing(connect(path)) as conn:
            migrate(conn)
            size = chunk or len(rows)
            started = time.perf_counter()
            for start in range(0, len(rows), size):
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(
                    f"INSERT INTO events VALUES ({placeholders})", rows[start : start + size]
                )
                conn.execute("COMMIT")
            rate = len(rows) / (time.perf_counter() - started)
        label = f"{chunk:,} rows a commit" if chunk else "one commit"
        best = max(best, (rate, label))
    return best


def load_average() -> str:
    """`uptime`'s load figures."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15, help="how long wrk sends")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk's threads")
    parser.add_argument("--batch", type=int, default=50, help="click records per request")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print(
            "bench_ingest: wrk is missing; install it with `apt-get install wrk`", file=sys.stderr
        )
        return 2
    print(f"before: {load_average()}")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        db_path = directory / "footfall.sqlite3"
        run_cli("apps", "create", "--name", "bench", "--app-id", APP_ID, "--db", str(db_path))
        with start_server(directory, "--db", str(db_path)) as server:
            cpu_before = cpu_seconds(server.process.pid)
            load = run_load(server.url, args.seconds, args.connections, args.threads, args.batch)
            server_cpu = cpu_seconds(server.process.pid) - cpu_before
        rows = stored_rows(db_path)
        after_load = load_average()
        raw_rate, raw_chunking = raw_insert_rate(rows, directory) if rows else (0.0, "")
    events_per_s = load["accepted"] / (load["busy_ms"] / 1000) if load["busy_ms"] else 0.0
    print(
        f"wrk: {args.connections} connections, {args.threads} thread(s), batches of {args.batch}"
        f" clicks, {args.seconds} s of sending on {os.cpu_count()} cores"
    )
    print(
        f"footfall serve: {events_per_s:,.0f} events/s  p50 {load['p50_ms']:.1f} ms"
        f"  p99 {load['p99_ms']:.1f} ms  max {load['max_ms']:.1f} ms"
        f"  ({load['ok']:,} requests answered 200 in {load['busy_ms'] / 1000:.1f} s)"
    )
    if load["accepted"]:
        print(f"server CPU:     {server_cpu * 1e6 / load['accepted']:.1f} µs an event")
    print(f"raw sqlite3:    {raw_rate:,.0f} rows/s ({raw_chunking}, executemany)")
    print(f"ratio:          {events_per_s / raw_rate if raw_rate else 0:.2f} of raw SQLite")
    print(f"after load: {after_load}")
    problems = [
        f"{load[key]:,} {what}"
        for key, what in (
            ("failed", "requests answered other than 200"),
            ("socket_errors", "socket errors or timeouts"),
            ("duplicates", "events answered as duplicates"),
            ("rejected", "requests with rejected records"),
        )
        if load[key]
    ]
    if load["answered"] != load["sent"]:
        problems.append(f"{load['sent'] - load['answered']:,} requests never answered")
    if len(rows) != load["accepted"]:
        problems.append(f"the database holds {len(rows):,} events, {load['accepted']:,} acked")
    if problems:
        print("PROBLEMS: " + "; ".join(problems))
        return 1
    print(f"stored = acknowledged = {len(rows):,} events (none lost, none doubled)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

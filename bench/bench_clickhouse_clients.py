"""Which Python ClickHouse client the scale-out backend uses, by measurement against the
ClickHouse the project runs on (Debian's 18.16): whether each works with it at all, and how many
event rows a second each inserts, in batches as the backend sends them.

1. Starts a private ClickHouse server (tests/services.py) on loopback.
2. For each client (`clickhouse-driver`, native protocol; `clickhouse-connect`, HTTP): connects
   and reads `version()`, then inserts ROWS event-shaped rows in batches of BATCH into a
   ReplacingMergeTree table shaped as the backend's events table, a few rounds, best round counts.
3. For comparison, the HTTP protocol itself without a client library: the same rows posted as
   `INSERT ... FORMAT JSONEachRow` bodies with httpx (what a hand-written HTTP client could get).

    .venv/bin/pip install clickhouse-connect   # not a dependency: only this comparison uses it
    python bench/bench_clickhouse_clients.py [--rows 50000] [--batch 5000] [--rounds 3]
"""

import argparse
import os
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.services import ClickHouseServer, running_clickhouse  # noqa: E402

TABLE = """CREATE TABLE {name} (
    app_id String, event_id String, user_id String, type String, name String,
    time Int64, received_at Int64, properties String, page String, target String
) ENGINE = ReplacingMergeTree(received_at) ORDER BY (app_id, event_id)"""
COLUMNS = ["app_id", "event_id", "user_id", "type", "name", "time", "received_at",
           "properties", "page", "target"]  # fmt: skip


def event_rows(count: int) -> list[list[object]]:
    """`count` rows like the tracker's clicks: one app, a few hundred users, unique event ids."""
    page = orjson.dumps({"url": "https://shop.example/p/1", "path": "/p/1", "title": "Shoes"})
    target = orjson.dumps({"tag": "button", "id": "add", "text": "Add to cart"})
    start = int(time.time() * 1000)
    return [
        ["bench", secrets.token_hex(8), str(n % 300), "click", "click", start + n, start,
         '{"plan":"pro"}', page.decode(), target.decode()]
        for n in range(count)
    ]  # fmt: skip


def timed_inserts(insert: Callable[[list[list[object]]], None], rows: list[list[object]],
                  batch: int) -> float:  # fmt: skip
    """Seconds to insert `rows` in batches of `batch`."""
    began = time.perf_counter()
    for start in range(0, len(rows), batch):
        insert(rows[start : start + batch])
    return time.perf_counter() - began


def driver_insert(server: ClickHouseServer, table: str) -> tuple[str, Callable]:
    import clickhouse_driver

    client = clickhouse_driver.Client(host=server.host, port=server.tcp_port)
    version = client.execute("SELECT version()")[0][0]
    sql = f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES"
    return version, lambda rows: client.execute(sql, rows)


def connect_insert(server: ClickHouseServer, table: str) -> tuple[str, Callable]:
    import clickhouse_connect

    client = clickhouse_connect.get_client(host=server.host, port=server.http_port)
    version = client.query("SELECT version()").result_rows[0][0]
    return version, lambda rows: client.insert(table, rows, column_names=COLUMNS)


def raw_http_insert(server: ClickHouseServer, table: str) -> tuple[str, Callable]:
    import httpx

    http = httpx.Client(base_url=f"http://{server.host}:{server.http_port}")
    version = http.post("/", content=b"SELECT version()").text.strip()
    query = {"query": f"INSERT INTO {table} FORMAT JSONEachRow"}

    def insert(rows: list[list[object]]) -> None:
        body = b"\n".join(orjson.dumps(dict(zip(COLUMNS, row, strict=True))) for row in rows)
        http.post("/", params=query, content=body).raise_for_status()

    return version, insert


CLIENTS = {
    "clickhouse-driver (native)": driver_insert,
    "clickhouse-connect (HTTP)": connect_insert,
    "raw HTTP, JSONEachRow (httpx)": raw_http_insert,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows = event_rows(args.rows)
    print(f"{args.rows:,} rows in batches of {args.batch:,}, best of {args.rounds} rounds;"
          f" load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    with running_clickhouse() as server:
        admin = server.client()
        for number, (label, make) in enumerate(CLIENTS.items()):
            table = f"default.bench_{number}"
            admin.execute(TABLE.format(name=table))
            try:
                version, insert = make(server, table)
            except Exception as error:  # a client that cannot talk to this server at all
                print(f"{label:32} does not work: {type(error).__name__}: {error}")
                continue
            best = min(timed_inserts(insert, rows, args.batch) for _ in range(args.rounds))
            print(f"{label:32} server {version}: {args.rows / best:,.0f} rows/s")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

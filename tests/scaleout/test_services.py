"""The private servers the scale-out tests run on: started on loopback in their own folders."""

import os

from tests.services import ClickHouseServer, PostgresServer


def test_clickhouse_is_debians_18_16_keeping_its_parts_in_its_own_folder(
    clickhouse_server: ClickHouseServer,
) -> None:
    client = clickhouse_server.client()
    assert client.execute("SELECT version()")[0][0].startswith("18.16.")
    database = clickhouse_server.create_database()
    client.execute(f"CREATE TABLE {database}.t (n UInt8) ENGINE = MergeTree ORDER BY n")
    client.execute(f"INSERT INTO {database}.t VALUES", [(1,)])
    assert list((clickhouse_server.data_dir / "data" / database / "t").glob("all_*"))


def test_postgres_runs_unprivileged_on_its_own_cluster(postgres_server: PostgresServer) -> None:
    database = postgres_server.create_database()
    with postgres_server.connect(database) as conn:
        data_directory = conn.execute("SHOW data_directory").fetchone()
    assert data_directory == (str(postgres_server.data_dir),)
    owner = os.stat(f"/proc/{postgres_server.process.pid}").st_uid
    assert owner != 0  # PostgreSQL refuses root; as root the fixture runs it as another user

"""An app's bridge origins: `footfall apps update --allow-origin`, stored in SQLite (also in a
database made before they existed), served at GET /api/apps/<appId>/bridge."""

import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.live_server import cli, run_cli, start_server

OLD_SCHEMA = """
CREATE TABLE apps (app_id TEXT PRIMARY KEY, name TEXT NOT NULL, api_key TEXT NOT NULL,
                   created_at INTEGER NOT NULL);
INSERT INTO apps VALUES ('shop', 'Shop', 'k', 1);
"""


def test_a_database_from_before_gains_bridge_origins(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.executescript(OLD_SCHEMA)
    [answer] = run_cli(
        "apps", "update", "shop", "--db", str(db),
        "--allow-origin", "https://Partner.Example/",
        "--allow-origin", "http://localhost:8000",
        "--allow-origin", "https://partner.example:443",
    )  # fmt: skip
    assert answer == {
        "app_id": "shop",
        "bridge_origins": ["http://localhost:8000", "https://partner.example"],
    }
    [answer] = run_cli(
        "apps", "update", "shop", "--db", str(db), "--disallow-origin", "https://partner.example"
    )
    assert answer["bridge_origins"] == ["http://localhost:8000"]


@pytest.mark.parametrize(
    "origin", ["*", "https://*.example", "partner.example", "https://a.example/app", "file:///x"]
)
def test_not_an_origin_is_refused_and_nothing_stored(tmp_path: Path, origin: str) -> None:
    db = tmp_path / "db.sqlite3"
    run_cli("apps", "create", "--name", "Shop", "--app-id", "shop", "--db", str(db))
    done = cli("apps", "update", "shop", "--db", str(db), "--allow-origin", origin)
    assert done.returncode == 2
    assert "is not an origin" in done.stderr and "Traceback" not in done.stderr
    [answer] = run_cli("apps", "update", "shop", "--db", str(db))
    assert answer["bridge_origins"] == []


def test_an_unknown_app_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    run_cli("apps", "create", "--name", "Shop", "--app-id", "shop", "--db", str(db))
    done = cli("apps", "update", "nope", "--db", str(db), "--allow-origin", "https://a.example")
    assert done.returncode == 2
    assert "no app 'nope'" in done.stderr and "footfall apps create" in done.stderr


def test_the_collector_serves_the_list_as_it_is_now_and_the_demo_allows_loopback(
    tmp_path: Path,
) -> None:
    with start_server(tmp_path, "--demo") as server:
        url = f"{server.url}/api/apps/demo/bridge"
        port = server.url.rsplit(":", 1)[1]
        loopback = [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]  # for site/embed.html
        first = httpx.get(url)
        assert first.status_code == 200 and first.json() == {"allowOrigins": loopback}
        assert first.headers["access-control-allow-origin"] == "*"
        run_cli(
            "apps", "update", "demo", "--db", str(server.db_path),
            "--allow-origin", "http://localhost:1234", "--disallow-origin", loopback[1],
        )  # fmt: skip
        assert httpx.get(url).json() == {
            "allowOrigins": ["http://127.0.0.1:" + port, "http://localhost:1234"]
        }
        missing = httpx.get(f"{server.url}/api/apps/nope/bridge")
        assert missing.status_code == 404 and missing.json() == {"error": "no app 'nope'"}

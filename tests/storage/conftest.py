"""The storage contract suite: every test here runs on every backend, through `Storage` only.

`storage` is a freshly opened, empty storage of each backend in `BACKENDS`; a backend-specific
check (its files, its SQL) belongs in a test of that backend, not here.
"""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from collector.run_sync import collected
from collector.storage import open_storage
from collector.storage.base import Operation, Storage, StoredEvent, StoredUser
from tests.run_async import run_async
from tests.services import ClickHouseServer, PostgresServer


def _scaleout_pair(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Storage]:
    """New empty databases on the session's private ClickHouse and PostgreSQL (tests/conftest.py;
    a server that cannot start fails the test with the reason); each call opens the pair."""
    clickhouse: ClickHouseServer = request.getfixturevalue("clickhouse_server")
    postgres: PostgresServer = request.getfixturevalue("postgres_server")
    db = clickhouse.database_url(clickhouse.create_database())
    state = postgres.database_url(postgres.create_database())
    return lambda: open_storage(db, state)


# For each backend, an opener of one empty data set (pytest's request, a temporary folder): each
# call opens another storage on that same data, as another collector would.
BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], Callable[[], Storage]]] = {
    "sqlite": lambda request, tmp_path: lambda: open_storage(tmp_path / "footfall.sqlite3"),
    "clickhouse+postgresql": _scaleout_pair,
}


@pytest.fixture(params=sorted(BACKENDS))
def open_shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Storage]]:
    """Opens storages of one backend on one empty data set; all closed after the test."""
    opener = BACKENDS[request.param](request, tmp_path)
    opened: list[Storage] = []

    def open_one() -> Storage:
        opened.append(opener())
        return opened[-1]

    yield open_one
    for store in opened:
        run_async(store.close())


@pytest.fixture
def storage(open_shared: Callable[[], Storage]) -> Storage:
    """An empty storage of each backend."""
    return open_shared()


def write(storage: Storage, app_id: str, *operations: Operation) -> list[str]:
    """Write the operations in one request; the status of each."""
    return [outcome.status for outcome in run_async(storage.write(app_id, list(operations)))]


def stored_events(storage: Storage, app_id: str | None = None) -> list[StoredEvent]:
    """Every stored event (of one app), as the export reads them."""
    return collected(storage.events(app_id))


def stored_users(storage: Storage, app_id: str | None = None) -> list[StoredUser]:
    """Every canonical user (of one app), as the export reads them."""
    return collected(storage.users(app_id))

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

# How each backend opens an empty storage for one test (pytest's request, a temporary folder).
BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], Storage]] = {
    "sqlite": lambda request, tmp_path: open_storage(tmp_path / "footfall.sqlite3"),
}


@pytest.fixture(params=sorted(BACKENDS))
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    """An empty storage of each backend, closed after the test."""
    store = BACKENDS[request.param](request, tmp_path)
    yield store
    run_async(store.close())


def write(storage: Storage, app_id: str, *operations: Operation) -> list[str]:
    """Write the operations in one request; the status of each."""
    return [outcome.status for outcome in run_async(storage.write(app_id, list(operations)))]


def stored_events(storage: Storage, app_id: str | None = None) -> list[StoredEvent]:
    """Every stored event (of one app), as the export reads them."""
    return collected(storage.events(app_id))


def stored_users(storage: Storage, app_id: str | None = None) -> list[StoredUser]:
    """Every canonical user (of one app), as the export reads them."""
    return collected(storage.users(app_id))

"""Fixtures shared by every test folder: the private ClickHouse and PostgreSQL servers that the
scale-out backend's tests run against (started once per session, on first use)."""

import contextlib
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from tests.services import (
    ClickHouseServer,
    PostgresServer,
    ServiceUnavailable,
    running_clickhouse,
    running_postgres,
)

Server = TypeVar("Server")


def _started(start: Callable[[], contextlib.AbstractContextManager[Server]]) -> Iterator[Server]:
    # A server that cannot start fails its tests with the reason; CI must not skip them quietly.
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(start())
        except ServiceUnavailable as error:
            pytest.fail(str(error), pytrace=False)
        yield server


@pytest.fixture(scope="session")
def clickhouse_server() -> Iterator[ClickHouseServer]:
    """A private ClickHouse server on loopback for the whole session."""
    yield from _started(running_clickhouse)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL cluster on loopback for the whole session."""
    yield from _started(running_postgres)

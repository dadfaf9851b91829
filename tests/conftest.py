"""Fixtures shared by every test folder: the private ClickHouse and PostgreSQL servers that the
scale-out backend's tests run against (started once per session, on first use).

`tests.services` is imported only when a server is asked for: this file is also loaded when
tests/snippet runs inside Pyodide, which has neither `pwd` nor the database drivers."""

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

import pytest

if TYPE_CHECKING:
    from tests.services import ClickHouseServer, PostgresServer

Server = TypeVar("Server")


def _started(start: Callable[[], contextlib.AbstractContextManager[Server]]) -> Iterator[Server]:
    # A server that cannot start fails its tests with the reason; CI must not skip them quietly.
    from tests.services import ServiceUnavailable

    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(start())
        except ServiceUnavailable as error:
            pytest.fail(str(error), pytrace=False)
        yield server


@pytest.fixture(scope="session")
def clickhouse_server() -> Iterator["ClickHouseServer"]:
    """A private ClickHouse server on loopback for the whole session."""
    from tests.services import running_clickhouse

    yield from _started(running_clickhouse)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator["PostgresServer"]:
    """A private PostgreSQL cluster on loopback for the whole session."""
    from tests.services import running_postgres

    yield from _started(running_postgres)

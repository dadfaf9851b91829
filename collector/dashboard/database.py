"""The dashboard's way to its database: work run in a worker thread, and the signing secret."""

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from collector.dashboard import queries

T = TypeVar("T")


class DashboardDatabase:
    """One database file; its dashboard tables are made when the secret is first read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._secret: bytes | None = None
        self._secret_lock = threading.Lock()

    async def run(self, work: Callable[[sqlite3.Connection], T], *, write: bool = False) -> T:
        """`work` on a fresh connection in a worker thread (read-only unless `write`)."""

        def run() -> T:
            conn = queries.connect(self.path, write=write)
            try:
                return work(conn)
            finally:
                conn.close()

        await self.secret()  # the dashboard's tables exist from here on
        return await run_in_threadpool(run)

    async def secret(self) -> bytes:
        """The database's signing secret (for CSRF tokens and device cookies)."""
        if self._secret is None:
            self._secret = await run_in_threadpool(self._load_secret)
        return self._secret

    def _load_secret(self) -> bytes:
        with self._secret_lock:
            if self._secret is None:
                conn = queries.connect(self.path, write=True)
                try:
                    queries.ensure_dashboard_tables(conn)
                    self._secret = queries.dashboard_secret(conn)
                finally:
                    conn.close()
            return self._secret

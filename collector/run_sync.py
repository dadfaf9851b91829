"""Run a coroutine to its end from synchronous code (the CLI, a test, a pytest plugin)."""

import asyncio
from collections.abc import AsyncIterable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(coroutine)` in a thread of its own, so it works whether or not this thread
    runs an event loop already (pytest-playwright keeps one running in the main thread)."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def collected(rows: AsyncIterable[T]) -> list[T]:
    """Every row of an async iterable (say `storage.events()`), read to its end."""

    async def collect() -> list[T]:
        return [row async for row in rows]

    return run_sync(collect())

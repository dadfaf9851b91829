"""Run a coroutine to its end from a test, whatever else the test session runs."""

from collector.run_sync import run_sync as run_async

__all__ = ["run_async"]

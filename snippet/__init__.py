"""Footfall's tracker logic: pure Python run in a Pyodide worker (and under CPython in tests)."""

__version__ = "0.1.0"

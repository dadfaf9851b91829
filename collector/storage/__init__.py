"""Storage behind one interface (`base.Storage`), opened in one place: `open_storage`."""

import importlib
from pathlib import Path

from collector.storage.base import Storage, StorageError

SCALEOUT_SCHEME = "clickhouse://"


def open_storage(db: str | Path, state: str | None = None) -> Storage:
    """The storage `--db` and `--state` name: a file path is SQLite (made when missing);
    `clickhouse://HOST:PORT/DB` with `state` `postgresql://USER@HOST:PORT/DB` is the scale-out
    pair. Blocking (it connects and migrates the schema): call it before serving.
    StorageError when the storage cannot be opened, saying what to change."""
    text = str(db)
    if text.startswith(SCALEOUT_SCHEME):
        if not state or not state.startswith(("postgresql://", "postgres://")):
            raise StorageError(
                f"--db {text} keeps events in ClickHouse; give --state postgresql://USER@HOST:PORT/DB"
                " (or FOOTFALL_STATE) for the apps, users and identities"
            )
        return _open_scaleout(text, state)
    if "://" in text:
        raise StorageError(
            f"--db {text!r}: give a SQLite file path, or clickhouse://HOST:PORT/DB with --state"
        )
    if state:
        raise StorageError(
            "--state is only for --db clickhouse://...; SQLite keeps everything in one file"
        )
    from collector.storage.sqlite import SQLiteStorage

    return SQLiteStorage(Path(text))


def _open_scaleout(db: str, state: str) -> Storage:
    # Looked up by name until collector/storage/scaleout.py provides `open_scaleout` on this
    # interface (its first version implements the one before).
    try:
        opener = importlib.import_module("collector.storage.scaleout").open_scaleout
    except (ImportError, AttributeError):
        raise StorageError(
            "this Footfall's ClickHouse + PostgreSQL backend is not on the storage interface yet"
            " (collector/storage/scaleout.py); use --db PATH for SQLite"
        ) from None
    storage: Storage = opener(db, state)
    return storage

"""Running the app on granian, the faster ASGI server here (figures: bench/bench_servers.py).

Granian builds the app in its worker process from an import string, so the settings travel to
it in an environment variable. One worker only: the SQLite writer thread must be the only one.
A worker that dies (say the out-of-memory killer picked it) is replaced; acknowledged events are
committed already. Granian gives up, exiting 1, when the new worker dies within 5.5 s again.
"""

import gc
import json
import os
from dataclasses import asdict, fields
from pathlib import Path
from typing import get_args

from granian import Granian
from granian.constants import Interfaces, Loops
from granian.log import LogLevels
from starlette.applications import Starlette

from collector.app import create_app
from collector.bundle import bundle_is_built
from collector.context import DEFAULT_GEO_DB, open_geo_database
from collector.run_sync import run_sync
from collector.settings import Settings
from collector.storage import open_storage

SETTINGS_ENV = "FOOTFALL_SETTINGS"
# Container allocations between collections of the young generation (Python's default: 700),
# and collections of each generation between two of the next (default: 10).
GC_THRESHOLDS = (20_000, 20, 20)


def run_server(settings: Settings) -> None:
    """Serve until interrupted (SIGINT or SIGTERM, after which pending writes are committed)."""
    run_sync(open_storage(settings.db, settings.state).close())  # a bad --db fails here, clearly
    geo = open_geo_database(settings.geo_db)  # and a --geo-db that is not there
    if geo is not None:
        geo.close()
    os.environ[SETTINGS_ENV] = settings_to_json(settings)
    server = Granian(
        "collector.server:app_from_environment",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        loop=Loops.uvloop,  # about 4 us less CPU per ingested event than asyncio's loop
        workers=1,
        respawn_failed_workers=True,
        websockets=False,
        log_level=LogLevels.warning,
        log_access=False,
    )
    print(startup_line(settings), flush=True)
    server.serve()


def startup_line(settings: Settings) -> str:
    """Where the server listens and stores; when the tracker bundle is missing, how to build it."""
    line = f"footfall listening on http://{settings.host}:{settings.port} (db {settings.db})"
    bundle_dir = settings.bundle_dir.resolve()
    if not bundle_is_built(bundle_dir):
        line += (
            f"; no tracker bundle in {bundle_dir}, so /js/ answers 503 until you run"
            " `python build.py`"
        )
    if settings.geo_db is None and not DEFAULT_GEO_DB.exists():
        line += (
            f"; no geo database at {DEFAULT_GEO_DB}, so events' country, region and city stay"
            " null until you run ./dev.sh or pass --geo-db"
        )
    return line


def app_from_environment() -> Starlette:
    """The app for the settings `run_server` put in the environment (granian's factory)."""
    app = create_app(settings_from_json(os.environ[SETTINGS_ENV]))
    collect_garbage_less()
    return app


def collect_garbage_less() -> None:
    """Fewer garbage collections for a server's short-lived objects: what start-up made is
    frozen out of every later collection, and collections come at GC_THRESHOLDS (ingest: gc
    CPU 1.3 -> 0.4 µs an event, bench/README.md)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def settings_to_json(settings: Settings) -> str:
    """Settings as JSON, paths as strings."""
    return json.dumps(asdict(settings), default=str)


def settings_from_json(text: str) -> Settings:
    """The inverse of `settings_to_json`."""
    values = json.loads(text)
    for field in fields(Settings):
        is_path = field.type is Path or Path in get_args(field.type)  # Path, or Path | None
        if is_path and values[field.name] is not None:
            values[field.name] = Path(values[field.name])
        elif isinstance(field.default, tuple):  # JSON made it a list
            values[field.name] = tuple(values[field.name])
    return Settings(**values)

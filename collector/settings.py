"""What one running collector is configured with: where it listens, stores and finds its files."""

from dataclasses import dataclass
from pathlib import Path

MEBIBYTE = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Options of `footfall serve`; the defaults are the documented ones."""

    # Where events and state live (collector.storage.open_storage): a SQLite file path, or
    # clickhouse://HOST:PORT/DB with `state` a postgresql://USER@HOST:PORT/DB.
    db: str = "footfall.sqlite3"
    state: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    bundle_dir: Path = Path("build/tracker")
    site_dir: Path = Path("site")
    demo: bool = False
    drop_bots: bool = True
    # Caps apply to the body after decompression, so a small gzip bomb cannot get past them.
    max_ingest_bytes: int = 5 * MEBIBYTE
    max_api_bytes: int = 20 * MEBIBYTE
    max_other_bytes: int = 64 * 1024  # anything outside /api/: the dashboard's small forms
    admin_password: str | None = None  # the dashboard's login; None: nobody can log in
    # Addresses of HTTPS proxies whose X-Forwarded-Proto/-For headers are believed.
    trusted_proxies: tuple[str, ...] = ()
    request_log: Path | None = None  # every request appended here (collector/request_log.py)
    # The city database in MaxMind's format (collector/context.py); None: the one ./dev.sh
    # installs, and geo stays unknown if it is missing. A path given must exist.
    geo_db: Path | None = None
    store_ip: bool = False  # keep each event's client address in its context


DEMO_APP_ID = "demo"
DEMO_APP_NAME = "Demo shop"

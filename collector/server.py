"""Running the app on an ASGI server (uvicorn, chosen by bench/bench_servers.py)."""

import uvicorn

from collector.app import create_app
from collector.settings import Settings


def run_server(settings: Settings) -> None:
    """Serve until interrupted; prints one line saying where."""
    app = create_app(settings)
    print(
        f"footfall listening on http://{settings.host}:{settings.port} (db {settings.db_path})",
        flush=True,
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False)

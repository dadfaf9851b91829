"""Start the real collector (`python -m collector.cli serve`) for a test, and run the CLI.

with start_server(tmp_path, "--demo") as server:
    httpx.post(server.url + "/api/ingest", ...)
rows = run_cli("events", "--db", str(server.db_path))
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from footfall_pytest import live_server as footfall_server
from footfall_pytest.live_server import LiveServer, free_port

__all__ = ["LiveServer", "free_port", "run_cli", "start_server"]

REPO_ROOT = Path(__file__).resolve().parent.parent


def start_server(tmp_path: Path, *extra_args: str) -> LiveServer:
    """Start `footfall serve` from this checkout on a free port, its database in `tmp_path`;
    wait until it answers."""
    return footfall_server.start_server(tmp_path, *extra_args, cwd=REPO_ROOT, env=_env())


def run_cli(*args: str) -> list[dict[str, Any]]:
    """Run `python -m collector.cli ARGS`; its stdout parsed as JSON lines (fails on exit != 0)."""
    done = subprocess.run(
        [sys.executable, "-m", "collector.cli", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"footfall {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT) + (os.pathsep + path if path else "")}

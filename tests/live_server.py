"""Start the real collector (`python -m collector.cli serve`) for a test, and run the CLI.

with start_server(tmp_path, "--demo") as server:
    httpx.post(server.url + "/api/ingest", ...)
rows = run_cli("events", "--db", str(server.db_path))
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from footfall_pytest import live_server as footfall_server
from footfall_pytest.live_server import LiveServer, free_port

__all__ = ["LiveServer", "free_port", "kill_server", "run_cli", "server_processes", "start_server"]

REPO_ROOT = Path(__file__).resolve().parent.parent


def start_server(tmp_path: Path, *extra_args: str, port: int | None = None) -> LiveServer:
    """Start `footfall serve` from this checkout on `port` (default: a free one), its database
    in `tmp_path`; wait until it answers."""
    return footfall_server.start_server(tmp_path, *extra_args, cwd=REPO_ROOT, env=_env(), port=port)


def server_processes(pid: int) -> list[int]:
    """The process `pid` and its descendants, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo.extend(children.get(found[-1], []))
    return found


def kill_server(server: LiveServer) -> None:
    """SIGKILL the server and every process of it (granian serves from a worker process), the
    way the OOM killer or a crash would end it: nothing gets to finish."""
    for pid in server_processes(server.process.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    server.process.wait()


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m collector.cli ARGS` (with `env` added to the environment), to its end."""
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**_env(), **(env or {})},
        timeout=60,
    )


def run_cli(*args: str) -> list[dict[str, Any]]:
    """Run `python -m collector.cli ARGS`; its stdout parsed as JSON lines (fails on exit != 0)."""
    done = cli(*args)
    if done.returncode != 0:
        raise RuntimeError(f"footfall {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT) + (os.pathsep + path if path else "")}

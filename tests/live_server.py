"""Start the real collector (`python -m collector.cli serve`) for a test, and run the CLI.

with start_server(tmp_path, "--demo") as server:
    httpx.post(server.url + "/api/ingest", ...)
rows = run_cli("events", "--db", str(server.db_path))
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 20.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LiveServer:
    """A collector subprocess; `.url`, `.db_path`, `.log_path` (its output), `.stop()`; a
    context manager."""

    def __init__(
        self, process: subprocess.Popen[str], url: str, db_path: Path, log_path: Path
    ) -> None:
        self.process = process
        self.url = url
        self.db_path = db_path
        self.log_path = log_path

    def stop(self) -> None:
        """Stop the server (SIGTERM, so pending writes are committed) and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def worker_pid(self) -> int:
        """The pid of granian's worker, the one child of the serving process (Linux only)."""
        pid = self.process.pid
        [worker] = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return int(worker)

    def __enter__(self) -> "LiveServer":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start_server(tmp_path: Path, *extra_args: str) -> LiveServer:
    """Start `footfall serve` on a free port, its database in `tmp_path`; wait until it answers."""
    port = free_port()
    db_path = tmp_path / "footfall.sqlite3"
    if "--db" in extra_args:
        db_path = Path(extra_args[extra_args.index("--db") + 1])
    else:
        extra_args = ("--db", str(db_path), *extra_args)
    log = (tmp_path / f"server-{port}.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "collector.cli", "serve", "--port", str(port), *extra_args],
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
    )
    server = LiveServer(process, f"http://127.0.0.1:{port}", db_path, Path(log.name))
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"footfall serve exited with {process.returncode}: {log.name}")
        try:
            if httpx.get(server.url + "/api/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"footfall serve did not answer within {STARTUP_SECONDS} s: {log.name}")


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

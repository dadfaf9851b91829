"""Start the real collector (`python -m collector.cli serve`) on a free loopback port.

with start_server(tmp_path, "--demo") as server:
    urllib.request.urlopen(server.url + "/api/health")
"""

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

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


def start_server(
    tmp_path: Path,
    *extra_args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    port: int | None = None,
) -> LiveServer:
    """Start `footfall serve` on `port` (default: a free one), its database in `tmp_path` (unless
    `--db` is among `extra_args`), run in `cwd` with `env`; wait until it answers /api/health."""
    port = port or free_port()
    db_path = tmp_path / "footfall.sqlite3"
    if "--db" in extra_args:
        db_path = Path(extra_args[extra_args.index("--db") + 1])
    else:
        extra_args = ("--db", str(db_path), *extra_args)
    log = (tmp_path / f"server-{port}.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "collector.cli", "serve", "--port", str(port), *extra_args],
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    server = LiveServer(process, f"http://127.0.0.1:{port}", db_path, Path(log.name))
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"footfall serve exited with {process.returncode}: {log.name}")
        if _answers(server.url + "/api/health"):
            return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"footfall serve did not answer within {STARTUP_SECONDS} s: {log.name}")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False

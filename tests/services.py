"""Private ClickHouse and PostgreSQL servers for tests and benchmarks: each on free loopback
ports, its files in a temporary folder, stopped (and the folder removed) on exit.

with running_clickhouse() as clickhouse, running_postgres() as postgres:
    url = clickhouse.database_url(clickhouse.create_database())

Debian's packages provide them (`./dev.sh test` installs `clickhouse-server` and `postgresql`).
PostgreSQL refuses to run as root, so as uid 0 its cluster belongs to, and runs as, the
`postgres` user (or `nobody`), through `setpriv`.
"""

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import clickhouse_driver
import psycopg

from footfall_pytest.live_server import free_port

CLICKHOUSE_SERVER = "/usr/sbin/clickhouse-server"
POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
START_TIMEOUT_S = 30
INSTALL_HINT = "run ./dev.sh test once (it installs Debian's clickhouse-server and postgresql)"

# One server for the tests, not a production one: little memory, logs kept to warnings, and
# `old_parts_lifetime` 0 with a cleanup every second, so that a part a mutation or merge replaced
# leaves the disk at once (a deletion waits for that; docs/clickhouse.md).
CLICKHOUSE_CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{dir}/log/server.log</log>
    <errorlog>{dir}/log/error.log</errorlog><console>0</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>{tcp_port}</tcp_port>
  <http_port>{http_port}</http_port>
  <path>{dir}/data/</path>
  <tmp_path>{dir}/tmp/</tmp_path>
  <user_files_path>{dir}/user_files/</user_files_path>
  <format_schema_path>{dir}/format_schemas/</format_schema_path>
  <users_config>{dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <timezone>UTC</timezone>
  <merge_tree><old_parts_lifetime>0</old_parts_lifetime><cleanup_delay_period>1</cleanup_delay_period>
    <cleanup_delay_period_random_add>0</cleanup_delay_period_random_add></merge_tree>
</yandex>
"""
CLICKHOUSE_USERS = """<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
"""


class ServiceUnavailable(RuntimeError):
    """A server the tests need could not be started; the message says why and what to do."""


@dataclass(kw_only=True)
class PrivateServer:
    """A running private server: its process, and the temporary folder of its files."""

    directory: Path
    process: subprocess.Popen[bytes]
    host: str = "127.0.0.1"

    @property
    def data_dir(self) -> Path:
        """Where the server keeps what it stores (ClickHouse its tables' parts, PostgreSQL its
        cluster: PGDATA)."""
        return self.directory / "data"


@dataclass(kw_only=True)
class ClickHouseServer(PrivateServer):
    """A running private ClickHouse: native protocol on `tcp_port`, HTTP on `http_port`."""

    tcp_port: int
    http_port: int

    def ping(self) -> None:
        """Raise OSError or a driver error unless the server answers a query."""
        # A bare connect first: the driver logs every refused connection with its traceback.
        socket.create_connection((self.host, self.tcp_port), timeout=1).close()
        self.client().execute("SELECT 1")

    def client(self) -> clickhouse_driver.Client:
        """A native-protocol client of this server."""
        return clickhouse_driver.Client(host=self.host, port=self.tcp_port)

    def create_database(self) -> str:
        """A new empty database's name."""
        name = "footfall_" + secrets.token_hex(6)
        self.client().execute(f"CREATE DATABASE {name}")
        return name

    def database_url(self, database: str) -> str:
        """The `--db` value naming `database` on this server."""
        return f"clickhouse://{self.host}:{self.tcp_port}/{database}"


@dataclass(kw_only=True)
class PostgresServer(PrivateServer):
    """A running private PostgreSQL cluster on `port`, superuser `user` with trust auth."""

    port: int
    user: str

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        """An autocommit connection to `database`."""
        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname=database, autocommit=True
        )

    def create_database(self) -> str:
        """A new empty database's name."""
        name = "footfall_" + secrets.token_hex(6)
        with self.connect() as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return name

    def database_url(self, database: str) -> str:
        """The `--state` value naming `database` on this cluster."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"


@contextlib.contextmanager
def running_clickhouse() -> Iterator[ClickHouseServer]:
    """Start a private ClickHouse server; stop it and remove its files on exit."""
    if not os.access(CLICKHOUSE_SERVER, os.X_OK):
        raise ServiceUnavailable(f"{CLICKHOUSE_SERVER} is missing: {INSTALL_HINT}")
    with _temporary_directory("footfall-clickhouse-") as directory:
        tcp_port, http_port = free_port(), free_port()
        (directory / "log").mkdir()
        (directory / "users.xml").write_text(CLICKHOUSE_USERS)
        config = directory / "config.xml"
        config.write_text(
            CLICKHOUSE_CONFIG.format(dir=directory, tcp_port=tcp_port, http_port=http_port)
        )
        command = [CLICKHOUSE_SERVER, f"--config-file={config}"]
        with _running(command, directory / "log" / "stdout.log", cwd=directory) as process:
            server = ClickHouseServer(
                directory=directory, process=process, tcp_port=tcp_port, http_port=http_port
            )
            _wait_until_ready(process, "ClickHouse", directory / "log" / "error.log", server.ping)
            yield server


@contextlib.contextmanager
def running_postgres(*settings: str) -> Iterator[PostgresServer]:
    """Start a private PostgreSQL cluster (`settings`: more "name=value" for it, taking
    precedence); stop it and remove its files on exit."""
    for program in ("initdb", "postgres"):
        if not os.access(POSTGRES_BIN / program, os.X_OK):
            raise ServiceUnavailable(f"{POSTGRES_BIN / program} is missing: {INSTALL_HINT}")
    run_as = _postgres_run_as()
    with _temporary_directory("footfall-postgres-") as directory:
        data_dir = directory / "data"
        if run_as is not None:  # the unprivileged user must own its cluster's folder
            os.chmod(directory, 0o755)
            os.chown(directory, run_as.pw_uid, run_as.pw_gid)
        user = "footfall"
        initdb = subprocess.run(
            [*_as_user(run_as), str(POSTGRES_BIN / "initdb"), "-D", str(data_dir), "-U", user,
             "--auth=trust", "--no-sync", "--encoding=UTF8", "--locale=C"],
            capture_output=True, text=True,
        )  # fmt: skip
        if initdb.returncode != 0:
            raise ServiceUnavailable(f"initdb failed: {initdb.stderr.strip()}")
        port = free_port()
        # Durability is not under test here: no fsync keeps start-up and each test quick.
        # wal_recycle off, as docs/clickhouse.md asks of every server: a recycled WAL segment
        # would keep a deleted user's values until it is overwritten.
        command = [
            *_as_user(run_as), str(POSTGRES_BIN / "postgres"), "-D", str(data_dir),
            "-h", "127.0.0.1", "-p", str(port), "-k", str(directory),
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=200", "-c", "wal_recycle=off",
            *(option for setting in settings for option in ("-c", setting)),
        ]  # fmt: skip
        log = directory / "postgres.log"
        with _running(command, log) as process:
            server = PostgresServer(directory=directory, process=process, port=port, user=user)
            _wait_until_ready(process, "PostgreSQL", log, lambda: server.connect().close())
            yield server


def _postgres_run_as() -> pwd.struct_passwd | None:
    """The user to run PostgreSQL as when we are root (it refuses root); None otherwise."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise ServiceUnavailable("running as root, and neither a 'postgres' nor a 'nobody' user exists")


def _as_user(user: pwd.struct_passwd | None) -> list[str]:
    if user is None:
        return []
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"]


@contextlib.contextmanager
def _temporary_directory(prefix: str) -> Iterator[Path]:
    """A new folder for one server's files, removed with all in it on exit."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def _running(
    command: list[str], output: Path, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process (its own session, its output into the file `output`), stopped on
    exit."""
    with output.open("wb") as log:  # the process keeps its own handle
        process = subprocess.Popen(
            command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        _stop(process)


def _wait_until_ready(
    process: subprocess.Popen[bytes], name: str, log: Path, probe: Callable[[], object]
) -> None:
    """Call `probe` until it succeeds; a clear error (with the log's end) if the server exits
    or never answers."""
    deadline = time.monotonic() + START_TIMEOUT_S
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceUnavailable(
                f"{name} exited with {process.returncode} while starting; {_tail(log)}"
            )
        try:
            probe()
            return
        except (OSError, clickhouse_driver.errors.Error, psycopg.Error) as error:
            last_error = error
        time.sleep(0.05)
    raise ServiceUnavailable(
        f"{name} did not answer within {START_TIMEOUT_S} s ({last_error}); {_tail(log)}"
    )


def _tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()[-5:]
    except OSError:
        return f"no log at {log}"
    return f"{log} ends: " + " | ".join(lines)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

"""Real-browser fixtures: Debian's Chromium through pytest-playwright (never a downloaded one)."""

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from playwright.sync_api import Page

from tests.live_server import LiveServer, run_cli, start_server

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Only loopback names resolve, so no page (nor a Heap snippet the pytest plugin did not
    # route) can send anything off this machine.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE *.localhost,"
    " EXCLUDE 127.0.0.1, EXCLUDE [::1]",
]


def _chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.exit("Debian's chromium is not installed: run `./dev.sh test`, which installs it", 2)
    return path


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, object]) -> dict[str, object]:
    return {**browser_type_launch_args, "executable_path": _chromium(), "args": CHROMIUM_FLAGS}


@pytest.fixture(scope="session", autouse=True)
def tracker_bundle() -> Path:
    """The tracker bundle, built (or found up to date) once per test run."""
    subprocess.run([sys.executable, str(ROOT / "build.py")], check=True, stdout=subprocess.DEVNULL)
    return ROOT / "build" / "tracker"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tracker_bundle: Path) -> Iterator[LiveServer]:
    """One real collector per test module, with the demo app."""
    with start_server(tmp_path_factory.mktemp("browser"), "--demo") as live:
        yield live


@pytest.fixture
def app_id(server: LiveServer, request: pytest.FixtureRequest) -> str:
    """A fresh app for each test, so each test reads back only its own events."""
    name = re.sub(r"[^A-Za-z0-9_-]", "-", request.node.name)[:48]
    created = run_cli("apps", "create", "--name", name, "--db", str(server.db_path))
    return str(created[0]["app_id"])


class Demo:
    """Opens demo pages for one app and reads back what the collector stored for it."""

    def __init__(self, server: LiveServer, app_id: str, page: Page) -> None:
        self.server, self.app_id, self.page = server, app_id, page

    def url(self, name: str = "", query: str = "") -> str:
        separator = "&" if query else ""
        return f"{self.server.url}/demo/{name}?app={self.app_id}{separator}{query}"

    def open(self, name: str = "", query: str = "", *, wait_ready: bool = True) -> None:
        self.page.goto(self.url(name, query))
        if wait_ready:
            self.page.wait_for_function("heap.ready === true", timeout=30_000)

    def events(
        self, predicate: Callable[[list[dict]], bool] = bool, timeout_s: float = 20
    ) -> list[dict]:
        """`footfall events` for this app, polled until `predicate` holds (or time runs out)."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = run_cli("events", "--db", str(self.server.db_path), "--app", self.app_id)
            if predicate(found) or time.monotonic() > deadline:
                return found
            time.sleep(0.2)

    def users(self) -> list[dict]:
        return run_cli("users", "--db", str(self.server.db_path), "--app", self.app_id)

    def cookie(self, name: str) -> dict | None:
        for cookie in self.page.context.cookies():
            if cookie["name"] == f"{name}.{self.app_id}":
                return cookie
        return None

    def cookie_json(self, name: str) -> object:
        cookie = self.cookie(name)
        return None if cookie is None else json.loads(unquote(cookie["value"]))


@pytest.fixture
def demo(server: LiveServer, app_id: str, page: Page) -> Demo:
    return Demo(server, app_id, page)


def of_type(kind: str) -> Callable[[list[dict]], bool]:
    return lambda events: any(event["type"] == kind for event in events)

"""Real-browser fixtures: Debian's Chromium through pytest-playwright, never a downloaded browser."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
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

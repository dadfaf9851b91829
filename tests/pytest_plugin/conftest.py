"""The plugin's own tests run pytest inside pytest (pytester) against the real bundle."""

from pathlib import Path

import pytest

from tests.browser.conftest import tracker_bundle  # noqa: F401 (autouse: built once per run)

REPO_ROOT = Path(__file__).resolve().parents[2]

# The inner test runs launch Debian's Chromium the way Footfall's own browser tests do.
# Pyodide's first boot takes seconds; on a machine shared by many test runs, far longer.
SLOW_MACHINE_TIMEOUT = "--footfall-timeout=90"
BROWSER_CONFTEST = "from tests.browser.conftest import browser_type_launch_args  # noqa: F401\n"


@pytest.fixture
def inner_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester folder whose runs can import this checkout and launch Debian's Chromium."""
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    pytester.makeconftest(BROWSER_CONFTEST)
    return pytester

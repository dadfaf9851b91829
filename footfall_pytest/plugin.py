"""The pytest hooks and fixtures: `--footfall-...` options, `footfall_collector`, `analytics`.

Nothing here starts unless a test asks for a fixture, so a project that only has the plugin
installed (or uses pytest-playwright without it) runs as before.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import collector
from collector.bundle import bundle_is_built
from footfall_pytest.analytics import Analytics, FootfallCollector

DEFAULT_TIMEOUT_S = 30.0
BUNDLE_ENV = "FOOTFALL_BUNDLE"


def pytest_addoption(parser: pytest.Parser) -> None:
    """The `--footfall-...` options."""
    group = parser.getgroup("footfall", "Footfall analytics assertions (the analytics fixture)")
    group.addoption(
        "--footfall-bundle",
        metavar="DIR",
        help="the tracker bundle that Footfall's build.py writes (build/tracker); default:"
        f" ${BUNDLE_ENV}, else build/tracker under the rootdir or beside the footfall package",
    )
    group.addoption(
        "--footfall-timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help="how long analytics.wait_for and identity_of wait by default"
        f" (default {DEFAULT_TIMEOUT_S:g})",
    )


@pytest.fixture(scope="session")
def footfall_collector(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FootfallCollector]:
    """A Footfall collector on a free loopback port with a temporary SQLite file, serving the
    tracker bundle: one per test session (per worker under pytest-xdist)."""
    bundle_dir = tracker_bundle_dir(request.config)
    running = FootfallCollector.start(tmp_path_factory.mktemp("footfall"), bundle_dir)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def analytics(request: pytest.FixtureRequest, footfall_collector: FootfallCollector) -> Analytics:
    """What this test's pages send to analytics: routes the page's own Heap snippet (or
    `analytics.install()` adds one) to the test collector on pytest-playwright's `context`;
    `wait_for`, `events`, `users`, `identity_of`, `assert_never_sent`."""
    try:
        context = request.getfixturevalue("context")
    except pytest.FixtureLookupError:
        pytest.fail(
            "the analytics fixture works on pytest-playwright's context fixture, which is"
            " missing: install pytest-playwright",
            pytrace=False,
        )
    return Analytics(footfall_collector, context, request.config.getoption("footfall_timeout"))


def tracker_bundle_dir(config: pytest.Config) -> Path:
    """The built tracker bundle to serve, or a test failure saying how to build one."""
    given = config.getoption("footfall_bundle") or os.environ.get(BUNDLE_ENV)
    if given:
        candidates = [Path(given)]
    else:
        source_checkout = Path(collector.__file__).resolve().parent.parent
        candidates = [config.rootpath / "build" / "tracker", source_checkout / "build" / "tracker"]
    for candidate in candidates:
        if bundle_is_built(candidate):
            return candidate.resolve()
    looked = ", ".join(str(candidate) for candidate in dict.fromkeys(candidates))
    pytest.fail(
        f"footfall: no tracker bundle in {looked}. Build it in a Footfall checkout with"
        " `python build.py` (it writes build/tracker), then pass"
        " --footfall-bundle PATH/TO/build/tracker (or set $FOOTFALL_BUNDLE)",
        pytrace=False,
    )

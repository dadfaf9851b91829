"""README.md's example test of the pytest plugin runs as written, so the README cannot drift."""

import re
from pathlib import Path

import pytest

from tests.pytest_plugin.conftest import SLOW_MACHINE_TIMEOUT

pytestmark = pytest.mark.browser
pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Test what your pages send: the pytest plugin"


def readme_example() -> str:
    """The first Python code block of the plugin's README section."""
    section = README.read_text(encoding="utf-8").split(SECTION, 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert block, f"no ```python block under {SECTION!r} in README.md"
    return block.group(1)


def test_the_readme_example_passes(inner_project: pytest.Pytester) -> None:
    example = readme_example()
    assert "def test_" in example and "analytics" in example
    inner_project.makepyfile(test_readme_example=example)
    result = inner_project.runpytest_subprocess(
        "-p", "no:cacheprovider", SLOW_MACHINE_TIMEOUT, timeout=300
    )
    result.assert_outcomes(passed=example.count("\ndef test_"))

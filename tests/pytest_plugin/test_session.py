"""The plugin in a project's pytest session, without a browser: registered by its entry point,
its options, one collector per session or xdist worker, and a missing bundle's error."""

import json

import pytest

pytest_plugins = ["pytester"]

INNER_TIMEOUT_S = 120

# Each inner test writes down the collector it got and checks that it answers.
COLLECTOR_REPORT = """
import json, os, urllib.request

def test_collector(footfall_collector):
    with urllib.request.urlopen(footfall_collector.url + "/api/health") as answer:
        assert answer.status == 200
    assert footfall_collector.db_path.exists()
    line = {"worker": os.environ.get("PYTEST_XDIST_WORKER"), "url": footfall_collector.url,
            "db": str(footfall_collector.db_path)}
    with open(os.environ["COLLECTORS_FILE"], "a") as out:
        out.write(json.dumps(line) + "\\n")
"""


def test_an_unrelated_folder_lists_the_fixtures_and_options(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    fixtures = pytester.runpytest_subprocess("--fixtures", timeout=INNER_TIMEOUT_S)
    listed = fixtures.stdout.str()
    assert "analytics -- " in listed and "footfall_collector [session scope] -- " in listed
    assert "footfall_pytest/plugin.py" in listed
    options = pytester.runpytest_subprocess("--help", timeout=INNER_TIMEOUT_S).stdout.str()
    assert "--footfall-bundle=DIR" in options and "--footfall-timeout=SECONDS" in options


def test_one_collector_per_xdist_worker(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    collectors_file = pytester.path / "collectors.jsonl"
    monkeypatch.setenv("COLLECTORS_FILE", str(collectors_file))
    pytester.makepyfile(test_collector=COLLECTOR_REPORT)
    result = pytester.runpytest_subprocess(
        "-p", "xdist", "-n", "2", "--dist", "each", timeout=INNER_TIMEOUT_S
    )
    result.assert_outcomes(passed=2)
    seen = [json.loads(line) for line in collectors_file.read_text().splitlines()]
    assert sorted(line["worker"] for line in seen) == ["gw0", "gw1"]
    assert len({line["url"] for line in seen}) == 2
    assert len({line["db"] for line in seen}) == 2


def test_a_missing_bundle_fails_saying_how_to_build_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_collector=COLLECTOR_REPORT)
    missing = pytester.path / "no-bundle-here"
    result = pytester.runpytest_subprocess(f"--footfall-bundle={missing}", timeout=INNER_TIMEOUT_S)
    result.assert_outcomes(errors=1)
    built_how = "Build it in a Footfall checkout with `python build.py`"
    result.stdout.fnmatch_lines([f"*footfall: no tracker bundle in {missing}. {built_how}*"])

"""tests/snippet once more, inside the pinned Pyodide runtime in Node: the Python the tracker
ships on (3.14, WebAssembly), not only the CPython 3.11 that runs the rest of the suite."""

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "tests" / "pyodide" / "run_snippet_tests.mjs"


def test_the_snippet_suite_passes_inside_pyodide() -> None:
    node = shutil.which("node")
    assert node, "needs Node 20 (apt-get install nodejs) to run Pyodide"
    run = subprocess.run(
        [node, str(RUNNER), "-q"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    # Pyodide's own errors can print a minified line of megabytes: keep lines short.
    report = [line[:300] for line in (run.stdout + run.stderr).splitlines() if line.strip()]
    assert run.returncode == 0, "tests/snippet inside Pyodide:\n" + "\n".join(report[-40:])
    assert " passed" in report[-1], report[-1]

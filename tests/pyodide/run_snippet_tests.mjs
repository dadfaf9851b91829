// Runs tests/snippet inside the pinned Pyodide runtime (node_modules/pyodide), the Python the
// tracker ships on, as tests/snippet runs under CPython too. No network: pytest and its deps
// come from wheels `./dev.sh` downloaded into .cache/pyodide-wheels/.
//
//   node tests/pyodide/run_snippet_tests.mjs [pytest args]   (no path given: tests/snippet)
//
// Exits with pytest's exit code; pytest's report goes to stdout.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const RUNTIME = join(ROOT, "node_modules", "pyodide");
const WHEELS = join(ROOT, ".cache", "pyodide-wheels");
const PROJECT = "/project"; // where the tree appears inside Pyodide
const MOUNTED = ["snippet", "tests", "docs"]; // read by the tests (docs: the protocol's tables)

const { loadPyodide } = await import(join(RUNTIME, "pyodide.mjs"));

// The wheels tests/pyodide/requirements.txt pins, from the cache (other versions there are
// left alone).
function pinnedWheels() {
  const pins = readFileSync(join(ROOT, "tests", "pyodide", "requirements.txt"), "utf8")
    .split("\n")
    .map((line) => line.replace(/#.*/, "").trim())
    .filter(Boolean);
  let cached = [];
  try {
    cached = readdirSync(WHEELS);
  } catch {
    /* no cache yet: every pin is missing */
  }
  return pins.map((pin) => {
    const [name, version] = pin.split("==");
    const prefix = `${name.toLowerCase().replace(/[-.]/g, "_")}-${version}-`;
    const wheel = cached.find((file) => file.toLowerCase().startsWith(prefix) && file.endsWith(".whl"));
    if (!wheel) {
      console.error(`${pin}: no wheel in ${WHEELS}; run ./dev.sh test, which downloads them`);
      process.exit(2);
    }
    return join(WHEELS, wheel);
  });
}

const pyodide = await loadPyodide({ indexURL: RUNTIME + "/" });
const sitePackages = pyodide.runPython("import site; site.getsitepackages()[0]");
for (const wheel of pinnedWheels()) {
  pyodide.unpackArchive(new Uint8Array(readFileSync(wheel)), "wheel", { extractDir: sitePackages });
}
const { FS } = pyodide;
for (const folder of MOUNTED) {
  FS.mkdirTree(`${PROJECT}/${folder}`);
  FS.mount(FS.filesystems.NODEFS, { root: join(ROOT, folder) }, `${PROJECT}/${folder}`);
}
// The project's pytest settings name plugins (pytest-timeout, playwright) Pyodide has no use
// for; an ini of its own keeps their options out. Hypothesis is imported before pytest starts
// (for its profile, below), so pytest cannot rewrite its asserts: it says so, harmlessly.
// tests/conftest.py starts ClickHouse and PostgreSQL for the scale-out tests (pwd, psycopg,
// clickhouse-driver: none in Pyodide) and tests/snippet needs none of it: conftests above
// tests/snippet are not loaded.
FS.writeFile(
  `${PROJECT}/pytest.ini`,
  "[pytest]\naddopts = -ra --confcutdir=tests/snippet\n" +
    "filterwarnings = ignore::pytest.PytestAssertRewriteWarning\n",
);

const args = process.argv.slice(2);
if (!args.some((arg) => !arg.startsWith("-"))) args.push("tests/snippet");
pyodide.globals.set("pytest_args", pyodide.toPy(args));
const code = await pyodide.runPythonAsync(`
import os, sys
sys.dont_write_bytecode = True  # the tree is mounted: leave no __pycache__ in it
os.chdir("${PROJECT}")  # hypothesis keeps its example database here, in memory
sys.path.insert(0, "${PROJECT}")
# WebAssembly on a busy machine is slow and uneven: hypothesis's per-example deadline (200 ms)
# would fail tests on timing alone, and tests assert behaviour, not timings.
from hypothesis import settings
settings.register_profile("pyodide", deadline=None)
settings.load_profile("pyodide")
import pytest
pytest.main(["-p", "no:cacheprovider", "--capture=sys", *pytest_args])
`);
process.exit(Number(code));

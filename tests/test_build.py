"""build.py: the runtime is checked, the wheel is reproducible, a second run writes nothing."""

import gzip
import json
import shutil
import zipfile
from io import BytesIO
from pathlib import Path

import pytest

import build

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "tracker"
    build.build(out)
    return out


def test_the_bundle_holds_runtime_wheel_worker_and_loader(bundle: Path) -> None:
    manifest = (bundle / "manifest.json").read_text()
    for name in build.RUNTIME_FILES:
        assert (bundle / "runtime" / build.PYODIDE_VERSION / name).is_file()
    runtime = bundle / "runtime" / build.PYODIDE_VERSION
    for encoding in (".gz", ".br", ".zst"):
        assert (runtime / f"pyodide.asm.wasm{encoding}").is_file()
    loader = (bundle / "loader.js").read_text()
    worker_path = json.loads(manifest)["worker"]
    assert worker_path.startswith("w/") and f'"{worker_path}"' in loader
    assert "__" + "WORKER_PATH__" not in loader
    worker = (bundle / worker_path).read_text()
    assert "__" + "WHEEL_PATH__" not in worker and build.WHEEL_NAME in worker


def test_the_loader_is_minified_and_stays_under_six_kilobytes_gzipped(bundle: Path) -> None:
    loader = (bundle / "loader.js").read_bytes()
    assert b"// " not in loader  # comments are stripped
    assert len(gzip.compress(loader, 9)) <= 6 * 1024


def test_a_second_run_with_nothing_changed_rewrites_nothing(bundle: Path) -> None:
    before = {path: path.stat().st_mtime_ns for path in bundle.rglob("*")}
    build.build(bundle)
    after = {path: path.stat().st_mtime_ns for path in bundle.rglob("*")}
    assert after == before


def test_the_wheel_is_reproducible_and_holds_every_snippet_module() -> None:
    first, second = build.build_wheel(), build.build_wheel()
    assert first == second
    names = zipfile.ZipFile(BytesIO(first)).namelist()
    modules = {f"snippet/{path.name}" for path in (ROOT / "snippet").glob("*.py")}
    assert modules <= set(names)
    assert "footfall_snippet-0.1.0.dist-info/RECORD" in names
    assert not any(name.endswith((".js", ".mjs")) for name in names)


def test_a_runtime_file_that_does_not_match_its_sha256_stops_the_build(tmp_path: Path) -> None:
    package = tmp_path / "pyodide"
    shutil.copytree(ROOT / "node_modules" / "pyodide", package)
    with (package / "python_stdlib.zip").open("ab") as stdlib:
        stdlib.write(b"tampered")
    with pytest.raises(SystemExit, match="does not match pyodide.sha256"):
        build.verify_runtime(package)


def test_a_snapshot_made_by_another_runtime_build_stops_the_build(bundle: Path) -> None:
    runtime = build.verify_runtime(ROOT / "node_modules" / "pyodide")
    manifest = build_manifest(bundle)
    snapshot = bytearray((bundle / manifest["boot"]).read_bytes()[manifest["snapshot_offset"] :])
    build.check_snapshot(bytes(snapshot), runtime)  # this build's own passes
    snapshot[16:20] = bytes(4 - i for i in range(4))  # another BUILD_ID in the header
    with pytest.raises(SystemExit, match="made by another Pyodide build"):
        build.check_snapshot(bytes(snapshot), runtime)


def test_the_snapshot_imports_every_module_the_snippet_imports() -> None:
    modules = build.tracker_imports(build.build_wheel())
    snippet_modules = {f"snippet.{path.stem}" for path in (ROOT / "snippet").glob("*.py")}
    assert snippet_modules - {"snippet.__init__"} <= set(modules)
    # Imports inside functions count: the entry point imports the worker's browser lazily.
    assert {"js", "pyodide.ffi", "json", "urllib.parse", "snippet.pyodide_browser"} <= set(modules)


def build_manifest(bundle: Path) -> dict[str, str]:
    return dict(json.loads((bundle / "manifest.json").read_text()))

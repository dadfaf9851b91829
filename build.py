#!/usr/bin/env python3
"""Build the deployable tracker bundle that `footfall serve` serves under /js/.

Steps (each printed): fetch the pinned Pyodide runtime with npm and check it against the sha256
values in pyodide.sha256; build the snippet wheel from snippet/; render the worker and the loader;
write everything, content-hashed where the URL allows, with gzip variants, to build/tracker/.
A second run with nothing changed rewrites nothing.

    python build.py [--out build/tracker] [--installer lockfile|micropip]
"""

import argparse
import gzip
import hashlib
import io
import json
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PYODIDE_VERSION = "314.0.7"
TERSER = ROOT / "node_modules" / "terser" / "bin" / "terser"
RUNTIME_FILES = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip")
MICROPIP_VERSION = "0.11.1"
MICROPIP_SHA256 = "768de165adb8e66906039d8fec4127a57f522dfdf8e6fbff877a4616941ecfd3"
WHEEL_NAME = "footfall_snippet-0.1.0-py3-none-any.whl"
# Files whose bytes are already compressed gain nothing from gzip.
PRECOMPRESSED_SUFFIXES = (".js", ".mjs", ".wasm", ".json")
ZIP_EPOCH = (2020, 1, 1, 0, 0, 0)  # fixed timestamps keep the wheel byte-for-byte reproducible


def step(message: str) -> None:
    print(f"[build] {message}", flush=True)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` unless the file already holds it; precompress alongside. True if written."""
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if path.suffix in PRECOMPRESSED_SUFFIXES:
        Path(f"{path}.gz").write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    return True


def fetch_pyodide() -> Path:
    """The pinned npm package, installed with npm from package-lock.json when missing or stale."""
    package = ROOT / "node_modules" / "pyodide"
    manifest = package / "package.json"
    installed = json.loads(manifest.read_text())["version"] if manifest.exists() else None
    if installed != PYODIDE_VERSION or not TERSER.exists():
        step(f"fetching pyodide {PYODIDE_VERSION} with npm (found {installed or 'none'})")
        if shutil.which("npm") is None:
            sys.exit("build: npm is not installed; install Node.js and npm, then run again")
        command = ["npm", "ci"] if (ROOT / "package-lock.json").exists() else ["npm", "install"]
        subprocess.run([*command, "--no-audit", "--no-fund"], cwd=ROOT, check=True)
    return package


def verify_runtime(package: Path) -> dict[str, bytes]:
    """The runtime files, after checking each against the sha256 recorded in the repo."""
    expected = dict(
        reversed(line.split())
        for line in (ROOT / "pyodide.sha256").read_text().splitlines()
        if line
    )
    files = {}
    for name in (*RUNTIME_FILES, "pyodide-lock.json"):
        data = (package / name).read_bytes()
        if sha256(data) != expected[name]:
            sys.exit(
                f"build: {package / name} does not match pyodide.sha256; delete node_modules "
                "and run again, or update pyodide.sha256 on purpose when changing the pin"
            )
        files[name] = data
    step(f"pyodide {PYODIDE_VERSION}: {len(files)} files match pyodide.sha256")
    return files


def build_wheel() -> bytes:
    """A pure-Python py3-none-any wheel of snippet/, reproducible byte for byte."""
    sources = sorted((ROOT / "snippet").glob("*.py"))
    dist_info = "footfall_snippet-0.1.0.dist-info"
    entries = {f"snippet/{path.name}": path.read_bytes() for path in sources}
    entries[f"{dist_info}/METADATA"] = (
        b"Metadata-Version: 2.1\nName: footfall-snippet\nVersion: 0.1.0\n"
        b"Summary: Footfall's tracker logic, run under Pyodide\n"
    )
    entries[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: footfall-build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    entries[f"{dist_info}/top_level.txt"] = b"snippet\n"
    record = "".join(
        f"{name},sha256={_record_hash(data)},{len(data)}\n" for name, data in entries.items()
    )
    entries[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as wheel:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            wheel.writestr(info, data)
    return buffer.getvalue()


def _record_hash(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def fetch_micropip(cache: Path) -> bytes:
    """micropip's wheel (only for the micropip installer), checked against its pinned sha256."""
    wheel = cache / f"micropip-{MICROPIP_VERSION}-py3-none-any.whl"
    if not wheel.exists():
        step(f"fetching micropip {MICROPIP_VERSION} with pip")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                "3.14",
                "-d",
                str(cache),
                f"micropip=={MICROPIP_VERSION}",
            ],
            check=True,
        )
    data = wheel.read_bytes()
    if sha256(data) != MICROPIP_SHA256:
        sys.exit(f"build: {wheel} does not match the pinned sha256; delete it and run again")
    return data


def minify(source: bytes) -> bytes:
    """The loader as served: terser (pinned in package.json) compresses and mangles it, so the
    comments that explain it cost the host page nothing."""
    if shutil.which("node") is None:
        sys.exit("build: node is not installed; install Node.js and npm, then run again")
    done = subprocess.run(
        ["node", str(TERSER), "--compress", "--mangle", "--ecma", "2017"],
        input=source,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"build: terser failed on the loader: {done.stderr.decode(errors='replace')}")
    return done.stdout


def render(template: Path, values: dict[str, str]) -> bytes:
    text = template.read_text()
    for key, value in values.items():
        text = text.replace(f"__{key}__", value)
    return text.encode()


def build(out: Path, installer: str) -> dict[str, object]:
    started = time.monotonic()
    runtime = verify_runtime(fetch_pyodide())
    runtime_dir = f"runtime/{PYODIDE_VERSION}/"
    written = sum(
        write_if_changed(out / runtime_dir / name, runtime[name]) for name in RUNTIME_FILES
    )
    step(f"runtime: {written} of {len(RUNTIME_FILES)} files written to {out / runtime_dir}")

    wheel = build_wheel()
    wheel_path = f"b/{sha256(wheel)[:12]}/{WHEEL_NAME}"
    write_if_changed(out / wheel_path, wheel)
    step(f"snippet wheel: {len(wheel):,} bytes at {wheel_path}")

    micropip_path = ""
    if installer == "micropip":
        micropip = fetch_micropip(ROOT / "build" / "cache")
        micropip_path = f"b/{sha256(micropip)[:12]}/micropip-{MICROPIP_VERSION}-py3-none-any.whl"
        write_if_changed(out / micropip_path, micropip)

    lock_info = json.loads(runtime["pyodide-lock.json"])["info"]
    # Paths in the worker are relative to the worker's own URL, w/<hash>/worker.mjs.
    worker = render(
        ROOT / "snippet" / "worker.mjs",
        {
            "RUNTIME_DIR": f"../../{runtime_dir}",
            "WHEEL_PATH": f"../../{wheel_path}",
            "MICROPIP_PATH": f"../../{micropip_path}" if micropip_path else "",
            "INSTALLER": installer,
            "LOCK_INFO": json.dumps(lock_info),
        },
    )
    worker_path = f"w/{sha256(worker)[:12]}/worker.mjs"
    write_if_changed(out / worker_path, worker)
    step(f"worker: {worker_path} ({installer} installer)")

    loader = minify(render(ROOT / "snippet" / "loader.js", {"WORKER_PATH": worker_path}))
    write_if_changed(out / "loader.js", loader)
    step(f"loader: {len(loader):,} bytes, {len(gzip.compress(loader, 9)):,} gzipped")

    manifest = {
        "pyodide": PYODIDE_VERSION,
        "installer": installer,
        "loader": "loader.js",
        "worker": worker_path,
        "wheel": wheel_path,
        "runtime": runtime_dir,
    }
    write_if_changed(out / "manifest.json", json.dumps(manifest, indent=2).encode())
    removed = remove_stale(out, {worker_path, wheel_path, micropip_path})
    if removed:
        step(f"removed {removed} stale hashed folders")
    step(f"done in {time.monotonic() - started:.1f} s: {out}")
    return manifest


def remove_stale(out: Path, keep: set[str]) -> int:
    """Delete content-hashed folders that no current file points to."""
    kept_dirs = {str(Path(path).parent) for path in keep if path}
    removed = 0
    for kind in ("w", "b"):
        for folder in (out / kind).glob("*") if (out / kind).exists() else []:
            if str(folder.relative_to(out)) not in kept_dirs:
                shutil.rmtree(folder)
                removed += 1
    return removed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "tracker")
    parser.add_argument("--installer", choices=("lockfile", "micropip"), default="lockfile")
    args = parser.parse_args()
    build(args.out.resolve(), args.installer)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Build the deployable tracker bundle that `footfall serve` serves under /js/.

Steps (each printed): fetch the pinned Pyodide runtime with npm and check it against the sha256
values in pyodide.sha256; build the snippet wheel from snippet/; make the boot snapshot with Node
(the runtime booted, the wheel installed, every tracker module imported) and check that it belongs
to this runtime, then the boot file (the runtime's wasm followed by the snapshot: what a visit
downloads); render the worker and the loader; write everything, content-hashed where the URL
allows, with gzip, brotli and zstd variants, to build/tracker/. Snapshots and compressed variants
are cached under build/cache/ by the content hash of what they are made from, and a second run
with nothing changed rewrites nothing.

    python build.py [--out build/tracker]
"""

import argparse
import ast
import gzip
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import brotli
import zstandard

from snippet import wire

ROOT = Path(__file__).resolve().parent
PYODIDE_VERSION = "314.0.7"
TERSER = ROOT / "node_modules" / "terser" / "bin" / "terser"
RUNTIME_FILES = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip")
WHEEL_NAME = "footfall_snippet-0.1.0-py3-none-any.whl"
SNAPSHOT_NAME = "snapshot.bin"
# The file a visit downloads: the runtime's wasm, then the snapshot. The snapshot holds the wasm's
# 3.3 MB of data segments again (the interpreter's memory starts with them): one zstd stream
# finds them 3.3 MB back, two files could not (6.4 MB with zstd instead of 2.9 + 4.7).
BOOT_NAME = "boot.bin"
SNAPSHOT_ALIGNMENT = 8  # Pyodide reads the snapshot's header through a Uint32Array
# A zip with no entries: the standard library a restored snapshot is given (it imports nothing).
EMPTY_ZIP = b"PK\x05\x06" + bytes(18)
CACHE = ROOT / "build" / "cache"
# What gets compressed variants, each served by bundle.py when the browser accepts it (the zip
# is compressed already). Levels: the smallest output that builds in seconds, not minutes
# (brotli 11 took 160 s for the snapshot; zstd 19 takes about 25 s and is smaller than brotli 10).
COMPRESSED_SUFFIXES = (".js", ".mjs", ".wasm", ".json", ".bin")
ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    ".gz": lambda data: gzip.compress(data, compresslevel=9, mtime=0),
    ".br": lambda data: brotli.compress(data, quality=9),
    ".zst": lambda data: zstandard.ZstdCompressor(level=19).compress(data),
}
ZIP_EPOCH = (2020, 1, 1, 0, 0, 0)  # fixed timestamps keep the wheel byte-for-byte reproducible


def step(message: str) -> None:
    print(f"[build] {message}", flush=True)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` unless the file already holds it; compressed variants alongside. True if
    written."""
    compresses = path.suffix in COMPRESSED_SUFFIXES
    variants = [Path(f"{path}{ext}") for ext in ENCODERS] if compresses else []
    if path.exists() and all(v.exists() for v in variants) and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if variants:
        for variant, encoded in zip(variants, compressed(data), strict=True):
            variant.write_bytes(encoded)
    return True


def compressed(data: bytes) -> list[bytes]:
    """`data` through each of ENCODERS, in parallel, cached by content hash under CACHE."""
    key = sha256(data)
    cached = [CACHE / "compressed" / f"{key}{ext}" for ext in ENCODERS]
    if not all(path.exists() for path in cached):
        with ThreadPoolExecutor(len(ENCODERS)) as pool:  # the codecs release the GIL
            outputs = list(pool.map(lambda encode: encode(data), ENCODERS.values()))
        for path, output in zip(cached, outputs, strict=True):
            atomic_write(path, output)
    return [path.read_bytes() for path in cached]


def atomic_write(path: Path, data: bytes) -> None:
    """A cache entry appears whole or not at all (a build interrupted midway leaves none)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.replace(path)


def fetch_pyodide() -> Path:
    """The pinned npm package, installed with npm from package-lock.json when it or another of
    package.json's pins (terser, the collector's geo database, ...) is missing or stale."""
    package = ROOT / "node_modules" / "pyodide"
    manifest = package / "package.json"
    installed = json.loads(manifest.read_text())["version"] if manifest.exists() else None
    stale = stale_npm_packages()
    if installed != PYODIDE_VERSION or stale:
        step(f"fetching {', '.join(stale)} with npm (pyodide found: {installed or 'none'})")
        if shutil.which("npm") is None:
            sys.exit("build: npm is not installed; install Node.js and npm, then run again")
        command = ["npm", "ci"] if (ROOT / "package-lock.json").exists() else ["npm", "install"]
        subprocess.run([*command, "--no-audit", "--no-fund"], cwd=ROOT, check=True)
    return package


def stale_npm_packages() -> list[str]:
    """package.json's pins that node_modules lacks or holds at another version."""
    pins: dict[str, str] = json.loads((ROOT / "package.json").read_text())["dependencies"]
    stale = []
    for name, version in pins.items():
        manifest = ROOT / "node_modules" / name / "package.json"
        if not manifest.exists() or json.loads(manifest.read_text())["version"] != version:
            stale.append(f"{name} {version}")
    return stale


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


def tracker_imports(wheel: bytes) -> list[str]:
    """Every module the tracker can import: each snippet module in the wheel and every module an
    import statement in one names, at any depth (a restored snapshot has no library to import
    more from)."""
    names: set[str] = set()
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        for entry in archive.namelist():
            if not entry.endswith(".py"):
                continue
            module = entry.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
            names.add(module)
            for node in ast.walk(ast.parse(archive.read(entry))):
                if isinstance(node, ast.Import):
                    names.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module)
    return sorted(names)


def boot_snapshot(package: Path, runtime: dict[str, bytes], wheel: bytes) -> bytes:
    """The boot snapshot of this runtime with this wheel installed, made with Node unless the
    cache holds one made from the same inputs; refused unless it belongs to this runtime."""
    script = ROOT / "snippet" / "make_snapshot.mjs"
    modules = json.dumps(tracker_imports(wheel))
    inputs = [runtime[name] for name in sorted(runtime)] + [wheel, script.read_bytes()]
    key = sha256(b"".join(sha256(part).encode() for part in [*inputs, modules.encode()]))
    cached = CACHE / "snapshots" / f"{key}.bin"
    if cached.exists():
        step(f"boot snapshot: found in {cached.parent}")
    else:
        node = shutil.which("node")
        if node is None:
            sys.exit("build: node is not installed; install Node.js 20 and npm, then run again")
        step("boot snapshot: making it with Node (the runtime, the wheel, every tracker module)")
        with tempfile.TemporaryDirectory() as scratch:
            wheel_path = Path(scratch) / WHEEL_NAME
            wheel_path.write_bytes(wheel)
            output = Path(scratch) / SNAPSHOT_NAME
            made = subprocess.run(
                [node, str(script), str(package), str(wheel_path), modules, str(output)],
                capture_output=True,
                text=True,
            )
            if made.returncode != 0:
                # Pyodide's errors can carry a megabyte-long line of minified code: keep the end.
                sys.exit(f"build: making the boot snapshot failed:\n{made.stderr[-3000:]}")
            for stale in cached.parent.glob("*.bin") if cached.parent.exists() else []:
                stale.unlink()  # one snapshot per checkout is enough
            atomic_write(cached, output.read_bytes())
    snapshot = cached.read_bytes()
    check_snapshot(snapshot, runtime)
    return snapshot


def check_snapshot(snapshot: bytes, runtime: dict[str, bytes]) -> None:
    """Exit unless `snapshot` was made by this runtime build: Pyodide writes its BUILD_ID into
    the header (32-bit words 4-11) and refuses to restore another build's."""
    marker = b'BUILD_ID:"'
    loader = runtime["pyodide.mjs"]
    start = loader.index(marker) + len(marker)
    expected = loader[start : start + 64].decode()
    words = [int.from_bytes(snapshot[offset : offset + 4], "little") for offset in range(16, 48, 4)]
    found = "".join(f"{word:08x}" for word in words)
    if found != expected:
        sys.exit(
            f"build: the boot snapshot was made by another Pyodide build ({found[:12]}..., this "
            f"runtime is {expected[:12]}...); delete build/cache/snapshots and run again"
        )


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


def build(out: Path) -> dict[str, object]:
    started = time.monotonic()
    package = fetch_pyodide()
    runtime = verify_runtime(package)
    runtime_dir = f"runtime/{PYODIDE_VERSION}/"
    written = sum(
        write_if_changed(out / runtime_dir / name, runtime[name]) for name in RUNTIME_FILES
    )
    step(f"runtime: {written} of {len(RUNTIME_FILES)} files written to {out / runtime_dir}")

    wheel = build_wheel()
    wheel_path = f"b/{sha256(wheel)[:12]}/{WHEEL_NAME}"
    write_if_changed(out / wheel_path, wheel)
    step(f"snippet wheel: {len(wheel):,} bytes at {wheel_path}")

    snapshot = boot_snapshot(package, runtime, wheel)
    wasm = runtime["pyodide.asm.wasm"]
    snapshot_offset = -(-len(wasm) // SNAPSHOT_ALIGNMENT) * SNAPSHOT_ALIGNMENT
    boot_file = wasm.ljust(snapshot_offset, b"\0") + snapshot
    boot_path = f"b/{sha256(boot_file)[:12]}/{BOOT_NAME}"
    write_if_changed(out / boot_path, boot_file)
    sizes = ", ".join(
        f"{ext} {Path(f'{out / boot_path}{ext}').stat().st_size / 1e6:.1f} MB" for ext in ENCODERS
    )
    step(f"boot file (wasm, snapshot): {len(boot_file) / 1e6:.1f} MB ({sizes}) at {boot_path}")

    empty_stdlib_path = f"b/{sha256(EMPTY_ZIP)[:12]}/empty_stdlib.zip"
    write_if_changed(out / empty_stdlib_path, EMPTY_ZIP)

    lock_info = json.loads(runtime["pyodide-lock.json"])["info"]
    # Paths in the worker are relative to the worker's own URL, w/<hash>/worker.mjs.
    worker = render(
        ROOT / "snippet" / "worker.mjs",
        {
            "RUNTIME_DIR": f"../../{runtime_dir}",
            "WHEEL_PATH": f"../../{wheel_path}",
            "BOOT_PATH": f"../../{boot_path}",
            "WASM_BYTES": str(len(wasm)),
            "SNAPSHOT_OFFSET": str(snapshot_offset),
            "BOOT_BYTES": str(len(boot_file)),
            "EMPTY_STDLIB_PATH": f"../../{empty_stdlib_path}",
            "LOCK_INFO": json.dumps(lock_info),
        },
    )
    worker_path = f"w/{sha256(worker)[:12]}/worker.mjs"
    write_if_changed(out / worker_path, worker)
    step(f"worker: {worker_path}")

    loader_values = {
        "WORKER_PATH": worker_path,
        "OBSERVED_ATTR_MAX": str(wire.OBSERVED_ATTR_MAX),
        "OBSERVED_TEXT_MAX": str(wire.OBSERVED_TEXT_MAX),
    }
    loader = minify(render(ROOT / "snippet" / "loader.js", loader_values))
    write_if_changed(out / "loader.js", loader)
    step(f"loader: {len(loader):,} bytes, {len(gzip.compress(loader, 9)):,} gzipped")

    manifest = {
        "pyodide": PYODIDE_VERSION,
        "loader": "loader.js",
        "worker": worker_path,
        "wheel": wheel_path,
        "boot": boot_path,
        "wasm_bytes": len(wasm),
        "snapshot_offset": snapshot_offset,
        "runtime": runtime_dir,
    }
    write_if_changed(out / "manifest.json", json.dumps(manifest, indent=2).encode())
    removed = remove_stale(out, {worker_path, wheel_path, boot_path, empty_stdlib_path})
    if removed:
        step(f"removed {removed} stale hashed folders")
    step(f"done in {time.monotonic() - started:.1f} s: {out}")
    return manifest


def remove_stale(out: Path, keep: set[str]) -> int:
    """Delete content-hashed folders that no current file points to."""
    kept_dirs = {str(Path(path).parent) for path in keep}
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
    args = parser.parse_args()
    build(args.out.resolve())


if __name__ == "__main__":
    main()

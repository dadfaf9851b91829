// Run by build.py with Node: boots the pinned Pyodide runtime with `_makeSnapshot`, installs the
// snippet wheel, imports every module the tracker can ever import, and writes the interpreter's
// memory snapshot (docs/protocol.md, section 5). No message has been read, so nothing of a visitor
// is in it: it is the same for every visitor of this build.
//
//     node make_snapshot.mjs <runtime dir> <wheel> <modules as JSON> <output file>
import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [runtimeDir, wheelPath, modulesJson, outputPath] = process.argv.slice(2);
const runtimeUrl = pathToFileURL(runtimeDir + "/").href;
const { loadPyodide } = await import(runtimeUrl + "pyodide.mjs");
const lock = JSON.parse(readFileSync(runtimeDir + "/pyodide-lock.json", "utf8"));

const pyodide = await loadPyodide({
  indexURL: runtimeDir + "/",
  lockFileContents: { info: lock.info, packages: {} },
  packageBaseUrl: runtimeDir + "/",
  _makeSnapshot: true,
  // Python's -OO: no docstrings in the modules imported below (the snippet's asserts, which
  // only narrow types for mypy, go too): 0.77 MB less heap, 0.23 MB less with zstd.
  env: { PYTHONOPTIMIZE: "2" },
});
const sitePackages = pyodide.runPython("import site; site.getsitepackages()[0]");
pyodide.unpackArchive(new Uint8Array(readFileSync(wheelPath)), "wheel", {
  extractDir: sitePackages,
});
// The wheel's files live in Emscripten's file system, which the snapshot does not hold: only the
// modules imported here exist after a restore, and the restored interpreter has no standard
// library to import more from.
pyodide.globals.set("FOOTFALL_MODULES", modulesJson);
pyodide.runPython(`
import importlib, json
for _name in json.loads(FOOTFALL_MODULES):
    importlib.import_module(_name)
del FOOTFALL_MODULES, _name
`);
zeroFreeMemory(pyodide._module);
writeFileSync(outputPath, pyodide.makeMemorySnapshot());

// What the imports freed (compiler scratch, source text: about 4 MB) still holds its old bytes,
// and the snapshot is the whole memory: zeroed, it compresses to nothing (zstd: 4.67 -> 4.21 MB).
// Every free block malloc has is taken, zeroed, then freed again; the footprint limit makes
// malloc answer 0 instead of taking memory it does not have yet.
function zeroFreeMemory(runtime) {
  runtime._malloc_set_footprint_limit(runtime._malloc_footprint());
  const taken = [];
  for (let size = 1 << 22; size >= 16; size >>= 1) {
    for (let block = runtime._malloc(size); block !== 0; block = runtime._malloc(size)) {
      runtime.HEAPU8.fill(0, block, block + size);
      taken.push(block);
    }
  }
  for (const block of taken) runtime._free(block);
  runtime._malloc_set_footprint_limit(-1 >>> 0); // no limit: what malloc had before
}

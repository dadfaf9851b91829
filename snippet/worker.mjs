// Footfall's module worker: boots Pyodide from the Footfall server, installs the snippet wheel and
// hands every message from the loader to Python (docs/protocol.md). It decides nothing itself.
// build.py fills in the __PLACEHOLDERS__; URLs are relative to this file, so the worker works
// whether it was started directly or imported from a blob: URL on another origin.
import { loadPyodide } from "__RUNTIME_DIR__pyodide.mjs";

const INSTALLER = "__INSTALLER__"; // "lockfile" or "micropip", chosen at build time
const RUNTIME_URL = new URL("__RUNTIME_DIR__", import.meta.url).href;
const WHEEL_URL = new URL("__WHEEL_PATH__", import.meta.url).href;
const MICROPIP_URL = new URL("__MICROPIP_PATH__", import.meta.url).href;
const LOCK_INFO = __LOCK_INFO__;

const inbox = []; // messages that arrive before Python can take them, in order
let tracker = null;
const bootStarted = performance.now();

function warn(message) {
  self.postMessage(JSON.stringify({ op: "warn", message }));
}

function deliver(message) {
  try {
    if (tracker === null) {
      tracker = self.footfallStart(message);
    } else {
      tracker.receive(message);
    }
  } catch (error) {
    warn("tracker error: " + error);
  }
}

self.onmessage = (event) => {
  if (self.footfallStart) deliver(event.data);
  else inbox.push(event.data);
};

async function bootPython() {
  // An inline lock file: Pyodide needs neither the 119 KB stock lock file nor its package index.
  const options = {
    indexURL: RUNTIME_URL,
    lockFileContents: { info: LOCK_INFO, packages: {} },
    packageBaseUrl: RUNTIME_URL,
  };
  if (INSTALLER === "micropip") {
    const pyodide = await loadPyodide(options);
    await pyodide.loadPackage(MICROPIP_URL);
    await pyodide.pyimport("micropip").install(WHEEL_URL, { deps: false });
    return pyodide;
  }
  // Listing our wheel makes Pyodide fetch and install it while it boots, without micropip.
  return loadPyodide({ ...options, packages: [WHEEL_URL] });
}

try {
  const pyodide = await bootPython();
  const entry = pyodide.pyimport("snippet.entry");
  self.footfallStart = (message) => entry.start(message);
  const bootMs = Math.round(performance.now() - bootStarted);
  // The loader answers "booted" with the boot message carrying every record it buffered.
  self.postMessage(JSON.stringify({ op: "booted", boot_ms: bootMs }));
  for (const message of inbox.splice(0)) deliver(message);
} catch (error) {
  warn("could not start the tracker: " + error);
}

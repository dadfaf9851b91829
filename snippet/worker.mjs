// Footfall's module worker: boots Pyodide from the Footfall server, installs the snippet wheel and
// hands every message from the loader to Python (docs/protocol.md). It decides nothing itself.
// build.py fills in the __PLACEHOLDERS__; URLs are relative to this file, so the worker works
// whether it was started directly or imported from a blob: URL on another origin.
//
// Repeat visits boot from a memory snapshot of the interpreter kept in the host page's Cache
// Storage (docs/protocol.md, section 5). The snapshot is taken right after the interpreter starts,
// before our wheel is installed and before any message is read, so it holds no visitor data: only
// Pyodide's own state and a few standard modules, the same for every visitor of this build. It is
// written only once Python says the page may store things (the `storage` op), and deleted when it
// says it may not.
import { loadPyodide } from "__RUNTIME_DIR__pyodide.mjs";

const INSTALLER = "__INSTALLER__"; // "lockfile" or "micropip", chosen at build time
const RUNTIME_URL = new URL("__RUNTIME_DIR__", import.meta.url).href;
const WHEEL_URL = new URL("__WHEEL_PATH__", import.meta.url).href;
const MICROPIP_URL = new URL("__MICROPIP_PATH__", import.meta.url).href;
const LOCK_INFO = __LOCK_INFO__;
// One cache per build: the runtime's folder is runtime/<version>/ and ours is w/<content hash>/,
// so a new build never restores an older build's snapshot.
const SNAPSHOT_PREFIX = "footfall-snapshot ";
const SNAPSHOT_CACHE =
  SNAPSHOT_PREFIX + RUNTIME_URL.split("/").at(-2) + " " + import.meta.url.split("/").at(-2);
const SNAPSHOT_KEY = new URL("snapshot", import.meta.url).href;

const inbox = []; // messages that arrive before Python can take them, in order
let tracker = null;
let unsavedSnapshot = null; // made on this visit, kept until Python allows storing it
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

// Python posts every op through here (snippet/pyodide_browser.py): each goes on to the loader,
// and the worker itself acts on `storage`, one decision at a time in Python's order (an optOut
// must not race a write still in progress).
let storageWork = Promise.resolve();
self.footfallPostOp = (name, text) => {
  self.postMessage(text);
  if (name === "storage") {
    const mayStore = JSON.parse(text).may_store === true;
    storageWork = storageWork.then(() => (mayStore ? saveSnapshot() : forgetSnapshots()));
  }
};

// ---- snapshots in Cache Storage ------------------------------------------------------------
// Every failure here is expected somewhere (no Cache Storage on an insecure or opaque origin,
// storage disabled, quota): it only means the next visit boots without a snapshot.

// What Cache Storage holds for this build: {usable: false} when it cannot be used here, else
// `bytes`, null when there is no snapshot yet (empty when this build's snapshot failed to restore
// or to fit here). Matching by cache name creates nothing, as opening a cache would.
async function storedSnapshot() {
  try {
    const response = await self.caches.match(SNAPSHOT_KEY, { cacheName: SNAPSHOT_CACHE });
    return { usable: true, bytes: response ? new Uint8Array(await response.arrayBuffer()) : null };
  } catch {
    return { usable: false, bytes: null };
  }
}

async function saveSnapshot() {
  const bytes = unsavedSnapshot;
  unsavedSnapshot = null;
  await forgetSnapshots((name) => name !== SNAPSHOT_CACHE);
  if (bytes === null) return;
  try {
    const cache = await self.caches.open(SNAPSHOT_CACHE);
    await cache.put(SNAPSHOT_KEY, new Response(bytes)).catch(() => {
      // No room: an empty entry stops this build from making snapshots it cannot keep.
      return cache.put(SNAPSHOT_KEY, new Response(new Uint8Array(0)));
    });
  } catch {
    /* no Cache Storage after all: the next visit boots fresh */
  }
}

async function forgetSnapshots(which = () => true) {
  try {
    for (const name of await self.caches.keys()) {
      if (name.startsWith(SNAPSHOT_PREFIX) && which(name)) await self.caches.delete(name);
    }
  } catch {
    /* nothing we could have stored */
  }
}

// ---- booting -------------------------------------------------------------------------------

// An inline lock file: Pyodide needs neither the 119 KB stock lock file nor its package index.
const OPTIONS = {
  indexURL: RUNTIME_URL,
  lockFileContents: { info: LOCK_INFO, packages: {} },
  packageBaseUrl: RUNTIME_URL,
};

// Our wheel, fetched while Pyodide boots.
function fetchWheel() {
  const bytes = fetch(WHEEL_URL).then((response) => {
    if (!response.ok) throw new Error(`${WHEEL_URL}: HTTP ${response.status}`);
    return response.arrayBuffer();
  });
  bytes.catch(() => {}); // reported where it is awaited
  return bytes;
}

// Unpacking the wheel ourselves takes a fraction of what loadPackage (or the `packages` option)
// takes on a just-restored interpreter, and it cannot be in the snapshot (docs/protocol.md, 5).
async function installWheel(pyodide, wheel) {
  if (INSTALLER === "micropip") {
    await pyodide.loadPackage(MICROPIP_URL, { messageCallback: () => {} });
    await pyodide.pyimport("micropip").install(WHEEL_URL, { deps: false });
  } else {
    const sitePackages = pyodide.runPython("import site; site.getsitepackages()[0]");
    pyodide.unpackArchive(await wheel, "wheel", { extractDir: sitePackages });
  }
}

// A null answer means the snapshot did not restore; the caller boots without it.
async function bootFromSnapshot(snapshot) {
  try {
    const pyodide = await loadPyodide({ ...OPTIONS, _loadSnapshot: snapshot });
    pyodide.runPython("import random; random.seed()"); // the snapshot froze the generator's state
    return pyodide;
  } catch (error) {
    warn("the stored boot snapshot did not restore; booting without it: " + error);
    unsavedSnapshot = new Uint8Array(0); // stored in its place, so this build stops trying here
    return null;
  }
}

// A null answer means booting with `_makeSnapshot` failed; the caller boots without it.
async function bootMakingSnapshot() {
  let pyodide;
  try {
    pyodide = await loadPyodide({ ...OPTIONS, _makeSnapshot: true });
  } catch (error) {
    warn("booting to make a boot snapshot failed; booting without it: " + error);
    return null;
  }
  try {
    // Nothing of ours has run yet: no JS reference held, no package loaded, no visitor data.
    // Only standard modules the tracker imports, which Pyodide's boot has not, are added: in
    // the snapshot they cost later visits nothing (a stale list costs time, never correctness).
    pyodide.runPython("import datetime, secrets, urllib.parse");
    unsavedSnapshot = pyodide.makeMemorySnapshot();
  } catch (error) {
    warn("could not make a boot snapshot: " + error);
  }
  return pyodide;
}

// "snapshot" when a stored snapshot restored; else "fresh", making a snapshot for the next visit
// when Cache Storage works here and holds none for this build yet.
async function bootPython() {
  const wheel = INSTALLER === "lockfile" ? fetchWheel() : null;
  const stored = await storedSnapshot();
  const restored = stored.bytes?.length ? await bootFromSnapshot(stored.bytes) : null;
  const made =
    !restored && stored.usable && stored.bytes === null ? await bootMakingSnapshot() : null;
  const pyodide = restored || made || (await loadPyodide(OPTIONS));
  await installWheel(pyodide, wheel);
  return { pyodide, mode: restored ? "snapshot" : "fresh" };
}

try {
  const { pyodide, mode } = await bootPython();
  const entry = pyodide.pyimport("snippet.entry");
  self.footfallStart = (message) => entry.start(message);
  const bootMs = Math.round(performance.now() - bootStarted);
  // The loader answers "booted" with the boot message carrying every record it buffered.
  self.postMessage(JSON.stringify({ op: "booted", boot_ms: bootMs, boot: mode }));
  for (const message of inbox.splice(0)) deliver(message);
} catch (error) {
  warn("could not start the tracker: " + error);
}

// Footfall's module worker: boots Pyodide from the Footfall server and hands every message from
// the loader to Python (docs/protocol.md). It decides nothing itself. build.py fills in the
// __PLACEHOLDERS__; URLs are relative to this file, so the worker works whether it was started
// directly or imported from a blob: URL on another origin.
//
// It boots by restoring the boot snapshot build.py made (docs/protocol.md, section 5): the
// interpreter with the snippet wheel installed and every tracker module imported, before any
// visitor existed. It is an immutable file in the HTTP cache, like the runtime, so a first visit
// restores it too; the worker stores nothing itself.

// The boot file is the biggest: its fetch starts first, before the runtime's own loader. It is
// the runtime's wasm followed by the snapshot, which holds the wasm's data segments again: one
// compressed stream finds them, two files would download them twice (build.py).
const BOOT_URL = new URL("__BOOT_PATH__", import.meta.url).href;
const WASM_BYTES = __WASM_BYTES__;
const SNAPSHOT_OFFSET = __SNAPSHOT_OFFSET__; // zeros pad the wasm to a multiple of 8
const BOOT_BYTES = __BOOT_BYTES__;
let [wasmPart, snapshotPart] = fetchBootFile(); // each dropped once taken: they are 41 MB
const RUNTIME_URL = new URL("__RUNTIME_DIR__", import.meta.url).href;
const runtime = import(RUNTIME_URL + "pyodide.mjs"); // fetched while the boot file downloads
const WASM_URL = RUNTIME_URL + "pyodide.asm.wasm";
const WHEEL_URL = new URL("__WHEEL_PATH__", import.meta.url).href;
// Everything the tracker imports is in the snapshot: a restore needs no standard library.
const EMPTY_STDLIB_URL = new URL("__EMPTY_STDLIB_PATH__", import.meta.url).href;
const LOCK_INFO = __LOCK_INFO__;
// What earlier versions kept in the page's Cache Storage: deleted once the tracker is up.
const OLD_SNAPSHOT_PREFIX = "footfall-snapshot ";

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

// Python posts every op through here (snippet/pyodide_browser.py), with its name; each goes on to
// the loader.
self.footfallPostOp = (_name, text) => {
  self.postMessage(text);
};

function fetchBootFile() {
  const parts = fetchBytes(BOOT_URL).then((buffer) => {
    if (buffer.byteLength !== BOOT_BYTES) {
      throw new Error(`${BOOT_URL}: ${buffer.byteLength} bytes, not ${BOOT_BYTES}`);
    }
    return [new Uint8Array(buffer, 0, WASM_BYTES), new Uint8Array(buffer, SNAPSHOT_OFFSET)];
  });
  const wasm = parts.then(([bytes]) => bytes);
  const snapshot = parts.then(([, bytes]) => bytes);
  wasm.catch(() => {}); // reported where they are awaited
  snapshot.catch(() => {});
  return [wasm, snapshot];
}

function fetchBytes(url) {
  const bytes = fetch(url).then((response) => {
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.arrayBuffer();
  });
  bytes.catch(() => {}); // reported where it is awaited
  return bytes;
}

// Earlier versions kept a 31 MB snapshot in the page's Cache Storage. No Cache Storage here
// (an insecure or opaque origin) means there is nothing of ours in it either.
async function forgetOldSnapshots() {
  try {
    for (const name of await self.caches.keys()) {
      if (name.startsWith(OLD_SNAPSHOT_PREFIX)) await self.caches.delete(name);
    }
  } catch {
    /* nothing we could have stored */
  }
}

// ---- delivery: sending, the retry queue, tabs (docs/protocol.md, section 9) ----------------
// The JS halves of snippet/pyodide_browser.py's send and store_* methods. Python decides what
// is sent, kept and deleted; this only moves bytes, in the order Python asked.

// Chromium fails a keepalive fetch once the keepalive bodies in flight pass 64 KiB together;
// keepalive is what lets a request outlive its page, so it goes to the requests that fit.
const KEEPALIVE_QUOTA_BYTES = 60_000;
const GZIP_MIN_BYTES = 16_000; // smaller bodies gain too little to pay for compressing
let keepaliveBytes = 0;

async function gzipped(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// text/plain and no credentials: no CORS preflight. The collector finds gzip by its magic
// bytes, so no Content-Encoding header (which would need a preflight) is sent.
self.footfallSend = async (url, body) => {
  let data = new TextEncoder().encode(body);
  if (data.length >= GZIP_MIN_BYTES && self.CompressionStream) {
    data = await gzipped(data).catch(() => data);
  }
  const keepalive = keepaliveBytes + data.length <= KEEPALIVE_QUOTA_BYTES;
  if (keepalive) keepaliveBytes += data.length;
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "text/plain;charset=UTF-8" },
      body: data,
      credentials: "omit",
      keepalive,
    });
    await response.arrayBuffer(); // until the body is read, the request holds its quota
    return { status: response.status, retryAfter: response.headers.get("Retry-After") };
  } catch {
    return { status: 0, retryAfter: null };
  } finally {
    if (keepalive) keepaliveBytes -= data.length;
  }
};

self.footfallIsOnline = () => self.navigator.onLine;
self.footfallOnOnline = (callback) => self.addEventListener("online", () => callback());

// Each worker holds the Web Lock "footfall-tab <id>" for its life: a record kept by a tab whose
// lock nobody holds belongs to a page that is gone, and the next boot takes it over.
const TAB_ID = crypto.randomUUID();
const TAB_LOCK_PREFIX = "footfall-tab ";
self.navigator.locks?.request(TAB_LOCK_PREFIX + TAB_ID, () => new Promise(() => {})).catch(() => {});

const QUEUE_DB = "footfall-queue";
let queueDb = null;
let queueWork = Promise.resolve(); // one IndexedDB job at a time, in Python's order

function openQueue() {
  queueDb ??= new Promise((resolve, reject) => {
    const request = self.indexedDB.open(QUEUE_DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore("records", { keyPath: ["app", "id"] });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  queueDb.catch(() => (queueDb = null));
  return queueDb;
}

// Deleting must not create the database (nothing is stored while consent forbids it).
async function queueExists() {
  if (queueDb !== null) return true;
  const databases = await self.indexedDB.databases?.();
  return !databases || databases.some((database) => database.name === QUEUE_DB);
}

function inTransaction(db, fill) {
  return new Promise((resolve, reject) => {
    const transaction = db.transaction("records", "readwrite");
    const result = fill(transaction.objectStore("records"));
    transaction.oncomplete = () => resolve(result);
    transaction.onerror = transaction.onabort = () => reject(transaction.error);
  });
}

function appRange(app) {
  return IDBKeyRange.bound([app, ""], [app, "\uffff"]);
}

// Storage can be blocked or full anywhere: then nothing is kept, and tracking goes on.
function queueJob(job, fallback) {
  const done = queueWork.then(job).catch(() => fallback);
  queueWork = done;
  return done;
}

async function adoptRecords(app) {
  if (!(await queueExists())) return "[]";
  const db = await openQueue();
  const takeOver = async () => {
    const alive = new Set();
    for (const lock of (await self.navigator.locks?.query())?.held ?? []) alive.add(lock.name);
    const adopted = [];
    await inTransaction(db, (store) => {
      const cursor = store.openCursor(appRange(app));
      cursor.onsuccess = () => {
        const at = cursor.result;
        if (!at) return;
        const kept = at.value;
        // Without Web Locks nobody can tell a live tab; the collector stores each id once.
        if (kept.tab !== TAB_ID && !alive.has(TAB_LOCK_PREFIX + kept.tab)) {
          at.update({ ...kept, tab: TAB_ID });
          adopted.push(kept.json);
        }
        at.continue();
      };
    });
    return JSON.stringify(adopted);
  };
  // One boot at a time, so two tabs never take over the same record.
  return self.navigator.locks ? self.navigator.locks.request("footfall-queue " + app, takeOver) : takeOver();
}

self.footfallStore = {
  put: (app, pairs) =>
    queueJob(async () => {
      const db = await openQueue();
      await inTransaction(db, (store) => {
        for (const [id, json] of JSON.parse(pairs)) store.put({ app, id, json, tab: TAB_ID });
      });
    }),
  delete: (app, ids) =>
    queueJob(async () => {
      if (!(await queueExists())) return;
      const db = await openQueue();
      await inTransaction(db, (store) => {
        for (const id of JSON.parse(ids)) store.delete([app, id]);
      });
    }),
  clear: (app) =>
    queueJob(async () => {
      if (!(await queueExists())) return;
      const db = await openQueue();
      await inTransaction(db, (store) => store.delete(appRange(app)));
    }),
  adopt: (app) => queueJob(() => adoptRecords(app), "[]"),
};

// ---- booting -------------------------------------------------------------------------------

// At every start, Emscripten gives each JS function whose address the runtime takes (260 of
// them: WebGL's and the console's, none the tracker's) a wasm table slot by compiling a
// one-function wasm module of its own, synchronously. They come in 29 signatures, and the bytes
// depend on the signature only: one compiled module per signature, instantiated for each function,
// is the same table with 29 compiles instead of 260 (bench/README.md).
const TINY_MODULE_BYTES = 64;
const compiledTinyModules = new Map();
WebAssembly.Module = new Proxy(WebAssembly.Module, {
  construct(compile, args) {
    const [bytes] = args;
    if (!(bytes instanceof Uint8Array) || bytes.length > TINY_MODULE_BYTES) {
      return Reflect.construct(compile, args);
    }
    const key = bytes.join();
    let module = compiledTinyModules.get(key);
    if (module === undefined) {
      module = Reflect.construct(compile, args);
      compiledTinyModules.set(key, module);
    }
    return module;
  },
});

// loadPyodide fetches the wasm itself as it starts: its first fetch of it is answered from the
// boot file (from the network if the boot file did not arrive whole).
const fetchFromNetwork = self.fetch.bind(self);
self.fetch = (input, init) => {
  if (wasmPart === null || String(input) !== WASM_URL) return fetchFromNetwork(input, init);
  const wasm = wasmPart;
  wasmPart = null;
  return wasm.then(
    (bytes) => new Response(bytes, { headers: { "Content-Type": "application/wasm" } }),
    () => fetchFromNetwork(input, init),
  );
};

// An inline lock file: Pyodide needs neither the 119 KB stock lock file nor its package index.
const OPTIONS = {
  indexURL: RUNTIME_URL,
  lockFileContents: { info: LOCK_INFO, packages: {} },
  packageBaseUrl: RUNTIME_URL,
};

// A null answer means the snapshot did not restore (unreachable, or not this runtime's); the
// caller boots without it.
async function bootFromSnapshot() {
  try {
    const { loadPyodide } = await runtime;
    const pyodide = await loadPyodide({
      ...OPTIONS,
      stdLibURL: EMPTY_STDLIB_URL,
      _loadSnapshot: handOver(),
    });
    pyodide.runPython("import random; random.seed()"); // the snapshot froze the generator's state
    return pyodide;
  } catch (error) {
    warn("the boot snapshot did not restore; booting without it: " + error);
    return null;
  }
}

// Pyodide keeps its options for the worker's life: handed a promise, it would keep the 41 MB it
// resolves to. A thenable it awaits once lets them go once copied into the interpreter's memory.
function handOver() {
  return {
    then(resolve, reject) {
      const bytes = snapshotPart;
      snapshotPart = null;
      return bytes.then(resolve, reject);
    },
  };
}

// The slow way: start the interpreter from its standard library and unpack our wheel.
async function bootFresh() {
  const wheel = fetchBytes(WHEEL_URL);
  const { loadPyodide } = await runtime;
  const pyodide = await loadPyodide(OPTIONS);
  const sitePackages = pyodide.runPython("import site; site.getsitepackages()[0]");
  pyodide.unpackArchive(await wheel, "wheel", { extractDir: sitePackages });
  return pyodide;
}

async function bootPython() {
  const restored = await bootFromSnapshot();
  return restored
    ? { pyodide: restored, mode: "snapshot" }
    : { pyodide: await bootFresh(), mode: "fresh" };
}

try {
  const { pyodide, mode } = await bootPython();
  const entry = pyodide.pyimport("snippet.entry");
  self.footfallStart = (message) => entry.start(message);
  const bootMs = Math.round(performance.now() - bootStarted);
  // The loader answers "booted" with the boot message carrying every record it buffered.
  self.postMessage(JSON.stringify({ op: "booted", boot_ms: bootMs, boot: mode }));
  for (const message of inbox.splice(0)) deliver(message);
  forgetOldSnapshots();
} catch (error) {
  warn("could not start the tracker: " + error);
}

// Footfall's loader, served as /js/heap-<appId>.js for Heap's classic install snippet and as
// /config/<envId>/heap_config.js for its current one.
// It observes and applies; Python in the worker decides (docs/protocol.md). It must never throw
// into the host page: every entry point is wrapped, and the builtins it needs are taken at load
// and called through Reflect.apply, so a page that replaces them later cannot break us.
(function () {
  "use strict";
  var WORKER_PATH = "__WORKER_PATH__"; // filled in by build.py, relative to this script
  var CHAIN_MAX = 64; // elements from the target up to <body>
  var DETAIL_MAX = 8; // elements that carry text and cursor
  var ATTR_MAX = __OBSERVED_ATTR_MAX__; // snippet/wire.py, filled in by build.py
  var TEXT_MAX = __OBSERVED_TEXT_MAX__;
  var DEPTH_MAX = 64; // nesting of a call's arguments
  var BUFFER_MAX = 1000; // records kept while Python starts (it may never: CSP, no WebAssembly)
  // The journal (docs/protocol.md, section 6): what Python has not handled when the page hides.
  var JOURNAL_MAX_RECORDS = 1000; // all entries together, oldest kept
  var JOURNAL_MAX_CHARS = 500000; // one page's entry (localStorage counts UTF-16 characters)
  var JOURNAL_MAX_AGE_MS = 7 * 24 * 3600 * 1000;
  var USER_ID = /^[1-9]\d{14,15}$/; // new_numeric_id's form: user and session ids
  var SESSION_MS = 30 * 60 * 1000; // snippet/session.py's SESSION_TIMEOUT_MS
  var REDACT_TEXT = "data-heap-redact-text";
  // The calls Python handles (both snippets' methods but the readers, onReady and init).
  var METHODS = [
    "track", "identify", "resetIdentity", "addUserProperties", "addEventProperties",
    "removeEventProperty", "clearEventProperties", "setEventProperties", "unsetEventProperty",
    "optIn", "optOut", "startTracking", "stopTracking", "addAccountProperties", "addAdapter",
    "addTransformer", "addTransformerFn", "addPageviewProperties", "removePageviewProperty",
    "clearPageviewProperties", "trackPageview",
  ];

  // ---- builtins, taken at load -------------------------------------------------------------
  var W = window;
  var D = document;
  var apply = Reflect.apply;
  var stringify = JSON.stringify;
  var parseJson = JSON.parse;
  var dateNow = Date.now;
  var random = Math.random;
  var con = W.console;
  var consoleWarn = con && con.warn;
  var cookieProperty = Object.getOwnPropertyDescriptor(Document.prototype, "cookie") || {};
  var StorageProto = W.Storage ? W.Storage.prototype : {};
  var storage = null; // localStorage, or null where it throws (opaque origin, blocked)
  try {
    storage = W.localStorage;
  } catch (error) {
    /* no storage: no journal */
  }
  var cryptoObject = W.crypto;
  var getRandomValues = cryptoObject && cryptoObject.getRandomValues;
  var sendBeaconFn = navigator.sendBeacon;
  var locks = navigator.locks;
  var WorkerClass = W.Worker;
  var WasmModule = W.WebAssembly && W.WebAssembly.Module;
  var microtask = W.queueMicrotask;
  var later = W.setTimeout;
  var computedStyle = W.getComputedStyle;
  var BlobClass = W.Blob;
  var URLClass = W.URL;
  var historyProto = W.History && W.History.prototype;
  var DateTimeFormat = W.Intl && W.Intl.DateTimeFormat;

  var warned = {};
  var blocked = false; // warnBlocked() spoke

  function warnOnce(message) {
    if (warned[message]) return;
    warned[message] = true;
    try {
      if (typeof consoleWarn === "function") apply(consoleWarn, con, ["[footfall] " + message]);
    } catch (error) {
      /* a console that throws: nothing left to tell the page with */
    }
  }

  function guard(fn) {
    return function () {
      try {
        return apply(fn, this, arguments);
      } catch (error) {
        warnOnce("internal error: " + text(error));
      }
    };
  }

  // String(x), or a placeholder for what cannot become a string (Object.create(null), a throwing
  // toString).
  function text(value) {
    try {
      return String(value);
    } catch (error) {
      return "[unprintable]";
    }
  }

  function json(value, replacer) {
    return apply(stringify, JSON, [value, replacer]);
  }

  // Array.prototype.slice and concat, without calling them: a page may have replaced them.
  function append(out, list, from, to) {
    for (var i = from || 0; i < Math.min(list.length, to === undefined ? list.length : to); i++) {
      out[out.length] = list[i];
    }
    return out;
  }

  function readCookies() {
    try {
      return text(apply(cookieProperty.get, D, []));
    } catch (error) {
      return "";
    }
  }

  function writeCookie(assignment) {
    try {
      apply(cookieProperty.set, D, [assignment]);
    } catch (error) {
      /* cookies blocked: Python's state stays in memory */
    }
  }

  function store(method, args) {
    try {
      return storage ? apply(StorageProto[method], storage, args) : null;
    } catch (error) {
      return null; // full, blocked or throwing: the journal is best effort
    }
  }

  function randomBytes(count) {
    var bytes = new Uint8Array(count);
    try {
      apply(getRandomValues, cryptoObject, [bytes]);
    } catch (error) {
      for (var i = 0; i < count; i++) bytes[i] = apply(random, Math, []) * 256;
    }
    return bytes;
  }

  // A record id: 32 lowercase hex characters.
  function newId() {
    var bytes = randomBytes(16);
    var hex = "";
    for (var i = 0; i < 16; i++) hex += (bytes[i] + 256).toString(16).substring(1);
    return hex;
  }

  // A first visit's user id or a proposed session id, as snippet/ids.py new_numeric_id: 15-16
  // digits below 2**53.
  function newNumericId() {
    var bytes = randomBytes(7);
    var value = 0;
    for (var i = 0; i < 7; i++) value = value * 256 + bytes[i];
    var low = 1e14;
    return text(low + (value % (9007199254740992 - low)));
  }

  // ---- the page -------------------------------------------------------------------------------

  var heap;
  var appId;
  try {
    heap = W.heap;
    // No snippet, or a second copy of us. The classic snippet sets appid and config, the
    // current one envId and clientConfig.
    if (!heap || heap.__footfall || !(heap.appid || heap.envId)) return;
    appId = text(heap.appid || heap.envId);
  } catch (error) {
    warnOnce("heap.appid cannot be read; the tracker does not start: " + text(error));
    return;
  }
  var script = D.currentScript;
  var scriptUrl = (script && script.src) || location.href;
  var opaqueOrigin = location.origin === "null" || W.origin === "null";
  var JOURNAL_PREFIX = "_ff_journal." + appId + ".";
  var UID_KEY = "_ff_uid." + appId;
  var SID_KEY = "_ff_sid." + appId; // "<proposed session id>:<ms>" while no session cookie
  var BEACON_SENT_KEY = "_ff_beacon_sent." + appId; // event ids a beacon took (protocol.md, 1)
  var BEACON_SENT_MAX = 5000;
  var FALLBACK_SENDS = 2; // times a navigation goes to the fallback endpoint, at most
  var pageToken = newId();
  var entries = []; // this page's journal entries: {key, records}
  var journaled = {}; // ids of the records in them
  var journalWrites = 0;

  var buffered = []; // records made before Python is ready, handed over at boot
  var outbox = []; // records waiting for the next microtask
  var unacked = {}; // seq -> the records of a message Python has not handled yet
  var seq = 0;
  var worker = null;
  var pythonReady = false;
  var mayStorePython = null; // Python's last `storage` op, null before it
  var hidden = false;
  var fallbackSends = {}; // navigation id -> times sent to the fallback endpoint
  var beacon = null; // {url, chunks, chunk_ids} prepared by Python for pagehide
  var proposedUserId = null; // a first visit's user id, before Python keeps it
  var proposedSessionId = null; // for a session Python starts at boot (protocol.md, 1)
  var sessionId = null; // Python's, for heap.getSessionId()
  var pythonSession = false; // Python said which session this page is in

  function page() {
    return { url: location.href, title: text(D.title), referrer: D.referrer };
  }

  function record(rec) {
    rec.id = newId();
    rec.time = apply(dateNow, Date, []);
    if (!pythonReady) {
      if (buffered.length < BUFFER_MAX) buffered[buffered.length] = rec;
      else warnOnce("the tracker has not started; what happens on this page is not kept");
      return;
    }
    outbox[outbox.length] = rec;
    if (outbox.length === 1) apply(microtask, W, [guard(flushOutbox)]);
  }

  function flushOutbox() {
    if (outbox.length) post({ records: outbox.splice(0) });
  }

  function post(message) {
    message.seq = ++seq;
    message.cookies = readCookies();
    unacked[seq] = message.records;
    worker.postMessage(json(message));
  }

  // Every record observed and not handled by Python yet, in the order observed.
  function pending() {
    var all = [];
    for (var key in unacked) append(all, unacked[key]);
    return append(append(all, buffered), outbox);
  }

  // Structured copy of call arguments: functions and DOM nodes cannot cross to the worker.
  function plainArgs(args) {
    var out = [];
    for (var i = 0; i < args.length; i++) {
      try {
        var copy = json(args[i], depthLimited());
        out[i] = copy === undefined ? null : apply(parseJson, JSON, [copy]);
      } catch (error) {
        out[i] = text(args[i]);
      }
    }
    return out;
  }

  // A JSON.stringify replacer that cuts objects nested past DEPTH_MAX: Python's recursion limit
  // stops data nested thousands deep, losing the record (or, in its JSON parser, the message).
  function depthLimited() {
    var depths = new WeakMap();
    return function (key, value) {
      if (value === null || typeof value !== "object") return value;
      var depth = (depths.get(this) || 0) + 1; // `this` is the object holding `value`
      if (depth > DEPTH_MAX) return "[nested too deeply]";
      depths.set(value, depth);
      return value;
    };
  }

  function call(method, args) {
    record({ kind: "call", method: method, args: plainArgs(args), page: page() });
  }

  // ---- the element chain -------------------------------------------------------------------

  function textOf(element) {
    var parts = [];
    var total = 0;
    var walker = D.createTreeWalker(element, NodeFilter.SHOW_TEXT);
    var node;
    while ((node = walker.nextNode()) && total < TEXT_MAX) {
      var value = node.nodeValue;
      if (!value || !value.trim()) continue;
      value = value.substring(0, TEXT_MAX - total);
      total += value.length;
      var marker = null; // the nearest marker's value, up to `element`: Python decides
      for (var el = node.parentElement; el; el = el.parentElement) {
        if (el.hasAttribute(REDACT_TEXT)) {
          marker = el.getAttribute(REDACT_TEXT);
          break;
        }
        if (el === element) break;
      }
      parts[parts.length] = [value, marker];
    }
    return parts;
  }

  function describe(element, detailed, withCursor) {
    var attrs = {};
    for (var i = 0; i < element.attributes.length; i++) {
      var attr = element.attributes[i];
      attrs[attr.name] = attr.value.substring(0, ATTR_MAX);
    }
    var item = { tag: element.tagName.toLowerCase(), attrs: attrs, text: [] };
    if (detailed) {
      item.text = textOf(element);
      if (withCursor) item.cursor = apply(computedStyle, W, [element]).cursor;
    }
    return item;
  }

  function chainOf(target, withCursor) {
    var chain = [];
    var element = target && target.nodeType === 1 ? target : target && target.parentElement;
    while (element && element !== D.body && element !== D.documentElement) {
      if (chain.length >= CHAIN_MAX) break;
      chain[chain.length] = describe(element, chain.length < DETAIL_MAX, withCursor);
      element = element.parentElement || (element.getRootNode && element.getRootNode().host);
    }
    return chain;
  }

  var lastUrl = null;

  // A history change we were not told of (a page that replaced history.pushState without
  // calling ours) is noticed at the next interaction.
  function noticeUrl() {
    if (lastUrl !== null && location.href !== lastUrl) onNavigate("url_change");
  }

  function onInteraction(event) {
    noticeUrl();
    var chain = chainOf(event.composedPath ? event.composedPath()[0] : event.target,
                        event.type === "click");
    if (chain.length) record({ kind: event.type, page: page(), chain: chain });
  }

  function onNavigate(cause) {
    var rec = { kind: "navigate", page: page(), cause: cause };
    if (lastUrl !== null) rec.from = lastUrl; // for a tracker that never saw the page before
    lastUrl = location.href;
    record(rec);
  }

  // ---- consent, the journal and the no-Python fallback -------------------------------------

  function cookieValue(name) {
    var cookies = readCookies().split("; ");
    for (var i = 0; i < cookies.length; i++) {
      if (cookies[i].indexOf(name + "=") === 0) return cookies[i].substring(name.length + 1);
    }
    return null;
  }

  // Whether the page may keep or send anything of ours: Python's answer once it gave one, else
  // the consent cookie Python wrote ("1" in, "0" out) and heap.config.requireConsent.
  function mayStore() {
    if (mayStorePython !== null) return mayStorePython;
    var consent = cookieValue("_ff_consent." + appId);
    if (consent === "0") return false;
    if (consent === "1") return true;
    try {
      return !(heap.config && heap.config.requireConsent);
    } catch (error) {
      return false;
    }
  }

  function journalKeys() {
    var keys = [];
    var count = 0;
    try {
      count = storage ? storage.length : 0;
    } catch (error) {
      /* storage that throws holds no journal */
    }
    for (var i = 0; i < count; i++) {
      var key = store("key", [i]);
      if (key && key.indexOf(JOURNAL_PREFIX) === 0) keys[keys.length] = key;
    }
    return keys;
  }

  function forgetJournal() {
    var keys = journalKeys();
    for (var i = 0; i < keys.length; i++) store("removeItem", [keys[i]]);
    store("removeItem", [UID_KEY]);
    store("removeItem", [SID_KEY]);
    entries = [];
    journaled = {};
  }

  // One write-once entry (a claimer that read a key may remove it without losing a later
  // write); too big, it keeps the oldest records that fit.
  function writeEntry(records) {
    var entry;
    while (records.length) {
      entry = json({ written: apply(dateNow, Date, []), records: records });
      if (entry.length <= JOURNAL_MAX_CHARS) break;
      records = append([], records, 0, Math.floor(records.length / 2));
    }
    if (!records.length) return;
    var key = JOURNAL_PREFIX + pageToken + "." + ++journalWrites;
    store("setItem", [key, entry]);
    entries[entries.length] = { key: key, records: records };
    for (var i = 0; i < records.length; i++) journaled[records[i].id] = true;
  }

  // At hide: what Python has not handled and no entry of ours holds yet.
  function saveJournal() {
    if (!mayStore()) return forgetJournal();
    var fresh = [];
    var all = pending();
    for (var i = 0; i < all.length; i++) {
      var kind = all[i].kind;
      if (kind !== "hide" && kind !== "cookie_domain" && !journaled[all[i].id]) {
        fresh[fresh.length] = all[i];
      }
    }
    writeEntry(fresh);
    var userId = text(heap.userId);
    if (USER_ID.test(userId) && cookieValue("_hp2_id." + appId) === null) {
      store("setItem", [UID_KEY, userId]); // the next page proposes it again
    }
    if (!pythonSession && cookieValue("_hp2_ses_props." + appId) === null) {
      // The collector may start the session with it: the next page's replay must too. Not
      // once Python decided (its session cookie may have just expired: that session is over).
      store("setItem", [SID_KEY, proposedSessionId + ":" + apply(dateNow, Date, [])]);
    }
  }

  // Python handled `records` while the page was hidden: no entry may hold them any longer.
  function unjournal(records) {
    var done = {};
    for (var i = 0; i < records.length; i++) done[records[i].id] = true;
    var old = entries;
    entries = [];
    for (var j = 0; j < old.length; j++) {
      var rest = [];
      for (var k = 0; k < old[j].records.length; k++) {
        if (!done[old[j].records[k].id]) rest[rest.length] = old[j].records[k];
      }
      if (rest.length === old[j].records.length) {
        entries[entries.length] = old[j];
        continue;
      }
      store("removeItem", [old[j].key]);
      writeEntry(rest);
    }
  }

  // Visible again: our entries are ours to handle after all, unless another page claimed
  // one meanwhile; its records not yet sent to Python are then that page's.
  function reclaimJournal() {
    var lost = {};
    for (var i = 0; i < entries.length; i++) {
      if (store("getItem", [entries[i].key]) === null) {
        for (var j = 0; j < entries[i].records.length; j++) lost[entries[i].records[j].id] = true;
      } else {
        store("removeItem", [entries[i].key]);
      }
    }
    var kept = [];
    for (var k = 0; k < buffered.length; k++) if (!lost[buffered[k].id]) kept[kept.length] = buffered[k];
    buffered = kept;
    entries = [];
    journaled = {};
  }

  // Takes every other page's entry (under a Web Lock where the browser has them, so two tabs
  // never take the same one) and puts its records first in line for Python.
  function claimJournal() {
    if (!mayStore()) return forgetJournal();
    var take = guard(function () {
      var now = apply(dateNow, Date, []);
      var seen = {};
      var claimed = [];
      var keys = journalKeys();
      for (var i = 0; i < keys.length; i++) {
        if (keys[i].indexOf(JOURNAL_PREFIX + pageToken + ".") === 0) continue;
        var entry = null;
        try {
          entry = apply(parseJson, JSON, [store("getItem", [keys[i]])]);
        } catch (error) {
          /* unreadable: dropped below */
        }
        store("removeItem", [keys[i]]);
        var records = (entry && entry.records) || [];
        for (var j = 0; j < records.length; j++) {
          var rec = records[j];
          if (rec && rec.id && !seen[rec.id] && now - rec.time < JOURNAL_MAX_AGE_MS) {
            seen[rec.id] = true;
            claimed[claimed.length] = rec;
          }
        }
      }
      if (!claimed.length) return;
      claimed.sort(function (a, b) { return a.time - b.time; });
      claimed = append([], claimed, 0, JOURNAL_MAX_RECORDS);
      if (pythonReady) post({ records: claimed });
      else buffered = append(claimed, buffered);
    });
    try {
      if (locks && locks.request) return apply(locks.request, locks, ["_ff_journal." + appId, take]);
    } catch (error) {
      /* no Web Locks after all */
    }
    take();
  }

  function ourCookies() {
    var names = ["_hp2_id.", "_hp2_ses_props.", "_hp2_props.", "_ff_consent."];
    var kept = [];
    for (var i = 0; i < names.length; i++) {
      var value = cookieValue(names[i] + appId);
      if (value !== null) kept[kept.length] = names[i] + appId + "=" + value;
    }
    return kept.join("; ");
  }

  function bootInfo() {
    var info = {
      app_id: appId,
      config: plainArgs([heap.config || {}])[0],
      server: new URLClass(scriptUrl).origin,
      hostname: location.hostname,
      protocol: location.protocol,
      in_iframe: W.top !== W.self,
      context: deviceContext(),
    };
    if (proposedUserId) info.user_id = proposedUserId;
    info.session_id = proposedSessionId;
    return info;
  }

  // The visitor's device, sent with every event (docs/protocol.md, section 1); Python checks it.
  function deviceContext() {
    var context = {};
    try {
      var screen = W.screen;
      context.screen = { width: screen.width, height: screen.height };
      context.viewport = { width: W.innerWidth, height: W.innerHeight };
      context.language = navigator.language;
      context.time_zone = new DateTimeFormat().resolvedOptions().timeZone;
    } catch (error) {
      /* what was read so far is kept */
    }
    return context;
  }

  // The body as a string (sent as text/plain;charset=UTF-8, no preflight): Chromium lost about
  // 1 in 70 Blob-bodied beacons of a tab closed during start-up, though sendBeacon took them.
  function send(url, body) {
    try {
      return apply(sendBeaconFn, navigator, [url, body]);
    } catch (error) {
      return false;
    }
  }

  // Navigations Python has not handled go to the collector, which makes the pageviews Python
  // would have made (docs/protocol.md, section 7): no element text, no chains. Sent at each
  // hide, up to FALLBACK_SENDS times (a phone may kill a hidden page with no pagehide; a
  // closing tab fires pagehide, then visibilitychange, and one beacon of it is sometimes
  // lost): the collector stores each id once.
  function sendFallback() {
    var navigations = [];
    var all = pending();
    for (var i = 0; i < all.length; i++) {
      var rec = all[i];
      if (rec.kind === "navigate" && (fallbackSends[rec.id] || 0) < FALLBACK_SENDS) {
        navigations[navigations.length] = { kind: "navigate", id: rec.id, time: rec.time,
                                             page: rec.page, cause: rec.cause, from: rec.from };
      }
    }
    if (!navigations.length || !mayStore()) return;
    var server = new URLClass(scriptUrl).origin;
    try {
      var configured = heap.config && (heap.config.trackingServer || heap.config.ingestServer);
      if (typeof configured === "string" && configured) server = configured.replace(/\/+$/, "");
    } catch (error) {
      /* the loader's server */
    }
    var body = json({ boot: bootInfo(), cookies: ourCookies(), records: navigations });
    if (send(server + "/api/observed", body)) {
      for (var j = 0; j < navigations.length; j++) {
        fallbackSends[navigations[j].id] = (fallbackSends[navigations[j].id] || 0) + 1;
      }
    }
  }

  // ---- ops from Python ---------------------------------------------------------------------

  function probeCookieDomain(op) {
    var found = "";
    for (var i = 0; i < op.candidates.length; i++) {
      var domain = op.candidates[i];
      var attributes = "; domain=" + domain + "; path=/; " + (op.attributes || "SameSite=Lax");
      writeCookie(op.name + "=1" + attributes);
      if (readCookies().indexOf(op.name + "=1") !== -1) {
        found = domain;
        writeCookie(op.name + "=" + attributes + "; expires=Thu, 01 Jan 1970 00:00:00 GMT");
        break;
      }
    }
    record({ kind: "cookie_domain", domain: found });
  }

  var OPS = {
    booted: function (op) {
      pythonReady = true;
      heap.bootMode = op.boot; // a diagnostic: "snapshot" or "fresh"
      post({ boot: bootInfo(), records: buffered.splice(0), beacon_sent: takeBeaconSent() });
    },
    handled: function (op) {
      if (hidden && unacked[op.seq]) unjournal(unacked[op.seq]);
      delete unacked[op.seq];
    },
    set_cookies: function (op) {
      for (var i = 0; i < op.cookies.length; i++) writeCookie(op.cookies[i]);
    },
    probe_cookie_domain: probeCookieDomain,
    state: function (op) {
      heap.userId = op.user_id;
      heap.identity = op.identity;
      sessionId = op.session_id;
      pythonSession = true;
    },
    storage: function (op) {
      mayStorePython = op.may_store === true;
      if (!mayStorePython) forgetJournal();
    },
    beacon: function (op) {
      beacon = op.chunks.length ? op : null;
    },
    bridge_reply: function (op) {
      W.parent.postMessage({ footfall: "bridge-reply", userId: op.user_id }, op.origin);
    },
    warn: function (op) {
      warnOnce(op.message);
    },
    ready: function () {
      heap.ready = true;
      var callbacks = readyCallbacks.splice(0);
      for (var i = 0; i < callbacks.length; i++) guard(callbacks[i])();
    },
  };

  function onWorkerMessage(event) {
    var op = apply(parseJson, JSON, [event.data]);
    var run = OPS[op.op];
    if (run) run(op);
  }

  // Each chunk is a whole ingest body under 64 KB. sendBeacon refuses once its quota is spent;
  // what it refused stays in the worker's retry queue for the next boot. What it took is held
  // back for a while, then sent once more (a beacon can be lost): the worker is told, in case
  // the page lives on, and the next boot reads it here.
  function sendBeacon() {
    if (!beacon) return;
    var sent = [];
    for (var i = 0; i < beacon.chunks.length; i++) {
      if (!send(beacon.url, beacon.chunks[i])) break;
      append(sent, beacon.chunk_ids[i]);
    }
    beacon = null;
    if (!sent.length) return;
    var kept = [];
    try {
      kept = apply(parseJson, JSON, [store("getItem", [BEACON_SENT_KEY]) || "[]"]);
    } catch (error) {
      /* unreadable: start again */
    }
    kept = append(kept instanceof Array ? kept : [], sent);
    var newest = append([], kept, Math.max(0, kept.length - BEACON_SENT_MAX));
    store("setItem", [BEACON_SENT_KEY, json(newest)]);
    post({ records: [], beacon_sent: sent });
  }

  function takeBeaconSent() {
    var ids = [];
    try {
      var kept = apply(parseJson, JSON, [store("getItem", [BEACON_SENT_KEY]) || "[]"]);
      for (var i = 0; i < kept.length; i++) if (typeof kept[i] === "string") ids[ids.length] = kept[i];
    } catch (error) {
      /* unreadable: nothing to skip, the collector stores each event id once anyway */
    }
    store("removeItem", [BEACON_SENT_KEY]);
    return ids;
  }

  // ---- start -------------------------------------------------------------------------------

  // One warning when the tracker cannot run here, naming the directive when a CSP blocks it.
  function warnBlocked(why) {
    if (!blocked) warnOnce("the tracker cannot run on this page: " + why + "; pageviews are " +
      "still counted by the collector (the README lists the Content-Security-Policy it needs)");
    blocked = true;
  }

  function onPolicyViolation(event) {
    var uri = text(event.blockedURI);
    if (uri === "blob" || uri === "wasm-eval" || uri.indexOf(new URLClass(scriptUrl).origin) === 0) {
      warnBlocked("the Content-Security-Policy directive " + event.effectiveDirective +
        " refuses " + uri);
    }
  }

  function onWorkerError() {
    // The policy violation that explains it, if any, arrives separately: let it speak first.
    apply(later, W, [guard(function () {
      warnBlocked("its worker did not start (the Content-Security-Policy directive worker-src " +
        "must allow blob: and " + new URLClass(scriptUrl).origin + ")");
    }), 50]);
  }

  function startWorker() {
    if (typeof WorkerClass !== "function") return warnBlocked("this browser has no Worker");
    if (typeof WasmModule !== "function") return warnBlocked("this browser has no WebAssembly");
    // The bundle's folder is /js/; heap_config.js is served from /config/<envId>/ beside it.
    var current = /\/config\/[^/]*\/heap_config\.js$/.test(new URLClass(scriptUrl).pathname);
    var url = new URLClass((current ? "../../js/" : "") + WORKER_PATH, scriptUrl).href;
    try {
      if (new URLClass(url).origin === location.origin) {
        worker = new WorkerClass(url, { type: "module" });
      } else {
        // The blob: worker runs under this page's Content-Security-Policy: without
        // 'wasm-unsafe-eval' Pyodide cannot start there, so the 10 MB are not even fetched.
        try {
          new WasmModule(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])); // an empty module
        } catch (error) {
          return warnBlocked("the Content-Security-Policy directive script-src does not allow " +
            "'wasm-unsafe-eval'");
        }
        // A worker must be same-origin with the page; a blob: module that imports ours is.
        var source = "import " + json(url) + ";";
        var blob = new BlobClass([source], { type: "text/javascript" });
        worker = new WorkerClass(URLClass.createObjectURL(blob), { type: "module" });
      }
    } catch (error) {
      return warnBlocked("the tracker's worker cannot start (" + text(error) + ")");
    }
    worker.onmessage = guard(onWorkerMessage);
    worker.onerror = guard(onWorkerError);
  }

  // What Python decided on an earlier page, so heap.userId and heap.getSessionId() answer
  // synchronously from the start; else ids drawn here (or by an earlier page that never got
  // Python), proposed to Python.
  function readIdCookie() {
    var kept = mayStore() && text(store("getItem", [SID_KEY])).split(":");
    var live = kept && USER_ID.test(kept[0]) && apply(dateNow, Date, []) - kept[1] < SESSION_MS;
    proposedSessionId = sessionId = live ? kept[0] : newNumericId();
    var raw = cookieValue("_hp2_id." + appId);
    if (raw === null) {
      var keptUser = mayStore() && store("getItem", [UID_KEY]);
      proposedUserId = keptUser && USER_ID.test(keptUser) ? keptUser : newNumericId();
      heap.userId = proposedUserId;
      return;
    }
    store("removeItem", [UID_KEY]);
    try {
      var state = apply(parseJson, JSON, [decodeURIComponent(raw)]);
      heap.userId = state.userId === undefined ? undefined : text(state.userId);
      heap.identity = state.identity === undefined ? null : state.identity;
      // A live session has its _hp2_ses_props (30 minutes).
      if (state.sessionId && cookieValue("_hp2_ses_props." + appId) !== null) {
        sessionId = text(state.sessionId);
        store("removeItem", [SID_KEY]);
      }
    } catch (error) {
      /* Python will read and repair it */
    }
  }

  var readyCallbacks = [];

  function patchHistory(name) {
    var original = historyProto && historyProto[name];
    if (typeof original !== "function") return;
    historyProto[name] = function () {
      var result = apply(original, this, arguments);
      guard(onNavigate)(name);
      return result;
    };
  }

  guard(function install() {
    var queued = append([], heap);
    heap.length = 0; // the stub's queue is now ours; keep the same object for kept references
    heap.__footfall = true;
    heap.appid = appId; // the current snippet sets envId and clientConfig only
    if (!heap.config) heap.config = heap.clientConfig || {};
    heap.loaded = true;
    heap.ready = false;
    heap.identity = null;
    heap.bootMode = null;
    var api = {}; // ours, kept apart: a second snippet replaces heap.track etc. with stubs
    METHODS.forEach(function (method) {
      api[method] = guard(function () {
        call(method, arguments);
      });
    });
    // The readers answer from what Python last said (or the cookie it wrote, or the first
    // visit's id drawn here), so they answer at once, before Python has started.
    api.getUserId = function () { return heap.userId; };
    api.getIdentity = function () { return heap.identity; };
    api.getSessionId = function () { return sessionId; };
    api.load = api.init = guard(function () {
      warnOnce("heap.load was called again; the tracker is already loaded");
    });
    api.onReady = guard(function (callback) {
      if (heap.ready) guard(callback)();
      else readyCallbacks[readyCallbacks.length] = callback;
    });
    for (var name in api) heap[name] = api[name];
    heap.push = guard(function (item) {
      if (!item || !item.length) return;
      // A second snippet's stubs push here; calling heap[method] again would loop forever.
      var fn = api.hasOwnProperty(item[0]) ? api[item[0]] : heap[item[0]];
      if (typeof fn === "function" && fn !== heap.push) apply(fn, heap, append([], item, 1));
    });
    // The current snippet's stubs queue {name, fn} in window.heapReadyCb, fn calling
    // heap[name] with the call's arguments: run it with ours there (a second snippet's stubs
    // may be), a name we lack becoming a call that Python names in a warning.
    var runQueued = guard(function (item) {
      if (!item || typeof item.fn !== "function") return;
      var method = text(item.name);
      if (!/^[A-Za-z]+$/.test(method)) return;
      var kept = heap[method];
      heap[method] = api.hasOwnProperty(method) ? api[method] : function () {
        call(method, arguments);
      };
      try {
        item.fn();
      } finally {
        heap[method] = kept;
      }
    });
    var readyQueue = W.heapReadyCb;
    var queuedReady = readyQueue instanceof Array ? append([], readyQueue) : [];
    if (readyQueue instanceof Array) {
      readyQueue.length = 0;
      readyQueue.push = runQueued; // a second snippet's stubs queue here: run them at once
    }
    if (opaqueOrigin) {
      // A sandboxed iframe without allow-same-origin: no cookies, no storage, so no visitor to
      // count; heap.* keeps working and does nothing.
      warnOnce("this page has an opaque origin (a sandboxed iframe); nothing is tracked here");
      return;
    }
    readIdCookie();

    // The stub's calls came first: replayed before the load, they are seen by its pageview.
    for (var i = 0; i < queued.length; i++) heap.push(queued[i]);
    for (var j = 0; j < queuedReady.length; j++) runQueued(queuedReady[j]);
    onNavigate("load");
    claimJournal();

    D.addEventListener("click", guard(onInteraction), true);
    D.addEventListener("change", guard(onInteraction), true);
    D.addEventListener("submit", guard(onInteraction), true);
    D.addEventListener("securitypolicyviolation", guard(onPolicyViolation), true);
    patchHistory("pushState");
    patchHistory("replaceState");
    W.addEventListener("popstate", guard(function () { onNavigate("popstate"); }));
    W.addEventListener("hashchange", guard(function () { onNavigate("hashchange"); }));
    // The bridge (docs/protocol.md, section 8): Python checks the origin and the message.
    W.addEventListener("message", guard(function (event) {
      var data = event.data;
      if (data && typeof data === "object" && data.footfall === "bridge") {
        record({ kind: "bridge", origin: event.origin, data: plainArgs([data])[0] });
      }
    }));
    var onHide = guard(function () {
      hidden = true;
      noticeUrl();
      record({ kind: "hide", page: page() });
      if (pythonReady) flushOutbox();
      sendBeacon();
      sendFallback();
      saveJournal();
    });
    W.addEventListener("pagehide", onHide);
    D.addEventListener("visibilitychange", guard(function () {
      if (D.visibilityState === "hidden") return onHide();
      hidden = false;
      reclaimJournal();
    }));
    startWorker();
  })();
})();

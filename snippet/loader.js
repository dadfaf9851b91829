// Footfall's loader, served as /js/heap-<appId>.js for Heap's classic install snippet.
// It observes and applies; Python in the worker decides (docs/protocol.md). It must never throw
// into the host page, so every entry point is wrapped.
(function () {
  "use strict";
  var WORKER_PATH = "__WORKER_PATH__"; // filled in by build.py, relative to this script
  var CHAIN_MAX = 64; // elements from the target up to <body>
  var DETAIL_MAX = 8; // elements that carry text and cursor
  var ATTR_MAX = 1024;
  var TEXT_MAX = 2048;
  var DEPTH_MAX = 64; // nesting of a call's arguments
  var BUFFER_MAX = 1000; // records kept while Python starts (it may never: CSP, no WebAssembly)
  var REDACT_TEXT = "data-heap-redact-text";
  var METHODS = [
    "track", "identify", "resetIdentity", "addUserProperties", "addEventProperties",
    "removeEventProperty", "clearEventProperties", "setEventProperties", "unsetEventProperty",
    "optIn", "optOut",
  ];

  var heap = window.heap;
  if (!heap || heap.__footfall || !heap.appid) return; // no snippet, or a second copy of us
  var appId = String(heap.appid);
  var script = document.currentScript;
  var scriptUrl = (script && script.src) || location.href;

  var buffered = []; // records made before Python is ready, handed over at boot
  var outbox = []; // records waiting for the next microtask
  var worker = null;
  var pythonReady = false;
  var beacon = null; // {url, body} prepared by Python for pagehide
  var warned = {};

  function guard(fn) {
    return function () {
      try {
        return fn.apply(this, arguments);
      } catch (error) {
        warnOnce("internal error: " + error);
      }
    };
  }

  function warnOnce(message) {
    if (warned[message]) return;
    warned[message] = true;
    if (window.console && console.warn) console.warn("[footfall] " + message);
  }

  // ---- records -----------------------------------------------------------------------------

  function page() {
    return { url: location.href, title: document.title, referrer: document.referrer };
  }

  function record(rec) {
    rec.time = Date.now();
    if (!pythonReady) {
      if (buffered.length < BUFFER_MAX) buffered.push(rec);
      else warnOnce("the tracker has not started; what happens on this page is not kept");
      return;
    }
    outbox.push(rec);
    if (outbox.length === 1) Promise.resolve().then(guard(flushOutbox));
  }

  function flushOutbox() {
    if (!outbox.length) return;
    post({ cookies: document.cookie, records: outbox.splice(0) });
  }

  function post(message) {
    worker.postMessage(JSON.stringify(message));
  }

  // Structured copy of call arguments: functions and DOM nodes cannot cross to the worker.
  function plainArgs(args) {
    var out = [];
    for (var i = 0; i < args.length; i++) {
      try {
        var copy = JSON.stringify(args[i], depthLimited());
        out.push(copy === undefined ? null : JSON.parse(copy));
      } catch (error) {
        out.push(String(args[i]));
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
    record({ kind: "call", method: method, args: plainArgs(args) });
  }

  // ---- the element chain -------------------------------------------------------------------

  function textOf(element) {
    var parts = [];
    var total = 0;
    var walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
    var node;
    while ((node = walker.nextNode()) && total < TEXT_MAX) {
      var text = node.nodeValue;
      if (!text || !text.trim()) continue;
      text = text.slice(0, TEXT_MAX - total);
      total += text.length;
      var marker = null; // the nearest marker's value, up to `element`: Python decides
      for (var el = node.parentElement; el; el = el.parentElement) {
        if (el.hasAttribute(REDACT_TEXT)) {
          marker = el.getAttribute(REDACT_TEXT);
          break;
        }
        if (el === element) break;
      }
      parts.push([text, marker]);
    }
    return parts;
  }

  function describe(element, detailed, withCursor) {
    var attrs = {};
    for (var i = 0; i < element.attributes.length; i++) {
      var attr = element.attributes[i];
      attrs[attr.name] = attr.value.slice(0, ATTR_MAX);
    }
    var item = { tag: element.tagName.toLowerCase(), attrs: attrs, text: [] };
    if (detailed) {
      item.text = textOf(element);
      if (withCursor) item.cursor = window.getComputedStyle(element).cursor;
    }
    return item;
  }

  function chainOf(target, withCursor) {
    var chain = [];
    var element = target && target.nodeType === 1 ? target : target && target.parentElement;
    while (element && element !== document.body && element !== document.documentElement) {
      if (chain.length >= CHAIN_MAX) break;
      chain.push(describe(element, chain.length < DETAIL_MAX, withCursor));
      element = element.parentElement || (element.getRootNode && element.getRootNode().host);
    }
    return chain;
  }

  function onInteraction(event) {
    var chain = chainOf(event.composedPath ? event.composedPath()[0] : event.target,
                        event.type === "click");
    if (chain.length) record({ kind: event.type, page: page(), chain: chain });
  }

  function onNavigate(cause) {
    record({ kind: "navigate", page: page(), cause: cause });
  }

  // ---- ops from Python ---------------------------------------------------------------------

  function probeCookieDomain(op) {
    var found = "";
    for (var i = 0; i < op.candidates.length; i++) {
      var domain = op.candidates[i];
      document.cookie =
        op.name + "=1; domain=" + domain + "; path=/; " + (op.attributes || "SameSite=Lax");
      if (document.cookie.indexOf(op.name + "=1") !== -1) {
        found = domain;
        document.cookie = op.name + "=; domain=" + domain + "; path=/; " +
          (op.attributes || "SameSite=Lax") + "; expires=Thu, 01 Jan 1970 00:00:00 GMT";
        break;
      }
    }
    record({ kind: "cookie_domain", domain: found });
  }

  var OPS = {
    booted: function (op) {
      pythonReady = true;
      heap.bootMode = op.boot; // a diagnostic: "snapshot" or "fresh"
      var boot = {
        app_id: appId,
        config: plainArgs([heap.config || {}])[0],
        server: new URL(scriptUrl).origin,
        hostname: location.hostname,
        protocol: location.protocol,
        in_iframe: window.top !== window.self,
      };
      post({ boot: boot, cookies: document.cookie, records: buffered.splice(0) });
    },
    set_cookies: function (op) {
      for (var i = 0; i < op.cookies.length; i++) document.cookie = op.cookies[i];
    },
    probe_cookie_domain: probeCookieDomain,
    state: function (op) {
      heap.userId = op.user_id;
      heap.identity = op.identity;
    },
    beacon: function (op) {
      beacon = op.body === null ? null : op;
    },
    warn: function (op) {
      if (window.console && console.warn) console.warn("[footfall] " + op.message);
    },
    ready: function () {
      heap.ready = true;
      var callbacks = readyCallbacks.splice(0);
      for (var i = 0; i < callbacks.length; i++) guard(callbacks[i])();
    },
  };

  function onWorkerMessage(event) {
    var op = JSON.parse(event.data);
    var apply = OPS[op.op];
    if (apply) apply(op);
  }

  function sendBeacon() {
    if (!beacon || !navigator.sendBeacon) return;
    navigator.sendBeacon(beacon.url, new Blob([beacon.body], { type: "text/plain" }));
  }

  // ---- start -------------------------------------------------------------------------------

  function startWorker() {
    var url = new URL(WORKER_PATH, scriptUrl).href;
    try {
      if (new URL(url).origin === location.origin) {
        worker = new Worker(url, { type: "module" });
      } else {
        // A worker must be same-origin with the page; a blob: module that imports ours is.
        var source = "import " + JSON.stringify(url) + ";";
        var blob = new Blob([source], { type: "text/javascript" });
        worker = new Worker(URL.createObjectURL(blob), { type: "module" });
      }
    } catch (error) {
      warnOnce("cannot start the tracker's worker (a Content-Security-Policy may forbid it): " + error);
      return;
    }
    worker.onmessage = guard(onWorkerMessage);
  }

  // What Python decided on an earlier page, so heap.userId reads synchronously from the start.
  function readIdCookie() {
    var prefix = "_hp2_id." + appId + "=";
    var cookies = document.cookie.split("; ");
    for (var i = 0; i < cookies.length; i++) {
      if (cookies[i].indexOf(prefix) === 0) {
        try {
          var state = JSON.parse(decodeURIComponent(cookies[i].slice(prefix.length)));
          heap.userId = state.userId === undefined ? undefined : String(state.userId);
          heap.identity = state.identity === undefined ? null : state.identity;
        } catch (error) {
          /* Python will read and repair it */
        }
      }
    }
  }

  var readyCallbacks = [];

  guard(function install() {
    var queued = Array.prototype.slice.call(heap);
    heap.length = 0; // the stub's queue is now ours; keep the same object for kept references
    heap.__footfall = true;
    heap.loaded = true;
    heap.ready = false;
    heap.identity = null;
    heap.bootMode = null;
    readIdCookie();
    var api = {}; // ours, kept apart: a second snippet replaces heap.track etc. with stubs
    METHODS.forEach(function (method) {
      api[method] = heap[method] = guard(function () {
        call(method, arguments);
      });
    });
    heap.push = guard(function (item) {
      if (!item || !item.length) return;
      // A second snippet's stubs push here; calling heap[method] again would loop forever.
      var fn = api.hasOwnProperty(item[0]) ? api[item[0]] : heap[item[0]];
      if (typeof fn === "function" && fn !== heap.push) {
        fn.apply(heap, Array.prototype.slice.call(item, 1));
      }
    });
    heap.load = guard(function () {
      warnOnce("heap.load was called again; the tracker is already loaded");
    });
    heap.onReady = guard(function (callback) {
      if (heap.ready) guard(callback)();
      else readyCallbacks.push(callback);
    });

    // The stub's calls came first: replayed before the load, they are seen by its pageview.
    for (var i = 0; i < queued.length; i++) heap.push(queued[i]);
    onNavigate("load");

    document.addEventListener("click", guard(onInteraction), true);
    document.addEventListener("change", guard(onInteraction), true);
    document.addEventListener("submit", guard(onInteraction), true);
    ["pushState", "replaceState"].forEach(function (name) {
      var original = history[name];
      history[name] = function () {
        var result = original.apply(this, arguments);
        guard(onNavigate)(name);
        return result;
      };
    });
    window.addEventListener("popstate", guard(function () { onNavigate("popstate"); }));
    window.addEventListener("hashchange", guard(function () { onNavigate("hashchange"); }));
    var onHide = guard(function () {
      record({ kind: "hide", page: page() });
      flushOutbox();
      sendBeacon();
    });
    window.addEventListener("pagehide", onHide);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") onHide();
    });
    startWorker();
  })();
})();

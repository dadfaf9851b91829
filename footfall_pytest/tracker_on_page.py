"""Putting the tracker on a page under test: its own Heap snippet routed to the test collector,
or Heap's classic snippet added to a page that has none.

A routed snippet's script is answered with a few lines that load the loader from the collector
(the loader finds its server from its own script's address, so it must be loaded from there), at
the path the snippet asked for: the classic one's `/js/heap-<appId>.js` or the current one's
`/config/<envId>/heap_config.js`.
"""

import json
import re

from collector.demo_site import install_snippet

# Heap's script addresses, either generation, on any host: a page's snippet names Heap's CDN or a
# self-hosted server. Group 1: the classic snippet's app id; group 2: the current one's env id.
# (Playwright matches it in the browser too, so no Python-only syntax such as named groups.)
HEAP_SCRIPT_URL = re.compile(
    r"^https?://[^/]+/(?:js/heap-([^/?#]+)\.js|config/([^/?#]+)/heap_config\.js)(?:[?#].*)?$"
)

_LOAD_FROM_COLLECTOR = """// Footfall pytest plugin: the tracker from the collector, not %(asked)s
(function () {
  var heap = window.heap;
  if (!heap) return;
  var config = heap.config || heap.clientConfig;
  if (config && config.trackingServer) config.trackingServer = %(collector)s;
  if (config && config.ingestServer) config.ingestServer = %(collector)s;
  var script = document.createElement("script");
  script.async = true;
  script.src = %(src)s;
  (document.head || document.documentElement).appendChild(script);
})();
"""

# Heap's stub puts its script before the page's first one; an init script runs before the page
# has any element, so it adds the script once the page is parsed (its title then known, as for a
# snippet in <head>). The stub itself is in place at once, so the page's own calls are queued.
_STUB_INSERTION = 'var a=document.getElementsByTagName("script")[0];a.parentNode.insertBefore(r,a);'
_INIT_INSERTION = (
    "var add=function(){document.head.appendChild(r)};"
    'document.readyState==="loading"?document.addEventListener("DOMContentLoaded",add):add();'
)


def load_from_collector(asked_url: str, script_url: str, collector_url: str) -> str:
    """The script that answers a routed Heap script request: it loads `script_url` (the
    collector's loader) and points a `trackingServer` or `ingestServer` at the collector."""
    return _LOAD_FROM_COLLECTOR % {
        "asked": asked_url.replace("\n", " "),
        "collector": json.dumps(collector_url),
        "src": json.dumps(script_url),
    }


def classic_snippet_init_script(
    collector_url: str, app_id: str, config: dict[str, object] | None
) -> str:
    """Heap's classic snippet for `app_id`, loading from the collector, as an init script for a
    page that has no snippet (top frames only: an embedded frame is a page of its own)."""
    snippet = install_snippet(collector_url, app_id, config)
    if _STUB_INSERTION not in snippet:
        raise RuntimeError("collector.demo_site's Heap stub changed: update tracker_on_page.py")
    body = snippet.removeprefix('<script type="text/javascript">').removesuffix("</script>")
    top_frame_only = body.replace(_STUB_INSERTION, _INIT_INSERTION)
    return f"if (window.top === window.self) {{\n{top_frame_only}\n}}"

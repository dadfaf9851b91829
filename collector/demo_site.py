"""Serves the demo site (site/) at /demo/, with one of Heap's install snippets put in place.

Each page marks where the snippet goes with `<!-- heap-snippet {config JSON} -->`; the page is
served with Heap's classic v4 stub there (`?snippet=current`: Heap's current one), pointed at this
server. `?app=ID` picks the app id (default "demo"), so tests can run pages against apps of their
own; `?tracker=off` serves the page without the snippet, for benchmarks that compare the page
with and without it.
"""

import html
import json
import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from collector.storage.base import APP_ID_PATTERN

DEMO_APP_ID = "demo"
SNIPPET_MARKER = re.compile(r"<!--\s*heap-snippet\s*(\{.*?\})?\s*-->", re.DOTALL)

# Heap's classic v4 install stub, unchanged apart from the script source.
HEAP_V4_SNIPPET = """<script type="text/javascript">
window.heap=window.heap||[],heap.load=function(e,t){window.heap.appid=e,window.heap.config=t=t||{};
var r=document.createElement("script");r.type="text/javascript",r.async=!0,
r.src="%(server)s/js/heap-"+e+".js";
var a=document.getElementsByTagName("script")[0];a.parentNode.insertBefore(r,a);
for(var n=function(e){return function(){heap.push([e].concat(Array.prototype.slice.call(arguments,0)))}},
p=["addEventProperties","addUserProperties","clearEventProperties","identify","resetIdentity",
"removeEventProperty","setEventProperties","track","unsetEventProperty"],o=0;o<p.length;o++)heap[p[o]]=n(p[o])};
heap.load(%(app_id)s%(config)s);
</script>"""  # noqa: E501 (Heap's stub, verbatim)


# Heap's current install snippet, verbatim as developers.heap.io/docs/web publishes it (its
# heap.load line on the next line); install_snippet points its host at this server.
HEAP_CURRENT_HOST = "https://cdn.us.heap-api.com"
HEAP_CURRENT_SNIPPET = """<script type="text/javascript">
window.heapReadyCb=window.heapReadyCb||[],window.heap=window.heap||[],heap.load=function(e,t){window.heap.envId=e,window.heap.clientConfig=t=t||{},window.heap.clientConfig.shouldFetchServerConfig=!1;var a=document.createElement("script");a.type="text/javascript",a.async=!0,a.src="https://cdn.us.heap-api.com/config/"+e+"/heap_config.js";var r=document.getElementsByTagName("script")[0];r.parentNode.insertBefore(a,r);var n=["init","startTracking","stopTracking","track","resetIdentity","identify","getSessionId","getUserId","getIdentity","addUserProperties","addEventProperties","removeEventProperty","clearEventProperties","addAccountProperties","addAdapter","addTransformer","addTransformerFn","onReady","addPageviewProperties","removePageviewProperty","clearPageviewProperties","trackPageview"],i=function(e){return function(){var t=Array.prototype.slice.call(arguments,0);window.heapReadyCb.push({name:e,fn:function(){heap[e]&&heap[e].apply(heap,t)}})}};for(var p=0;p<n.length;p++)heap[n[p]]=i(n[p])};
heap.load(%(app_id)s%(config)s);
</script>"""  # noqa: E501 (Heap's snippet, verbatim)


def install_snippet(
    server: str,
    app_id: str,
    config: dict[str, object] | None = None,
    *,
    current: bool = False,
) -> str:
    """Heap's classic v4 stub (`current`: its current snippet) loading the tracker from
    `server` for `app_id`."""
    template = HEAP_CURRENT_SNIPPET if current else HEAP_V4_SNIPPET
    if current:  # the host is the only change
        template = template.replace(HEAP_CURRENT_HOST, server.rstrip("/"))
    return template % {
        "server": server.rstrip("/"),
        "app_id": json.dumps(app_id),
        "config": f", {json.dumps(config)}" if config else "",
    }


def demo_routes(site_dir: Path) -> list[BaseRoute]:
    """Routes for /demo/ and every page under site/."""
    root = site_dir.resolve()

    async def page(request: Request) -> Response:
        name = request.path_params.get("page") or "index.html"
        path = (root / name).resolve()
        if root not in path.parents or path.suffix != ".html" or not path.is_file():
            # The name comes from the URL: escaped, or a link could run script on the dashboard's
            # origin.
            return HTMLResponse(f"<h1>No demo page {html.escape(repr(name))}</h1>", 404)
        app_id = request.query_params.get("app", DEMO_APP_ID)
        if not APP_ID_PATTERN.match(app_id):
            return HTMLResponse("<h1>app must be letters, digits, - or _</h1>", status_code=400)
        server = f"{request.url.scheme}://{request.url.netloc}"

        tracker_off = request.query_params.get("tracker") == "off"
        current = request.query_params.get("snippet") == "current"

        def snippet(match: re.Match[str]) -> str:
            if tracker_off:
                return ""
            config = json.loads(match.group(1)) if match.group(1) else None
            return install_snippet(server, app_id, config, current=current)

        body = SNIPPET_MARKER.sub(snippet, path.read_text())
        return HTMLResponse(body, headers={"Cache-Control": "no-store"})

    async def home(request: Request) -> Response:
        return RedirectResponse("/demo/")

    return [
        Route("/", home),
        Route("/demo", home),
        Route("/demo/", page),
        Route("/demo/{page:path}", page),
    ]

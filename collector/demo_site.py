"""Serves the demo site (site/) at /demo/, with Heap's classic install snippet put in place.

Each page marks where the snippet goes with `<!-- heap-snippet {config JSON} -->`; the page is
served with Heap's v4 stub there, pointed at this server. `?app=ID` picks the app id (default
"demo"), so tests can run pages against apps of their own; `?tracker=off` serves the page
without the snippet, for benchmarks that compare the page with and without it.
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


def install_snippet(server: str, app_id: str, config: dict[str, object] | None = None) -> str:
    """Heap's v4 stub loading the tracker from `server` for `app_id`."""
    return HEAP_V4_SNIPPET % {
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

        def snippet(match: re.Match[str]) -> str:
            if tracker_off:
                return ""
            config = json.loads(match.group(1)) if match.group(1) else None
            return install_snippet(server, app_id, config)

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

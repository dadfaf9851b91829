"""GET /api/apps/<appId>/bridge: the origins whose pages may use the app's postMessage bridge
(docs/protocol.md, section 8), for the tracker inside the embedded app to check messages with."""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from collector.request_body import error_response
from collector.storage.base import Storage

# Asked from a worker on any site, without credentials; a short cache keeps `footfall apps
# update` quick to take effect.
BRIDGE_HEADERS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "max-age=60"}


def bridge_routes(storage: Storage) -> list[BaseRoute]:
    """The one route; an unknown app is a 404."""

    async def bridge(request: Request) -> Response:
        app_id = request.path_params["app_id"]
        if await storage.find_app(app_id) is None:
            return error_response(404, f"no app {app_id!r}", BRIDGE_HEADERS)
        return JSONResponse(
            {"allowOrigins": await storage.bridge_origins(app_id)}, headers=BRIDGE_HEADERS
        )

    return [Route("/api/apps/{app_id}/bridge", bridge, methods=["GET"])]

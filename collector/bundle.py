"""Serves the tracker bundle that build.py writes: the loader, the worker, the wheel and Pyodide.

The loader is at the URL each of Heap's install snippets asks for: the classic one's
/js/heap-<appId>.js and the current one's /config/<envId>/heap_config.js (an env id is an app id).
Content-hashed and version-pinned files are cached for a year; the loader's URL is fixed by the
install snippet, so it is cached briefly. The zstd, brotli and gzip variants written at build time
are served, smallest first, when the browser accepts them. Every file carries CORS headers: host
pages live on other origins.
"""

import logging
import mimetypes
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

log = logging.getLogger("footfall.bundle")

IMMUTABLE = "public, max-age=31536000, immutable"
LOADER_CACHE = "public, max-age=300"
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".wasm": "application/wasm",
    ".zip": "application/zip",
    ".whl": "application/zip",
    ".json": "application/json",
    ".bin": "application/octet-stream",
}
# build.py's compressed variants, smallest first: (file suffix, Content-Encoding).
ENCODINGS = ((".zst", "zstd"), (".br", "br"), (".gz", "gzip"))
CROSS_ORIGIN_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    # Lets host pages that set Cross-Origin-Embedder-Policy still load the tracker.
    "Cross-Origin-Resource-Policy": "cross-origin",
}


def bundle_is_built(bundle_dir: Path) -> bool:
    """Whether build.py has written a bundle there: it writes manifest.json after the files."""
    return (bundle_dir / "manifest.json").is_file()


def bundle_routes(bundle_dir: Path) -> list[BaseRoute]:
    """Routes for the loader at /js/heap-<appId>.js and /config/<envId>/heap_config.js (any
    id), and for /js/<bundle file>."""
    root = bundle_dir.resolve()
    if not bundle_is_built(root):
        log.warning("no tracker bundle in %s: run `python build.py` to build it", root)

    async def loader(request: Request) -> Response:
        return _file(request, root, "loader.js", LOADER_CACHE)

    async def asset(request: Request) -> Response:
        relative = request.path_params["path"]
        cache = IMMUTABLE if relative.startswith(("w/", "b/", "runtime/")) else LOADER_CACHE
        return _file(request, root, relative, cache)

    return [
        Route("/js/heap-{app_id}.js", loader, methods=["GET", "HEAD"]),
        Route("/config/{env_id}/heap_config.js", loader, methods=["GET", "HEAD"]),
        Route("/js/{path:path}", asset, methods=["GET", "HEAD"]),
    ]


def _file(request: Request, root: Path, relative: str, cache: str) -> Response:
    if not bundle_is_built(root):
        return JSONResponse(
            {"error": "the tracker bundle is not built; run `python build.py` on the server"},
            status_code=503,
            headers=CROSS_ORIGIN_HEADERS,
        )
    path = (root / relative).resolve()
    if root not in path.parents or not path.is_file() or path.suffix in dict(ENCODINGS):
        return JSONResponse({"error": f"no such file: /js/{relative}"}, 404, CROSS_ORIGIN_HEADERS)
    media_type = MEDIA_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    headers = {**CROSS_ORIGIN_HEADERS, "Cache-Control": cache, "Vary": "Accept-Encoding"}
    accepted = _accepted_encodings(request.headers.get("accept-encoding", ""))
    for suffix, encoding in ENCODINGS:
        compressed = Path(f"{path}{suffix}")
        if encoding in accepted and compressed.is_file():
            headers["Content-Encoding"] = encoding
            return FileResponse(compressed, media_type=media_type, headers=headers)
    return FileResponse(path, media_type=media_type, headers=headers)


def _accepted_encodings(header: str) -> set[str]:
    """The codings an Accept-Encoding header accepts (`;q=0` refuses one)."""
    accepted = set()
    for item in header.lower().split(","):
        name, _, params = item.partition(";")
        quality = params.replace(" ", "").removeprefix("q=")
        if not params or quality.replace(".", "").strip("0"):  # q=0, q=0.0 ... refuse
            accepted.add(name.strip())
    return accepted

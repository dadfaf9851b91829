"""The Starlette application: every route of the collector, and the storage it shares."""

import importlib
import importlib.util
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from collector.bridge import bridge_routes
from collector.context import RequestContexts, open_geo_database
from collector.dashboard import dashboard_mount
from collector.dashboard.web import SecurityHeaders
from collector.deletion import deletion_routes, resume_pending_deletions
from collector.ingest import ingest_routes
from collector.observed import observed_routes
from collector.proxy import TrustedProxy
from collector.request_body import BodyLimit, error_response, storage_unavailable
from collector.request_log import RequestLog
from collector.server_api import server_api_routes
from collector.settings import DEMO_APP_ID, DEMO_APP_NAME, Settings
from collector.storage import open_storage
from collector.storage.base import StorageError


def create_app(settings: Settings) -> Starlette:
    """The collector for `settings`; storage opens here (StorageError when it cannot) and is
    flushed at shutdown."""
    storage = open_storage(settings.db, settings.state)

    geo = open_geo_database(settings.geo_db)
    contexts = RequestContexts(geo, settings.store_ip)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.demo:
            await storage.ensure_app(DEMO_APP_ID, DEMO_APP_NAME)
            # site/embed.html at one loopback name talks to the demo app at the other.
            loopback = [f"http://{host}:{settings.port}" for host in ("127.0.0.1", "localhost")]
            await storage.change_bridge_origins(DEMO_APP_ID, loopback)
        await resume_pending_deletions(storage)
        yield
        await storage.close()
        if geo is not None:
            geo.close()

    routes: list[BaseRoute] = [
        Route("/api/health", health, methods=["GET"]),
        *ingest_routes(storage, settings, contexts),
        *observed_routes(storage, settings, contexts),
        *bridge_routes(storage),
        *server_api_routes(storage, settings),
        *deletion_routes(storage, settings),
        dashboard_mount(storage, settings.admin_password),
        *_optional_routes("collector.bundle", "bundle_routes", settings.bundle_dir),
        *_optional_routes("collector.demo_site", "demo_routes", settings.site_dir),
    ]

    def body_limit(path: str) -> int | None:
        # Under /api/ each endpoint caps its body itself, after decompression.
        return None if path.startswith("/api/") else settings.max_other_bytes

    middleware = [
        Middleware(TrustedProxy, trusted=frozenset(settings.trusted_proxies)),
        Middleware(BodyLimit, limit_for=body_limit),
        Middleware(SecurityHeaders, prefix="/dashboard"),
    ]
    if settings.request_log is not None:  # outermost: it logs bodies the others refuse
        middleware.insert(0, Middleware(RequestLog, path=settings.request_log))
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={
            HTTPException: http_error,  # type: ignore[dict-item]
            StorageError: storage_error,  # type: ignore[dict-item]
        },
    )
    app.state.storage = storage
    app.state.settings = settings
    return app


async def health(request: Request) -> Response:
    """Liveness: answers once the server accepts requests."""
    return JSONResponse({"status": "ok"})


async def http_error(request: Request, exc: HTTPException) -> Response:
    """JSON errors under /api/ (clients parse them); plain text elsewhere."""
    if request.url.path.startswith("/api/"):
        return error_response(exc.status_code, f"{exc.detail}: {request.method} {request.url.path}")
    return PlainTextResponse(str(exc.detail), status_code=exc.status_code)


async def storage_error(request: Request, exc: StorageError) -> Response:
    """A storage failure no endpoint answered itself: 503, so clients retry (the dashboard
    shows the reason)."""
    answer = storage_unavailable(exc)
    if request.url.path.startswith("/api/"):
        return answer
    return PlainTextResponse(f"{exc}; retry later", status_code=503, headers=answer.headers)


def _optional_routes(module_name: str, factory: str, directory: object) -> list[BaseRoute]:
    """Routes of a module that another part of the project provides, once it exists."""
    if importlib.util.find_spec(module_name) is None:
        return []
    routes: list[BaseRoute] = getattr(importlib.import_module(module_name), factory)(directory)
    return routes

"""HTTP plumbing every dashboard answer shares: security headers, cookies, the mount point, and
where a login may send the browser."""

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The dashboard loads its own scripts, styles and images only, and runs in no frame.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class SecurityHeaders:
    """ASGI middleware: SECURITY_HEADERS on every answer under `prefix` (pages, errors, static
    files); it wraps the whole app, since a 404 inside a mount is answered outside it."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not (
            path == self.prefix or path.startswith(self.prefix + "/")
        ):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def base(request: Request) -> str:
    """Where the dashboard is mounted, e.g. `/dashboard`."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def safe_next(request: Request, wanted: str | None) -> str:
    """Where to go after logging in: a dashboard path only, never another site."""
    mount = base(request)
    if wanted and wanted.startswith(mount + "/") and not wanted.startswith("//"):
        return wanted
    return mount + "/"


def set_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int | None
) -> None:
    """An HttpOnly, SameSite=Lax cookie for the dashboard's path; Secure over HTTPS (also
    behind a trusted proxy, see collector/proxy.py)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=base(request) or "/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )

"""Requests that came through a trusted HTTPS proxy: their scheme (and client) as the proxy saw it.

Only the addresses given with `--trusted-proxy` (or FOOTFALL_TRUSTED_PROXY) are believed; anyone
else can send `X-Forwarded-Proto` too. Behind such a proxy the dashboard's cookies are `Secure`.
"""

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send


class TrustedProxy:
    """ASGI middleware: takes `X-Forwarded-Proto` and `X-Forwarded-For` from trusted peers only."""

    def __init__(self, app: ASGIApp, trusted: frozenset[str]) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] == "http" and client and client[0] in self.trusted:
            headers = Headers(scope=scope)
            scope = dict(scope)
            proto = headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                scope["scheme"] = proto
            forwarded_for = headers.get("x-forwarded-for", "").split(",")[-1].strip()
            if forwarded_for:
                scope["client"] = (forwarded_for, 0)
        await self.app(scope, receive, send)

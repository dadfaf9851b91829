"""A host page on its own origin (another port on loopback, as a site and its Footfall server
are two origins), served with the headers a test gives it, for the host-page tests."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from collector.demo_site import install_snippet


class HostSite:
    """Pages by path: `pages[path] = (html, headers)`; `url(path)` is where the browser finds it."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self.pages: dict[str, tuple[str, dict[str, str]]] = {}

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def page(
        self,
        path: str,
        tracker_url: str,
        app_id: str,
        *,
        before: str = "",
        body: str = "",
        headers: dict[str, str] | None = None,
        config: dict[str, object] | None = None,
        current: bool = False,
        after: str = "",
    ) -> str:
        """Serve a page with Heap's classic snippet (`current`: its current one) for `app_id`
        loading from `tracker_url` (its inline scripts carry the nonce `footfall-test`),
        `before` run ahead of it and `after` right after it; its URL."""
        snippet = install_snippet(tracker_url, app_id, config, current=current).replace(
            "<script", '<script nonce="footfall-test"'
        )
        html = (
            f"<!doctype html><html><head><title>Host {path}</title><link rel=icon href='data:,'>"
            f"{before}{snippet}{after}</head><body>{body}</body></html>"
        )
        self.pages[path] = (html, headers or {})
        return self.url(path)


@contextmanager
def host_site() -> Iterator[HostSite]:
    """A host site on 127.0.0.1 and a free port, for the length of the block."""
    pages: dict[str, tuple[str, dict[str, str]]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            found = pages.get(self.path.split("?")[0])
            if found is None:
                self.send_error(404)
                return
            html, headers = found
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(html.encode())

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the test says what matters."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    site = HostSite(server)
    site.pages = pages
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()

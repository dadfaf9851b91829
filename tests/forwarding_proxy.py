"""A reverse proxy on loopback for tests, as an HTTPS proxy in front of a collector would be: it
passes every request on and tells the collector the visitor's address in X-Forwarded-For.

with ForwardingProxy(server.url, forwarded_for="81.2.69.142") as proxy:
    page.goto(proxy.url + "/demo/")   # the page, the tracker and its batches all go through it
"""

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

# Headers about one connection, not the request: never passed on (RFC 9110, section 7.6.1).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
    }
)


class ForwardingProxy:
    """Listens on a free loopback port and forwards to `target` (http://host:port), adding
    `X-Forwarded-For: <forwarded_for>` (changeable while it runs)."""

    def __init__(self, target: str, forwarded_for: str) -> None:
        self.forwarded_for = forwarded_for
        target_parts = urlsplit(target)
        proxy = self

        class Forward(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def forward(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                # Host stays the one the browser asked for, so pages name the proxy's address.
                headers = {
                    name: value
                    for name, value in self.headers.items()
                    if name.lower() not in HOP_BY_HOP
                }
                headers["X-Forwarded-For"] = proxy.forwarded_for
                upstream = http.client.HTTPConnection(
                    target_parts.hostname, target_parts.port, timeout=60
                )
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    content = answer.read()
                finally:
                    upstream.close()
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(content)

            do_GET = do_POST = do_OPTIONS = do_HEAD = forward

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the collector's answers are what tests look at

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "ForwardingProxy":
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

"""`footfall serve --request-log FILE`: every request's method, path, query and body, appended.

It is how a test proves what reached the collector (the pytest plugin's
`analytics.assert_never_sent`): a browser's own network events miss the beacons a page sends
while it unloads. Bodies the app refuses unread are kept too.
"""

import base64
import json
import time
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A body past this is kept cut: the log is for tests, and must not hold the server's memory.
MAX_LOGGED_BODY = 64 * 1024 * 1024


class RequestLog:
    """ASGI middleware appending one JSON line per HTTP request to `path`: `time` (ms, when it
    arrived), `method`, `path`, `query`, `body` (base64 of the bytes as sent, gzip included)."""

    def __init__(self, app: ASGIApp, path: Path) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        arrived_ms = int(time.time() * 1000)
        # The body is read (up to the cap) and logged before the app answers, so a request that
        # got its answer is in the log; the app then reads the same messages.
        chunks: list[bytes] = []
        size = 0
        more_body = True
        ended: list[Message] = []  # a disconnect that came before the body's end
        while more_body and size < MAX_LOGGED_BODY:
            message = await receive()
            if message["type"] != "http.request":
                ended.append(message)
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more_body = message.get("more_body", False)
        body = b"".join(chunks)
        self._append(scope, arrived_ms, body[:MAX_LOGGED_BODY])
        replay: list[Message] = [
            {"type": "http.request", "body": body, "more_body": more_body and not ended},
            *ended,
        ]

        async def receive_replayed() -> Message:
            return replay.pop(0) if replay else await receive()

        await self.app(scope, receive_replayed, send)

    def _append(self, scope: Scope, arrived_ms: int, body: bytes) -> None:
        line = json.dumps(
            {
                "time": arrived_ms,
                "method": scope["method"],
                "path": scope["path"],
                "query": scope.get("query_string", b"").decode("latin-1"),
                "body": base64.b64encode(body).decode("ascii"),
            }
        )
        with self.path.open("a", encoding="utf-8") as log:  # one write per line: lines never mix
            log.write(line + "\n")

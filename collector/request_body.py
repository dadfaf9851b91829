"""Reading a request body safely: a size cap after decompression, gzip, strict JSON, nesting and
record caps, JSON errors; and a cap on every other body, before anything reads it."""

import json
import re
import zlib
from collections.abc import Callable
from typing import Any

import orjson
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from snippet.validate import normalize_identity

GZIP_MAGIC = b"\x1f\x8b"
# Levels of lists and objects one record (or server-side API item) may nest; Heap's properties
# are flat, so this is generous. Deeper records are refused one by one, keeping the rest.
MAX_NESTING = 32
# Nesting that the parser cuts short (whole body), so it never recurses deeper than this.
_PARSE_DEPTH = MAX_NESTING + 8
# Records in one ingest request. The tracker's batches stay under 4 MB, where even its smallest
# records (identify, about 110 bytes) are fewer than 40,000; so a batch of more is not ours.
MAX_RECORDS = 50_000
# JSON strings and brackets: enough of the grammar to follow nesting outside strings.
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]+|\\.)*"|[\[\]{}]')
# A surrogate escape in the text; JSON.stringify writes lone ones (say a title cut mid-emoji),
# which SQLite cannot store as UTF-8.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# The fast parser (orjson) reads a whole number past 64 bits as a float; a run of 19 digits may
# be one, so such bodies go to json, and every body reads as it always did. To find such a run
# fast, a body's bytes are mapped to "0" (a digit) or " " (anything else).
_DIGITS = bytes(ord("0") if chr(byte) in "0123456789" else ord(" ") for byte in range(256))
_LONG_DIGIT_RUN = b"0" * 19
# A storage failure (a full disk, a locked database) may pass within seconds: clients wait this
# long before they try again (the tracker honours it, snippet/delivery.py).
STORAGE_RETRY_AFTER_S = 5


class RequestProblem(Exception):
    """A request the collector cannot use (body, app or size): `status` and `message` become
    the JSON error answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The collector's one error shape: {"error": "<what is wrong>"}."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def storage_unavailable(error: Exception, headers: dict[str, str] | None = None) -> JSONResponse:
    """The 503 for a storage failure that may pass: what failed, and when to try again."""
    retry = {"Retry-After": str(STORAGE_RETRY_AFTER_S)}
    return error_response(503, f"{error}; retry later", {**(headers or {}), **retry})


class BodyLimit:
    """ASGI middleware: refuses (413) a body past `limit_for(path)` bytes before the endpoint has
    read more than that (None: the endpoint caps its own), and answers 400 to a body that ends
    early or breaks HTTP's chunked encoding, which Starlette reports as a client disconnect."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int | None]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        if limit is not None and declared.isdigit() and int(declared) > limit:
            refusal = RequestProblem(413, f"body is {declared} bytes; the limit here is {limit}")
            await _answer_bad_input(scope, refusal)(scope, receive, send)
            return
        received = 0
        started = False

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request" and limit is not None:
                received += len(message.get("body", b""))
                if received > limit:
                    raise RequestProblem(413, f"body is over the limit here of {limit} bytes")
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, capped_receive, watched_send)
        except (RequestProblem, ClientDisconnect) as error:
            if started:
                raise
            if isinstance(error, ClientDisconnect):
                error = RequestProblem(
                    400, "the body ended early or its chunked encoding is malformed; send it whole"
                )
            await _answer_bad_input(scope, error)(scope, receive, send)


def _answer_bad_input(scope: Scope, bad: RequestProblem) -> Response:
    """JSON under /api/ (clients parse it), plain text elsewhere, as app.http_error answers."""
    if str(scope["path"]).startswith("/api/"):
        return error_response(bad.status, bad.message)
    return PlainTextResponse(bad.message, status_code=bad.status)


async def read_json(request: Request, max_bytes: int) -> Any:
    """The request's JSON body, gunzipped when needed; RequestProblem saying why it is unusable."""
    return parse_json(await read_body(request, max_bytes))


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request's body, gunzipped when needed, at most `max_bytes` either way."""
    raw = await read_capped(request, max_bytes)
    return decompress(raw, request.headers.get("content-encoding", ""), max_bytes)


async def read_capped(request: Request, max_bytes: int) -> bytes:
    """The raw body, refusing with 413 as soon as it passes `max_bytes`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise RequestProblem(413, f"body is {declared} bytes; the limit is {max_bytes}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise RequestProblem(413, f"body is over the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def decompress(raw: bytes, content_encoding: str, max_bytes: int) -> bytes:
    """Gunzip when the header says gzip or the body starts with gzip's magic bytes."""
    encoding = content_encoding.strip().lower()
    if encoding not in ("", "identity", "gzip", "x-gzip"):
        raise RequestProblem(
            415, f"Content-Encoding {content_encoding!r} is not supported; use gzip"
        )
    if encoding in ("gzip", "x-gzip") or raw.startswith(GZIP_MAGIC):
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            body = inflater.decompress(raw, max_bytes + 1)
        except zlib.error as error:
            raise RequestProblem(400, f"body is not valid gzip: {error}") from None
        if len(body) > max_bytes:
            raise RequestProblem(
                413, f"body is over the limit of {max_bytes} bytes once decompressed"
            )
        if not inflater.eof:
            raise RequestProblem(400, "body is not valid gzip: the stream is cut short")
        return body
    return raw


def parse_json(body: bytes) -> Any:
    """Strict JSON from UTF-8 bytes (no NaN or Infinity)."""
    if not body.strip():
        raise RequestProblem(400, "body is empty; expected JSON")
    if not has_long_number(body):
        try:
            return orjson.loads(body)  # twice as fast as json.loads
        except orjson.JSONDecodeError:
            pass  # json says what is wrong, mends lone surrogates, reads a BOM, cuts deep nesting
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise RequestProblem(400, f"body is not UTF-8: {error}") from None
    try:
        try:
            value = json.loads(text, parse_constant=_refuse_constant)
        except RecursionError:
            # Too deep for the parser: cut the deep parts short, so that the records holding
            # them are refused (nesting_problem) and the others kept.
            value = json.loads(_cut_deep_nesting(text), parse_constant=_refuse_constant)
    except ValueError as error:  # JSONDecodeError is a ValueError
        raise RequestProblem(400, f"body is not valid JSON: {error}") from None
    if not _SURROGATE_ESCAPE.search(text):
        return value
    return _replace_lone_surrogates(value, 0)


def has_long_number(body: bytes) -> bool:
    """Whether the JSON text may hold a whole number past 64 bits, which the fast parsers read
    otherwise than json does (orjson as a float)."""
    return _LONG_DIGIT_RUN in body.translate(_DIGITS)


def nesting_problem(value: Any) -> str | None:
    """Why a record (or item) nests lists and objects too deeply to take, or None."""
    if _is_container(value) and _nests_deeper(value, MAX_NESTING - 1):
        return f"lists and objects are nested more than {MAX_NESTING} levels"
    return None


def check_record_count(records: list[Any]) -> None:
    """RequestProblem (413) for a batch of more than MAX_RECORDS records."""
    if len(records) > MAX_RECORDS:
        raise RequestProblem(
            413,
            f"records has {len(records)} items; at most {MAX_RECORDS} per request:"
            " send smaller batches",
        )


def app_id_of(body: dict[str, Any]) -> str:
    """The body's `app_id` (a string or a number, as Heap's are); RequestProblem if it has none."""
    app_id = normalize_identity(body.get("app_id"))
    if not app_id:
        raise RequestProblem(400, "app_id is missing; it must be a string or a number")
    return app_id


def _replace_lone_surrogates(value: Any, depth: int) -> Any:
    """The value with every lone surrogate (in strings and keys) turned into U+FFFD; what is
    nested deeper than any usable record is left as it is (nesting_problem refuses it)."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if depth > _PARSE_DEPTH:
        return value
    if isinstance(value, list):
        return [_replace_lone_surrogates(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {
            _replace_lone_surrogates(k, depth): _replace_lone_surrogates(v, depth + 1)
            for k, v in value.items()
        }
    return value


def _cut_deep_nesting(text: str) -> str:
    """The JSON text with every list or object opened deeper than _PARSE_DEPTH replaced by []."""
    kept: list[str] = []
    depth = 0
    resume_at = 0  # where the text after the last cut starts
    for token in _STRING_OR_BRACKET.finditer(text):
        bracket = token.group()
        if bracket in ("[", "{"):
            depth += 1
            if depth == _PARSE_DEPTH + 1:
                kept.append(text[resume_at : token.start()])
        elif bracket in ("]", "}"):
            if depth == _PARSE_DEPTH + 1:
                kept.append("[]")
                resume_at = token.end()
            depth -= 1
    if depth <= _PARSE_DEPTH:
        kept.append(text[resume_at:])
    return "".join(kept)


_CONTAINERS = (dict, list)  # a tuple: `dict | list` would be built anew at each use


def _nests_deeper(container: dict[Any, Any] | list[Any], levels: int) -> bool:
    """Whether lists or objects nest more than `levels` levels inside `container` (recursion as
    deep as MAX_NESTING at most: on every ingested record, it is several times faster than a
    loop with a stack)."""
    for child in container.values() if isinstance(container, dict) else container:
        if isinstance(child, _CONTAINERS) and (levels == 0 or _nests_deeper(child, levels - 1)):
            return True
    return False


def _is_container(value: object) -> bool:
    return isinstance(value, _CONTAINERS)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")

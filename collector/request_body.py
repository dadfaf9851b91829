"""Reading a request body safely: a size cap after decompression, gzip, strict JSON, JSON errors."""

import json
import re
import zlib
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from snippet.validate import normalize_identity

GZIP_MAGIC = b"\x1f\x8b"
# A surrogate escape in the text; JSON.stringify writes lone ones (say a title cut mid-emoji),
# which SQLite cannot store as UTF-8.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class BadInput(Exception):
    """Input the collector cannot use; `status` and `message` become the JSON error answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The collector's one error shape: {"error": "<what is wrong>"}."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def read_json(request: Request, max_bytes: int) -> Any:
    """The request's JSON body, gunzipped when needed; BadInput saying why it cannot be read."""
    raw = await read_capped(request, max_bytes)
    return parse_json(decompress(raw, request.headers.get("content-encoding", ""), max_bytes))


async def read_capped(request: Request, max_bytes: int) -> bytes:
    """The raw body, refusing with 413 as soon as it passes `max_bytes`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BadInput(413, f"body is {declared} bytes; the limit is {max_bytes}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BadInput(413, f"body is over the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def decompress(raw: bytes, content_encoding: str, max_bytes: int) -> bytes:
    """Gunzip when the header says gzip or the body starts with gzip's magic bytes."""
    encoding = content_encoding.strip().lower()
    if encoding not in ("", "identity", "gzip", "x-gzip"):
        raise BadInput(415, f"Content-Encoding {content_encoding!r} is not supported; use gzip")
    if encoding in ("gzip", "x-gzip") or raw.startswith(GZIP_MAGIC):
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            body = inflater.decompress(raw, max_bytes + 1)
        except zlib.error as error:
            raise BadInput(400, f"body is not valid gzip: {error}") from None
        if len(body) > max_bytes:
            raise BadInput(413, f"body is over the limit of {max_bytes} bytes once decompressed")
        if not inflater.eof:
            raise BadInput(400, "body is not valid gzip: the stream is cut short")
        return body
    return raw


def parse_json(body: bytes) -> Any:
    """Strict JSON from UTF-8 bytes (no NaN or Infinity)."""
    if not body.strip():
        raise BadInput(400, "body is empty; expected JSON")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BadInput(400, f"body is not UTF-8: {error}") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        raise BadInput(400, f"body is not valid JSON: {error}") from None
    if not _SURROGATE_ESCAPE.search(text):
        return value
    try:
        return _replace_lone_surrogates(value)
    except RecursionError:
        raise BadInput(400, "body is not valid JSON: nested too deeply") from None


def app_id_of(body: dict[str, Any]) -> str:
    """The body's `app_id` (a string or a number, as Heap's are); BadInput when it has none."""
    app_id = normalize_identity(body.get("app_id"))
    if not app_id:
        raise BadInput(400, "app_id is missing; it must be a string or a number")
    return app_id


def _replace_lone_surrogates(value: Any) -> Any:
    """The value with every lone surrogate (in strings and keys) turned into U+FFFD."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_replace_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_replace_lone_surrogates(k): _replace_lone_surrogates(v) for k, v in value.items()}
    return value


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")

"""`POST /api/ingest`: the tracker's batches (docs/protocol.md, section 4) as a pipeline of steps.

read and gunzip (capped) → parse the batch (the tracker's straight from bytes with msgspec, any
other as `parse_json` reads it) → find the app → drop bots → validate each record → store
(identity resolution and one commit) → answer. Each step is one function below;
`ingest_batch` runs drop bots, validate and store in order. A record repeated within a batch or
across batches is stored once: storage keeps each record id once per app.

Every field of the wire records is checked and stored, except the envelope's `sent_at` and
`library` (unused for now) and keys the protocol does not define, which are dropped.
"""

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from collector.batch_answer import (
    BatchAnswer,
    DropReason,
    RecordProblem,
    check_each,
    require_known_app,
    store,
)
from collector.bots import is_bot
from collector.clock import WEB_MAX_AGE_MS, TimeRefused, event_time, now_ms
from collector.context import RequestContext, RequestContexts
from collector.request_body import (
    RequestProblem,
    app_id_of,
    check_record_count,
    error_response,
    has_long_number,
    parse_json,
    read_body,
    storage_unavailable,
)
from collector.settings import Settings
from collector.storage.base import (
    Identify,
    NewEvent,
    Operation,
    SetUserProperties,
    Storage,
    StorageError,
)
from snippet.validate import (
    RESERVED_TRACK_NAMES,
    clean_page_context,
    clean_properties,
    clean_user_properties,
    event_name_problem,
    normalize_identity,
    user_id_problem,
)
from snippet.wire import (
    ACCOUNT_PROPERTIES,
    AUTOCAPTURED_TYPES,
    CUSTOM,
    EVENT,
    EVENT_ID,
    EVENT_TYPES,
    IDENTIFY,
    PAGE_FIELDS,
    RECORD_KINDS,
    SESSION_FIELDS,
    STORED_TEXT_MAX,
    TARGET_FIELDS,
    USER_PROPERTIES,
    UTM_PARAMETERS,
)

BROWSER_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")

CORS_HEADERS = {
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Content-Encoding",
    "Access-Control-Max-Age": "86400",
    "Access-Control-Expose-Headers": "Retry-After",  # the tracker waits as a 429 or 503 asks
}


@dataclass(frozen=True)
class Sender:
    """Who sent a request: its User-Agent (bots are dropped by it) and the context it gives
    every event of the batch (collector/context.py)."""

    user_agent: str
    context: RequestContext

    @staticmethod
    def of(request: Request, contexts: RequestContexts) -> "Sender":
        """The sender of `request`, from its peer address (or a trusted proxy's forward)."""
        user_agent = request.headers.get("user-agent", "")
        client = request.client.host if request.client else None
        return Sender(user_agent, contexts.of(user_agent, client))


@dataclass(frozen=True)
class Batch:
    """A parsed body: the app and its records, not yet checked one by one."""

    app_id: str
    records: list[Any]
    flat: bool = False  # the records nest no deeper than _FlatBody's


_Scalar = str | int | float | bool | None  # a JSON scalar
_Object = dict[str, _Scalar]


class _FlatBody(msgspec.Struct):
    """A body whose records hold scalars, objects of scalars and objects of those (an event's
    context.screen): the shape of every record the tracker sends. msgspec reads it straight from
    the bytes and checks that shape in one pass, so its records need no nesting check; every
    rule is then checked as for any body."""

    app_id: _Scalar = None
    records: list[dict[str, _Scalar | dict[str, _Scalar | _Object]]] | _Scalar = None


_decode_flat_body = msgspec.json.Decoder(_FlatBody).decode


def ingest_routes(
    storage: Storage, settings: Settings, contexts: RequestContexts
) -> list[BaseRoute]:
    """The ingest endpoint, with CORS for any origin."""

    async def ingest(request: Request, cors: dict[str, str]) -> Response:
        batch = parse_body(await read_body(request, settings.max_ingest_bytes))
        await require_known_app(storage, batch.app_id)
        answer = await ingest_batch(storage, settings, batch, Sender.of(request, contexts))
        if answer.nothing_usable():
            return answer.response(cors, error=answer.first_rejection("record"))
        return answer.response(cors)

    return [Route("/api/ingest", page_endpoint(ingest), methods=["POST", "OPTIONS"])]


PageHandler = Callable[[Request, dict[str, str]], Awaitable[Response]]


def page_endpoint(handle: PageHandler) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint that host pages post to from any origin (ingest, the fallback): the CORS
    preflight, and a bad request or a storage failure answered as JSON with the CORS headers."""

    async def endpoint(request: Request) -> Response:
        cors = cors_headers(request)
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=cors)
        try:
            return await handle(request, cors)
        except RequestProblem as bad:
            return error_response(bad.status, bad.message, cors)
        except StorageError as error:
            return storage_unavailable(error, cors)

    return endpoint


def cors_headers(request: Request) -> dict[str, str]:
    """Allow any origin: the ingest endpoint reads no cookies, so echoing it is safe."""
    origin = request.headers.get("origin")
    if origin is None:
        return {**CORS_HEADERS, "Access-Control-Allow-Origin": "*"}
    return {
        **CORS_HEADERS,
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",
    }


def parse_body(body: bytes) -> Batch:
    """Step: the batch in a (decompressed) body; RequestProblem when it is unusable as a whole."""
    flat = _flat_body(body)
    if flat is None:
        return parse_batch(parse_json(body))
    return parse_batch({"app_id": flat.app_id, "records": flat.records}, flat=True)


def _flat_body(body: bytes) -> _FlatBody | None:
    """The body read as a _FlatBody, or None when it is not one or msgspec might read it
    otherwise than parse_json does (numbers past 64 bits; lone surrogates and a BOM it refuses)."""
    if has_long_number(body):
        return None
    try:
        return _decode_flat_body(body)
    except (msgspec.DecodeError, ValueError):  # ValueError: not UTF-8
        return None


def parse_batch(body: Any, *, flat: bool = False) -> Batch:
    """Step: the batch's app and records; RequestProblem when the body as a whole is unusable."""
    if not isinstance(body, dict):
        raise RequestProblem(400, "body must be a JSON object with app_id and records")
    app_id = app_id_of(body)
    records = body.get("records")
    if not isinstance(records, list):
        raise RequestProblem(400, "records must be an array")
    if not records:
        raise RequestProblem(400, "records is empty")
    check_record_count(records)
    return Batch(app_id=app_id, records=records, flat=flat)


async def ingest_batch(
    storage: Storage, settings: Settings, batch: Batch, sender: Sender
) -> BatchAnswer:
    """The pipeline from a parsed batch of a known app on: drop bots, validate, store."""
    answer = BatchAnswer()
    records = batch.records
    if settings.drop_bots:
        records = drop_bots(records, sender.user_agent, answer)
    operations = validate(records, answer, sender.context, flat=batch.flat)
    await store(storage, batch.app_id, operations, answer)
    return answer


def drop_bots(records: list[Any], user_agent: str, answer: BatchAnswer) -> list[Any]:
    """Step: a bot's records (by its User-Agent) are answered but not stored; counted as dropped."""
    if not is_bot(user_agent):
        return records
    answer.drop(DropReason.BOT, len(records))
    return []


def validate(
    records: list[Any], answer: BatchAnswer, request_context: RequestContext, *, flat: bool = False
) -> list[tuple[int, Operation]]:
    """Step: each wire record as a storage operation, with its index; the others rejected.
    Events get the request's context beside the page's."""

    def check(record: Any) -> Operation:
        return record_operation(record, request_context)

    return check_each(records, check, answer, flat=flat)


def record_operation(record: Any, request_context: RequestContext) -> Operation:
    """The storage operation for one wire record; RecordProblem saying what is wrong."""
    if not isinstance(record, dict):
        raise RecordProblem("record must be an object")
    kind = record.get("kind")
    if kind == EVENT:
        return event_operation(record, request_context)
    if kind == IDENTIFY:
        return identify_operation(record)
    if kind in (USER_PROPERTIES, ACCOUNT_PROPERTIES):
        return user_properties_operation(record)
    raise RecordProblem(
        f"kind must be {', '.join(RECORD_KINDS[:-1])} or {RECORD_KINDS[-1]}, got {kind!r}"
    )


def event_operation(record: dict[str, Any], request_context: RequestContext) -> NewEvent:
    """A web event record, checked against the protocol and Heap's limits."""
    event_type = record.get("type")
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        raise RecordProblem(f"type must be one of {sorted(EVENT_TYPES)}, got {event_type!r}")
    name = record.get("name")
    if event_type == CUSTOM:
        _require_none(event_name_problem(name))
        if name in RESERVED_TRACK_NAMES:
            raise RecordProblem(f"event name {name!r} is reserved for autocaptured events")
    elif name != event_type:
        raise RecordProblem(f"a {event_type} event must be named {event_type!r}, got {name!r}")
    target = record.get("target")
    if event_type in AUTOCAPTURED_TYPES:
        target = _text_fields(target, TARGET_FIELDS, "target")
    elif target is not None:
        raise RecordProblem(f"a {event_type} event has no target; send null")
    properties = _properties_of_batch(record.get("properties"))
    _require_none(properties.problems[0] if properties.problems else None)
    return NewEvent(
        event_id=_event_id(record),
        type=str(event_type),
        name=str(name),
        time=_time(record),
        source="web",
        user_id=_user_id(record),
        session_id=_browser_id(record, "session_id"),
        pageview_id=_browser_id(record, "pageview_id"),
        properties=properties.properties,
        page=_page(record.get("page")),
        target=target,
        session=_session_of_batch(record.get("session")),
        context=_event_context(record.get("context"), request_context),
    )


def identify_operation(record: dict[str, Any]) -> Identify:
    """An identify record; storage refuses unsafe identities, recording a warning."""
    identity = normalize_identity(record.get("identity"))
    if identity is None:
        raise RecordProblem("identity must be a string or a whole number")
    return Identify(
        record_id=_event_id(record), user_id=_user_id(record), identity=identity, time=_time(record)
    )


def user_properties_operation(record: dict[str, Any]) -> SetUserProperties:
    """A user_properties (or account_properties) record, checked against Heap's user-property
    limits."""
    cleaned = clean_user_properties(record.get("properties"))
    _require_none(cleaned.problems[0] if cleaned.problems else None)
    return SetUserProperties(
        record_id=_event_id(record),
        user_id=_user_id(record),
        properties=cleaned.properties,
        time=_time(record),
        scope="account" if record.get("kind") == ACCOUNT_PROPERTIES else "user",
    )


def _require_none(problem: str | None) -> None:
    if problem is not None:
        raise RecordProblem(problem)


def _event_id(record: dict[str, Any]) -> str:
    event_id = record.get("event_id")
    if not isinstance(event_id, str) or not EVENT_ID.fullmatch(event_id):
        raise RecordProblem("event_id must be 32 lowercase hex characters")
    return event_id


def _user_id(record: dict[str, Any]) -> str:
    user_id = record.get("user_id")
    _require_none(user_id_problem(user_id))
    return str(user_id)


def _browser_id(record: dict[str, Any], field: str) -> str:
    value = record.get(field)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not isinstance(value, str) or not BROWSER_ID.fullmatch(value):
        raise RecordProblem(f"{field} must be 1 to 64 letters, digits, '_' or '-'")
    return value


def _time(record: dict[str, Any]) -> int:
    try:
        return event_time(record.get("time"), now_ms(), WEB_MAX_AGE_MS)
    except TimeRefused as refused:
        raise RecordProblem(str(refused)) from None


Result = TypeVar("Result")


def _itself(value: Any) -> Any:
    return value


def _exact_key(value: object) -> object:
    """A key equal only to the key of a value of the same JSON text (1, 1.0 and True differ,
    and key order), which is the same value of the same types; a value that has no JSON text
    (a whole number past 64 bits, a lone surrogate) gets a key equal to no other."""
    try:
        return orjson.dumps(value)  # a tenth of repr's time for a tracker's properties
    except TypeError:
        return object()


class _SameAsLast(Generic[Result]):
    """`check(value)`, reusing the last result while values of an equal `key` follow one
    another: the records of one batch mostly share their page, session, properties and context.
    Equal keys must imply an equal result: the value itself will do for objects of strings, not
    where 1 == True == 1.0 (`_exact_key` tells those apart). Results are shared, so never
    change one."""

    def __init__(self, check: Callable[[Any], Result], key: Callable[[Any], Any] = _itself) -> None:
        self._check = check
        self._key = key
        self._last: tuple[Any, Result] | None = None  # one tuple: replaced in one step

    def __call__(self, value: Any) -> Result:
        key = self._key(value)
        last = self._last
        if last is not None and key == last[0]:
            return last[1]
        result = self._check(value)
        self._last = (key, result)
        return result


class _EventContext:
    """An event's stored context, the page's (as the loader sent it, cleaned) beside the
    request's, made once while the page's is sent with the same JSON text and the request's is
    the very same object (one per request): the events of a batch share one dict, which storage
    then encodes once, and the page's is cleaned once a batch. Never change the result."""

    def __init__(self) -> None:
        self._last: tuple[object, RequestContext, dict[str, object]] | None = None

    def __call__(self, sent: object, request: RequestContext) -> dict[str, object]:
        key = _exact_key(sent)
        last = self._last
        if last is not None and last[1] is request and last[0] == key:  # held: ids stay theirs
            return last[2]
        merged = {**clean_page_context(sent), **request}
        self._last = (key, request, merged)
        return merged


def _session(value: object) -> dict[str, str] | None:
    """The session's landing page, initial referrer and the landing UTM parameters it has."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RecordProblem("session must be an object")
    utm = [name for name in UTM_PARAMETERS if name in value]
    return _text_fields(value, (*SESSION_FIELDS, *utm), "session", cut=True)


_page = _SameAsLast(lambda value: _text_fields(value, PAGE_FIELDS, "page", cut=True))
_session_of_batch = _SameAsLast(_session)
_properties_of_batch = _SameAsLast(clean_properties, key=_exact_key)
_event_context = _EventContext()


def _text_fields(
    value: object, fields: tuple[str, ...], name: str, *, cut: bool = False
) -> dict[str, str]:
    """The named fields of an object as strings ("" when absent or null), other keys dropped;
    a string past STORED_TEXT_MAX is cut to it when `cut`, else refused."""
    if not isinstance(value, dict):
        raise RecordProblem(f"{name} must be an object")
    out: dict[str, str] = {}
    for key in fields:
        text = value.get(key)
        if text is None:
            text = ""
        elif not isinstance(text, str):
            raise RecordProblem(f"{name}.{key} must be a string")
        if len(text) > STORED_TEXT_MAX:
            if not cut:
                raise RecordProblem(f"{name}.{key} is longer than {STORED_TEXT_MAX} characters")
            text = text[:STORED_TEXT_MAX]
        out[key] = text
    return out

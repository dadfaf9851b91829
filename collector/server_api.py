"""Heap's server-side APIs (seed 003): `/api/track`, `/api/add_user_properties`, `/api/v1/identify`.

Heap's shapes: the app is named by `app_id` alone (no API key), single calls and bulk calls of up
to 1000 items, `idempotency_key` hashed into the event id, and Heap's rate limits answered 429.
"""

import hashlib
import uuid
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from collector.batch_answer import (
    BatchAnswer,
    RecordProblem,
    check_each,
    require_known_app,
    store,
)
from collector.clock import TimeRefused, event_time, now_ms
from collector.ratelimit import Costs, RateLimiter, retry_after_header, take_all
from collector.request_body import (
    RequestProblem,
    app_id_of,
    error_response,
    read_json,
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
    SERVER_EVENT_NAME_MAX,
    clean_server_properties,
    event_name_problem,
    identity_problem,
    normalize_identity,
    user_id_problem,
)
from snippet.wire import CUSTOM

BULK_MAX = 1000
IDEMPOTENCY_KEY_MAX = 1024


@dataclass(frozen=True)
class Limits:
    """Heap's published limits for the server-side APIs."""

    track_per_identity: RateLimiter
    track_per_app: RateLimiter
    user_properties_per_identity: RateLimiter

    @staticmethod
    def heap() -> "Limits":
        return Limits(
            track_per_identity=RateLimiter(1000, 60),
            track_per_app=RateLimiter(15_000, 60),
            user_properties_per_identity=RateLimiter(30, 30),
        )


def server_api_routes(storage: Storage, settings: Settings) -> list[BaseRoute]:
    """Routes of Heap's server-side track, add_user_properties and identify APIs."""
    limits = Limits.heap()

    # The costs of a request's usable items, each given by who it is about.
    def track_costs(app_id: str, subjects: list[str]) -> list[tuple[RateLimiter, Costs]]:
        return [
            (limits.track_per_identity, _count((app_id, who) for who in subjects)),
            (limits.track_per_app, {app_id: len(subjects)}),
        ]

    def user_properties_costs(app_id: str, subjects: list[str]) -> list[tuple[RateLimiter, Costs]]:
        return [(limits.user_properties_per_identity, _count((app_id, w) for w in subjects))]

    def endpoint(
        items_key: str,
        check_item: Callable[[Any], tuple[Operation, str]],
        costs: Callable[[str, list[str]], list[tuple[RateLimiter, Costs]]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            try:
                body = await read_json(request, settings.max_api_bytes)
                app_id, items = _app_and_items(body, items_key)
                await require_known_app(storage, app_id)
            except RequestProblem as bad:
                return error_response(bad.status, bad.message)
            except StorageError as error:
                return storage_unavailable(error)
            answer = BatchAnswer()
            checked = check_each(items, check_item, answer)
            if not checked:
                single = len(items) == 1
                return error_response(
                    400, answer.rejected[0].error if single else answer.first_rejection("item")
                )
            refusal = _spend(costs(app_id, [subject for _, (_, subject) in checked]))
            if refusal is not None:
                return refusal
            try:
                await store(storage, app_id, [(i, op) for i, (op, _) in checked], answer)
            except StorageError as error:
                return storage_unavailable(error)
            return answer.response()

        return handle

    return [
        Route("/api/track", endpoint("events", track_item, track_costs), methods=["POST"]),
        Route(
            "/api/add_user_properties",
            endpoint("users", user_properties_item, user_properties_costs),
            methods=["POST"],
        ),
        Route(
            "/api/v1/identify",
            endpoint("", identify_item, lambda app_id, subjects: []),
            methods=["POST"],
        ),
    ]


def track_item(item: Any) -> tuple[Operation, str]:
    """A server-side event (source "server", type "custom") and who it is about."""
    item = _object(item)
    name = item.get("event")
    problem = event_name_problem(name, limit=SERVER_EVENT_NAME_MAX)
    if problem is not None:
        raise RecordProblem(problem)
    properties = clean_server_properties(item.get("properties"), user=False)
    if properties.problems:
        raise RecordProblem(properties.problems[0])
    user_id, identity = _user_or_identity(item)
    session_id = item.get("session_id")
    if session_id is not None and not isinstance(session_id, str | int):
        raise RecordProblem("session_id must be a string or a number")
    operation = NewEvent(
        event_id=_event_id(item.get("idempotency_key")),
        type=CUSTOM,
        name=str(name),
        time=_timestamp(item.get("timestamp")),
        source="server",
        user_id=user_id,
        identity=identity,
        session_id=None if session_id is None else str(session_id),
        properties=properties.properties,
    )
    return operation, identity or f"user_id:{user_id}"


def user_properties_item(item: Any) -> tuple[Operation, str]:
    """Properties for the user with an identity (created, with no events, when unknown)."""
    item = _object(item)
    identity = _identity(item.get("identity"))
    cleaned = clean_server_properties(item.get("properties"), user=True)
    if cleaned.problems:
        raise RecordProblem(cleaned.problems[0])
    for key in cleaned.properties:
        if key.lower() == "id":
            raise RecordProblem(f"{key!r} cannot be used as a user property key")
    if not cleaned.properties:
        raise RecordProblem("properties must be a non-empty object")
    return SetUserProperties(
        record_id=None, properties=cleaned.properties, time=now_ms(), identity=identity
    ), identity


def identify_item(item: Any) -> tuple[Operation, str]:
    """Give a web user id an identity; refused for a user identified otherwise, and past Heap's
    10 user ids per identity a month."""
    item = _object(item)
    user_id = item.get("user_id")
    problem = user_id_problem(user_id)
    if problem is not None:
        raise RecordProblem(problem)
    identity = _identity(item.get("identity"))
    time = _timestamp(item.get("timestamp"))
    operation = Identify(
        record_id=None, user_id=str(user_id), identity=identity, time=time, source="server"
    )
    return operation, identity


def _app_and_items(body: Any, items_key: str) -> tuple[str, list[Any]]:
    """The app and the calls of a single (the body itself) or bulk (`items_key` array) request."""
    if not isinstance(body, dict):
        raise RequestProblem(400, "body must be a JSON object")
    app_id = app_id_of(body)
    if not items_key or items_key not in body:
        return app_id, [body]
    items = body[items_key]
    if not isinstance(items, list) or not items:
        raise RequestProblem(400, f"{items_key} must be a non-empty array")
    if len(items) > BULK_MAX:
        raise RequestProblem(
            400, f"{items_key} has {len(items)} items; at most {BULK_MAX} per request"
        )
    return app_id, items


def _spend(charges: list[tuple[RateLimiter, Costs]]) -> Response | None:
    """Spend the request's tokens, or a 429 with Retry-After when a limit is exhausted."""
    refused = take_all(charges)
    if refused is None:
        return None
    limiter, wait = refused
    limit = f"{limiter.limit} per {limiter.window_s:g} s"
    if wait == float("inf"):
        return error_response(400, f"this request alone is over the rate limit of {limit}")
    return error_response(
        429,
        f"rate limit of {limit} exceeded; retry after {wait:.0f} s",
        retry_after_header(wait),
    )


def _count(keys: Any) -> dict[Hashable, int]:
    counts: dict[Hashable, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return counts


def _object(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise RecordProblem("each item must be a JSON object")
    return item


def _identity(value: object) -> str:
    problem = identity_problem(value)
    if problem is not None:
        raise RecordProblem(problem)
    identity = normalize_identity(value)
    assert identity is not None
    return identity


def _user_or_identity(item: dict[str, Any]) -> tuple[str | None, str | None]:
    has_identity, has_user_id = "identity" in item, "user_id" in item
    if has_identity == has_user_id:
        raise RecordProblem("give exactly one of identity or user_id")
    if has_identity:
        return None, _identity(item["identity"])
    problem = user_id_problem(item["user_id"])
    if problem is not None:
        raise RecordProblem(problem)
    return str(item["user_id"]), None


def _event_id(idempotency_key: object) -> str:
    """Heap hashes the idempotency key into its event ids; without one, every call is new."""
    if idempotency_key is None:
        return uuid.uuid4().hex
    if not isinstance(idempotency_key, str | int) or isinstance(idempotency_key, bool):
        raise RecordProblem("idempotency_key must be a string")
    key = str(idempotency_key)
    if not key or len(key) > IDEMPOTENCY_KEY_MAX:
        raise RecordProblem(f"idempotency_key must be 1 to {IDEMPOTENCY_KEY_MAX} characters")
    return hashlib.sha256(b"idempotency_key:" + key.encode()).hexdigest()[:32]


def _timestamp(value: object) -> int:
    """ISO 8601 (as Heap takes it) to epoch ms; a missing timestamp means now."""
    if value is None:
        return now_ms()
    if not isinstance(value, str):
        raise RecordProblem(
            "timestamp must be an ISO 8601 string such as 2017-03-10T22:21:56+00:00"
        )
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise RecordProblem(f"timestamp {value[:40]!r} is not ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return event_time(int(moment.timestamp() * 1000), now_ms(), None)
    except TimeRefused as refused:
        raise RecordProblem(f"timestamp {value!r}: {refused}") from None

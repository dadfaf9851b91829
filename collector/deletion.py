"""Heap's user-deletion API (seed 003): a token from Basic app_id:api_key, then deletion requests.

Requests are answered `pending` at once; the deletion itself runs right after the answer (and
again at startup for any left pending), removing the users, the users merged into them and
their events.
"""

import base64
import hmac
import sys
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from collector.request_body import RequestProblem, read_json
from collector.settings import Settings
from collector.storage.base import Storage, StorageError
from snippet.validate import identity_problem, normalize_identity, user_id_problem

TOKEN_LIFETIME_MS = 60 * 60 * 1000
DELETION_MAX_USERS = 10_000
PREFIX = "/api/public/v0"


def err(status: int, message: str) -> JSONResponse:
    """The deletion API's error shape: {"err": {"message": ...}}."""
    headers = {"WWW-Authenticate": 'Bearer realm="footfall"'} if status == 401 else None
    return JSONResponse({"err": {"message": message}}, status_code=status, headers=headers)


def deletion_routes(storage: Storage, settings: Settings) -> list[BaseRoute]:
    """auth_token, user_deletion and deletion_status."""

    async def auth_token(request: Request) -> Response:
        credentials = basic_credentials(request.headers.get("authorization", ""))
        if credentials is None:
            return err(401, "send HTTP Basic auth with app_id as user and api_key as password")
        app_id, api_key = credentials
        app = await storage.find_app(app_id)
        if app is None or not hmac.compare_digest(app.api_key.encode(), api_key.encode()):
            return err(401, "Unauthorized: unknown app_id or wrong api_key")
        if app.project_id != app.app_id:  # seed 003: the Main Production environment only
            return err(
                401,
                f"Unauthorized: app {app.app_id} is an environment of project {app.project_id};"
                f" authenticate with app {app.project_id} (its main environment), whose"
                " deletions cover every environment of the project",
            )
        try:
            token = await storage.issue_token(app.app_id, TOKEN_LIFETIME_MS)
        except StorageError as error:
            return err(503, f"{error}; retry later")
        return JSONResponse({"auth_token": token})

    async def user_deletion(request: Request) -> Response:
        app_id = await bearer_app(storage, request)
        if app_id is None:
            return err(401, "Unauthorized: send a live auth_token as 'Authorization: Bearer ...'")
        try:
            users = deletion_users(await read_json(request, settings.max_api_bytes))
        except RequestProblem as bad:
            return err(bad.status, bad.message)
        try:
            request_id = await storage.request_deletion(app_id, users)
        except StorageError as error:
            return err(503, f"{error}; retry later")
        body = {
            "deletion_request_location": str(
                request.url_for("deletion_status", deletion_request_id=request_id)
            ),
            "deletion_request_id": request_id,
            "status": "pending",
        }
        return JSONResponse(
            body, status_code=201, background=BackgroundTask(storage.run_deletion, request_id)
        )

    async def deletion_status(request: Request) -> Response:
        app_id = await bearer_app(storage, request)
        if app_id is None:
            return err(401, "Unauthorized: send a live auth_token as 'Authorization: Bearer ...'")
        request_id = request.path_params["deletion_request_id"]
        found = await storage.find_deletion(app_id, request_id)
        if found is None:
            return err(404, f"no deletion request {request_id!r} for this app")
        return JSONResponse(
            {"deletion_request_id": found.deletion_request_id, "status": found.status}
        )

    return [
        Route(f"{PREFIX}/auth_token", auth_token, methods=["POST"]),
        Route(f"{PREFIX}/user_deletion", user_deletion, methods=["POST"]),
        Route(
            PREFIX + "/deletion_status/{deletion_request_id}",
            deletion_status,
            methods=["GET"],
            name="deletion_status",
        ),
    ]


async def resume_pending_deletions(storage: Storage) -> None:
    """Finish deletions that were accepted but not done when the server last stopped; one
    that cannot finish now (storage busy) stays pending for the next start, and says so."""
    for request_id in await storage.pending_deletions():
        try:
            await storage.run_deletion(request_id)
        except StorageError as error:
            print(f"footfall: deletion {request_id} stays pending: {error}", file=sys.stderr)


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic ...` header, or None."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError, and text that is not ASCII
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon and user else None


async def bearer_app(storage: Storage, request: Request) -> str | None:
    """The app a request's live bearer token was issued for, or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return await storage.token_app(token.strip())


def deletion_users(body: Any) -> list[dict[str, str]]:
    """The users named in a deletion request, each {"user_id": ...} or {"identity": ...}."""
    users = body.get("users") if isinstance(body, dict) else None
    if not isinstance(users, list) or not users:
        raise RequestProblem(
            400, 'body must be {"users": [{"user_id": ...} or {"identity": ...}, ...]}'
        )
    if len(users) > DELETION_MAX_USERS:
        raise RequestProblem(400, f"{len(users)} users; at most {DELETION_MAX_USERS} per request")
    named: list[dict[str, str]] = []
    for index, user in enumerate(users):
        if not isinstance(user, dict) or len(user.keys() & {"user_id", "identity"}) != 1:
            raise RequestProblem(
                400, f"users[{index}] must have exactly one of user_id or identity"
            )
        if "user_id" in user:
            problem = user_id_problem(user["user_id"])
            if problem is not None:
                raise RequestProblem(400, f"users[{index}]: {problem}")
            named.append({"user_id": str(user["user_id"])})
        else:
            problem = identity_problem(user["identity"])
            if problem is not None:
                raise RequestProblem(400, f"users[{index}]: {problem}")
            named.append({"identity": str(normalize_identity(user["identity"]))})
    return named

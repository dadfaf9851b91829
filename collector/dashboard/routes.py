"""The dashboard's pages: server-rendered HTML behind the admin login, mounted at /dashboard.

Each endpoint reads its query parameters (`params.py`), loads what it shows through the storage
interface (collector/storage/base.py), and renders a template. Only the login form and the
defined-event forms write.
The plumbing lives apart: sessions, CSRF and the guess throttle in `auth.py` (Starlette's
AuthenticationMiddleware runs its backend), security headers and cookies in `web.py`.
"""

import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from starlette.authentication import has_required_scope, requires
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from collector.clock import now_ms
from collector.dashboard import auth, params
from collector.dashboard.chart import RANGES, bar_chart, window_for
from collector.dashboard.definitions import (
    DEFINABLE_TYPES,
    candidate_filter,
    count_matches,
    count_over_time,
    definition_from_form,
    event_groups,
    matcher_for,
    newest_matches,
)
from collector.dashboard.web import base, safe_next, set_cookie
from collector.ratelimit import retry_after_header
from collector.storage.base import App, AppTotals, EventRow, Storage
from snippet.wire import EVENT_TYPES

HERE = Path(__file__).parent
EVENTS_PER_PAGE = 100
USERS_PER_PAGE = 50
SESSIONS_PER_PAGE = 20
RECENT_MATCHES = 20
LIVE_REFRESH_MS = 2000
Endpoint = Callable[[Request], Awaitable[Response]]


def dashboard_mount(storage: Storage, admin_password: str | None) -> Mount:
    """The dashboard's routes under /dashboard; with no admin password, nobody can log in.
    (Its security headers come from `web.SecurityHeaders`, which wraps the whole app.)"""
    dashboard = Dashboard(storage, admin_password)
    return Mount(
        "/dashboard",
        routes=dashboard.routes(),
        middleware=[
            Middleware(AuthenticationMiddleware, backend=auth.AdminBackend(dashboard.sessions))
        ],
    )


def format_time(ms: int | None) -> str:
    """A stored ms timestamp as UTC text, the way every page shows times."""
    if ms is None:
        return "–"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class Dashboard:
    """The pages, sharing the storage, the admin password and the sessions."""

    def __init__(self, storage: Storage, admin_password: str | None) -> None:
        self.storage = storage
        self.password = admin_password
        self.sessions = auth.AdminSessions(storage, admin_password)
        self.templates = Jinja2Templates(directory=HERE / "templates")
        self.templates.env.filters["when"] = format_time

    def routes(self) -> list[Route | Mount]:
        """Every dashboard route, relative to the mount point."""
        page, form = _admin_page, requires(auth.ADMIN, status_code=401)
        return [
            Route("/", page(self.overview)),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", form(self.logout), methods=["POST"]),
            Route("/events", page(self.events)),
            Route("/users", page(self.users)),
            Route("/users/{user_id:path}", page(self.user)),
            Route("/defined-events", page(self.defined_events), methods=["GET"]),
            Route("/defined-events", form(self.create_defined_event), methods=["POST"]),
            Route("/defined-events/{defined_event_id}", page(self.defined_event)),
            Route(
                "/defined-events/{defined_event_id}/delete",
                form(self.delete_defined_event),
                methods=["POST"],
            ),
            Mount("/static", StaticFiles(directory=HERE / "static")),
        ]

    # --- login -------------------------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        """The password form; straight to the overview when already logged in."""
        if request.user.is_authenticated:
            return RedirectResponse(safe_next(request, request.query_params.get("next")), 303)
        return await self._render(request, "login.html", {"error": None})

    async def login(self, request: Request) -> Response:
        """Check the password; on success start a session and go where the user wanted."""
        form = await auth.checked_form(request, self.storage)
        if isinstance(form, Response):
            return form
        given, wanted = str(form.get("password", "")), str(form.get("next", ""))
        if (wait := await self.sessions.guess_wait(request)) is not None:
            error = f"Too many wrong passwords; try again in {math.ceil(wait)} s."
            context = {"error": error, "next": wanted}
            response = await self._render(request, "login.html", context, 429)
            response.headers.update(retry_after_header(wait))
            return response
        if not self.password:
            error = "No admin password is set: start the server with --admin-password."
            return await self._render(request, "login.html", {"error": error, "next": wanted}, 403)
        if not auth.password_matches(given, self.password):
            await self.sessions.count_wrong_guess(request)
            context = {"error": "Wrong password.", "next": wanted}
            return await self._render(request, "login.html", context, 401)
        response = RedirectResponse(safe_next(request, wanted), 303)
        session = await self.sessions.start()
        set_cookie(request, response, auth.SESSION_COOKIE, session, auth.SESSION_TTL_MS // 1000)
        device = await self.sessions.new_device_cookie()
        set_cookie(request, response, auth.DEVICE_COOKIE, device, auth.DEVICE_TTL_S)
        return response

    async def logout(self, request: Request) -> Response:
        """End the session, so that no copy of its cookie works any more."""
        form = await auth.checked_form(request, self.storage)
        if isinstance(form, Response):
            return form
        await self.sessions.end(request.cookies.get(auth.SESSION_COOKIE, ""))
        response = RedirectResponse(base(request) + "/login", 303)
        response.delete_cookie(auth.SESSION_COOKIE, path=base(request), httponly=True)
        return response

    # --- pages -------------------------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        """Apps with their totals, and the current app's event counts over time."""
        try:
            range_name = params.range_name(request.query_params.get("range"))
        except ValueError as error:
            return _bad_request(str(error))
        window = window_for(range_name, now_ms())

        async def load(app_id: str) -> dict[str, Any]:
            counts = await self.storage.event_counts(app_id, window)
            return {
                "chart": bar_chart(window, counts),
                "range": range_name,
                "ranges": RANGES,
                "totals": await self.storage.app_totals(),
                "no_totals": AppTotals(),
            }

        return await self._app_page(request, "overview.html", load)

    async def events(self, request: Request) -> Response:
        """Live events, newest first, filtered by type, name and user; `partial=rows` polls."""
        query = request.query_params
        event_type = query.get("type", "")
        if event_type and event_type not in EVENT_TYPES:
            return _bad_request(f"type must be one of {', '.join(EVENT_TYPES)}")
        try:
            before = params.cursor(query.get("before", ""))
        except ValueError as error:
            return _bad_request(str(error))
        name, user = query.get("name", "").strip(), query.get("user", "").strip()

        async def load(app_id: str) -> dict[str, Any]:
            user_id = await self.storage.canonical_user_id(app_id, user) if user else None
            events = []
            if not user or user_id:
                events = await self.storage.recent_events(
                    app_id,
                    event_type=event_type or None,
                    name_contains=name or None,
                    user_id=user_id,
                    before=before,
                    limit=EVENTS_PER_PAGE,
                )
            return {
                "events": events,
                "event_types": EVENT_TYPES,
                "filters": {"type": event_type, "name": name, "user": user},
                "unknown_user": bool(user and not user_id),
                "live": not before,
                "refresh_ms": LIVE_REFRESH_MS,
                "older": _older_cursor(events),
            }

        template = "event_rows.html" if query.get("partial") == "rows" else "events.html"
        return await self._app_page(request, template, load)

    async def users(self, request: Request) -> Response:
        """Canonical users, most recently seen first, searchable by identity or user id."""
        try:
            page = params.page_number(request.query_params.get("page", "1"))
        except ValueError as error:
            return _bad_request(str(error))
        search = request.query_params.get("q", "").strip()

        async def load(app_id: str) -> dict[str, Any]:
            users, total = await self.storage.list_users(
                app_id,
                search=search or None,
                limit=USERS_PER_PAGE,
                offset=(page - 1) * USERS_PER_PAGE,
            )
            pages = max(1, -(-total // USERS_PER_PAGE))
            return {"users": users, "total": total, "q": search, "page": page, "pages": pages}

        return await self._app_page(request, "users.html", load)

    async def user(self, request: Request) -> Response:
        """One user's timeline: sessions newest first, each session's events in order."""
        user_id = request.path_params["user_id"]
        try:
            page = params.page_number(request.query_params.get("page", "1"))
        except ValueError as error:
            return _bad_request(str(error))

        async def load(app_id: str) -> dict[str, Any] | Response:
            user = await self.storage.find_user(app_id, user_id)
            if user is None:
                return self._not_found(request, f"No user {user_id} in app {app_id}.")
            if user.merged_into:
                query = urlencode({"app": app_id, "merged_from": user_id})
                target = f"{base(request)}/users/{quote(user.merged_into)}?{query}"
                return RedirectResponse(target, 303)
            sessions, total = await self.storage.user_sessions(
                app_id,
                user_id,
                limit=SESSIONS_PER_PAGE,
                offset=(page - 1) * SESSIONS_PER_PAGE,
            )
            return {
                "user": user,
                "merged_ids": await self.storage.merged_user_ids(app_id, user_id),
                "merged_from": request.query_params.get("merged_from"),
                "sessions": sessions,
                "page": page,
                "pages": max(1, -(-total // SESSIONS_PER_PAGE)),
            }

        return await self._app_page(request, "user.html", load)

    async def defined_events(self, request: Request) -> Response:
        """Defined events with their retroactive counts, and the form to define one."""
        return await self._defined_events_page(request, {}, [], 200)

    async def create_defined_event(self, request: Request) -> Response:
        """Store a new definition, then show its count; a bad form is shown again with reasons."""
        form = await auth.checked_form(request, self.storage)
        if isinstance(form, Response):
            return form
        fields = {key: str(value) for key, value in form.items()}
        definition, problems = definition_from_form(fields)
        if definition is None:
            return await self._defined_events_page(request, fields, problems, 400)
        app = await self._current_app_id(request)
        if app is None:
            return self._not_found(request, "No such app: create one or pick one from the list.")

        new_id = await self.storage.create_defined_event(app, definition, now_ms())
        if new_id is None:
            problem = f"this app already has a defined event named {definition.name!r}"
            return await self._defined_events_page(request, fields, [problem], 409)
        return RedirectResponse(
            f"{base(request)}/defined-events/{new_id}?{urlencode({'app': app})}", 303
        )

    async def defined_event(self, request: Request) -> Response:
        """One definition: its all-time count, its counts over time, and its latest matches."""
        defined_event_id = request.path_params["defined_event_id"]
        try:
            range_name = params.range_name(request.query_params.get("range"))
        except ValueError as error:
            return _bad_request(str(error))
        window = window_for(range_name, now_ms())

        async def load(app_id: str) -> dict[str, Any] | Response:
            row = await self.storage.find_defined_event(app_id, defined_event_id)
            if row is None:
                return self._not_found(request, f"No defined event {defined_event_id}.")
            matcher = matcher_for(row.definition)
            wanted = candidate_filter(row.definition)
            groups = await self.storage.candidate_groups(app_id, [wanted], window)
            total, per_bucket = count_over_time(matcher, event_groups(groups), window.buckets)
            newest: list[str] = []
            if total:  # else the walk through the time index would read every event for nothing
                candidates = self.storage.newest_candidates(app_id, wanted)
                newest = await newest_matches(matcher, candidates, RECENT_MATCHES)
            return {
                "row": row,
                "total": total,
                "chart": bar_chart(window, per_bucket),
                "range": range_name,
                "ranges": RANGES,
                "recent": await self.storage.events_by_id(app_id, newest),
            }

        return await self._app_page(request, "defined_event.html", load)

    async def delete_defined_event(self, request: Request) -> Response:
        """Remove a definition; the events it counted stay stored."""
        form = await auth.checked_form(request, self.storage)
        if isinstance(form, Response):
            return form
        app = await self._current_app_id(request)
        defined_event_id = request.path_params["defined_event_id"]

        deleted = app is not None and await self.storage.delete_defined_event(app, defined_event_id)
        if not deleted:
            return self._not_found(request, f"No defined event {defined_event_id}.")
        return RedirectResponse(f"{base(request)}/defined-events?{urlencode({'app': app})}", 303)

    async def _defined_events_page(
        self, request: Request, fields: dict[str, str], problems: list[str], status: int
    ) -> Response:
        async def load(app_id: str) -> dict[str, Any]:
            rows = await self.storage.defined_events(app_id)
            matchers = {row.defined_event_id: matcher_for(row.definition) for row in rows}
            filters = [candidate_filter(row.definition) for row in rows]
            groups = await self.storage.candidate_groups(app_id, filters) if rows else []
            counts = count_matches(matchers, event_groups(groups)) if rows else {}
            return {
                "rows": rows,
                "counts": counts,
                "fields": fields,
                "problems": problems,
                "types": DEFINABLE_TYPES,
            }

        return await self._app_page(request, "defined_events.html", load, status)

    # --- plumbing ----------------------------------------------------------------------------

    async def _current_app_id(self, request: Request) -> str | None:
        return _pick_app(await self.storage.list_apps(), request.query_params.get("app"))

    async def _app_page(
        self,
        request: Request,
        template: str,
        load: Callable[[str], Awaitable[dict[str, Any] | Response]],
        status: int = 200,
    ) -> Response:
        """Render a page about one app: the `?app=` one, else the first; 404 for an unknown id."""
        wanted = request.query_params.get("app")

        apps = await self.storage.list_apps()
        app_id = _pick_app(apps, wanted)
        loaded = None if app_id is None else await load(app_id)
        if isinstance(loaded, Response):
            return loaded
        if wanted and loaded is None:
            return self._not_found(request, f"No app with id {wanted}.", apps)
        current = next((app for app in apps if app.app_id == _pick_app(apps, wanted)), None)
        context = {"apps": apps, "app": current, **(loaded or {})}
        return await self._render(request, template, context, status)

    async def _render(
        self, request: Request, template: str, context: dict[str, Any], status: int = 200
    ) -> Response:
        secret = await self.storage.installation_secret()
        nonce = request.cookies.get(auth.CSRF_COOKIE) or auth.new_csrf_nonce()
        app = context.get("app")
        mount = base(request)

        def url(path: str, **values: object) -> str:
            query = {"app": app.app_id} if app is not None else {}
            query.update({k: str(v) for k, v in values.items() if v not in (None, "")})
            return mount + path + (f"?{urlencode(query)}" if query else "")

        response = self.templates.TemplateResponse(
            request,
            template,
            {
                "next": request.query_params.get("next", ""),
                **context,
                "url": url,
                "base": mount,
                "csrf_token": auth.csrf_token(secret, nonce),
            },
            status_code=status,
            headers={"Cache-Control": "no-store"},
        )
        if request.cookies.get(auth.CSRF_COOKIE) != nonce:
            set_cookie(request, response, auth.CSRF_COOKIE, nonce, None)
        return response

    def _not_found(self, request: Request, message: str, apps: list[App] | None = None) -> Response:
        return self.templates.TemplateResponse(
            request,
            "not_found.html",
            {"message": message, "apps": apps or [], "app": None, "base": base(request)},
            status_code=404,
        )


def _admin_page(endpoint: Endpoint) -> Endpoint:
    """A page for the admin: strangers go to the login, and come back after it; a poll for rows
    or a post without a session gets 401 (the page then reloads into the login)."""

    async def guarded(request: Request) -> Response:
        if has_required_scope(request, [auth.ADMIN]):
            return await endpoint(request)
        if request.query_params.get("partial") or request.method != "GET":
            return PlainTextResponse("Your session has ended; log in again.", 401)
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{base(request)}/login?{urlencode({'next': wanted})}", 303)

    return guarded


def _pick_app(apps: list[App], wanted: str | None) -> str | None:
    """The app a page is about: the one asked for if it exists, else the first when none asked."""
    if wanted:
        return wanted if any(app.app_id == wanted for app in apps) else None
    return apps[0].app_id if apps else None


def _bad_request(message: str) -> Response:
    return PlainTextResponse(message, 400)


def _older_cursor(events: list[EventRow]) -> str | None:
    """The cursor for the page after `events`, or None when this page was not full."""
    if len(events) < EVENTS_PER_PAGE:
        return None
    return f"{events[-1].time}:{events[-1].event_id}"

"""The checks in front of every page and form: logged in (a live session), the form's CSRF
token, and the role the page or action needs. Handlers get the session handed to them, so a
handler cannot forget to look."""

from __future__ import annotations

import functools
from urllib.parse import urlencode
from collections.abc import Awaitable, Callable

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from ..model import AuditEntry, Role, Session
from . import csrf
from .auth import current_session
from .context import console_of
from .roles import allows

Endpoint = Callable[[Request], Awaitable[Response]]
Handler = Callable[[Request, Session], Awaitable[Response]]
FormHandler = Callable[[Request, Session, FormData], Awaitable[Response]]

MAX_FIELDS = 50


def page(needed: Role = Role.VIEWER, *, api: bool = False) -> Callable[[Handler], Endpoint]:
    """A GET endpoint for users with at least ``needed``. ``api``: JSON, a fragment or the
    event stream, answered 401/403 in plain words instead of a redirect to the login page."""

    def wrap(handler: Handler) -> Endpoint:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            session = current_session(request)
            if session is None:
                return _unauthenticated(request, api)
            if not allows(session.user.role, needed):
                return _forbidden(request, session, needed, api)
            return await handler(request, session)

        return endpoint

    return wrap


def action(needed: Role) -> Callable[[FormHandler], Endpoint]:
    """A POST endpoint: a live session, the session's CSRF token in the form, then the role."""

    def wrap(handler: FormHandler) -> Endpoint:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            session = current_session(request)
            if session is None:
                return _unauthenticated(request, api=False)
            form = await request.form(max_files=0, max_fields=MAX_FIELDS)
            if not csrf.session_token_ok(session, form):
                _audit_refusal(request, session, "no valid security token (csrf)")
                return console_of(request).pages.error(request, 403, csrf.REFUSED, session)
            if not allows(session.user.role, needed):
                _audit_refusal(request, session, f"needs the {needed.value} role")
                return _forbidden(request, session, needed, api=False)
            return await handler(request, session, form)

        return endpoint

    return wrap


def _audit_refusal(request: Request, session: Session, why: str) -> None:
    """A form refused before it did anything: in the audit trail too, since a forged or
    overreaching post is what an operator looking back wants to see."""
    console = console_of(request)
    console.store.audit(AuditEntry(console.clock(), session.user.name, "refused",
                                   {"path": request.url.path, "why": why}))


def _unauthenticated(request: Request, api: bool) -> Response:
    if api:
        return _api_refusal(request, 401, "log in first")
    target = "/login"
    if request.method == "GET" and request.url.path != "/":
        target += "?" + urlencode({"next": _local(request)})
    return RedirectResponse(target, status_code=303)


def _local(request: Request) -> str:
    query = f"?{request.url.query}" if request.url.query else ""
    return request.url.path + query


def _forbidden(request: Request, session: Session, needed: Role, api: bool) -> Response:
    message = (f"Forbidden: this needs the {needed.value} role; you ({session.user.name}) "
               f"are {session.user.role.value}.")
    if api:
        return _api_refusal(request, 403, message)
    return console_of(request).pages.error(request, 403, message, session)


def _api_refusal(request: Request, status_code: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=status_code)
    return PlainTextResponse(message, status_code=status_code)

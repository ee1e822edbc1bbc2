"""Logging in and out. A session is a random id in a cookie (HttpOnly, SameSite=Strict,
Secure when the console is served over HTTPS) and a row in the store, which also keeps the
session's CSRF token and its expiry."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..model import AuditEntry, Session, User
from . import csrf
from .context import console_of
from .passwords import dummy_verify, verify_password

COOKIE = "vf_session"
LOGIN_CSRF_AGE_S = 3600        # the login form's token: an hour to type a password


def current_session(request: Request) -> Session | None:
    """The request's live session, or None (no cookie, unknown, ended or expired)."""
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        return None
    console = console_of(request)
    now = console.clock()
    session = console.store.session(session_id, now)
    # The store should not return an expired session; checked here too, on our own clock.
    if session is None or session.expires_at <= now:
        return None
    return session


async def login_page(request: Request) -> Response:
    if current_session(request) is not None:
        return RedirectResponse(_next(request.query_params.get("next", "")), status_code=303)
    return _login_form(request, "", 200, "", request.query_params.get("next", ""))


async def login(request: Request) -> Response:
    console = console_of(request)
    form = await request.form(max_files=0, max_fields=10)
    if not csrf.tokens_match(request.cookies.get(csrf.LOGIN_COOKIE, ""), csrf.form_token(form)):
        return console.pages.error(request, 403, csrf.REFUSED)
    name = _text(form, "name")
    password = _text(form, "password")
    client = _client(request)
    if not console.logins.admit(name, client):
        return _refused(request, form, name, {"ip": client, "throttled": True})
    user = await _authenticated(console.store.user(name) if name else None, password)
    if user is None:
        return _refused(request, form, name, {"ip": client})
    console.logins.succeeded(name, client)
    now = console.clock()
    session = console.store.start_session(user, secrets.token_urlsafe(32), csrf.new_token(),
                                          now + console.session_lifetime, now)
    console.store.audit(AuditEntry(now, user.name, "login", {"ip": client}))
    response = RedirectResponse(_next(_text(form, "next")), status_code=303)
    response.set_cookie(COOKIE, session.id,
                        max_age=int(console.session_lifetime.total_seconds()),
                        path="/", httponly=True, samesite="strict",
                        secure=console.secure_cookies)
    response.delete_cookie(csrf.LOGIN_COOKIE, path="/login")
    return response


async def _authenticated(user: User | None, password: str) -> User | None:
    """``user`` when ``password`` is theirs. scrypt takes tens of milliseconds of CPU: in a
    worker thread, so the other requests go on meanwhile."""
    if user is None:
        await run_in_threadpool(dummy_verify, password)
        return None
    ok = await run_in_threadpool(verify_password, password, user.password_hash)
    return user if ok else None


def _refused(request: Request, form: FormData, name: str, detail: dict[str, object]) -> Response:
    """Audited; the same answer for an unknown name, a wrong password and too many tries."""
    console = console_of(request)
    console.store.audit(AuditEntry(console.clock(), name, "login_failed", detail))
    return _login_form(request, "Wrong user name or password.", 401, name, _text(form, "next"))


async def logout(request: Request, session: Session, form: FormData) -> Response:
    console = console_of(request)
    console.store.end_session(session.id)
    console.store.audit(AuditEntry(console.clock(), session.user.name, "logout", {}))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                           secure=console.secure_cookies)
    return response


def _login_form(request: Request, error: str, status_code: int, name: str,
                next_path: str) -> Response:
    console = console_of(request)
    token = csrf.new_token()
    response = console.pages.render(
        request, "login.html",
        {"error": error, "name": name, "login_csrf": token, "next": _next(next_path)},
        None, status_code=status_code)
    response.set_cookie(csrf.LOGIN_COOKIE, token, max_age=LOGIN_CSRF_AGE_S, path="/login",
                        httponly=True, samesite="strict", secure=console.secure_cookies)
    return response


def _next(target: str) -> str:
    """Only a path on this console: a ``next`` pointing elsewhere would make the login page an
    open redirect."""
    parts = urlsplit(target)
    if (not target.startswith("/") or target.startswith("//") or "\\" in target
            or parts.scheme or parts.netloc):
        return "/"
    return target


def _text(form: FormData, field: str) -> str:
    value = form.get(field)
    return value if isinstance(value, str) else ""


def _client(request: Request) -> str:
    return request.client.host if request.client else ""

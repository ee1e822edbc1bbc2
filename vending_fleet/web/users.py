"""Accounts (admins only): the list, and adding a user with a role."""

from __future__ import annotations

import re
from collections.abc import Mapping

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..model import AuditEntry, Role, Session
from . import forms
from .context import console_of
from .forms import FormError
from .guard import action, page
from .jsonout import json_response
from .passwords import hash_password

NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
MIN_PASSWORD = 10


def render_users(request: Request, session: Session, *, error: FormError | None = None,
                 values: Mapping[str, str] | None = None, status_code: int = 200) -> Response:
    console = console_of(request)
    return console.pages.render(
        request, "users.html",
        {"users": console.store.users(), "roles": [r.value for r in Role], "error": error,
         "values": dict(values or {}), "added": request.query_params.get("added", "")},
        session, status_code=status_code)


@page(Role.ADMIN)
async def users_page(request: Request, session: Session) -> Response:
    return render_users(request, session)


@page(Role.ADMIN, api=True)
async def users_api(request: Request, session: Session) -> Response:
    return json_response(console_of(request).store.users())


def _new_user(form: FormData) -> tuple[str, Role, str]:
    name = forms.text(form, "name", max_len=64)
    if not NAME.fullmatch(name):
        raise FormError("name", "use letters, digits and . _ @ - only")
    role = Role(forms.choice(form, "role", tuple(r.value for r in Role)))
    password = form.get("password")
    if not isinstance(password, str) or not password:
        raise FormError("password", "is required")
    if len(password) < MIN_PASSWORD:
        raise FormError("password", f"must have at least {MIN_PASSWORD} characters")
    if form.get("password2") != password:
        raise FormError("password2", "does not match the password")
    return name, role, password


@action(Role.ADMIN)
async def add_user(request: Request, session: Session, form: FormData) -> Response:
    console = console_of(request)
    # Never echo the passwords back into the page.
    values = {k: v for k, v in form.items()
              if isinstance(v, str) and k in ("name", "role")}
    try:
        name, role, password = _new_user(form)
        if console.store.user(name) is not None:
            raise FormError("name", f"a user {name!r} exists already")
    except FormError as error:
        return render_users(request, session, error=error, values=values, status_code=400)
    # scrypt in a worker thread: the event loop serves the other requests meanwhile.
    console.store.add_user(name, role, await run_in_threadpool(hash_password, password))
    console.store.audit(AuditEntry(console.clock(), session.user.name, "user_added",
                                   {"name": name, "role": role.value}))
    return RedirectResponse(f"/users?added={name}", status_code=303)

"""Alerts: the active ones, and those cleared recently."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from ..model import Alert, Session
from .context import Console, console_of
from .guard import page
from .jsonout import json_response

RECENT = timedelta(days=7)
MAX_CLEARED = 100


def cleared_recently(console: Console) -> list[Alert]:
    since = console.clock() - RECENT
    cleared = [a for a in console.store.alerts(active_only=False)
               if a.cleared_at is not None and a.cleared_at >= since]
    cleared.sort(key=lambda a: a.cleared_at or since, reverse=True)
    return cleared[:MAX_CLEARED]


@page()
async def alerts_page(request: Request, session: Session) -> Response:
    console = console_of(request)
    return console.pages.render(
        request, "alerts.html",
        {"active": console.store.alerts(active_only=True),
         "cleared": cleared_recently(console)}, session)


@page(api=True)
async def alerts_api(request: Request, session: Session) -> Response:
    console = console_of(request)
    return json_response({"active": console.store.alerts(active_only=True),
                          "cleared": cleared_recently(console)})

"""The audit trail: every command, settlement, account change and login, with who and when."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from ..model import Session
from .context import console_of
from .guard import page
from .jsonout import json_response, plain

SHOWN = 500


@page()
async def audit_page(request: Request, session: Session) -> Response:
    console = console_of(request)
    return console.pages.render(
        request, "audit.html",
        {"entries": console.store.audit_log(SHOWN),
         "detail_text": lambda detail: json.dumps(plain(detail), sort_keys=True)}, session)


@page(api=True)
async def audit_api(request: Request, session: Session) -> Response:
    return json_response(console_of(request).store.audit_log(SHOWN))

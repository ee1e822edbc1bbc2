"""Error pages: a plain page (or JSON under /api/) for every error, never a traceback."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from .auth import current_session
from .context import console_of

log = logging.getLogger(__name__)

SERVER_ERROR = ("Something went wrong on the console (it has been logged). Nothing you sent "
                "was lost by this page: go back and try again, or start from the machines page.")


async def http_error(request: Request, exc: Exception) -> Response:
    status_code = exc.status_code if isinstance(exc, HTTPException) else 500
    message = exc.detail if isinstance(exc, HTTPException) else SERVER_ERROR
    if status_code == 404:
        message = f"Nothing here: {request.url.path}"
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=status_code)
    return console_of(request).pages.error(request, status_code, message,
                                           current_session(request))


async def server_error(request: Request, exc: Exception) -> Response:
    log.error("error on %s %s", request.method, request.url.path, exc_info=exc)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": SERVER_ERROR}, status_code=500)
    try:
        # No session lookup here: the store may be what failed.
        return console_of(request).pages.error(request, 500, SERVER_ERROR)
    except Exception:          # the error page itself failed: plain text still gets through
        log.exception("the error page failed too")
        return PlainTextResponse(SERVER_ERROR, status_code=500)

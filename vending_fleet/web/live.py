"""Live updates: ``GET /events``, a server-sent events stream of the hub's updates (event name
= the update's kind, data = its JSON). The pages listen with EventSource (static/live.js)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..hub import Hub, Update
from ..model import Session
from .auth import current_session
from .context import console_of
from .guard import page
from .jsonout import plain


STORE_CHECK = timedelta(seconds=5)   # a logged-out browser hears nothing more after this


def sse_message(update: Update) -> str:
    # The kind is ours (the hub's publishers), but a line break in it would split the frame.
    kind = "".join(ch for ch in update.kind if ch.isprintable() and ch not in "\r\n:")
    data = json.dumps(plain(update.data), sort_keys=True, default=str)
    return f"event: {kind}\ndata: {data}\n\n"


async def stream(hub: Hub, heartbeat_s: float,
                 logged_in: Callable[[], bool]) -> AsyncIterator[str]:
    """The updates from now on; a comment line every ``heartbeat_s`` of quiet, so a proxy keeps
    the connection and a closed browser is noticed (its next write fails). Ends when
    ``logged_in`` turns false (asked before each line): a logout or an expiry stops it."""
    updates = hub.listen()
    pending = asyncio.ensure_future(anext(updates))
    try:
        await asyncio.sleep(0)         # the listener registers before the first line goes out
        yield ": connected\n\n"
        while True:
            done, _ = await asyncio.wait({pending}, timeout=heartbeat_s)
            line = ": keep-alive\n\n"
            if done:
                try:
                    update = pending.result()
                except StopAsyncIteration:     # the console is stopping
                    return
                pending = asyncio.ensure_future(anext(updates))
                line = sse_message(update)
            if not logged_in():
                return
            yield line
    finally:
        # Cancelling the pending read ends hub.listen(), which forgets this listener.
        pending.cancel()


class StillLoggedIn:
    """The stream's session: its expiry checked on every line, the store (a logout) at most
    every ``STORE_CHECK`` — a busy feed must not read the store for every line it sends."""

    def __init__(self, request: Request, session: Session) -> None:
        self._request = request
        self._expires_at = session.expires_at
        self._checked = console_of(request).clock()

    def __call__(self) -> bool:
        now = console_of(self._request).clock()
        if now >= self._expires_at:
            return False
        if now - self._checked < STORE_CHECK:
            return True
        self._checked = now
        return current_session(self._request) is not None


@page(api=True)
async def events(request: Request, session: Session) -> Response:
    console = console_of(request)
    return StreamingResponse(stream(console.hub, console.sse_heartbeat_s,
                                    StillLoggedIn(request, session)),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

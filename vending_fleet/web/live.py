"""Live updates: ``GET /events``, a server-sent events stream of the hub's updates (event name
= the update's kind, data = its JSON). The pages listen with EventSource (static/live.js)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..hub import Hub, Update
from ..model import Session
from .context import console_of
from .guard import page
from .jsonout import plain


def sse_message(update: Update) -> str:
    # The kind is ours (the hub's publishers), but a line break in it would split the frame.
    kind = "".join(ch for ch in update.kind if ch.isprintable() and ch not in "\r\n:")
    data = json.dumps(plain(update.data), sort_keys=True, default=str)
    return f"event: {kind}\ndata: {data}\n\n"


async def stream(hub: Hub, heartbeat_s: float) -> AsyncIterator[str]:
    """The updates from now on; a comment line every ``heartbeat_s`` of quiet, so a proxy keeps
    the connection and a closed browser is noticed (its next write fails)."""
    updates = hub.listen()
    pending = asyncio.ensure_future(anext(updates))
    try:
        await asyncio.sleep(0)         # the listener registers before the first line goes out
        yield ": connected\n\n"
        while True:
            done, _ = await asyncio.wait({pending}, timeout=heartbeat_s)
            if not done:
                yield ": keep-alive\n\n"
                continue
            try:
                update = pending.result()
            except StopAsyncIteration:     # the console is stopping
                return
            pending = asyncio.ensure_future(anext(updates))
            yield sse_message(update)
    finally:
        # Cancelling the pending read ends hub.listen(), which forgets this listener.
        pending.cancel()


@page(api=True)
async def events(request: Request, session: Session) -> Response:
    console = console_of(request)
    return StreamingResponse(stream(console.hub, console.sse_heartbeat_s),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

"""Live updates inside one console process: the ingester, the commands and the alerts
``publish`` what changed (from any thread); each open dashboard (a server-sent events stream,
``vending_fleet.web``) ``listen``s on the event loop.

A slow browser never holds up ingestion: each listener has a bounded queue, and when it is full
the oldest update is dropped (the page then reloads its figures from the store anyway).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

QUEUE_SIZE = 256


@dataclass(frozen=True)
class Update:
    kind: str                  # "sale", "event", "machine", "state", "reply", "alert"
    data: Mapping[str, Any]


_CLOSED = Update("", {})       # the console is stopping: every stream ends


class Hub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Update]]] = []
        self._closed = False

    def publish(self, kind: str, data: Mapping[str, Any]) -> None:
        """Tell every listener; safe from any thread, never blocks."""
        if self._listeners:       # a read without the lock: at worst one update early or late
            self._send(Update(kind, dict(data)))

    def close(self) -> None:
        """The console is stopping: every listener's iteration ends (the browsers' streams
        close, so the web server need not wait them out)."""
        with self._lock:
            self._closed = True
        self._send(_CLOSED)

    def _send(self, update: Update) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for loop, queue in listeners:
            try:
                loop.call_soon_threadsafe(_offer, queue, update)
            except RuntimeError:      # its loop has closed: the listener is gone
                self._forget(queue)

    async def listen(self) -> AsyncIterator[Update]:
        """Updates from now on, until the caller stops iterating."""
        queue: asyncio.Queue[Update] = asyncio.Queue(QUEUE_SIZE)
        with self._lock:
            if self._closed:
                return
            self._listeners.append((asyncio.get_running_loop(), queue))
        try:
            while (update := await queue.get()) is not _CLOSED:
                yield update
        finally:
            self._forget(queue)

    def listeners(self) -> int:
        with self._lock:
            return len(self._listeners)

    def _forget(self, queue: asyncio.Queue[Update]) -> None:
        with self._lock:
            self._listeners = [(loop, q) for loop, q in self._listeners if q is not queue]


def _offer(queue: asyncio.Queue[Update], update: Update) -> None:
    if queue.full():
        queue.get_nowait()         # the oldest goes: the page catches up from the store
    queue.put_nowait(update)

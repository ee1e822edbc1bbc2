"""Alert changes POSTed as JSON to the operator's webhook (a chat bridge, a pager): from a
thread of its own through a queue, so a slow or dead endpoint never holds up the alert rules,
with retries and a doubling back-off; a delivery that still fails is logged and dropped.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from kiosk.config.gateway import loopback

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000
_RETRYABLE = {408, 425, 429}        # besides 5xx: worth another try


class Webhook:
    """``deliver(payload)`` queues one POST; ``flush`` waits for the queue, ``close`` ends the
    thread. Plain http:// only to this machine: alerts name machines and claims."""

    def __init__(self, url: str, *, timeout_s: float = 5.0, retries: int = 3,
                 client: httpx.Client | None = None, backoff_s: float = 1.0,
                 max_backoff_s: float = 60.0) -> None:
        check_url(url)
        if retries < 0:
            raise ValueError("webhook retries must be 0 or more")
        self.url = url
        self.shown = origin(url)       # for the log: the URL's path or user part is its secret
        self._retries = retries
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._own_client = client is None
        self._client = client if client is not None else httpx.Client(timeout=timeout_s)
        self._timeout_s = timeout_s
        self._queue: queue.Queue[Mapping[str, Any] | None] = queue.Queue(QUEUE_SIZE)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-webhook", daemon=True)
        self._thread.start()

    def deliver(self, payload: Mapping[str, Any]) -> None:
        """Queue ``payload``; never blocks (a full queue drops the oldest, with a warning)."""
        while True:
            try:
                self._queue.put_nowait(dict(payload))
                return
            except queue.Full:
                try:
                    dropped = self._queue.get_nowait()
                    self._queue.task_done()
                    log.warning("alert webhook %s: queue full, dropped %s", self.shown,
                                dropped)
                except queue.Empty:
                    pass

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued payload was delivered or given up; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the thread (what is still queued is dropped after ``timeout_s``)."""
        self._closing.set()
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass
        self._thread.join(timeout_s)
        if self._own_client:
            self._client.close()

    def _run(self) -> None:
        while True:
            payload = self._queue.get()
            try:
                if payload is None:
                    return
                if not self._closing.is_set():
                    self._post(payload)
            except Exception:          # a bug must not kill delivery of the next alerts
                log.exception("alert webhook %s: delivery failed", self.shown)
            finally:
                self._queue.task_done()

    def _post(self, payload: Mapping[str, Any]) -> bool:
        delay = self._backoff_s
        for attempt in range(1, self._retries + 2):
            error = self._attempt(payload)
            if error is None:
                return True
            final = attempt > self._retries or error.startswith("refused")
            log.warning("alert webhook %s: %s %s (attempt %d of %d)%s", self.shown,
                        payload.get("alert"), error, attempt, self._retries + 1,
                        ": given up" if final else "")
            if final or self._closing.wait(delay):
                return False
            delay = min(delay * 2, self._max_backoff_s)
        return False

    def _attempt(self, payload: Mapping[str, Any]) -> str | None:
        """None when delivered, else what went wrong ("refused ..." is not worth retrying)."""
        try:
            response = self._client.post(self.url, json=payload, timeout=self._timeout_s)
        except httpx.HTTPError as exc:
            return f"not delivered ({type(exc).__name__}: {exc})"
        if response.is_success:
            return None
        code = response.status_code
        if code >= 500 or code in _RETRYABLE:
            return f"answered HTTP {code}"
        return f"refused with HTTP {code}"


def origin(url: str) -> str:
    """``scheme://host[:port]``: a chat webhook carries its secret in the path or the user
    part, which must stay out of logs and messages."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def check_url(url: str) -> None:
    """``ValueError`` unless an https:// URL, or http:// to this machine."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f'webhook "{origin(url)}": not an http(s):// URL')
    if parts.scheme == "http" and not loopback(url):
        raise ValueError(f'webhook "{origin(url)}" is plain http://: alerts would cross the '
                         "network unencrypted; use https:// (only this machine may be reached "
                         "by http)")

"""A thread-safe token bucket that keeps one gateway's callers under its request budget.

MixPay allows 60 requests a minute. A plain bucket holding ``per_minute`` tokens could send a full
burst and then keep going at the refill rate, which is twice the budget in the worst minute. So
the bucket holds ``burst`` tokens (default a twelfth of the budget: 5 of 60) and refills at
``per_minute - burst`` a minute: no 60-second window ever sees more than ``per_minute`` requests,
and a short burst (create + first poll) still goes out at once.

Waiting callers reserve their token under the lock and sleep outside it, so they leave in order.
``pause()`` (after the gateway answered "slow down") holds every caller, including those already
asleep waiting for a token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from kiosk.errors import GatewayRateLimited


class RateLimiter:
    """At most ``per_minute`` requests in any 60 s, shared by every caller of one gateway."""

    def __init__(
        self,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        *,
        burst: int | None = None,
        name: str = "gateway",
    ) -> None:
        if per_minute < 1:
            raise ValueError(f"per_minute must be at least 1, not {per_minute}")
        self._capacity = float(burst if burst is not None else max(1, per_minute // 12))
        if not 1 <= self._capacity <= per_minute:
            raise ValueError(f"burst must be between 1 and {per_minute}, not {burst}")
        # A 1-a-minute budget still has to refill at some rate; it is the only inexact case.
        self._rate = max(per_minute - self._capacity, 1.0) / 60.0   # tokens per second
        self._clock = clock
        self._sleep = sleep
        self._name = name
        self._lock = threading.Lock()
        self._tokens = self._capacity       # negative while callers hold reservations
        self._updated = clock()
        self._paused_until = float("-inf")

    def acquire(self, max_wait_s: float) -> None:
        """Take a token, sleeping until one is free; raise if that would exceed ``max_wait_s``."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            token_wait = max(0.0, (1.0 - self._tokens) / self._rate)
            ready_at = max(now + token_wait, self._paused_until)
            if ready_at - now > max_wait_s:
                raise self._limited(ready_at - now, max_wait_s)
            self._tokens -= 1.0
        deadline = now + max_wait_s
        while True:
            with self._lock:
                now = self._clock()
                wait = max(ready_at, self._paused_until) - now
            if wait <= 0:
                return
            if now + wait > deadline:
                raise self._limited(wait, max_wait_s)
            self._sleep(wait)

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` (the gateway's Retry-After); never shortens a pause."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + max(seconds, 0.0))

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
        self._updated = now

    def _limited(self, wait_s: float, max_wait_s: float) -> GatewayRateLimited:
        return GatewayRateLimited(
            f"{self._name}: request budget exhausted, next slot in {wait_s:.1f} s "
            f"(longer than the {max_wait_s:g} s a caller may wait)",
            retry_after_s=wait_s,
        )

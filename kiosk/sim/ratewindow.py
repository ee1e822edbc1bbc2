"""Per-client request counting for simulated gateway rate limits, shared by every simulator."""

from __future__ import annotations

WINDOW_S = 60.0


class RateWindow:
    """Per-client fixed windows of ``window_s`` seconds, each opened by the client's first request.

    Gateways document a per-minute budget but not the window's shape; a fixed window (Laravel's
    throttle) is the simplest that yields a meaningful ``Retry-After``. Not thread-safe: callers
    hold their simulator's lock.
    """

    def __init__(self, limit: int, window_s: float = WINDOW_S) -> None:
        self.limit = limit
        self._window_s = window_s
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, client: str, now: float) -> tuple[int, float]:
        """Count one request: (requests left, seconds until the window resets); left < 0 = over."""
        start, hits = self._windows.get(client, (now, 0))
        if now - start >= self._window_s:
            start, hits = now, 0
        self._windows[client] = (start, hits + 1)
        return self.limit - hits - 1, start + self._window_s - now

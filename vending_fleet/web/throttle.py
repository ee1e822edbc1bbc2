"""Failed logins, counted per user name and per client address: past ``limit`` in a window the
login answers as for a wrong password without checking it, so guessing a password online
stays slow and a flood of guesses cannot keep the console's CPU busy with scrypt."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

Monotonic = Callable[[], float]

LIMIT = 5
WINDOW_S = 60.0


class LoginThrottle:
    """Used from the event loop only (no lock): ``admit`` before checking a password,
    ``succeeded`` after a right one."""

    def __init__(self, monotonic: Monotonic, limit: int = LIMIT,
                 window_s: float = WINDOW_S) -> None:
        self._monotonic = monotonic
        self._limit = limit
        self._window_s = window_s
        # Oldest touched first (a key is moved to the end when it fails again).
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def admit(self, name: str, client: str) -> bool:
        """False when the name or the client failed ``limit`` times in the window. Else the
        attempt counts as failed until ``succeeded``: guesses sent in parallel, all checked
        before the first fails, would otherwise all get through."""
        now = self._monotonic()
        self._forget_before(now - self._window_s)
        keys = (("name", name), ("client", client))
        if any(len(self._recent(key, now)) >= self._limit for key in keys):
            return False
        for key in keys:
            stamps = self._failures.pop(key, deque())
            stamps.append(now)
            self._failures[key] = stamps
        return True

    def succeeded(self, name: str, client: str) -> None:
        """The attempt ``admit`` counted was not a failure after all."""
        for key in (("name", name), ("client", client)):
            stamps = self._failures.get(key)
            if stamps:
                stamps.pop()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        stamps = self._failures.get(key, deque())
        while stamps and stamps[0] <= now - self._window_s:
            stamps.popleft()
        return stamps

    def _forget_before(self, cutoff: float) -> None:
        """Drop the names and clients with no failure since ``cutoff`` (bounds the memory)."""
        while self._failures:
            key, stamps = next(iter(self._failures.items()))
            if stamps and stamps[-1] > cutoff:
                return
            del self._failures[key]

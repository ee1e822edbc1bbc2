"""The recent lines both ways on a simulated serial link, for tests to read and wait on."""

from __future__ import annotations

import collections
import threading

TRANSCRIPT_LINES = 10_000   # poll noise never stops: keep the recent lines only
HOST = "host"
BRIDGE = "bridge"


class Transcript:
    """Lines as ``(side, text)``: ``("host", "C,1")``, ``("bridge", "c,1")``; thread-safe."""

    def __init__(self) -> None:
        self._lines: collections.deque[tuple[str, str]] = collections.deque(
            maxlen=TRANSCRIPT_LINES)
        self._seen = threading.Condition()      # guards the lines; notified per line

    def record(self, side: str, line: str) -> None:
        with self._seen:
            self._lines.append((side, line))
            self._seen.notify_all()

    def lines(self) -> list[tuple[str, str]]:
        with self._seen:
            return list(self._lines)

    def wait_for(self, side: str, line: str, timeout_s: float, count: int) -> bool:
        """Wait until ``side`` has sent ``line`` at least ``count`` times."""
        with self._seen:
            return self._seen.wait_for(
                lambda: sum(1 for seen_side, text in self._lines
                            if seen_side == side and text == line) >= count, timeout_s)

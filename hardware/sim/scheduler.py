"""What a simulation thread runs besides its I/O: calls from other threads, and timers.

The thread that owns a simulated machine's state is the only one that touches it: other
threads hand it calls (and wait for them), and the machine schedules its own later steps
(the customer's press, the motor). A reset or an unplug cancels every step still pending.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable

CALL_TIMEOUT_S = 5.0


class SimScheduler:
    """Calls and timers for the one thread that owns a simulation (which calls ``run_due``)."""

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()   # ties on the due time run in scheduling order
        self._epoch = 0                   # bumped by cancel_pending: stale timers skip
        self._stop = threading.Event()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()

    def pause(self, seconds: float) -> None:
        """Wait on the simulation thread, cut short by ``stop``."""
        self._stop.wait(seconds)

    def call(self, action: Callable[[], None]) -> None:
        """Run ``action`` on the simulation thread and wait for it (from any other thread)."""
        if self.stopped:
            raise RuntimeError("the simulated MDB machine is closed")
        done = threading.Event()

        def run() -> None:
            try:
                action()
            finally:
                done.set()
        self._calls.put(run)
        done.wait(CALL_TIMEOUT_S)

    def later(self, delay_s: float, action: Callable[[], None]) -> None:
        """Run ``action`` after ``delay_s``, unless ``cancel_pending`` comes first."""
        epoch = self._epoch

        def guarded() -> None:
            if epoch == self._epoch:
                action()
        heapq.heappush(self._timers, (time.monotonic() + delay_s, next(self._order), guarded))

    def cancel_pending(self) -> None:
        """Every timer scheduled so far does nothing when it comes due."""
        self._epoch += 1

    def run_due(self) -> None:
        """The calls handed over so far, then the timers that are due (simulation thread)."""
        while not self._calls.empty():
            self._calls.get()()
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            heapq.heappop(self._timers)[2]()

"""Work handed to the runtime's workers: routed by effect type, counted while in flight (so
``Runtime.settle`` knows when nothing is left), and every failure reported at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kiosk.journal import Journal
from kiosk.worker import EffectWorker

E = TypeVar("E")


@dataclass(frozen=True)
class Route(Generic[E]):
    """Where an effect of one type runs: ``worker`` None runs it at once on the UI thread."""

    worker: EffectWorker | None
    handler: Callable[[E], None]
    on_failure: Callable[[E, Exception], None] | None = None   # the handler's bug, reported


class Tasks:
    def __init__(self, journal: Journal, check_health: Callable[[], None]) -> None:
        self._journal = journal
        self._check_health = check_health   # out of service with the reason, now
        self._in_flight = 0
        self._lock = threading.Lock()

    def busy(self) -> bool:
        with self._lock:
            return self._in_flight > 0

    def run(self, route: Route[Any], effect: object) -> None:
        if route.worker is None:
            route.handler(effect)
            return
        on_failure = route.on_failure
        self.submit(route.worker, route.handler, effect,
                    on_failure=None if on_failure is None
                    else lambda exc: on_failure(effect, exc))

    def submit(self, worker: EffectWorker, fn: Callable[..., None], *args: Any,
               on_failure: Callable[[Exception], None] | None = None) -> None:
        with self._lock:
            self._in_flight += 1
        worker.submit(fn, *args, on_failure=self._failed(on_failure), done=self._done)

    def _failed(self, then: Callable[[Exception], None] | None) -> Callable[[Exception], None]:
        def failed(exc: Exception) -> None:
            self._check_health()
            if then is not None:
                then(exc)
        return failed

    def _done(self) -> None:
        with self._lock:
            self._in_flight -= 1
        if self._journal.write_fault:   # the disk filled up: out of service now, not in 30 s
            self._check_health()

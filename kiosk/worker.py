"""Background threads that cannot die quietly: ``SupervisedLoop`` (the payment watcher's and the
refunds' base) and ``EffectWorker`` (the runtime's sale and misc workers).

Each turn of the loop (``turn``) does its work and says how long it may sleep; ``wake`` cuts a
sleep short. An unexpected exception in a turn is logged with its traceback, reported by
``fault`` ("payment watcher failing: KeyError ...") so the kiosk goes out of service with the
reason, and the loop carries on after a back-off (1 s doubling to 30 s); the first turn that
completes clears the fault. ``alive`` says the thread is running and has finished a turn
recently, which the systemd watchdog ping depends on. Durations are on the monotonic clock.
"""

from __future__ import annotations

import abc
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kiosk.errors import KioskError

log = logging.getLogger(__name__)

BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 30.0
LONGEST_SLEEP_S = 10.0        # a worker turns at least this often, so "recent" means alive
STALE_AFTER_S = 120.0         # no turn finished for this long: wedged (a call that never returns)
EFFECT_BACKOFF_MIN_S = 5.0
EFFECT_BACKOFF_MAX_S = 300.0


class SupervisedLoop(abc.ABC):
    """Subclasses implement ``turn``; everything else (thread, sleeping, faults) is here."""

    def __init__(self, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._monotonic = clock
        self._cond = threading.Condition()
        self._stopping = False
        self._fault = ""
        self._backoff_s = BACKOFF_MIN_S
        self._last_turn = clock()
        self._thread = threading.Thread(target=self._run, name=name.replace(" ", "-"),
                                        daemon=True)

    @abc.abstractmethod
    def turn(self) -> float:
        """Do what is due now; return the seconds until something else will be."""

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=timeout_s)

    def wake(self) -> None:
        """Something new to do: look now."""
        with self._cond:
            self._cond.notify_all()

    @property
    def fault(self) -> str:
        """Why the worker is failing, or "" while its turns complete."""
        with self._cond:
            if not self._thread.is_alive() and not self._stopping and self._thread.ident:
                return f"{self.name} stopped"
            return self._fault

    def alive(self) -> bool:
        """Running, and a turn finished recently (a hung call keeps it from feeding systemd)."""
        with self._cond:
            recent = self._monotonic() - self._last_turn < STALE_AFTER_S
        return self._thread.is_alive() and recent

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
            try:
                wait_s = self.turn()
            except Exception as exc:  # supervised: logged, reported, retried
                log.exception("%s failed; retrying in %.0f s", self.name, self._backoff_s)
                with self._cond:
                    self._fault = f"{self.name} failing: {type(exc).__name__}: {exc}"[:200]
                    wait_s, self._backoff_s = self._backoff_s, min(BACKOFF_MAX_S,
                                                                   self._backoff_s * 2)
            else:
                with self._cond:
                    if self._fault:
                        log.info("%s recovered", self.name)
                    self._fault, self._backoff_s = "", BACKOFF_MIN_S
            with self._cond:
                self._last_turn = self._monotonic()
                if not self._stopping:
                    self._cond.wait(timeout=max(0.0, min(wait_s, LONGEST_SLEEP_S)))


class EffectWorker:
    """One thread that runs tasks strictly in order (the sale's effects, the health checks).

    A task's unexpected exception is logged with its traceback, handed to the task's
    ``on_failure`` (so the sale it belonged to ends truthfully) and reported by ``fault`` for a
    back-off (5 s, doubling while tasks keep failing, up to 5 min): the kiosk is out of service
    that long and comes back by itself. The thread survives its tasks; ``alive`` is False while
    one task has run longer than ``stale_after_s`` (a call that never returns), which stops the
    systemd watchdog pings.
    """

    def __init__(self, name: str, stale_after_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._stale_after_s = stale_after_s
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._lock = threading.Lock()
        self._fault = ""
        self._fault_until = 0.0
        self._backoff_s = EFFECT_BACKOFF_MIN_S
        self._running_since: float | None = None

    def submit(self, fn: Callable[..., None], *args: Any,
               on_failure: Callable[[Exception], None] | None = None,
               done: Callable[[], None] | None = None) -> None:
        """Run ``fn(*args)`` after the tasks before it; ``done`` after it, however it ended."""
        self._executor.submit(self._run, fn, args, on_failure, done)

    @property
    def fault(self) -> str:
        with self._lock:
            return self._fault if self._clock() < self._fault_until else ""

    def alive(self) -> bool:
        with self._lock:
            since = self._running_since
        return since is None or self._clock() - since < self._stale_after_s

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)

    def _run(self, fn: Callable[..., None], args: tuple[Any, ...],
             on_failure: Callable[[Exception], None] | None,
             done: Callable[[], None] | None) -> None:
        with self._lock:
            self._running_since = self._clock()
        try:
            fn(*args)
        except Exception as exc:  # supervised: logged, the sale told, out of service a while
            task = getattr(fn, "__name__", "a task")
            if isinstance(exc, KioskError):  # a known fault (the journal's disk is full, say)
                log.error("%s worker: %s failed: %s", self.name, task, exc)
                reason = str(exc)
            else:
                log.exception("%s worker: %s failed", self.name, task)
                reason = f"{self.name} worker failing: {type(exc).__name__}: {exc}"
            with self._lock:
                self._fault = reason[:200]
                self._fault_until = self._clock() + self._backoff_s
                self._backoff_s = min(EFFECT_BACKOFF_MAX_S, self._backoff_s * 2)
            if on_failure is not None:
                try:
                    on_failure(exc)
                except Exception:
                    log.exception("%s worker: the failure handler failed too", self.name)
        else:
            with self._lock:
                if self._clock() >= self._fault_until:
                    self._backoff_s = EFFECT_BACKOFF_MIN_S
        finally:
            with self._lock:
                self._running_since = None
            if done is not None:
                done()

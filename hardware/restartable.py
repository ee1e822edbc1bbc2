"""A vend driver that may not start yet: the one boundary where ``HardwareError`` is translated.

A machine without its GPIO header, a bridge not plugged in at boot, a pin factory that will not
load: opening the real driver raises ``HardwareError``. Instead of a traceback and a systemd
restart loop, ``RestartableDriver`` reports the driver as not ready with that reason (the kiosk
shows out of service with it, and the self-test a failed check), and tries to open it again,
with back-off (2 s doubling to 60 s), each time the kiosk checks the machine's health. Once
open, every call goes to the real driver; a ``HardwareError`` it raises later closes it and the
cycle starts again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from hardware.base import (
    DriverHealth,
    Probe,
    ResultListener,
    SelectionListener,
    VendDriver,
    VendOutcome,
    VendRequest,
    VendResult,
)
from hardware.errors import HardwareError

log = logging.getLogger(__name__)

_T = TypeVar("_T")

RETRY_MIN_S = 2.0
RETRY_MAX_S = 60.0


class RestartableDriver(VendDriver):
    def __init__(self, name: str, opener: Callable[[], VendDriver],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._opener = opener
        self._clock = clock
        self._lock = threading.Lock()
        self._driver: VendDriver | None = None
        self._fault = ""
        self._retry_s = RETRY_MIN_S
        self._next_try = clock()
        self._selection_listener: SelectionListener | None = None
        self._result_listener: ResultListener | None = None
        self._open()

    # -- the interface

    def health(self) -> DriverHealth:
        driver = self._current(retry=True)
        if driver is None:
            return DriverHealth(False, self._fault)
        return self._guard(driver.health, DriverHealth(False, self._fault))

    def vend(self, request: VendRequest) -> VendResult:
        driver = self._current()
        if driver is None:
            return VendResult(VendOutcome.DENIED, self._fault)
        # A fault once the vend may have begun is not a certain no-vend.
        return self._guard(lambda: driver.vend(request),
                           VendResult(VendOutcome.UNKNOWN, "the vend hardware failed mid-vend"))

    def probes(self, requests: Sequence[VendRequest], move_motors: bool) -> list[Probe]:
        driver = self._current(retry=True)
        if driver is None:
            return [Probe("driver", False, self._fault)]
        return self._guard(lambda: driver.probes(requests, move_motors),
                           [Probe("driver", False, "the vend hardware failed")])

    def vend_prompt(self, request: VendRequest) -> str:
        driver = self._current()
        return driver.vend_prompt(request) if driver is not None else ""

    def set_selection_listener(self, listener: SelectionListener | None) -> None:
        self._selection_listener = listener
        driver = self._current()
        if driver is not None:
            driver.set_selection_listener(listener)

    def set_unclaimed_result_listener(self, listener: ResultListener | None) -> None:
        self._result_listener = listener
        driver = self._current()
        if driver is not None:
            driver.set_unclaimed_result_listener(listener)

    def release_selection(self) -> None:
        driver = self._current()
        if driver is not None:
            self._guard(driver.release_selection, None)

    def close(self) -> None:
        with self._lock:
            driver, self._driver = self._driver, None
        if driver is not None:
            driver.close()

    # -- opening, and faults

    def _current(self, retry: bool = False) -> VendDriver | None:
        with self._lock:
            waiting = self._driver is None and self._clock() >= self._next_try
        if retry and waiting:
            self._open()
        with self._lock:
            return self._driver

    def _open(self) -> None:
        try:
            driver = self._opener()
        except HardwareError as exc:
            with self._lock:
                self._fault = f"{self.name}: {exc}"
                self._next_try = self._clock() + self._retry_s
                self._retry_s = min(RETRY_MAX_S, self._retry_s * 2)
            log.error("vend hardware not available: %s; trying again", exc)
            return
        driver.set_selection_listener(self._selection_listener)
        driver.set_unclaimed_result_listener(self._result_listener)
        with self._lock:
            self._driver, self._fault, self._retry_s = driver, "", RETRY_MIN_S
        log.info("vend hardware %s is open", self.name)

    def _guard(self, call: Callable[[], _T], fallback: _T) -> _T:
        try:
            return call()
        except HardwareError as exc:
            log.error("vend hardware failed: %s; reopening it", exc)
            with self._lock:
                driver, self._driver = self._driver, None
                self._fault = f"{self.name}: {exc}"
                self._next_try = self._clock() + self._retry_s
            if driver is not None:
                try:
                    driver.close()
                except HardwareError:
                    pass  # it is going anyway
            return fallback

"""A simulated dispenser for demos and tests, with per-slot fault knobs.

Faults (config ``[vend.simulated] faults = { A2 = "jam" }``):
``jam`` and ``motor_fault`` fail the vend and so disable the slot, ``no_drop`` turns the
spiral but nothing falls, ``slow`` vends correctly after three times the normal turn time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence

from hardware.base import (
    NOT_RECORDED,
    DriverHealth,
    Probe,
    VendDriver,
    VendOutcome,
    VendRequest,
    VendResult,
)

FAULTS: Mapping[str, VendOutcome | None] = {
    "jam": VendOutcome.JAM,
    "no_drop": VendOutcome.NO_DROP,
    "motor_fault": VendOutcome.MOTOR_FAULT,
    "slow": None,
}
SLOW_FACTOR = 3


class SimulatedDriver(VendDriver):
    """Dispenses instantly-ish, one vend at a time, and records every vend it was asked for."""

    name = "simulated"

    def __init__(
        self,
        faults: Mapping[str, str] | None = None,
        turn_time_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._faults = dict(faults or {})
        unknown = {f for f in self._faults.values() if f not in FAULTS}
        if unknown:
            raise ValueError(f"unknown simulated fault(s): {', '.join(sorted(unknown))}")
        self._turn_time_s = turn_time_s
        self._sleep = sleep
        self._lock = threading.Lock()
        self._ready = DriverHealth(ready=True)
        self.vended: list[str] = []

    def set_health(self, health: DriverHealth) -> None:
        """Take the simulated machine offline or bring it back (a technician's knob)."""
        self._ready = health

    def health(self) -> DriverHealth:
        return self._ready

    def probes(self, requests: Sequence[VendRequest], move_motors: bool) -> list[Probe]:
        """The simulated machine's self-test: a motor turn per slot shows its fault knob."""
        health = self._ready
        found = [Probe("machine", health.ready, health.reason or "simulated machine ready")]
        if not move_motors:
            return found
        for request in requests:
            fault = self._faults.get(request.slot_id)
            broken = fault in ("jam", "motor_fault")
            found.append(Probe("motor", not broken,
                               f"simulated {fault}" if broken else "turned home to home",
                               request.slot_id))
        return found

    def vend(self, request: VendRequest) -> VendResult:
        with self._lock:  # one motor at a time, as on the real machine
            fault = self._faults.get(request.slot_id)
            if not self._ready.ready:
                return VendResult(VendOutcome.DENIED, f"machine offline: {self._ready.reason}")
            if not request.may_dispense():
                return VendResult(VendOutcome.DENIED, NOT_RECORDED)
            if fault == "motor_fault":
                return VendResult(VendOutcome.MOTOR_FAULT, "simulated motor fault")
            self._sleep(self._turn_time_s * (SLOW_FACTOR if fault == "slow" else 1))
            failure = FAULTS.get(fault) if fault else None
            if failure is not None:
                return VendResult(failure, f"simulated {fault}")
            self.vended.append(request.slot_id)
            return VendResult(VendOutcome.VENDED)

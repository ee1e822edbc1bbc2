"""Spiral motors on Raspberry Pi GPIO: relays, one cam (home) switch and a drop beam.

How a vend works: one vend is one turn of the spiral. The driver switches the motor on, waits
for the cam switch to leave home and to come back home, and switches the motor off. The drop
beam across the delivery bin must break within ``drop_timeout_s`` of the motor starting; if it
does not, the spiral gets one quarter-turn nudge and another ``drop_timeout_s`` before the driver
gives up with ``NO_DROP``. A spiral that does not leave or regain home is a ``JAM``.

Wiring (BCM pin numbers):

* **Motors, direct**: one relay (or MOSFET driver) per motor; motor ``n`` is ``motor_pins[n-1]``.
* **Motors, matrix**: a motor sits where a row line and a column line cross (Crane-style,
  with blocking diodes); motor ``"r,c"`` turns while ``row_pins[r-1]`` AND ``column_pins[c-1]``
  are both on. Pins of the wiring not in use are ignored.
* **Outputs** are on at a high pin (``active_high=True``); many relay boards switch on a low pin:
  pass ``active_high=False``. Every output starts, and is left, off.
* **Home (cam) switch**: one line shared by all motors, between the GPIO and ground, with the
  Pi's internal pull-up. Wire the cam switches so the line reads "at home" only when every
  spiral is home (switches closed at home in series, or open at home in parallel); only one
  motor turns at a time, so the line follows the turning spiral. ``home_active_low=True``: the
  line is low (switch closed) at home; ``False``: it is high at home.
* **Drop beam**: the sensor output between the GPIO and ground, internal pull-up.
  ``beam_active_low=True``: the output pulls the line low while the beam is broken; ``False``
  for receivers that sink the line while they see light (it floats high when broken).

The parts: the motor outputs and their watchdog are ``hardware.gpio_motors``, the home switch
and the drop beam ``hardware.gpio_sensors``; this module turns a spiral with them and is the
``VendDriver``.

Example::

    with GpioDriver(wiring="direct", motor_pins=[5, 6, 13, 19], home_pin=20, drop_pin=21) as d:
        result = d.vend(VendRequest(slot_id="A1", price_minor=250, motor="1"))
        print(result.outcome, result.detail)   # VendOutcome.VENDED  turn 2.41 s, item dropped
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gpiozero.pins import Factory

from hardware.base import (
    NOT_RECORDED,
    DriverHealth,
    Probe,
    VendDriver,
    VendOutcome,
    VendRequest,
    VendResult,
)
from hardware.errors import HardwareError
from hardware.gpio_motors import MotorOutputs, NotWired, OutputFailed, Watchdog, motor_axes
from hardware.gpio_sensors import BEAM_BLOCKED, Cycle, Sensors


@dataclass(frozen=True)
class _Turn:
    started: float        # clock reading when the motor went on
    seconds: float = 0.0  # motor on until home regained (0 after a jam)
    jam: str = ""         # why the spiral did not come home; empty when it did


class GpioDriver(VendDriver):
    """Turns vending spirals through relays on the Pi's GPIO pins (see the module docstring).

    :param wiring: ``"direct"`` (one output per motor) or ``"matrix"`` (row x column).
    :param motor_pins: direct wiring: the output for motor 1, 2, ...
    :param row_pins: matrix wiring: the row outputs; ``VendRequest.motor`` is ``"row,column"``.
    :param column_pins: matrix wiring: the column outputs.
    :param home_pin: the shared cam (home) switch input.
    :param drop_pin: the drop beam input.
    :param active_high: outputs switch a motor on with a high pin (False for active-low relays).
    :param turn_timeout_s: seconds the spiral may take to leave home, and again to regain it.
    :param drop_timeout_s: seconds from a motor start for the item to break the beam.
    :param max_on_s: the watchdog: no motor stays on longer, whatever the driver is doing
        (default ``turn_timeout_s + 2``).
    :param nudge_s: how long the extra nudge runs the motor (default a quarter of the turn
        just measured).
    :param home_active_low: the home line reads low at home.
    :param beam_active_low: the beam line reads low while the beam is broken.
    :param pin_factory: a gpiozero pin factory; None uses gpiozero's default (lgpio on a Pi 5,
        or whatever ``GPIOZERO_PIN_FACTORY`` names, e.g. ``mock``).
    :param clock: seconds, monotonic; measures turns and timeouts.
    :raises ValueError: the wiring or a timing is impossible.
    :raises HardwareError: the pins cannot be opened (no GPIO library, pin busy, no permission).
    """

    name = "gpio"

    def __init__(
        self,
        *,
        wiring: str,
        motor_pins: Sequence[int] = (),
        row_pins: Sequence[int] = (),
        column_pins: Sequence[int] = (),
        home_pin: int,
        drop_pin: int,
        active_high: bool = True,
        turn_timeout_s: float = 8.0,
        drop_timeout_s: float = 3.0,
        max_on_s: float | None = None,
        nudge_s: float | None = None,
        home_active_low: bool = True,
        beam_active_low: bool = True,
        pin_factory: Factory | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        axes = motor_axes(wiring, motor_pins, row_pins, column_pins)
        self._turn_timeout_s = _positive("turn_timeout_s", turn_timeout_s)
        self._drop_timeout_s = _positive("drop_timeout_s", drop_timeout_s)
        self._max_on_s = _positive("max_on_s", turn_timeout_s + 2 if max_on_s is None else max_on_s)
        self._nudge_s = None if nudge_s is None else _positive("nudge_s", nudge_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._closed = False
        self._motors = MotorOutputs(wiring, axes, active_high=active_high,
                                    max_on_s=self._max_on_s, pin_factory=pin_factory)
        try:
            self._sensors = Sensors(home_pin, drop_pin, home_active_low=home_active_low,
                                    beam_active_low=beam_active_low, pin_factory=pin_factory)
        except HardwareError:
            self._motors.close()
            raise

    # ------------------------------------------------------------------ VendDriver

    def health(self) -> DriverHealth:
        if self._closed:
            return DriverHealth(False, "GPIO driver closed")
        if self._lock.locked():
            return DriverHealth(False, "busy: a vend or motor test is running")
        problems = self._sensors.rest_problems()
        return DriverHealth(not problems, "; ".join(problems))

    def vend(self, request: VendRequest) -> VendResult:
        """Turn the request's spiral once and watch the drop beam; one vend at a time."""
        with self._lock:
            self._check_open()
            try:
                pins = self._motors.pins_for(request.motor)
            except NotWired as exc:
                return VendResult(VendOutcome.MOTOR_FAULT, str(exc))
            problems = self._sensors.rest_problems()
            if problems:
                return VendResult(VendOutcome.DENIED, "; ".join(problems))
            if not request.may_dispense():
                return VendResult(VendOutcome.DENIED, NOT_RECORDED)
            try:
                return self._dispense(pins, self._sensors.arm(request.motor))
            except OutputFailed as exc:
                return VendResult(VendOutcome.MOTOR_FAULT, str(exc))
            finally:
                self._sensors.disarm()

    def probes(self, requests: Sequence[VendRequest], move_motors: bool) -> list[Probe]:
        """Beam clear, spiral home, and with ``move_motors`` one home-to-home turn per request."""
        with self._lock:
            self._check_open()
            blocked, at_home = self._sensors.blocked(), self._sensors.at_home()
            checks = [Probe("drop_beam", not blocked, BEAM_BLOCKED if blocked else ""),
                      Probe("home_switch", at_home, "" if at_home else self._sensors.not_home())]
            if move_motors:
                checks += [self._motor_probe(request) for request in requests]
            return checks

    def close(self) -> None:
        """Switch every output off and release the pins; waits up to ``max_on_s`` for a vend."""
        # Let a running turn finish rather than cut it mid-way; the watchdog bounds the wait.
        acquired = self._lock.acquire(timeout=self._max_on_s)
        try:
            if self._closed:
                return
            self._closed = True
            try:
                self._motors.switch_off_all()
            finally:
                self._motors.close()
                self._sensors.close()
        finally:
            if acquired:
                self._lock.release()

    # ------------------------------------------------------------------ one vend

    def _dispense(self, pins: tuple[int, ...], cycle: Cycle) -> VendResult:
        turn = self._turn(pins, cycle)
        if turn.jam:
            return VendResult(VendOutcome.JAM, turn.jam)
        turned = f"turn {turn.seconds:.2f} s"
        if self._wait(cycle.dropped, turn.started + self._drop_timeout_s):
            return VendResult(VendOutcome.VENDED, f"{turned}, item dropped")
        nudge_s = self._nudge_s if self._nudge_s is not None else turn.seconds / 4
        nudge_started = self._clock()
        with self._motors.energised(pins):
            time.sleep(nudge_s)
        missed = f"{turned}, no drop within {self._drop_timeout_s:.1f} s"
        if self._wait(cycle.dropped, nudge_started + self._drop_timeout_s):
            return VendResult(VendOutcome.VENDED,
                              f"{missed}; item dropped after a {nudge_s:.2f} s quarter-turn nudge")
        return VendResult(VendOutcome.NO_DROP,
                          f"{missed}; no drop after nudge ({nudge_s:.2f} s quarter turn)")

    def _motor_probe(self, request: VendRequest) -> Probe:
        def failed(reason: str) -> Probe:
            return Probe("motor", False, reason, slot=request.slot_id)

        try:
            pins = self._motors.pins_for(request.motor)
        except NotWired as exc:
            return failed(str(exc))
        if not self._sensors.at_home():
            return failed(f"not turned: {self._sensors.not_home()}")
        try:
            turn = self._turn(pins, self._sensors.arm(request.motor))
        except OutputFailed as exc:
            return failed(f"motor fault: {exc}")
        finally:
            self._sensors.disarm()
        if turn.jam:
            return failed(f"jam: {turn.jam}")
        return Probe("motor", True, f"home to home in {turn.seconds:.2f} s", slot=request.slot_id)

    def _turn(self, pins: tuple[int, ...], cycle: Cycle) -> _Turn:
        """Motor on until the cam leaves and regains home; off at once on a timeout."""
        started = self._clock()
        with self._motors.energised(pins) as watchdog:
            if not self._wait(cycle.left_home, started + self._turn_timeout_s):
                return _Turn(started, jam=self._jam("home not left", watchdog, cycle))
            left = self._clock()
            if not self._wait(cycle.back_home, left + self._turn_timeout_s):
                return _Turn(started, jam=self._jam("home not regained", watchdog, cycle)
                             + f" (left home after {left - started:.2f} s)")
            return _Turn(started, self._clock() - started)

    def _jam(self, what: str, watchdog: Watchdog, cycle: Cycle) -> str:
        detail = f"{what} within {self._turn_timeout_s:.1f} s"
        if watchdog.tripped:
            detail += f"; the watchdog switched the motor off after {watchdog.max_on_s:.1f} s"
        if cycle.dropped.is_set():  # the customer may well have the item: say so for the refund
            detail += "; an item did cross the drop beam"
        return detail

    def _wait(self, event: threading.Event, deadline: float) -> bool:
        """Whether ``event`` happened by ``deadline`` (a ``clock`` reading)."""
        return event.wait(max(0.0, deadline - self._clock()))

    def _check_open(self) -> None:
        if self._closed:
            raise HardwareError("GPIO driver is closed")


def _positive(name: str, value: float) -> float:
    if not value > 0:
        raise ValueError(f"{name} must be more than 0 seconds, not {value!r}")
    return value

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

Example::

    with GpioDriver(wiring="direct", motor_pins=[5, 6, 13, 19], home_pin=20, drop_pin=21) as d:
        result = d.vend(VendRequest(slot_id="A1", price_minor=250, motor="1"))
        print(result.outcome, result.detail)   # VendOutcome.VENDED  turn 2.41 s, item dropped
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from gpiozero import DigitalInputDevice, DigitalOutputDevice
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
from hardware.gpio_config import WIRINGS

log = logging.getLogger(__name__)

# Cam microswitches chatter for a few ms when they open or close; without a filter a bounce as
# the cam leaves home would read as "back home" and stop the motor at once. (lgpio applies this
# as a glitch filter; the mock factory ignores it.) The drop beam gets none: a falling item may
# break it for only a few ms.
HOME_BOUNCE_S = 0.01
BEAM_BLOCKED = "drop beam blocked: clear the delivery bin or check the beam's alignment"
NOT_HOME = "spiral not at home position: turn it home by hand, then check the cam switch"


class _NotWired(ValueError):
    """The request names a motor this wiring does not have."""


class _OutputFailed(HardwareError):
    """A motor output could not be switched: the relay's state is unknown."""


@dataclass
class _Cycle:
    """Edges seen while one vend or motor test runs; set from gpiozero's callback thread."""

    left_home: threading.Event
    back_home: threading.Event
    dropped: threading.Event

    @classmethod
    def new(cls) -> _Cycle:
        return cls(threading.Event(), threading.Event(), threading.Event())


@dataclass(frozen=True)
class _Turn:
    started: float        # clock reading when the motor went on
    seconds: float = 0.0  # motor on until home regained (0 after a jam)
    jam: str = ""         # why the spiral did not come home; empty when it did


class _Watchdog:
    """Switches a motor off after ``max_on_s`` even if the thread that runs it hangs."""

    def __init__(self, max_on_s: float, switch_off: Callable[[], None]) -> None:
        self.max_on_s = max_on_s
        self.tripped = False
        self._switch_off = switch_off
        self._timer = threading.Timer(max_on_s, self._trip)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()

    def _trip(self) -> None:
        self.tripped = True
        log.error("motor on for %.1f s: the watchdog switched it off", self.max_on_s)
        try:
            self._switch_off()
        except _OutputFailed as exc:
            log.critical("watchdog could not switch the motor off: %s", exc)


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
        self._axes = _axes(wiring, motor_pins, row_pins, column_pins)
        self._wiring = wiring
        self._turn_timeout_s = _positive("turn_timeout_s", turn_timeout_s)
        self._drop_timeout_s = _positive("drop_timeout_s", drop_timeout_s)
        self._max_on_s = _positive("max_on_s", turn_timeout_s + 2 if max_on_s is None else max_on_s)
        self._nudge_s = None if nudge_s is None else _positive("nudge_s", nudge_s)
        self._home_active_low = home_active_low
        self._beam_active_low = beam_active_low
        self._clock = clock
        self._lock = threading.Lock()
        self._cycle: _Cycle | None = None
        self._last_motor: str | None = None
        self._closed = False
        self._outputs: dict[int, DigitalOutputDevice] = {}
        self._home, self._beam = self._open(active_high, home_pin, drop_pin, pin_factory)

    # ------------------------------------------------------------------ VendDriver

    def health(self) -> DriverHealth:
        if self._closed:
            return DriverHealth(False, "GPIO driver closed")
        if self._lock.locked():
            return DriverHealth(False, "busy: a vend or motor test is running")
        problems = self._rest_problems()
        return DriverHealth(not problems, "; ".join(problems))

    def vend(self, request: VendRequest) -> VendResult:
        """Turn the request's spiral once and watch the drop beam; one vend at a time."""
        with self._lock:
            self._check_open()
            try:
                pins = self._motor_outputs(request.motor)
            except _NotWired as exc:
                return VendResult(VendOutcome.MOTOR_FAULT, str(exc))
            problems = self._rest_problems()
            if problems:
                return VendResult(VendOutcome.DENIED, "; ".join(problems))
            if not request.may_dispense():
                return VendResult(VendOutcome.DENIED, NOT_RECORDED)
            try:
                return self._dispense(pins, self._arm(request.motor))
            except _OutputFailed as exc:
                return VendResult(VendOutcome.MOTOR_FAULT, str(exc))
            finally:
                self._cycle = None

    def probes(self, requests: Sequence[VendRequest], move_motors: bool) -> list[Probe]:
        """Beam clear, spiral home, and with ``move_motors`` one home-to-home turn per request."""
        with self._lock:
            self._check_open()
            blocked, at_home = self._blocked(), self._at_home()
            checks = [Probe("drop_beam", not blocked, BEAM_BLOCKED if blocked else ""),
                      Probe("home_switch", at_home, "" if at_home else self._not_home())]
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
                self._switch_off(tuple(self._outputs))
            finally:
                self._close_devices()
        finally:
            if acquired:
                self._lock.release()

    # ------------------------------------------------------------------ one vend

    def _dispense(self, pins: tuple[int, ...], cycle: _Cycle) -> VendResult:
        turn = self._turn(pins, cycle)
        if turn.jam:
            return VendResult(VendOutcome.JAM, turn.jam)
        turned = f"turn {turn.seconds:.2f} s"
        if self._wait(cycle.dropped, turn.started + self._drop_timeout_s):
            return VendResult(VendOutcome.VENDED, f"{turned}, item dropped")
        nudge_s = self._nudge_s if self._nudge_s is not None else turn.seconds / 4
        nudge_started = self._clock()
        with self._energised(pins):
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
            pins = self._motor_outputs(request.motor)
        except _NotWired as exc:
            return failed(str(exc))
        if not self._at_home():
            return failed(f"not turned: {self._not_home()}")
        try:
            turn = self._turn(pins, self._arm(request.motor))
        except _OutputFailed as exc:
            return failed(f"motor fault: {exc}")
        finally:
            self._cycle = None
        if turn.jam:
            return failed(f"jam: {turn.jam}")
        return Probe("motor", True, f"home to home in {turn.seconds:.2f} s", slot=request.slot_id)

    def _arm(self, motor: str | None) -> _Cycle:
        """Start listening for this run's edges before anything moves."""
        self._last_motor = motor
        self._cycle = _Cycle.new()
        return self._cycle

    def _turn(self, pins: tuple[int, ...], cycle: _Cycle) -> _Turn:
        """Motor on until the cam leaves and regains home; off at once on a timeout."""
        started = self._clock()
        with self._energised(pins) as watchdog:
            if not self._wait(cycle.left_home, started + self._turn_timeout_s):
                return _Turn(started, jam=self._jam("home not left", watchdog, cycle))
            left = self._clock()
            if not self._wait(cycle.back_home, left + self._turn_timeout_s):
                return _Turn(started, jam=self._jam("home not regained", watchdog, cycle)
                             + f" (left home after {left - started:.2f} s)")
            return _Turn(started, self._clock() - started)

    def _jam(self, what: str, watchdog: _Watchdog, cycle: _Cycle) -> str:
        detail = f"{what} within {self._turn_timeout_s:.1f} s"
        if watchdog.tripped:
            detail += f"; the watchdog switched the motor off after {watchdog.max_on_s:.1f} s"
        if cycle.dropped.is_set():  # the customer may well have the item: say so for the refund
            detail += "; an item did cross the drop beam"
        return detail

    def _wait(self, event: threading.Event, deadline: float) -> bool:
        """Whether ``event`` happened by ``deadline`` (a ``clock`` reading)."""
        return event.wait(max(0.0, deadline - self._clock()))

    # ------------------------------------------------------------------ outputs

    @contextmanager
    def _energised(self, pins: tuple[int, ...]) -> Iterator[_Watchdog]:
        """The motor is on for the ``with`` body and off after it, whatever happens in it."""
        watchdog = _Watchdog(self._max_on_s, lambda: self._switch_off(pins))
        watchdog.start()  # armed before the first output goes on
        try:
            for pin in pins:
                self._write(pin, True)
            yield watchdog
        finally:
            watchdog.cancel()
            self._switch_off(pins)

    def _switch_off(self, pins: tuple[int, ...]) -> None:
        """Every output off; one that fails does not stop the others from being tried."""
        failures: list[_OutputFailed] = []
        for pin in reversed(pins):
            try:
                self._write(pin, False)
            except _OutputFailed as exc:
                failures.append(exc)
        if failures:
            raise failures[0]

    def _write(self, pin: int, on: bool) -> None:
        device = self._outputs[pin]
        try:
            if on:
                device.on()
            else:
                device.off()
        except Exception as exc:  # each backend has its own error types (lgpio.error, OSError, ...)
            raise _OutputFailed(
                f"GPIO {pin} could not be switched {'on' if on else 'off'}: {exc}") from exc

    def _motor_outputs(self, motor: str | None) -> tuple[int, ...]:
        """The output pins that turn ``motor`` ("3" direct, "2,4" matrix; 1-based)."""
        parts = (motor or "").split(",")
        if len(parts) != len(self._axes) or not all(p.strip().isdigit() for p in parts):
            shape = '"row,column" like "2,4"' if self._wiring == "matrix" else 'a number like "3"'
            raise _NotWired(f"motor {motor!r} is not wired: {self._wiring} wiring takes {shape}")
        pins: list[int] = []
        for number, (key, axis) in zip((int(p) for p in parts), self._axes, strict=True):
            if not 1 <= number <= len(axis):
                raise _NotWired(f"motor {motor!r} is not wired: {key} lists {len(axis)} pins, "
                                "numbered from 1")
            pins.append(axis[number - 1])
        return tuple(pins)

    # ------------------------------------------------------------------ inputs

    def _at_home(self) -> bool:
        return _reads_level(self._home, self._home_active_low)

    def _blocked(self) -> bool:
        return _reads_level(self._beam, self._beam_active_low)

    def _not_home(self) -> str:
        return NOT_HOME + (f" (motor {self._last_motor} turned last)" if self._last_motor else "")

    def _rest_problems(self) -> list[str]:
        """Why nothing may turn now: an item in the bin, or a spiral left off home."""
        problems = [BEAM_BLOCKED] if self._blocked() else []
        if not self._at_home():
            problems.append(self._not_home())
        return problems

    def _home_left(self) -> None:
        if (cycle := self._cycle) is not None:
            cycle.left_home.set()

    def _home_reached(self) -> None:
        if (cycle := self._cycle) is not None and cycle.left_home.is_set():
            cycle.back_home.set()

    def _beam_broken(self) -> None:
        if (cycle := self._cycle) is not None:
            cycle.dropped.set()

    # ------------------------------------------------------------------ pins

    def _open(self, active_high: bool, home_pin: int, drop_pin: int,
              factory: Factory | None) -> tuple[DigitalInputDevice, DigitalInputDevice]:
        home: DigitalInputDevice | None = None
        beam: DigitalInputDevice | None = None
        try:
            for pin in sorted({pin for _, axis in self._axes for pin in axis}):
                self._outputs[pin] = DigitalOutputDevice(
                    pin, active_high=active_high, initial_value=False, pin_factory=factory)
            home = DigitalInputDevice(home_pin, pull_up=True, bounce_time=HOME_BOUNCE_S,
                                      pin_factory=factory)
            beam = DigitalInputDevice(drop_pin, pull_up=True, pin_factory=factory)
        except Exception as exc:  # BadPinFactory, GPIOPinInUse, lgpio.error, PermissionError...
            for device in (*self._outputs.values(), home):
                if device is not None:
                    device.close()
            raise HardwareError(f"cannot open the vend GPIO pins: {exc}") from exc
        _on_edges(home, self._home_active_low, reached=self._home_reached, left=self._home_left)
        _on_edges(beam, self._beam_active_low, reached=self._beam_broken)
        return home, beam

    def _close_devices(self) -> None:
        for device in (*self._outputs.values(), self._home, self._beam):
            device.close()

    def _check_open(self) -> None:
        if self._closed:
            raise HardwareError("GPIO driver is closed")


def _axes(wiring: str, motor_pins: Sequence[int], row_pins: Sequence[int],
          column_pins: Sequence[int]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """The output lists a motor number indexes: the motors (direct), or rows and columns."""
    if wiring not in WIRINGS:
        raise ValueError(f"wiring must be one of {', '.join(WIRINGS)}, not {wiring!r}")
    axes = ((("motor_pins", tuple(motor_pins)),) if wiring == "direct"
            else (("row_pins", tuple(row_pins)), ("column_pins", tuple(column_pins))))
    for key, pins in axes:
        if not pins:
            raise ValueError(f"{wiring} wiring needs {key}")
    return axes


def _positive(name: str, value: float) -> float:
    if not value > 0:
        raise ValueError(f"{name} must be more than 0 seconds, not {value!r}")
    return value


def _reads_level(device: DigitalInputDevice, active_low: bool) -> bool:
    """Whether the input is at its named level (at home, beam blocked).

    Inputs are pulled up, so gpiozero calls a low line "active".
    """
    return bool(device.is_active) == active_low


def _on_edges(device: DigitalInputDevice, active_low: bool, reached: Callable[[], None],
              left: Callable[[], None] | None = None) -> None:
    """Call ``reached`` when the input comes to its named level and ``left`` when it goes."""
    # Pulled-up inputs: gpiozero's "activated" is the line going low.
    to_level, from_level = (("when_activated", "when_deactivated") if active_low
                            else ("when_deactivated", "when_activated"))
    setattr(device, to_level, reached)
    if left is not None:
        setattr(device, from_level, left)

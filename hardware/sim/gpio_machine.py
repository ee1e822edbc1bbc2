"""A spiral vending machine simulated on gpiozero mock pins, for tests and ``kiosk demo``.

``MockSpiralMachine`` plays the mechanics a ``GpioDriver`` sees. Every millisecond it reads the
motor outputs on a gpiozero ``MockFactory``; while a motor is energised (its pin, or its row
AND column pins, at the "on" level) that spiral turns: the shared cam (home) line leaves home
after ``leave_s`` of running and comes back home after ``turn_s``, and the item breaks the drop
beam ``drop_after_s`` into the turn. Spirals only move while their motor is on, so a motor
switched off mid-turn leaves its spiral off home, as on a real machine. So does the driver's
quarter-turn nudge when it runs past the home notch (``leave_s``): afterwards the shared home
line reads "not at home" and the driver is not ready, as a real machine wired this way would be.
Pass a ``leave_s`` longer than a quarter turn to model a cam whose home notch is that wide.

Fault knobs, per motor (``{"3": "jam_returning"}``, matrix ``{"2,1": "no_drop"}``):
``jam_leaving`` the motor stalls at home; ``jam_returning`` the spiral stalls part way round;
``no_drop`` the spiral turns but nothing falls; ``drop_on_nudge`` the item hangs on the coil end
and falls only when the spiral moves on after its turn (the driver's quarter-turn nudge);
``slow`` the spiral turns three times slower.

Example::

    driver, machine = mock_gpio_driver(faults={"2": "no_drop"})
    driver.vend(VendRequest(slot_id="A2", price_minor=250, motor="2"))   # NO_DROP after a nudge
    machine.runs("2")   # [MotorRun(motor='2', turns=1, ...), MotorRun(motor='2', turns=0, ...)]
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType

from gpiozero.pins.mock import MockFactory, MockPin

from hardware.gpio import GpioDriver

FAULTS = ("jam_leaving", "jam_returning", "no_drop", "drop_on_nudge", "slow")
SLOW_FACTOR = 3
JAM_STALL = 0.4      # jam_returning: the spiral stalls this far round its turn
NUDGE_DROP = 0.1     # drop_on_nudge: the hanging item falls this far (of a turn) past home
BEAM_PULSE_S = 0.02  # how long a falling item blocks the beam
TICK_S = 0.001       # how often the machine looks at the motor outputs


@dataclass
class MotorRun:
    """One stretch of time a motor was energised, as the machine saw it."""

    motor: str
    on_s: float = 0.0        # how long it was on (to the millisecond the machine polls at)
    left_home: bool = False  # the cam left home during this run
    turns: int = 0           # full turns completed (the cam came back home)
    dropped: bool = False    # an item broke the beam during this run


@dataclass
class _Spiral:
    position_s: float = 0.0   # how far round the current turn, in seconds of normal-speed turning
    item_hanging: bool = False  # drop_on_nudge: the item did not fall at the end of its turn


class MockSpiralMachine:
    """Spirals, a cam switch and a drop beam on ``factory``'s mock pins.

    Give it the same pins and levels as the ``GpioDriver`` and build it after the driver (the
    driver's pull-ups briefly override the levels the machine drives; it re-drives them every
    tick). Close it to stop its thread.

    :param factory: the ``MockFactory`` the driver's devices use.
    :param faults: motor ("3" or "2,1") to one of ``FAULTS``.
    :param turn_s: seconds a spiral takes for one turn.
    :param leave_s: seconds of turning before the cam leaves home (the width of the home notch).
    :param drop_after_s: seconds into a turn at which the item breaks the beam.
    """

    def __init__(
        self,
        factory: MockFactory,
        *,
        wiring: str,
        motor_pins: Sequence[int] = (),
        row_pins: Sequence[int] = (),
        column_pins: Sequence[int] = (),
        home_pin: int,
        drop_pin: int,
        active_high: bool = True,
        home_active_low: bool = True,
        beam_active_low: bool = True,
        faults: Mapping[str, str] | None = None,
        turn_s: float = 0.3,
        leave_s: float = 0.03,
        drop_after_s: float = 0.15,
    ) -> None:
        if not 0 < leave_s < drop_after_s < turn_s:
            raise ValueError("timings must satisfy 0 < leave_s < drop_after_s < turn_s")
        self._motors = _motor_lines(factory, wiring, motor_pins, row_pins, column_pins)
        self._faults = _checked_faults(faults or {}, self._motors)
        self._home = factory.pin(home_pin)
        self._beam = factory.pin(drop_pin)
        self._active_high = active_high
        self._home_active_low = home_active_low
        self._beam_active_low = beam_active_low
        self._turn_s, self._leave_s, self._drop_after_s = turn_s, leave_s, drop_after_s
        self._spirals = {motor: _Spiral() for motor in self._motors}
        self._running: dict[str, MotorRun] = {}
        self._log: list[MotorRun] = []
        self._beam_until = 0.0
        self._beam_stuck = False
        self._peak_on = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._apply_levels(time.monotonic())
        self._thread = threading.Thread(target=self._run, name="mock-spiral-machine", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ what tests look at

    def runs(self, motor: str | None = None) -> list[MotorRun]:
        """Every time a motor was energised, oldest first (only ``motor``'s if given)."""
        with self._lock:
            return [dataclasses.replace(run) for run in self._log
                    if motor is None or run.motor == motor]

    def turns(self, motor: str) -> int:
        """Full turns ``motor`` has made."""
        return sum(run.turns for run in self.runs(motor))

    @property
    def peak_motors_on(self) -> int:
        """The most motors the machine ever saw energised at the same moment."""
        with self._lock:
            return self._peak_on

    # ------------------------------------------------------------------ a technician's hands

    def block_beam(self) -> None:
        """Something is stuck in the delivery bin: the beam stays broken."""
        self._set(beam_stuck=True)

    def clear_beam(self) -> None:
        self._set(beam_stuck=False)

    def turn_by_hand(self, motor: str, fraction: float) -> None:
        """Turn ``motor``'s spiral ``fraction`` of a turn without the motor (nothing falls)."""
        with self._lock:
            spiral = self._spirals[motor]
            spiral.position_s = (spiral.position_s + fraction * self._turn_s) % self._turn_s
            self._apply_levels(time.monotonic())

    def close(self) -> None:
        """Stop the machine's thread; safe twice."""
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> MockSpiralMachine:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ the mechanics

    def _set(self, *, beam_stuck: bool) -> None:
        with self._lock:
            self._beam_stuck = beam_stuck
            self._apply_levels(time.monotonic())

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(TICK_S):
            now = time.monotonic()
            with self._lock:
                self._step(now, now - last)
            last = now

    def _step(self, now: float, dt: float) -> None:
        energised = [motor for motor, pins in self._motors.items()
                     if all(self._is_on(pin) for pin in pins)]
        self._peak_on = max(self._peak_on, len(energised))
        for motor in [m for m in self._running if m not in energised]:
            del self._running[motor]
        for motor in energised:
            if motor not in self._running:
                self._running[motor] = MotorRun(motor)
                self._log.append(self._running[motor])
            self._turn(motor, self._running[motor], dt, now)
        self._apply_levels(now)

    def _turn(self, motor: str, run: MotorRun, dt: float, now: float) -> None:
        """Move ``motor``'s spiral by ``dt`` seconds of motor running."""
        run.on_s += dt
        fault = self._faults.get(motor)
        if fault == "jam_leaving":
            return
        spiral = self._spirals[motor]
        before = spiral.position_s
        after = before + dt / (SLOW_FACTOR if fault == "slow" else 1)
        if fault == "jam_returning":
            after = min(after, JAM_STALL * self._turn_s)
        run.left_home |= before < self._leave_s <= after
        if self._falls(fault, spiral, before, after):
            spiral.item_hanging = False
            run.dropped = True
            self._beam_until = now + BEAM_PULSE_S
        if after >= self._turn_s:
            after -= self._turn_s
            run.turns += 1
            spiral.item_hanging = fault == "drop_on_nudge"
        spiral.position_s = after

    def _falls(self, fault: str | None, spiral: _Spiral, before: float, after: float) -> bool:
        """Whether the front item falls as the spiral moves from ``before`` to ``after``."""
        if fault == "drop_on_nudge":
            return spiral.item_hanging and before < NUDGE_DROP * self._turn_s <= after
        return fault != "no_drop" and before < self._drop_after_s <= after

    def _is_on(self, pin: MockPin) -> bool:
        return bool(pin.function == "output") and bool(pin.state) == self._active_high

    def _apply_levels(self, now: float) -> None:
        # One shared home line: it reads "at home" only while every spiral is in its home notch.
        at_home = all(spiral.position_s < self._leave_s for spiral in self._spirals.values())
        blocked = self._beam_stuck or now < self._beam_until
        _drive(self._home, high=at_home != self._home_active_low)
        _drive(self._beam, high=blocked != self._beam_active_low)


def mock_gpio_driver(
    *,
    wiring: str = "direct",
    motor_pins: Sequence[int] = (5, 6, 13, 19),
    row_pins: Sequence[int] = (),
    column_pins: Sequence[int] = (),
    home_pin: int = 20,
    drop_pin: int = 21,
    active_high: bool = True,
    home_active_low: bool = True,
    beam_active_low: bool = True,
    faults: Mapping[str, str] | None = None,
    turn_s: float = 0.3,
    leave_s: float = 0.03,
    drop_after_s: float = 0.15,
    turn_timeout_s: float = 1.5,
    drop_timeout_s: float = 0.5,
    max_on_s: float | None = None,
    nudge_s: float | None = None,
    factory: MockFactory | None = None,
) -> tuple[GpioDriver, MockSpiralMachine]:
    """A real ``GpioDriver`` wired to a ``MockSpiralMachine`` on one ``MockFactory``.

    The default pins match ``assets/kiosk.example.toml``; the default timings make a vend take
    about a third of a second and a jam 1.5 s. ``factory`` None builds a private MockFactory
    (gpiozero's global ``Device.pin_factory`` is left alone). Close both when done.
    """
    factory = MockFactory() if factory is None else factory
    driver = GpioDriver(
        wiring=wiring, motor_pins=motor_pins, row_pins=row_pins, column_pins=column_pins,
        home_pin=home_pin, drop_pin=drop_pin, active_high=active_high,
        home_active_low=home_active_low, beam_active_low=beam_active_low,
        turn_timeout_s=turn_timeout_s, drop_timeout_s=drop_timeout_s, max_on_s=max_on_s,
        nudge_s=nudge_s, pin_factory=factory)
    try:
        machine = MockSpiralMachine(
            factory, wiring=wiring, motor_pins=motor_pins, row_pins=row_pins,
            column_pins=column_pins, home_pin=home_pin, drop_pin=drop_pin,
            active_high=active_high, home_active_low=home_active_low,
            beam_active_low=beam_active_low, faults=faults, turn_s=turn_s, leave_s=leave_s,
            drop_after_s=drop_after_s)
    except Exception:
        driver.close()  # a bad fault knob must not leave the pins claimed
        raise
    return driver, machine


def _motor_lines(
    factory: MockFactory, wiring: str, motor_pins: Sequence[int], row_pins: Sequence[int],
    column_pins: Sequence[int],
) -> dict[str, tuple[MockPin, ...]]:
    """Each motor's name ("3", or "2,1" for row 2 column 1) and the pins that power it."""
    if wiring == "direct":
        return {str(n): (factory.pin(pin),) for n, pin in enumerate(motor_pins, start=1)}
    if wiring == "matrix":
        return {f"{r},{c}": (factory.pin(row), factory.pin(column))
                for r, row in enumerate(row_pins, start=1)
                for c, column in enumerate(column_pins, start=1)}
    raise ValueError(f"wiring must be direct or matrix, not {wiring!r}")


def _checked_faults(faults: Mapping[str, str], motors: Mapping[str, object]) -> dict[str, str]:
    for motor, fault in faults.items():
        if fault not in FAULTS:
            raise ValueError(f"unknown mock fault {fault!r} for motor {motor}; "
                             f"one of {', '.join(FAULTS)}")
        if motor not in motors:
            raise ValueError(f"mock fault for motor {motor!r}, which is not wired "
                             f"(motors: {', '.join(motors)})")
    return dict(faults)


def _drive(pin: MockPin, *, high: bool) -> None:
    """Set an input line the way the switch or sensor would (outputs are the driver's)."""
    if pin.function == "input" and bool(pin.state) != high:
        if high:
            pin.drive_high()
        else:
            pin.drive_low()

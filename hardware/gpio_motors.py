"""The spiral motors' outputs on GPIO: which relays turn a motor, switching them, the watchdog.

``MotorOutputs`` owns the output devices of one wiring (direct or matrix, see
``hardware.gpio``): it maps a request's ``motor`` to its pins, keeps a motor on only inside
``energised`` (with a watchdog that switches it off even if the vend thread hangs), and makes
every output failure an ``OutputFailed``: the relay's state is then unknown.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from gpiozero import DigitalOutputDevice
from gpiozero.pins import Factory

from hardware.errors import HardwareError
from hardware.gpio_config import WIRINGS

log = logging.getLogger("hardware.gpio")  # the driver's log, whichever part writes it

Axes = tuple[tuple[str, tuple[int, ...]], ...]


class NotWired(ValueError):
    """The request names a motor this wiring does not have."""


class OutputFailed(HardwareError):
    """A motor output could not be switched: the relay's state is unknown."""


class Watchdog:
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
        except OutputFailed as exc:
            log.critical("watchdog could not switch the motor off: %s", exc)


class MotorOutputs:
    """Every motor output of one wiring, opened off; a motor is on only inside ``energised``.

    :param wiring: ``"direct"`` or ``"matrix"``.
    :param axes: the output lists a motor number indexes (``motor_axes``).
    :param active_high: outputs switch a motor on with a high pin.
    :param max_on_s: the watchdog's limit for one ``energised``.
    :raises HardwareError: an output cannot be opened (the ones opened are closed again).
    """

    def __init__(self, wiring: str, axes: Axes, *, active_high: bool, max_on_s: float,
                 pin_factory: Factory | None) -> None:
        self._wiring = wiring
        self._axes = axes
        self._max_on_s = max_on_s
        self._outputs: dict[int, DigitalOutputDevice] = {}
        try:
            for pin in sorted({pin for _, axis in axes for pin in axis}):
                self._outputs[pin] = DigitalOutputDevice(
                    pin, active_high=active_high, initial_value=False, pin_factory=pin_factory)
        except Exception as exc:  # BadPinFactory, GPIOPinInUse, lgpio.error, PermissionError...
            self.close()
            raise HardwareError(f"cannot open the vend GPIO pins: {exc}") from exc

    def pins_for(self, motor: str | None) -> tuple[int, ...]:
        """The output pins that turn ``motor`` ("3" direct, "2,4" matrix; 1-based)."""
        parts = (motor or "").split(",")
        if len(parts) != len(self._axes) or not all(p.strip().isdigit() for p in parts):
            shape = '"row,column" like "2,4"' if self._wiring == "matrix" else 'a number like "3"'
            raise NotWired(f"motor {motor!r} is not wired: {self._wiring} wiring takes {shape}")
        pins: list[int] = []
        for number, (key, axis) in zip((int(p) for p in parts), self._axes, strict=True):
            if not 1 <= number <= len(axis):
                raise NotWired(f"motor {motor!r} is not wired: {key} lists {len(axis)} pins, "
                               "numbered from 1")
            pins.append(axis[number - 1])
        return tuple(pins)

    @contextmanager
    def energised(self, pins: tuple[int, ...]) -> Iterator[Watchdog]:
        """The motor is on for the ``with`` body and off after it, whatever happens in it."""
        watchdog = Watchdog(self._max_on_s, lambda: self.switch_off(pins))
        watchdog.start()  # armed before the first output goes on
        try:
            for pin in pins:
                self._write(pin, True)
            yield watchdog
        finally:
            watchdog.cancel()
            self.switch_off(pins)

    def switch_off_all(self) -> None:
        self.switch_off(tuple(self._outputs))

    def switch_off(self, pins: tuple[int, ...]) -> None:
        """Every output off; one that fails does not stop the others from being tried."""
        failures: list[OutputFailed] = []
        for pin in reversed(pins):
            try:
                self._write(pin, False)
            except OutputFailed as exc:
                failures.append(exc)
        if failures:
            raise failures[0]

    def close(self) -> None:
        for device in self._outputs.values():
            device.close()

    def _write(self, pin: int, on: bool) -> None:
        device = self._outputs[pin]
        try:
            if on:
                device.on()
            else:
                device.off()
        except Exception as exc:  # each backend has its own error types (lgpio.error, OSError, ...)
            raise OutputFailed(
                f"GPIO {pin} could not be switched {'on' if on else 'off'}: {exc}") from exc


def motor_axes(wiring: str, motor_pins: Sequence[int], row_pins: Sequence[int],
               column_pins: Sequence[int]) -> Axes:
    """The output lists a motor number indexes: the motors (direct), or rows and columns."""
    if wiring not in WIRINGS:
        raise ValueError(f"wiring must be one of {', '.join(WIRINGS)}, not {wiring!r}")
    axes = ((("motor_pins", tuple(motor_pins)),) if wiring == "direct"
            else (("row_pins", tuple(row_pins)), ("column_pins", tuple(column_pins))))
    for key, pins in axes:
        if not pins:
            raise ValueError(f"{wiring} wiring needs {key}")
    return axes

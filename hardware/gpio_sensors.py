"""The spiral machine's two inputs on GPIO: the shared cam (home) switch and the drop beam.

``Sensors`` reads them (at home? beam blocked?) and, while a vend or motor test runs, records
their edges into that run's ``Cycle`` from gpiozero's callback thread: the cam left home, came
back home, an item broke the beam. Wiring and levels are described in ``hardware.gpio``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from gpiozero import DigitalInputDevice
from gpiozero.pins import Factory

from hardware.errors import HardwareError

# Cam microswitches chatter for a few ms when they open or close; without a filter a bounce as
# the cam leaves home would read as "back home" and stop the motor at once. (lgpio applies this
# as a glitch filter; the mock factory ignores it.) The drop beam gets none: a falling item may
# break it for only a few ms.
HOME_BOUNCE_S = 0.01
BEAM_BLOCKED = "drop beam blocked: clear the delivery bin or check the beam's alignment"
NOT_HOME = "spiral not at home position: turn it home by hand, then check the cam switch"


@dataclass
class Cycle:
    """Edges seen while one vend or motor test runs; set from gpiozero's callback thread."""

    left_home: threading.Event
    back_home: threading.Event
    dropped: threading.Event

    @classmethod
    def new(cls) -> Cycle:
        return cls(threading.Event(), threading.Event(), threading.Event())


class Sensors:
    """The home switch and the drop beam, both pulled up; edges go to the armed ``Cycle``.

    :param home_active_low: the home line reads low at home.
    :param beam_active_low: the beam line reads low while the beam is broken.
    :raises HardwareError: an input cannot be opened (one opened is closed again).
    """

    def __init__(self, home_pin: int, drop_pin: int, *, home_active_low: bool,
                 beam_active_low: bool, pin_factory: Factory | None) -> None:
        self._home_active_low = home_active_low
        self._beam_active_low = beam_active_low
        self._cycle: Cycle | None = None
        self._last_motor: str | None = None
        home: DigitalInputDevice | None = None
        try:
            home = DigitalInputDevice(home_pin, pull_up=True, bounce_time=HOME_BOUNCE_S,
                                      pin_factory=pin_factory)
            beam = DigitalInputDevice(drop_pin, pull_up=True, pin_factory=pin_factory)
        except Exception as exc:  # BadPinFactory, GPIOPinInUse, lgpio.error, PermissionError...
            if home is not None:
                home.close()
            raise HardwareError(f"cannot open the vend GPIO pins: {exc}") from exc
        self._home, self._beam = home, beam
        _on_edges(home, home_active_low, reached=self._home_reached, left=self._home_left)
        _on_edges(beam, beam_active_low, reached=self._beam_broken)

    def arm(self, motor: str | None) -> Cycle:
        """Start listening for this run's edges before anything moves."""
        self._last_motor = motor
        self._cycle = Cycle.new()
        return self._cycle

    def disarm(self) -> None:
        self._cycle = None

    def at_home(self) -> bool:
        return _reads_level(self._home, self._home_active_low)

    def blocked(self) -> bool:
        return _reads_level(self._beam, self._beam_active_low)

    def not_home(self) -> str:
        return NOT_HOME + (f" (motor {self._last_motor} turned last)" if self._last_motor else "")

    def rest_problems(self) -> list[str]:
        """Why nothing may turn now: an item in the bin, or a spiral left off home."""
        problems = [BEAM_BLOCKED] if self.blocked() else []
        if not self.at_home():
            problems.append(self.not_home())
        return problems

    def close(self) -> None:
        for device in (self._home, self._beam):
            device.close()

    def _home_left(self) -> None:
        if (cycle := self._cycle) is not None:
            cycle.left_home.set()

    def _home_reached(self) -> None:
        if (cycle := self._cycle) is not None and cycle.left_home.is_set():
            cycle.back_home.set()

    def _beam_broken(self) -> None:
        if (cycle := self._cycle) is not None:
            cycle.dropped.set()


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

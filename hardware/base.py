"""The one interface every vend driver implements."""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType


class VendOutcome(enum.Enum):
    """What happened when the driver tried to dispense."""

    VENDED = "vended"            # the item dropped (beam broken, or VMC said VEND SUCCESS)
    NO_DROP = "no_drop"          # the motor turned but nothing crossed the drop beam
    JAM = "jam"                  # the spiral did not leave or regain its home position
    MOTOR_FAULT = "motor_fault"  # the motor could not be driven at all
    DENIED = "denied"            # the machine refused the vend before anything moved
    TIMEOUT = "timeout"          # the machine never reported a result
    UNKNOWN = "unknown"          # the driver lost track mid-vend: the item may have dropped


NOT_RECORDED = "the kiosk could not record the vend; nothing was dispensed"


@dataclass(frozen=True)
class VendRequest:
    """One item to dispense. Drivers read only the fields their wiring needs."""

    slot_id: str
    price_minor: int              # the paid price in minor units (MDB approves this amount)
    motor: str | None = None      # gpio: "3" (direct) or "2,4" (matrix row,column), 1-based
    mdb_item: int | None = None   # mdb: the machine's own item number
    # Asked just before anything can dispense (the motor's relay, the MDB approval): the
    # kiosk journals that the vend is now under way, so that a crash before it is a certain
    # no-vend. False: it could not, and nothing may move.
    before_dispense: Callable[[], bool] | None = field(default=None, compare=False,
                                                       repr=False)

    def may_dispense(self) -> bool:
        return self.before_dispense is None or self.before_dispense()


@dataclass(frozen=True)
class VendResult:
    outcome: VendOutcome
    detail: str = ""

    @property
    def vended(self) -> bool:
        return self.outcome is VendOutcome.VENDED

    @property
    def disables_slot(self) -> bool:
        """A mechanical fault: the slot must not sell again until an operator checks it."""
        return self.outcome in (VendOutcome.JAM, VendOutcome.MOTOR_FAULT)


@dataclass(frozen=True)
class DriverHealth:
    ready: bool
    reason: str = ""


@dataclass(frozen=True)
class Probe:
    """One self-test check a driver ran: what, for which slot, and why it failed."""

    name: str                         # "motor", "drop_beam", "home_switch", "mdb_bridge", ...
    passed: bool
    reason: str = ""
    slot: str | None = None


@dataclass(frozen=True)
class KeypadSelection:
    """A customer picked an item on the machine's own keypad (MDB VEND REQUEST)."""

    item: int                         # the machine's item number
    price_minor: int                  # the price the machine asks, in minor units


SelectionListener = Callable[[KeypadSelection], None]
ResultListener = Callable[[VendResult], None]


class VendDriver(abc.ABC):
    """A dispenser. ``vend`` blocks until the outcome is known; call it off the UI thread."""

    name: str = "driver"

    @abc.abstractmethod
    def health(self) -> DriverHealth:
        """Whether the driver can vend right now, checked before the kiosk asks for money."""

    @abc.abstractmethod
    def vend(self, request: VendRequest) -> VendResult:
        """Dispense one item. Never raises for a mechanical failure: that is a result."""

    def probes(self, requests: Sequence[VendRequest], move_motors: bool) -> list[Probe]:
        """Technician self-test of the hardware; ``move_motors`` False never turns a motor."""
        health = self.health()
        return [Probe("driver", health.ready, health.reason or "ready")]

    def vend_prompt(self, request: VendRequest) -> str:
        """What the customer must do for ``vend`` to finish (MDB: press the item on the keypad)."""
        return ""

    def set_selection_listener(self, listener: SelectionListener | None) -> None:
        """Be told when a customer picks an item on the machine first (MDB keypad)."""

    def release_selection(self) -> None:
        """The keypad-first sale will not be paid: let the machine go (MDB: deny the vend)."""

    def set_unclaimed_result_listener(self, listener: ResultListener | None) -> None:
        """Be told of a vend result no ``vend`` call was waiting for (MDB: the machine reports
        the vend approved before a restart). ``listener`` must only hand it over."""

    def close(self) -> None:
        """Release pins or ports. Safe to call twice."""

    def __enter__(self) -> VendDriver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

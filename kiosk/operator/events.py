"""What comes into the operator menu: the operator's touches and the workers' results."""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.operator.sales import SalesSummary
from kiosk.operator.state import OpScreen, SlotRow, StatusReport


# ---------------------------------------------------------------- events (touches)


class OpEvent:
    """Base of every operator-menu event, so the runtime can route them."""

    touch = True                    # a touch resets the idle timer


@dataclass(frozen=True)
class CornerHeld(OpEvent):
    """The hidden gesture."""


@dataclass(frozen=True)
class PinDigit(OpEvent):
    digit: str


@dataclass(frozen=True)
class PinClear(OpEvent):
    pass


@dataclass(frozen=True)
class PinOk(OpEvent):
    pass


@dataclass(frozen=True)
class OpBack(OpEvent):
    """Back to the menu from a page; from the PIN screen or the menu: close."""


@dataclass(frozen=True)
class OpExit(OpEvent):
    pass


@dataclass(frozen=True)
class OpShow(OpEvent):
    screen: OpScreen


@dataclass(frozen=True)
class StockAdjust(OpEvent):
    slot_id: str
    delta: int


@dataclass(frozen=True)
class StockFull(OpEvent):
    slot_id: str


@dataclass(frozen=True)
class SlotEnable(OpEvent):
    slot_id: str


@dataclass(frozen=True)
class NextPage(OpEvent):
    pass


@dataclass(frozen=True)
class TestVendPressed(OpEvent):
    slot_id: str


# ---------------------------------------------------------------- events (worker results)


@dataclass(frozen=True)
class LockRead(OpEvent):
    failures: int
    locked_until: float
    touch = False


@dataclass(frozen=True)
class PinChecked(OpEvent):
    ok: bool
    failures: int
    locked_until: float
    touch = False


@dataclass(frozen=True)
class SlotsLoaded(OpEvent):
    slots: tuple[SlotRow, ...]
    touch = False


@dataclass(frozen=True)
class SalesLoaded(OpEvent):
    sales: SalesSummary
    touch = False


@dataclass(frozen=True)
class StatusLoaded(OpEvent):
    status: StatusReport
    touch = False


@dataclass(frozen=True)
class TestVendDone(OpEvent):
    slot_id: str
    outcome: str
    detail: str = ""
    touch = False

"""What the operator menu works on: its screens, the rows and reports it shows, and its state."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from kiosk.operator.sales import SalesSummary

MAX_FAILURES = 5             # wrong PINs in a row that lock PIN entry
IDLE_CLOSE_S = 120.0
HOLD_S = 3.0                 # the hidden gesture: a press held this long in the top-left corner
PIN_MAX_DIGITS = 8
STOCK_PAGE = 6               # slots per page of the stock screen


class OpScreen(enum.Enum):
    CLOSED = "closed"
    PIN = "pin"
    MENU = "menu"
    STOCK = "stock"
    SALES = "sales"
    STATUS = "status"
    TEST_VEND = "test_vend"


@dataclass(frozen=True)
class SlotRow:
    slot_id: str
    name: str
    stock: int
    full: int                       # "set full": the slot's configured stock
    disabled: bool = False
    reason: str = ""


@dataclass(frozen=True)
class StatusReport:
    network: tuple[bool, str]
    gateway: tuple[bool, str]
    hardware: tuple[bool, str]


@dataclass(frozen=True)
class OperatorState:
    screen: OpScreen = OpScreen.CLOSED
    has_pin: bool = False           # a pin_hash is configured; without one the menu stays shut
    entry: str = ""                 # digits typed so far (drawn masked)
    checking: bool = False          # a PIN check (or the lock read) is under way
    failures: int = 0
    locked_until: float = 0.0
    message: str = ""
    slots: tuple[SlotRow, ...] = ()
    page: int = 0
    sales: SalesSummary | None = None
    status: StatusReport | None = None
    vending_slot: str = ""          # a test vend under way
    last_touch: float = 0.0

    @property
    def open(self) -> bool:
        return self.screen is not OpScreen.CLOSED

    def locked(self, now: float) -> bool:
        return now < self.locked_until

    def row(self, slot_id: str) -> SlotRow | None:
        return next((r for r in self.slots if r.slot_id == slot_id), None)

"""The operator menu: a small pure state machine beside the sale flow, like ``kiosk.flow``.

``OperatorMenu.step(state, event, now, sale_idle=...) -> OpTransition(state, effects)``; no I/O.
The runtime carries out the effects on worker threads (PIN check, journal, vend driver, gateway)
and feeds the results back as events; on that thread ``read_lockout`` reads the PIN lockout
from the journal.

Screens: CLOSED -> PIN -> MENU -> STOCK | SALES | STATUS | TEST_VEND. The menu opens only from a
corner held 3 s while the sale flow is idle (attract or out of service); while it is open the
runtime keeps customers out (their events are dropped, keypad picks on the machine released).
Five wrong PINs in a row lock PIN entry for 15 minutes; the count and the lock live in the
journal (operator events), so a restart does not lift them, and the lock is counted on the
monotonic clock as well as the wall clock, so a clock step does not either (``Lockout``). The
menu closes itself after two minutes without a touch.

The parts, one job each: ``state`` (screens, rows, the menu's state), ``events`` and
``effects`` (what comes in and goes out), ``menu`` (``OperatorMenu``, the pure machine),
``lockout`` (the PIN lockout's clocks, read from the journal on a worker thread) and ``sales``
(the sales summary, pure arithmetic).
"""

from kiosk.operator.effects import (
    CheckPin,
    CheckStatus,
    EnableSlot,
    LoadSales,
    LoadSlots,
    OpEffect,
    OpTransition,
    ReadLock,
    RecordOperator,
    SetStock,
    TestVend,
)
from kiosk.operator.events import (
    CornerHeld,
    LockRead,
    NextPage,
    OpBack,
    OpEvent,
    OpExit,
    OpShow,
    PinChecked,
    PinClear,
    PinDigit,
    PinOk,
    SalesLoaded,
    SlotEnable,
    SlotsLoaded,
    StatusLoaded,
    StockAdjust,
    StockFull,
    TestVendDone,
    TestVendPressed,
)
from kiosk.operator.lockout import (
    BOOT_ID,
    LOCK_EVENTS,
    LOCKOUT_S,
    BootClock,
    LockJournal,
    Lockout,
    boot_clock,
    read_lockout,
    register_failure,
)
from kiosk.operator.menu import OperatorMenu
from kiosk.operator.sales import SALES_PERIOD_DAYS, SalesSummary, Totals, sales_summary
from kiosk.operator.state import (
    HOLD_S,
    IDLE_CLOSE_S,
    MAX_FAILURES,
    PIN_MAX_DIGITS,
    STOCK_PAGE,
    OperatorState,
    OpScreen,
    SlotRow,
    StatusReport,
)

__all__ = [
    "BOOT_ID", "HOLD_S", "IDLE_CLOSE_S", "LOCKOUT_S", "LOCK_EVENTS", "MAX_FAILURES",
    "PIN_MAX_DIGITS", "SALES_PERIOD_DAYS", "STOCK_PAGE",
    "BootClock", "CheckPin", "CheckStatus", "CornerHeld", "EnableSlot", "LoadSales",
    "LoadSlots", "LockJournal", "LockRead", "Lockout", "NextPage", "OpBack", "OpEffect",
    "OpEvent", "OpExit", "OpScreen", "OpShow", "OpTransition", "OperatorMenu", "OperatorState",
    "PinChecked", "PinClear", "PinDigit", "PinOk", "ReadLock", "RecordOperator", "SalesLoaded",
    "SalesSummary", "SetStock", "SlotEnable", "SlotRow", "SlotsLoaded", "StatusLoaded",
    "StatusReport", "StockAdjust", "StockFull", "TestVend", "TestVendDone", "TestVendPressed",
    "Totals", "boot_clock", "read_lockout", "register_failure", "sales_summary",
]

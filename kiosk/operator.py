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
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from kiosk.journal import PIN_LOCKED

MAX_FAILURES = 5
LOCKOUT_S = 15 * 60.0
IDLE_CLOSE_S = 120.0
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")   # changes at every boot (Linux)
LOCK_EVENTS = 50             # operator events searched for the lock's detail (see read_lockout)
HOLD_S = 3.0                 # the hidden gesture: a press held this long in the top-left corner
PIN_MAX_DIGITS = 8
SALES_PERIOD_DAYS = 7
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
class Totals:
    count: int
    amounts: tuple[tuple[str, str], ...]                      # (currency, total)
    by_item: tuple[tuple[str, int, str], ...]                 # (item, count, amount)
    by_coin: tuple[tuple[str, int, str], ...]                 # (coin, count, amount)


@dataclass(frozen=True)
class SalesSummary:
    today: Totals
    period: Totals
    period_days: int = SALES_PERIOD_DAYS


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


# ---------------------------------------------------------------- effects


@dataclass(frozen=True)
class ReadLock:
    pass


@dataclass(frozen=True)
class CheckPin:
    pin: str


@dataclass(frozen=True)
class LoadSlots:
    pass


@dataclass(frozen=True)
class SetStock:
    slot_id: str
    stock: int
    kind: str = "restock"           # the operator event journalled: restock | set_full


@dataclass(frozen=True)
class EnableSlot:
    slot_id: str


@dataclass(frozen=True)
class LoadSales:
    pass


@dataclass(frozen=True)
class CheckStatus:
    pass


@dataclass(frozen=True)
class TestVend:
    slot_id: str


@dataclass(frozen=True)
class RecordOperator:
    kind: str                       # menu_opened | menu_closed
    detail: Mapping[str, Any] = field(default_factory=dict)


OpEffect = (ReadLock | CheckPin | LoadSlots | SetStock | EnableSlot | LoadSales | CheckStatus
            | TestVend | RecordOperator)


@dataclass(frozen=True)
class OpTransition:
    state: OperatorState
    effects: tuple[OpEffect, ...] = ()


# ---------------------------------------------------------------- the PIN lockout's clocks


@dataclass(frozen=True)
class BootClock:
    """Monotonic time as this boot counts it. CLOCK_MONOTONIC (``time.monotonic``) is shared by
    every process of a boot and no wall-clock step moves it; ``boot_id`` tells boots apart."""

    boot_id: str                    # "" where the system has none: no count is then shared
    monotonic: float


def boot_clock() -> BootClock:
    try:
        boot_id = BOOT_ID.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        boot_id = ""
    return BootClock(boot_id, time.monotonic())


@dataclass(frozen=True)
class Lockout:
    """A PIN lockout as journalled (the detail of a ``pin_locked`` operator event).

    The rule: a lock ends only when both clocks say so, the wall clock past ``until`` and, in
    the boot that counts it, the monotonic clock past ``monotonic_until`` (each ``LOCKOUT_S``
    after the lock). A wall-clock step forward (NTP setting a Pi without a real-time clock, a
    date set by hand) cannot shorten it; a step back lengthens it, as it always did.

    The monotonic count does not survive a reboot, only a restart of the kiosk within one boot.
    So a lock from an earlier boot (or journalled before this rule) that the wall clock says is
    still in force is counted again, in full, by the new boot: ``carried_over`` gives the lock
    to journal for it, and from then on it is this boot's. A reboot can lengthen a lock by up
    to ``LOCKOUT_S``, never shorten it, except in one case no clock can check: when, at the
    first look after a reboot, the wall clock already says the lock is over.
    """

    until: float                    # wall clock, epoch seconds
    boot_id: str = ""               # the boot whose monotonic clock counts it ("": none)
    monotonic_until: float = 0.0

    @classmethod
    def start(cls, now: float, clock: BootClock) -> Lockout:
        return cls(now + LOCKOUT_S, clock.boot_id, clock.monotonic + LOCKOUT_S)

    @classmethod
    def from_detail(cls, detail: Mapping[str, Any]) -> Lockout:
        """Tolerant of older events and odd values: what is missing is not counted."""
        def number(key: str) -> float:
            value = detail.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return 0.0
            return float(value) if math.isfinite(value) else 0.0

        boot_id = detail.get("boot_id")
        return cls(number("until"), boot_id if isinstance(boot_id, str) else "",
                   number("monotonic_until"))

    def detail(self) -> dict[str, Any]:
        return {"until": self.until, "boot_id": self.boot_id,
                "monotonic_until": self.monotonic_until, "minutes": LOCKOUT_S / 60}

    def counted_in(self, clock: BootClock) -> bool:
        return bool(self.boot_id) and self.boot_id == clock.boot_id

    def locked_until(self, now: float, clock: BootClock) -> float:
        """The wall-clock time it holds until, seen from ``now``: the later of its two ends
        (0.0: over)."""
        left = self.until - now
        if self.counted_in(clock):
            left = max(left, self.monotonic_until - clock.monotonic)
        return now + left if left > 0 else 0.0

    def carried_over(self, now: float, clock: BootClock) -> Lockout | None:
        """The lock counted by this boot, to journal, when it comes from another boot and is
        still in force by the wall clock; ``None`` when there is nothing to carry over."""
        if self.counted_in(clock) or not clock.boot_id or now >= self.until:
            return None
        return replace(self, boot_id=clock.boot_id, monotonic_until=clock.monotonic + LOCKOUT_S)


class LockJournal(Protocol):
    """What the lockout needs of ``kiosk.journal.Journal``."""

    def pin_lockout(self) -> tuple[int, float]: ...

    def operator_events(self, limit: int = 100) -> list[dict[str, Any]]: ...

    def operator_event(self, kind: str, detail: Mapping[str, Any]) -> str: ...


def read_lockout(journal: LockJournal, now: float, clock: BootClock) -> tuple[int, float]:
    """``(wrong PINs in a row, locked until)`` from the journal, the lock held on both clocks
    (``Lockout``; 0.0: not locked). A lock from another boot still in force is journalled
    again, counted by this one. Runs on a worker thread: journal I/O."""
    failures, until = journal.pin_lockout()
    if not until:
        return failures, 0.0
    # While a lock holds nothing else is journalled, and after it at most MAX_FAILURES - 1
    # failures: the newest "pin_locked" among the last events is the lock pin_lockout means.
    lock = Lockout(until)
    for event in reversed(journal.operator_events(LOCK_EVENTS)):
        if event["kind"] == PIN_LOCKED:
            found = Lockout.from_detail(event["detail"])
            lock = found if found.until == until else lock
            break
    carried = lock.carried_over(now, clock)
    if carried is not None:
        journal.operator_event(PIN_LOCKED, {**carried.detail(), "carried_over": True})
        lock = carried
    return failures, lock.locked_until(now, clock)


def register_failure(failures: int, now: float, clock: BootClock) -> tuple[int, Lockout | None]:
    """One more wrong PIN after ``failures`` in a row: ``(failures, lock)``; the fifth locks PIN
    entry for ``LOCKOUT_S`` (``None``: not locked)."""
    failures += 1
    return failures, (Lockout.start(now, clock) if failures >= MAX_FAILURES else None)


# ---------------------------------------------------------------- the machine


class OperatorMenu:
    def step(self, state: OperatorState, event: object, now: float, *,
             sale_idle: bool) -> OpTransition:
        if isinstance(event, OpEvent) and event.touch and state.open:
            state = replace(state, last_touch=now)
        if not state.open:
            if isinstance(event, CornerHeld) and sale_idle:
                opened = replace(state, screen=OpScreen.PIN, entry="", message="",
                                 checking=state.has_pin, last_touch=now)
                return OpTransition(opened, (ReadLock(),) if state.has_pin else ())
            return OpTransition(state)
        if isinstance(event, OpExit) or (
                isinstance(event, OpBack) and state.screen in (OpScreen.PIN, OpScreen.MENU)):
            return self._close(state, "exit")
        if not isinstance(event, OpEvent):   # a tick
            if now - state.last_touch >= IDLE_CLOSE_S and not state.vending_slot:
                return self._close(state, "idle")
            return OpTransition(state)
        if state.screen is OpScreen.PIN:
            return self._pin(state, event, now)
        return self._menu(state, event, now)

    def _close(self, state: OperatorState, reason: str) -> OpTransition:
        logged_in = state.screen is not OpScreen.PIN
        closed = replace(state, screen=OpScreen.CLOSED, entry="", message="", checking=False,
                         sales=None, status=None)
        return OpTransition(closed, (RecordOperator("menu_closed", {"reason": reason}),)
                            if logged_in else ())

    def _pin(self, state: OperatorState, event: OpEvent, now: float) -> OpTransition:
        if isinstance(event, LockRead):
            return OpTransition(replace(state, checking=False, failures=event.failures,
                                        locked_until=event.locked_until))
        if isinstance(event, PinChecked):
            state = replace(state, checking=False, entry="", failures=event.failures,
                            locked_until=event.locked_until)
            if event.ok:
                menu = replace(state, screen=OpScreen.MENU, message="", failures=0)
                return OpTransition(menu, (RecordOperator("menu_opened"),))
            message = ("Too many wrong PINs: locked" if state.locked(now)
                       else f"Wrong PIN ({MAX_FAILURES - event.failures} tries left)")
            return OpTransition(replace(state, message=message))
        if not state.has_pin or state.checking or state.locked(now):
            return OpTransition(state)
        if isinstance(event, PinDigit) and len(state.entry) < PIN_MAX_DIGITS \
                and event.digit.isdigit() and len(event.digit) == 1:
            return OpTransition(replace(state, entry=state.entry + event.digit, message=""))
        if isinstance(event, PinClear):
            return OpTransition(replace(state, entry="", message=""))
        if isinstance(event, PinOk) and state.entry:
            return OpTransition(replace(state, checking=True, message=""),
                                (CheckPin(state.entry),))
        return OpTransition(state)

    def _menu(self, state: OperatorState, event: OpEvent, now: float) -> OpTransition:
        if isinstance(event, SlotsLoaded):
            return OpTransition(replace(state, slots=event.slots))
        if isinstance(event, SalesLoaded):
            return OpTransition(replace(state, sales=event.sales))
        if isinstance(event, StatusLoaded):
            return OpTransition(replace(state, status=event.status))
        if isinstance(event, TestVendDone) and event.slot_id == state.vending_slot:
            text = f"Test vend {event.slot_id}: {event.outcome}"
            return OpTransition(replace(state, vending_slot="",
                                        message=f"{text} ({event.detail})" if event.detail
                                        else text))
        if isinstance(event, OpBack):
            if state.vending_slot:
                return OpTransition(state)
            return OpTransition(replace(state, screen=OpScreen.MENU, message=""))
        if isinstance(event, OpShow) and state.screen is OpScreen.MENU \
                and event.screen not in (OpScreen.CLOSED, OpScreen.PIN, OpScreen.MENU):
            loads: dict[OpScreen, OpEffect] = {
                OpScreen.STOCK: LoadSlots(), OpScreen.TEST_VEND: LoadSlots(),
                OpScreen.SALES: LoadSales(), OpScreen.STATUS: CheckStatus()}
            effect = loads[event.screen]
            shown = replace(state, screen=event.screen, page=0, message="",
                            sales=None if event.screen is OpScreen.SALES else state.sales,
                            status=None if event.screen is OpScreen.STATUS else state.status)
            return OpTransition(shown, (effect,))
        if isinstance(event, NextPage):
            pages = max(1, -(-len(state.slots) // STOCK_PAGE))
            return OpTransition(replace(state, page=(state.page + 1) % pages))
        if state.screen is OpScreen.STOCK:
            return self._stock(state, event)
        if state.screen is OpScreen.TEST_VEND and isinstance(event, TestVendPressed) \
                and not state.vending_slot and state.row(event.slot_id) is not None:
            return OpTransition(replace(state, vending_slot=event.slot_id,
                                        message=f"Test vend {event.slot_id}..."),
                                (TestVend(event.slot_id),))
        return OpTransition(state)

    def _stock(self, state: OperatorState, event: OpEvent) -> OpTransition:
        if isinstance(event, (StockAdjust, StockFull, SlotEnable)):
            row = state.row(event.slot_id)
            if row is None:
                return OpTransition(state)
            effect: OpEffect
            if isinstance(event, StockAdjust):
                count = max(0, row.stock + event.delta)
                if count == row.stock:
                    return OpTransition(state)
                row, effect = replace(row, stock=count), SetStock(row.slot_id, count)
            elif isinstance(event, StockFull):
                row = replace(row, stock=row.full)
                effect = SetStock(row.slot_id, row.full, "set_full")
            else:
                if not row.disabled:
                    return OpTransition(state)
                row, effect = replace(row, disabled=False, reason=""), EnableSlot(row.slot_id)
            slots = tuple(row if r.slot_id == row.slot_id else r for r in state.slots)
            return OpTransition(replace(state, slots=slots), (effect,))
        return OpTransition(state)


# ---------------------------------------------------------------- sales (pure arithmetic)


def sales_summary(transactions: Iterable[Mapping[str, Any]], now: float,
                  days: int = SALES_PERIOD_DAYS) -> SalesSummary:
    """Vended sales today (local date) and over the last ``days`` days, by item and by coin,
    from ``Journal.transactions()`` rows."""
    today_start = datetime.fromtimestamp(now).astimezone().replace(
        hour=0, minute=0, second=0, microsecond=0)
    period_start = today_start - timedelta(days=days - 1)
    today, period = [], []
    for tx in transactions:
        if tx.get("status") != "vended":
            continue
        created = datetime.fromisoformat(str(tx["created_at"])).astimezone()
        if created >= period_start:
            period.append(tx)
            if created >= today_start:
                today.append(tx)
    return SalesSummary(_totals(today), _totals(period), days)


def _totals(rows: list[Mapping[str, Any]]) -> Totals:
    amounts: dict[str, Decimal] = {}
    items: dict[tuple[str, str], list[Any]] = {}
    coins: dict[tuple[str, str], list[Any]] = {}
    for tx in rows:
        amount, currency = Decimal(str(tx["amount"])), str(tx["currency"])
        amounts[currency] = amounts.get(currency, Decimal(0)) + amount
        for table, key in ((items, str(tx["item_name"])), (coins, str(tx.get("asset") or "?"))):
            entry = table.setdefault((key, currency), [0, Decimal(0)])
            entry[0] += 1
            entry[1] += amount

    def listing(table: dict[tuple[str, str], list[Any]]) -> tuple[tuple[str, int, str], ...]:
        ordered = sorted(table.items(), key=lambda kv: (-kv[1][0], kv[0]))
        return tuple((name, count, f"{total} {currency}")
                     for (name, currency), (count, total) in ordered)

    return Totals(len(rows), tuple((c, str(a)) for c, a in sorted(amounts.items())),
                  listing(items), listing(coins))

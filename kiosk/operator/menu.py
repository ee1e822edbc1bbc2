"""The operator menu's machine: ``OperatorMenu.step(state, event, now, sale_idle=...)``.
PIN entry, the menu and its screens, the stock edits; closes itself when left idle."""

from __future__ import annotations

from dataclasses import replace

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
from kiosk.operator.state import (
    IDLE_CLOSE_S,
    MAX_FAILURES,
    PIN_MAX_DIGITS,
    STOCK_PAGE,
    OperatorState,
    OpScreen,
)


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

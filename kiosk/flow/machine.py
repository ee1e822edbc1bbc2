"""The sale machine itself: ``Flow.step`` is the single entry point. Events that matter on
any screen (the wall clock, stock, the hardware, a payment for another sale, a keypad pick, an
interrupted sale) are handled first; the rest go to the handler of the screen on show
(``_HANDLERS``), which lives with its phase: ``browsing``, ``paying`` or ``results``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType

from kiosk.flow.browsing import BrowsingScreens
from kiosk.flow.effects import Transition
from kiosk.flow.events import (
    CancelPressed,
    CoinChosen,
    DonePressed,
    Event,
    HardwareChanged,
    ItemChosen,
    KeypadSelected,
    PaymentUpdate,
    SaleInterrupted,
    StartTapped,
    StockChanged,
    WallClockSet,
)
from kiosk.flow.paying import PayingScreens, late_payment_update
from kiosk.flow.results import ResultScreens, sale_interrupted
from kiosk.flow.state import (
    BROWSING_SCREENS,
    ENDED_UNPAID_SCREENS,
    FlowSettings,
    KioskState,
    Screen,
)
from kiosk.flow.steps import go


class Flow(BrowsingScreens, PayingScreens, ResultScreens):
    """Holds the settings and the id source; ``step`` itself keeps no state between calls."""

    def __init__(self, settings: FlowSettings, new_tx_id: Callable[[], str]) -> None:
        self.settings = settings
        self._new_tx_id = new_tx_id

    def step(self, state: KioskState, event: Event, now: float) -> Transition:
        """``now``: monotonic seconds, never the wall clock."""
        if isinstance(event, WallClockSet):
            return Transition(replace(state, wall_offset_s=event.offset_s))
        if isinstance(event, StockChanged):
            products = tuple(replace(p, price=event.prices.get(p.slot_id, p.price))
                             for p in state.products)
            return Transition(replace(state, stock=MappingProxyType(dict(event.stock)),
                                      disabled=event.disabled, products=products))
        if isinstance(event, HardwareChanged):
            return self._hardware_changed(state, event, now)
        if isinstance(event, PaymentUpdate) and not self._is_current_payment(state, event):
            return late_payment_update(state, event)
        if isinstance(event, KeypadSelected):
            return self._keypad_selected(state, event, now)
        if isinstance(event, SaleInterrupted):
            return sale_interrupted(state, event, now)
        if isinstance(event, (StartTapped, ItemChosen, CoinChosen, CancelPressed, DonePressed)):
            state = replace(state, last_input=now)
        handler = _HANDLERS.get(state.screen)
        return handler(self, state, event, now) if handler else Transition(state)

    # -- events that matter on any screen

    def _hardware_changed(self, state: KioskState, event: HardwareChanged,
                          now: float) -> Transition:
        state = replace(state, hardware_fault=event.fault)
        if event.fault and state.screen in BROWSING_SCREENS | {Screen.ATTRACT}:
            return go(state, Screen.OUT_OF_SERVICE, now, sale=None)
        if not event.fault and state.screen is Screen.OUT_OF_SERVICE:
            return go(state, Screen.ATTRACT, now, sale=None)
        return Transition(state)  # a sale under way finishes; its vend reports the fault

    @staticmethod
    def _is_current_payment(state: KioskState, event: PaymentUpdate) -> bool:
        return (state.sale is not None and state.sale.tx_id == event.tx_id
                and state.screen not in ENDED_UNPAID_SCREENS)


_Handler = Callable[[Flow, KioskState, Event, float], Transition]
_HANDLERS: dict[Screen, _Handler] = {
    Screen.ATTRACT: Flow._attract,
    Screen.CHOOSE_ITEM: Flow._choose_item,
    Screen.CHOOSE_COIN: Flow._choose_coin,
    Screen.CREATING_PAYMENT: Flow._creating,
    Screen.AWAITING_PAYMENT: Flow._paying,
    Screen.CONFIRMING: Flow._paying,
    Screen.UNDERPAID: Flow._paying,
    Screen.VENDING: Flow._vending,
    Screen.THANK_YOU: Flow._result,
    Screen.VEND_FAILED: Flow._result,
    Screen.PAYMENT_FAILED: Flow._result,
    Screen.EXPIRED: Flow._result,
    Screen.CANCELLED: Flow._result,
    Screen.OUT_OF_SERVICE: Flow._out_of_service,
}

"""Plays customers through the real UI: it picks a button on screen and the app taps it.

Customer k (0-based) takes the k-th slot on sale, cycling through the slots in config order,
then the first coin offered, then waits on the QR screen. A ``CustomerPlan`` may tell it to
cancel there, and ``on_payment_shown`` lets the demo's simulated phone pay.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kiosk.flow import KioskState, Screen
from kiosk.payments.base import Order, PaymentRequest
from kiosk.ui.widgets import Button


@dataclass(frozen=True)
class CustomerPlan:
    cancel_after_s: float | None = None   # tap Cancel this long after the QR appears


def slot_for_customer(index: int, state: KioskState) -> str | None:
    """The autopilot's choice rule, shared with the demo's planner."""
    on_sale = state.available_products()
    return on_sale[index % len(on_sale)].slot_id if on_sale else None


class Autopilot:
    def __init__(self, customers: int,
                 plan: Callable[[int], CustomerPlan] = lambda index: CustomerPlan(),
                 on_payment_shown: Callable[[int, Order, PaymentRequest], None] | None = None,
                 pause_s: float = 0.25) -> None:
        self.customers = customers
        self._plan = plan
        self._on_payment_shown = on_payment_shown
        self._pause_s = pause_s
        self.started = 0
        self.finished = 0
        self._shown_tx: str | None = None

    @property
    def done(self) -> bool:
        return self.finished >= self.customers

    def sale_finished(self) -> None:
        self.finished += 1

    def choose(self, state: KioskState, buttons: list[Button], now: float) -> Button | None:
        """The button to tap now, or None to wait."""
        if now - state.screen_since < self._pause_s:
            return None  # let the screen be seen (and screenshotted) like a person would
        screen = state.screen
        if screen is Screen.ATTRACT:
            if self.started >= self.customers or self.finished < self.started:
                return None
            self.started += 1
            return _named(buttons, "start")
        customer = self.started - 1
        if screen is Screen.CHOOSE_ITEM:
            slot = slot_for_customer(customer, state)
            return _named(buttons, f"item:{slot}") if slot else _named(buttons, "cancel")
        if screen is Screen.CHOOSE_COIN:
            return next((b for b in buttons if b.name.startswith("coin:")), None)
        if screen in (Screen.AWAITING_PAYMENT, Screen.UNDERPAID):
            return self._on_qr(customer, state, buttons, now)
        if screen in (Screen.THANK_YOU, Screen.VEND_FAILED, Screen.PAYMENT_FAILED,
                      Screen.EXPIRED, Screen.CANCELLED) and self.finished >= self.started:
            return _named(buttons, "done")
        return None

    def _on_qr(self, customer: int, state: KioskState, buttons: list[Button],
               now: float) -> Button | None:
        sale = state.sale
        assert sale is not None and sale.order is not None and sale.request is not None
        if self._shown_tx != sale.order.tx_id:
            self._shown_tx = sale.order.tx_id
            if self._on_payment_shown is not None:
                self._on_payment_shown(customer, sale.order, sale.request)
        cancel_after = self._plan(customer).cancel_after_s
        if cancel_after is not None and now - state.screen_since >= cancel_after:
            return _named(buttons, "cancel")
        return None


def _named(buttons: list[Button], name: str) -> Button | None:
    return next((b for b in buttons if b.name == name), None)

"""Plays customers through the real UI: it picks a button on screen and the app taps it.

Customer k (0-based) takes the k-th slot on sale, cycling through the slots in config order,
then the first coin offered, then waits on the QR screen. A ``CustomerPlan`` may tell it to
cancel there, ``on_confirm`` runs just before the coin is tapped (the demo's gateway outage
starts there), and ``on_payment_shown`` lets the demo's simulated phone pay. Each customer's
``journey`` (the screens from their Start tap to the next customer's) shows what the kiosk did
around them: out of service, and back, say. A customer sent back to attract before ordering
(the kiosk went out of service, or they idled) starts again: every customer gets one sale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kiosk.flow import KioskState, Screen
from kiosk.payments.base import Order, PaymentRequest
from kiosk.ui.widgets import Button


@dataclass(frozen=True)
class CustomerPlan:
    cancel_after_s: float | None = None   # tap Cancel this long after the QR appears ...
    cancel_on: Screen = Screen.AWAITING_PAYMENT  # ... on this screen (UNDERPAID: once part paid)


def slot_for_customer(index: int, state: KioskState) -> str | None:
    """The autopilot's choice rule, shared with the demo's planner."""
    on_sale = state.available_products()
    return on_sale[index % len(on_sale)].slot_id if on_sale else None


class Autopilot:
    def __init__(self, customers: int,
                 plan: Callable[[int], CustomerPlan] = lambda index: CustomerPlan(),
                 on_payment_shown: Callable[[int, Order, PaymentRequest], None] | None = None,
                 pause_s: float = 0.25,
                 on_confirm: Callable[[int], None] | None = None) -> None:
        self.customers = customers
        self._plan = plan
        self._on_payment_shown = on_payment_shown
        self._on_confirm = on_confirm
        self._pause_s = pause_s
        self.started = 0
        self.finished = 0
        self._shown_tx: str | None = None
        self._confirmed = -1                  # the last customer ``on_confirm`` ran for
        self._ordered = False                 # the current customer's sale has an order
        self._journeys: list[list[Screen]] = []

    @property
    def done(self) -> bool:
        return self.finished >= self.customers

    def sale_finished(self) -> None:
        self.finished += 1

    def journey(self, customer: int) -> tuple[Screen, ...]:
        """The screens seen from customer's Start tap until the next customer's, in order."""
        return tuple(self._journeys[customer]) if customer < len(self._journeys) else ()

    def choose(self, state: KioskState, buttons: list[Button], now: float) -> Button | None:
        """The button to tap now, or None to wait."""
        screen = state.screen
        if self._journeys and self._journeys[-1][-1] is not screen:
            self._journeys[-1].append(screen)
        self._ordered = self._ordered or (state.sale is not None and state.sale.order is not None)
        if now - state.screen_since < self._pause_s:
            return None  # let the screen be seen (and screenshotted) like a person would
        if screen is Screen.ATTRACT:
            return self._start(buttons)
        customer = self.started - 1
        if screen is Screen.CHOOSE_ITEM:
            slot = slot_for_customer(customer, state)
            return _named(buttons, f"item:{slot}") if slot else _named(buttons, "cancel")
        if screen is Screen.CHOOSE_COIN:
            return self._confirm(customer, buttons)
        if screen in (Screen.AWAITING_PAYMENT, Screen.UNDERPAID):
            return self._on_qr(customer, state, buttons, now)
        if screen in (Screen.THANK_YOU, Screen.VEND_FAILED, Screen.PAYMENT_FAILED,
                      Screen.EXPIRED, Screen.CANCELLED) and self.finished >= self.started:
            return _named(buttons, "done")
        return None

    def _start(self, buttons: list[Button]) -> Button | None:
        if self.finished < self.started and not self._ordered:
            self.started -= 1                 # sent back before ordering: the same one again
            self._confirmed = -1
        if self.started >= self.customers or self.finished < self.started:
            return None
        self.started += 1
        self._ordered = False
        if len(self._journeys) < self.started:
            self._journeys.append([Screen.ATTRACT])
        return _named(buttons, "start")

    def _confirm(self, customer: int, buttons: list[Button]) -> Button | None:
        coin = next((b for b in buttons if b.name.startswith("coin:")), None)
        if coin is not None and self._on_confirm is not None and self._confirmed != customer:
            self._confirmed = customer
            self._on_confirm(customer)
        return coin

    def _on_qr(self, customer: int, state: KioskState, buttons: list[Button],
               now: float) -> Button | None:
        sale = state.sale
        assert sale is not None and sale.order is not None and sale.request is not None
        if self._shown_tx != sale.order.tx_id:
            self._shown_tx = sale.order.tx_id
            if self._on_payment_shown is not None:
                self._on_payment_shown(customer, sale.order, sale.request)
        plan = self._plan(customer)
        if plan.cancel_after_s is not None and state.screen is plan.cancel_on \
                and now - state.screen_since >= plan.cancel_after_s:
            return _named(buttons, "cancel")
        return None


def _named(buttons: list[Button], name: str) -> Button | None:
    return next((b for b in buttons if b.name == name), None)

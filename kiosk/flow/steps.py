"""The steps every screen of the sale machine shares: entering a screen, starting a payment,
ending a sale unpaid, the code the customer keeps, back to attract.

``FlowSteps`` is the base of the screen handlers (``browsing``, ``paying``, ``results``); it
holds the settings and the id source that ``Flow`` is built with.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from types import EllipsisType

from kiosk.claims import claim_code
from kiosk.flow.effects import (
    AbandonPayment,
    CreatePayment,
    Effect,
    ReleaseSelection,
    SaleFinished,
    Transition,
)
from kiosk.flow.events import Event, Tick
from kiosk.flow.state import (
    BROWSING_SCREENS,
    KEYPAD_MARGIN_S,
    ClaimReason,
    FlowSettings,
    KioskState,
    Outcome,
    Sale,
    Screen,
)
from kiosk.payments.base import Asset, Order


def go(state: KioskState, screen: Screen, now: float,
       sale: Sale | None | EllipsisType = ..., *effects: Effect) -> Transition:
    """Enter ``screen`` (restarting its timer); ``...`` keeps the current sale."""
    new_sale = state.sale if isinstance(sale, EllipsisType) else sale
    return Transition(replace(state, screen=screen, sale=new_sale, screen_since=now), effects)


class FlowSteps:
    """The settings and the id source, and the steps the screen handlers share."""

    settings: FlowSettings
    _new_tx_id: Callable[[], str]

    def _start_payment(self, state: KioskState, sale: Sale, asset: Asset | None,
                       now: float) -> Transition:
        product = state.product(sale.slot_id)
        assert product is not None
        window: float = self.settings.payment_window_s
        if sale.keypad and self.settings.keypad_patience_s is not None:
            # The machine stops waiting for a keypad pick: the payment must end before it.
            window = min(window, self.settings.keypad_patience_s - KEYPAD_MARGIN_S)
        price = product.price if sale.price is None else sale.price
        order = Order(tx_id=self._new_tx_id(), slot_id=product.slot_id, item_name=product.name,
                      amount=price, currency=self.settings.currency, asset=asset,
                      expires_at=int(now + state.wall_offset_s + window))
        return go(state, Screen.CREATING_PAYMENT, now,
                  # on a whole second of ``now``: the countdown ticks with the UI's clock
                  replace(sale, order=order, pay_by=float(math.ceil(now + window))),
                  CreatePayment(order))

    def _end_unpaid(self, state: KioskState, screen: Screen, kind: str, reason: str,
                    now: float, claim: ClaimReason | None = None) -> Transition:
        """End a sale that was not paid as far as the kiosk knows. ``claim`` None only when
        nothing can have been paid (no QR shown) or the gateway confirmed nothing arrived."""
        sale = state.sale
        assert sale is not None and sale.order is not None
        order = sale.order
        code = claim_code(order.tx_id) if claim else ""
        sale = replace(sale, message=reason, claim_code=code, claim_reason=claim)
        outcome = {"cancelled": Outcome.CANCELLED, "expired": Outcome.EXPIRED}.get(
            kind, Outcome.PAYMENT_FAILED)
        link = sale.request.link if sale.request else ""
        release: tuple[Effect, ...] = (ReleaseSelection(),) if sale.keypad else ()
        return go(state, screen, now, sale,
                  AbandonPayment(order, kind, reason, code, claim),
                  SaleFinished(order, outcome, link), *release)

    def _claim_reference(self, sale: Sale) -> str:
        """What the customer keeps: the gateway's own reference when it refunds by itself."""
        assert sale.order is not None
        if self.settings.auto_refund and sale.request and sale.request.reference:
            return sale.request.reference
        return claim_code(sale.order.tx_id)

    def _to_attract(self, state: KioskState, now: float) -> Transition:
        screen = Screen.OUT_OF_SERVICE if state.hardware_fault else Screen.ATTRACT
        # A keypad pick abandoned before any payment was asked for must free the machine too.
        unpaid_pick = (state.sale is not None and state.sale.keypad
                       and state.screen in BROWSING_SCREENS)
        effects: tuple[Effect, ...] = (ReleaseSelection(),) if unpaid_pick else ()
        return go(state, screen, now, None, *effects)

    def _idle_check(self, state: KioskState, event: Event, now: float) -> Transition:
        if isinstance(event, Tick) and now - state.last_input >= self.settings.idle_timeout_s:
            return self._to_attract(state, now)
        return Transition(state)

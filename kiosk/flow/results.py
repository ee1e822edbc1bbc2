"""The vend and the result screens: thank you, or the code a failure gives the customer; the
result screens hold, then go back to attract. Also the claim of a sale a restart cut short."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from kiosk.claims import claim_code
from kiosk.flow.effects import SaleFinished, Transition
from kiosk.flow.events import (
    DonePressed,
    Event,
    PaymentUpdate,
    SaleInterrupted,
    StartTapped,
    Tick,
    VendFinished,
    VendPrompted,
)
from kiosk.flow.state import ClaimReason, Dropped, KioskState, Outcome, Sale, Screen
from kiosk.flow.steps import FlowSteps, go


class ResultScreens(FlowSteps):
    """One vend per sale; an unknown result is a claim under the kiosk's code, never a refund."""

    def _vending(self, state: KioskState, event: Event, now: float) -> Transition:
        sale = state.sale
        assert sale is not None and sale.order is not None
        if isinstance(event, VendPrompted) and event.tx_id == sale.tx_id:
            return Transition(replace(state, sale=replace(sale, prompt=event.text)))
        if isinstance(event, Tick) and now - state.screen_since > self.settings.vend_backstop_s:
            # No word from the machine: the item may or may not have dropped. A claim, not a
            # second vend; a late result for this sale is ignored.
            event = VendFinished(sale.order.tx_id, Dropped.UNKNOWN,
                                 detail="no result from the machine")
        if not (isinstance(event, VendFinished) and event.tx_id == sale.tx_id):
            return Transition(state)  # a second "paid", a cancel tap: the vend goes on
        order = sale.order
        stock = dict(state.stock)
        disabled = state.disabled | {sale.slot_id} if event.disables_slot else state.disabled
        sale = replace(sale, message=event.detail)
        link = sale.request.link if sale.request else ""
        paid_symbol = sale.status.paid_symbol if sale.status else None
        if event.dropped is Dropped.YES:
            stock[sale.slot_id] = max(0, stock.get(sale.slot_id, 0) - 1)
            state = replace(state, stock=MappingProxyType(stock), disabled=disabled)
            return go(state, Screen.THANK_YOU, now, sale,
                      SaleFinished(order, Outcome.VENDED, link, paid_symbol))
        if event.dropped is Dropped.UNKNOWN:
            # The item may have dropped: never an automatic refund, the operator checks.
            code, reason = claim_code(order.tx_id), ClaimReason.VEND_UNKNOWN
            outcome = Outcome.VEND_UNKNOWN
        else:
            code, reason = self._claim_reference(sale), ClaimReason.VEND_FAILED
            outcome = Outcome.VEND_FAILED
        # The runtime journalled the claim or refund with the vend's result (the same code).
        sale = replace(sale, claim_code=code, claim_reason=reason)
        state = replace(state, disabled=disabled)
        return go(state, Screen.VEND_FAILED, now, sale,
                  SaleFinished(order, outcome, link, paid_symbol))

    def _result(self, state: KioskState, event: Event, now: float) -> Transition:
        if isinstance(event, PaymentUpdate):
            return Transition(state)  # a duplicate "paid" after the vend: nothing more to do
        if isinstance(event, (DonePressed, StartTapped)):
            return self._to_attract(state, now)
        hold = (self.settings.claim_screen_s if state.sale and state.sale.claim_code
                else self.settings.result_screen_s)
        if isinstance(event, Tick) and now - state.screen_since >= hold:
            return self._to_attract(state, now)
        return Transition(state)

    def _out_of_service(self, state: KioskState, event: Event, now: float) -> Transition:
        return Transition(state)


def sale_interrupted(state: KioskState, event: SaleInterrupted, now: float) -> Transition:
    if state.sale is not None or state.screen not in (Screen.ATTRACT, Screen.OUT_OF_SERVICE):
        return Transition(state)  # a new customer is already being served
    sale = Sale(slot_id=event.order.slot_id, order=event.order, claim_code=event.claim_code,
                claim_reason=event.claim_reason, message="interrupted by a restart")
    return go(state, Screen.VEND_FAILED, now, sale)

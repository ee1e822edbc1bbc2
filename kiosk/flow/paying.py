"""The payment screens: creating the payment, waiting for it (awaiting, confirming, underpaid),
and a status for a sale that is not waiting for money."""

from __future__ import annotations

from dataclasses import replace

from kiosk.flow.effects import RecordPaidLate, Transition, Vend
from kiosk.flow.events import (
    CancelPressed,
    Event,
    PaymentCreated,
    PaymentCreateFailed,
    PaymentUpdate,
    Tick,
)
from kiosk.flow.state import (
    CANCELLABLE_SCREENS,
    ENDED_UNPAID_SCREENS,
    ClaimReason,
    KioskState,
    Sale,
    Screen,
)
from kiosk.flow.steps import FlowSteps, go
from kiosk.payments.base import PaymentState, PaymentStatus

# The gateway ended the payment unpaid: the screen, the abandon kind, and the code to give.
# Expired and cancelled at the gateway mean nothing arrived; "failed" says nothing about it.
_ENDED_BY_GATEWAY: dict[PaymentState, tuple[Screen, str, ClaimReason | None]] = {
    PaymentState.EXPIRED: (Screen.EXPIRED, "expired", None),
    PaymentState.CANCELLED: (Screen.CANCELLED, "cancelled", None),
    PaymentState.FAILED: (Screen.PAYMENT_FAILED, "payment_failed", ClaimReason.MAYBE_PAID),
    PaymentState.UNVERIFIED: (Screen.PAYMENT_FAILED, "payment_failed", ClaimReason.UNVERIFIED),
}
NOTHING_ARRIVED = frozenset({PaymentState.EXPIRED, PaymentState.CANCELLED})
_SCREEN_FOR_STATE = {
    PaymentState.AWAITING: Screen.AWAITING_PAYMENT,
    PaymentState.CONFIRMING: Screen.CONFIRMING,
    PaymentState.UNDER_REVIEW: Screen.CONFIRMING,
    PaymentState.UNDERPAID: Screen.UNDERPAID,
}


class PayingScreens(FlowSteps):
    """A vend only after a PAID (verified) status for the sale on screen; the local countdown
    never abandons a confirming payment before its grace period."""

    def _creating(self, state: KioskState, event: Event, now: float) -> Transition:
        sale = state.sale
        assert sale is not None and sale.order is not None
        if isinstance(event, PaymentCreated) and event.tx_id == sale.tx_id:
            return go(state, Screen.AWAITING_PAYMENT, now, replace(sale, request=event.request))
        if isinstance(event, PaymentCreateFailed) and event.tx_id == sale.tx_id:
            return self._end_unpaid(state, Screen.PAYMENT_FAILED, "payment_failed",
                                    event.reason, now)
        if isinstance(event, CancelPressed):
            return self._end_unpaid(state, Screen.CANCELLED, "cancelled", "customer", now)
        if isinstance(event, Tick) and now - state.screen_since > self.settings.create_timeout_s:
            return self._end_unpaid(state, Screen.PAYMENT_FAILED, "payment_failed",
                                    "payment could not be created in time", now)
        return Transition(state)

    def _paying(self, state: KioskState, event: Event, now: float) -> Transition:
        sale = state.sale
        assert sale is not None and sale.order is not None
        if isinstance(event, PaymentUpdate):
            return self._payment_update(state, sale, event.status, now)
        # Ended by the kiosk alone, nothing is confirmed: the customer keeps a code in case
        # the wallet already sent the money (the watch goes on and settles it by that code).
        unconfirmed = ClaimReason.PART_PAID if sale.part_paid else ClaimReason.MAYBE_PAID
        if isinstance(event, CancelPressed) and state.screen in CANCELLABLE_SCREENS:
            return self._end_unpaid(state, Screen.CANCELLED, "cancelled", "customer", now,
                                    unconfirmed)
        if isinstance(event, Tick):
            deadline = sale.pay_by
            if state.screen is Screen.CONFIRMING:
                if now > deadline + self.settings.confirm_grace_s:
                    return self._end_unpaid(state, Screen.PAYMENT_FAILED, "payment_failed",
                                            "payment still unconfirmed", now,
                                            ClaimReason.UNCONFIRMED)
            elif now >= deadline:
                return self._end_unpaid(state, Screen.EXPIRED, "expired",
                                        "payment window closed", now, unconfirmed)
        return Transition(state)

    def _payment_update(self, state: KioskState, sale: Sale, status: PaymentStatus,
                        now: float) -> Transition:
        order = sale.order
        assert order is not None
        sale = replace(sale, status=status, request=status.request or sale.request,
                       part_paid=sale.part_paid or status.state is PaymentState.UNDERPAID)
        if status.state is PaymentState.PAID:
            refunds = self.settings.auto_refund and sale.request is not None
            return go(state, Screen.VENDING, now, sale,
                      Vend(order, self._claim_reference(sale), refund=refunds))
        if status.state in _ENDED_BY_GATEWAY:
            screen, kind, claim = _ENDED_BY_GATEWAY[status.state]
            if sale.part_paid and claim is not ClaimReason.UNVERIFIED:
                claim = ClaimReason.PART_PAID  # closed with part of the price paid
            return self._end_unpaid(replace(state, sale=sale), screen, kind, status.reason, now,
                                    claim)
        screen = _SCREEN_FOR_STATE[status.state]
        if screen is state.screen:
            return Transition(replace(state, sale=sale))
        return go(state, screen, now, sale)


def late_payment_update(state: KioskState, event: PaymentUpdate) -> Transition:
    """A status for a sale that is not waiting for money: money that arrives is never dropped,
    and a customer still reading the code of that sale learns what the gateway confirmed."""
    status = event.status.state
    if status in (PaymentState.PAID, PaymentState.UNVERIFIED):
        return Transition(state, (RecordPaidLate(event.tx_id, event.status),))
    sale = state.sale
    on_screen = (sale is not None and sale.tx_id == event.tx_id
                 and state.screen in ENDED_UNPAID_SCREENS)
    if on_screen and status in NOTHING_ARRIVED and sale is not None \
            and sale.claim_reason is ClaimReason.MAYBE_PAID:
        # The gateway closed it with nothing paid: "not charged" is now the truth.
        return Transition(replace(state, sale=replace(sale, claim_code="", claim_reason=None)))
    return Transition(state)

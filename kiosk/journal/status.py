"""A sale's statuses in the journal and the groups the steps check them by."""

from __future__ import annotations

from kiosk.payments.base import PaymentState

STATUSES: tuple[str, ...] = (
    "creating", "awaiting", "confirming", "underpaid", "under_review", "paid", "vending",
    "vended", "vend_failed", "vend_unknown", "payment_failed", "expired", "cancelled",
    "paid_late", "refund_due", "refunded",
)

# No verified payment yet and none given up on: the gateway may still report anything.
PRE_PAYMENT: frozenset[str] = frozenset(
    {"creating", "awaiting", "confirming", "underpaid", "under_review"})

# The kiosk gave up on the sale before it was paid; the gateway payment may still be open.
ABANDONED: frozenset[str] = frozenset({"cancelled", "expired", "payment_failed"})

# Money was (or may have been) taken and the customer may be owed a refund or a claim.
REFUNDABLE: frozenset[str] = frozenset(
    {"paid", "vend_failed", "vend_unknown", "paid_late", "refund_due"})

# Sales the operator still owes something (money or an item): ``kiosk journal --claims``.
OPEN_CLAIM_STATUSES: frozenset[str] = frozenset({"refund_due", "paid_late", "vend_unknown"})

# Vend outcomes that say the slot itself is faulty (not the customer, not the link).
SLOT_FAILURES: frozenset[str] = frozenset({"no_drop", "jam", "motor_fault"})
SEEN_STATUS: dict[PaymentState, str] = {
    PaymentState.AWAITING: "awaiting",
    PaymentState.CONFIRMING: "confirming",
    PaymentState.UNDERPAID: "underpaid",
    PaymentState.UNDER_REVIEW: "under_review",
}
CLOSED_STATUS: dict[PaymentState, str] = {
    PaymentState.EXPIRED: "expired",
    PaymentState.CANCELLED: "cancelled",
    PaymentState.FAILED: "payment_failed",
}
TERMINAL_STATE_VALUES: tuple[str, ...] = tuple(
    state.value for state in PaymentState if state.terminal)


"""A sale's statuses in the journal and the one table of the steps that move them.

Every status change the journal makes is a ``Step`` in ``MOVES``: the statuses it may be taken
from and the ones it may lead to. ``check`` is the one place an illegal transition is refused;
a step whose status stays as it is (a claim on a refunded sale, dispensing) is only checked for
where it may be taken from.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from kiosk.errors import JournalError
from kiosk.payments.base import PaymentState


class Status(StrEnum):
    CREATING = "creating"              # journalled before the gateway is asked
    AWAITING = "awaiting"              # the QR is shown
    CONFIRMING = "confirming"
    UNDERPAID = "underpaid"
    UNDER_REVIEW = "under_review"
    PAID = "paid"                      # verified: it may vend
    VENDING = "vending"                # the exactly-once guard was passed
    VENDED = "vended"
    VEND_FAILED = "vend_failed"
    VEND_UNKNOWN = "vend_unknown"
    PAYMENT_FAILED = "payment_failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    PAID_LATE = "paid_late"            # money for a sale that had already ended
    REFUND_DUE = "refund_due"          # owed: a queued refund or a claim code
    REFUNDED = "refunded"
    SETTLED = "settled"                # the operator settled a claim by hand (gave the item)


STATUSES: tuple[str, ...] = tuple(status.value for status in Status)

# No verified payment yet and none given up on: the gateway may still report anything.
PRE_PAYMENT: frozenset[Status] = frozenset(
    {Status.CREATING, Status.AWAITING, Status.CONFIRMING, Status.UNDERPAID, Status.UNDER_REVIEW})
# The kiosk gave up on the sale before it was paid; the gateway payment may still be open.
ABANDONED: frozenset[Status] = frozenset(
    {Status.CANCELLED, Status.EXPIRED, Status.PAYMENT_FAILED})
# Money was (or may have been) taken and the customer may be owed a refund or a claim.
REFUNDABLE: frozenset[Status] = frozenset(
    {Status.PAID, Status.VEND_FAILED, Status.VEND_UNKNOWN, Status.PAID_LATE, Status.REFUND_DUE})
# Sales the operator still owes something (money or an item): ``kiosk journal --claims``.
OPEN_CLAIM_STATUSES: frozenset[Status] = frozenset(
    {Status.REFUND_DUE, Status.PAID_LATE, Status.VEND_UNKNOWN})
# Vend outcomes that say the slot itself is faulty (not the customer, not the link).
SLOT_FAILURES: frozenset[str] = frozenset({"no_drop", "jam", "motor_fault"})

SEEN_STATUS: dict[PaymentState, Status] = {
    PaymentState.AWAITING: Status.AWAITING,
    PaymentState.CONFIRMING: Status.CONFIRMING,
    PaymentState.UNDERPAID: Status.UNDERPAID,
    PaymentState.UNDER_REVIEW: Status.UNDER_REVIEW,
}
CLOSED_STATUS: dict[PaymentState, Status] = {
    PaymentState.EXPIRED: Status.EXPIRED,
    PaymentState.CANCELLED: Status.CANCELLED,
    PaymentState.FAILED: Status.PAYMENT_FAILED,
}
TERMINAL_STATE_VALUES: tuple[str, ...] = tuple(
    state.value for state in PaymentState if state.terminal)


class Step(StrEnum):
    PAYMENT_CREATED = "payment_created"
    STATUS_SEEN = "status_seen"        # a polled status, or the gateway closing the payment
    PAID_VERIFIED = "paid_verified"
    ABANDON = "abandon"
    PAID_LATE = "paid_late"
    START_VEND = "start_vend"
    DISPENSING = "dispensing"
    VEND_RESULT = "vend_result"
    RESOLVE_VEND = "resolve_vend"      # the machine's late word on an unknown vend
    CLAIM = "claim"
    REFUND_REQUESTED = "refund_requested"
    REFUND_DONE = "refund_done"
    RECOVER_UNSHOWN = "recover_unshown"  # restart: a payment that was never shown
    RECOVER_VEND = "recover_vend"      # restart: a vend with no result
    SETTLE_CLAIM = "settle_claim"      # the operator sent the refund or gave the item


def _statuses(*groups: frozenset[Status] | Status) -> frozenset[Status]:
    return frozenset().union(*(g if isinstance(g, frozenset) else {g} for g in groups))


# step: (the statuses it may be taken from, the statuses it may lead to)
MOVES: Mapping[Step, tuple[frozenset[Status], frozenset[Status]]] = {
    Step.PAYMENT_CREATED: (_statuses(Status.CREATING), _statuses(Status.AWAITING)),
    Step.STATUS_SEEN: (PRE_PAYMENT, (PRE_PAYMENT - {Status.CREATING}) | ABANDONED),
    Step.PAID_VERIFIED: (PRE_PAYMENT, _statuses(Status.PAID)),
    Step.ABANDON: (PRE_PAYMENT, ABANDONED),
    Step.PAID_LATE: (_statuses(PRE_PAYMENT, ABANDONED, Status.REFUND_DUE),
                     _statuses(Status.PAID_LATE)),
    Step.START_VEND: (_statuses(Status.PAID), _statuses(Status.VENDING)),
    Step.DISPENSING: (_statuses(Status.VENDING), frozenset()),
    Step.VEND_RESULT: (_statuses(Status.VENDING),
                       _statuses(Status.VENDED, Status.VEND_FAILED, Status.VEND_UNKNOWN)),
    Step.RESOLVE_VEND: (_statuses(Status.VEND_UNKNOWN),
                        _statuses(Status.VENDED, Status.REFUND_DUE)),
    # Abandoned, or still open but past "creating" (a payment exists), when money arrived that
    # failed verification; a refunded sale or an unknown vend keeps its status.
    Step.CLAIM: (_statuses(REFUNDABLE, ABANDONED, PRE_PAYMENT - {Status.CREATING},
                           Status.REFUNDED), _statuses(Status.REFUND_DUE)),
    Step.REFUND_REQUESTED: (REFUNDABLE, _statuses(Status.REFUND_DUE)),
    Step.REFUND_DONE: (REFUNDABLE, _statuses(Status.REFUNDED)),
    Step.RECOVER_UNSHOWN: (_statuses(Status.CREATING), _statuses(Status.PAYMENT_FAILED)),
    Step.RECOVER_VEND: (_statuses(Status.VENDING),
                        _statuses(Status.VEND_FAILED, Status.VEND_UNKNOWN)),
    Step.SETTLE_CLAIM: (OPEN_CLAIM_STATUSES, _statuses(Status.REFUNDED, Status.SETTLED)),
}


def allowed(step: Step, current: str, new: str | None = None) -> bool:
    """``step`` may be taken from ``current`` and (when it moves) lead to ``new``."""
    sources, targets = MOVES[step]
    return current in sources and (new is None or new == current or new in targets)


def check(step: Step, tx_id: str, current: str, new: str | None = None) -> None:
    """Refuse an illegal transition: the journal's one place for it."""
    if not allowed(step, current, new):
        target = new or "(unchanged)"
        raise JournalError(f"transaction {tx_id}: {step.value}: status {current} -> {target} "
                           "is not allowed")
